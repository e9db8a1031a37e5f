"""The words the exercises train on: the lecture's names.txt, or a fallback list.

The lecture uses names.txt from karpathy/makemore (MIT). It is not shipped with
this package, so it is looked for at $BACKPROP_NINJA_NAMES, then in the user
cache, then downloaded into the cache. A copy is only trusted if its SHA-256
is one of NAMES_SHA256, so a truncated or different file cannot silently change
the numbers students compare against. When names.txt is not available, the US
census first names bundled with the `names` PyPI package are used instead.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import urllib.request
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

NAMES_URL = "https://raw.githubusercontent.com/karpathy/makemore/master/names.txt"
# names.txt as published: 32033 names, 228145 bytes. The copy this was taken from had no trailing newline and
# we could not check the original offline, so the same names with a final newline are accepted too.
NAMES_SHA256 = (
    "0a30b5557f192f32ab962680889aac5f6fda0f4cecf40a6d0b5694f58ea8cc4d",
    "816d2a728695db28a20e17eae61c9c423091a511b3df09a06a489dccbf0876c7",
)
DOWNLOAD_TIMEOUT_SECONDS = 5

_LOWERCASE_WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class Words:
    words: list[str]
    source: str

    @property
    def identity(self) -> str:
        """Which words these are, in a few characters: two graders agree on every grade only on the same words."""
        digest = hashlib.sha256("\n".join(self.words).encode()).hexdigest()[:12]
        return f"{len(self.words)} words, sha256 {digest}"


def load_words() -> Words:
    """Return the training words and a sentence saying which dataset they are."""
    lecture_names = _lecture_names()
    if lecture_names is not None:
        return Words(
            lecture_names,
            f"names.txt from karpathy/makemore ({len(lecture_names)} names)",
        )
    census_names = _census_names()
    if census_names:
        return Words(
            census_names,
            f"US census first names from the `names` package "
            f"({len(census_names)} names; names.txt not available)",
        )
    raise RuntimeError(
        "No training words available: run `pip install names`, or put "
        "karpathy/makemore's names.txt at the path in $BACKPROP_NINJA_NAMES."
    )


def _lecture_names() -> list[str] | None:
    data = _local_copy()
    if data is None and not _offline():
        data = _download_verified()
        if data is not None:
            _save_to_cache(data)
    return None if data is None else data.decode("ascii").splitlines()


def _offline() -> bool:
    return os.environ.get("BACKPROP_NINJA_OFFLINE", "") not in ("", "0")


def _local_copy() -> bytes | None:
    paths = [_cache_path()]
    if os.environ.get("BACKPROP_NINJA_NAMES"):
        paths.insert(0, Path(os.environ["BACKPROP_NINJA_NAMES"]))
    for path in paths:
        data = _read_verified(path)
        if data is not None:
            return data
    return None


def _cache_path() -> Path:
    cache_home = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache_home) / "backprop-ninja" / "names.txt"


def _is_expected(data: bytes) -> bool:
    return hashlib.sha256(data).hexdigest() in NAMES_SHA256


def _read_verified(path: Path) -> bytes | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    return data if _is_expected(data) else None


def _download_verified() -> bytes | None:
    # Any network problem just means "not available": the fallback covers it.
    try:
        with urllib.request.urlopen(NAMES_URL, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:
            data = response.read()
    except (OSError, http.client.HTTPException):
        return None
    return data if _is_expected(data) else None


def _save_to_cache(data: bytes) -> None:
    path = _cache_path()
    partial = path.with_name(path.name + ".partial")
    # The cache only saves a download next time, so failing to write it is fine.
    # Writing beside it and renaming keeps a half-written file from ever being read.
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial.write_bytes(data)
        partial.replace(path)
    except OSError:
        pass


def _census_names() -> list[str]:
    try:
        package = resources.files("names")
    except ModuleNotFoundError:
        return []
    # A dict keeps the first occurrence of each name, so the order is the files'
    # order; female names come first, as they do in names.txt.
    unique_names: dict[str, None] = {}
    for filename in ("dist.female.first", "dist.male.first"):
        try:
            text = (package / filename).read_text(encoding="ascii")
        except OSError:
            continue
        for line in text.splitlines():
            # Lines look like "JAMES  3.318  3.318  1"; only the name matters.
            fields = line.split()
            name = fields[0].lower() if fields else ""
            if _LOWERCASE_WORD.fullmatch(name):
                unique_names.setdefault(name)
    return list(unique_names)
