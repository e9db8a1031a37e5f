"""The settings that decide a grade, validated once, carried by every task and recorded with every result.

A grade depends on more than the notebook: the hidden seed, the limits, the credit mode, the grader's own code
and the dataset. A class run resolves them here, in the parent, before any worker starts; each task carries
them, a worker grades with exactly them (and refuses if its own code or dataset differ), and each result records
them, so a run under other settings regrades instead of keeping grades made under the old ones.
"""
import functools
import hashlib
import os
import re
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from .checks import DEFAULT_HIDDEN_SEED
from .sandbox import Limits

SEED_VARIABLE = "BACKPROP_NINJA_HIDDEN_SEED"
MAX_SEED = 2**63 - 1  # torch.Generator.manual_seed takes any 64-bit value; a whole number that fits is plenty
# Below this a run cannot hold the lecture's network, and the grader's own part of it would fail, not the student's.
MIN_MEMORY_GIB = 0.1
CREDIT_MODES = ("strict", "local")


class SettingsError(ValueError):
    """A setting the user gave cannot be used. The message is one line naming the setting and what is allowed."""


def parse_seed(text: str, name: str) -> int:
    """A hidden seed from the command line or the environment; `name` is where it came from, for the message."""
    text = text.strip()
    if not re.fullmatch(r"[0-9]+", text) or int(text) > MAX_SEED:  # not isdigit: "²" is a digit to it
        raise SettingsError(f"{name} must be a whole number from 0 to {MAX_SEED}, not {text!r}")
    seed = int(text)
    from . import assignments

    if any(assignments.get(a).public_seed == seed for a in assignments.all_ids()):
        raise SettingsError(f"{name}: the hidden seed must differ from the public seed ({seed}): choose another")
    return seed


def hidden_seed(given: str | int | None, for_class: bool) -> tuple[int, str]:
    """The hidden seed to grade with and where it came from: the option, else the environment, else the default.

    A class is not graded with the published default unless the instructor names it: anyone can read it here
    and compute the hidden run's answers. A student's self-check may use it (it only ever sees the public values).
    """
    if given is not None:
        return parse_seed(str(given), "--hidden-seed"), "--hidden-seed"
    if os.environ.get(SEED_VARIABLE, "").strip():
        return parse_seed(os.environ[SEED_VARIABLE], SEED_VARIABLE), SEED_VARIABLE
    if for_class:
        raise SettingsError(
            f"set the class's hidden seed with --hidden-seed N or {SEED_VARIABLE}=N (a random one: python -c "
            f"'import secrets; print(secrets.randbits(63))'); the default, {DEFAULT_HIDDEN_SEED}, is published, so "
            f"grading a class with it needs --hidden-seed {DEFAULT_HIDDEN_SEED} said explicitly")  # fmt: skip
    return DEFAULT_HIDDEN_SEED, "the published default"


@functools.cache  # the stretching costs ~50 ms; a class run names its seed once per result
@functools.cache  # stretched on purpose (100,000 rounds): once per seed, not once per result written
def seed_identity(seed: int) -> str:
    """A short name for a seed, for results and reports: the same seed, the same name, without printing it.

    It names, it does not hide: a small seed can be found from it by trying them all (the key stretching only
    slows that down), so keep reports with staff and choose a large random seed.
    """
    digest = hashlib.pbkdf2_hmac("sha256", str(seed).encode(), b"backprop-ninja hidden seed", 100_000)
    return "#" + digest.hex()[:8]


@functools.cache
def grader_version() -> str:
    """This grader: the package version and a hash of its code, so an edited checkout counts as another grader."""
    try:
        version = metadata.version("backprop-ninja")
    except metadata.PackageNotFoundError:
        version = "unknown"
    code = hashlib.sha256()
    package = Path(__file__).parent
    for path in sorted(package.rglob("*.py")):  # the assignments' packages too: their hints and references grade
        code.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes())
    return f"{version}+{code.hexdigest()[:10]}"


def check_limits(limits: Limits) -> Limits:
    if not limits.timeout > 0:
        raise SettingsError(f"--timeout must be more than 0 seconds, not {limits.timeout:g}")
    if not limits.memory_gib >= MIN_MEMORY_GIB:
        raise SettingsError(f"--memory must be at least {MIN_MEMORY_GIB:g} GiB (each run holds the lecture's "
                            f"network and the grader's own part of the run), not {limits.memory_gib:g}")  # fmt: skip
    return limits


@dataclass(frozen=True)
class GradingSettings:
    """Everything beside the notebook that decides its grade."""

    hidden_seed: int
    limits: Limits
    credit: str
    grader: str  # grader_version() of the process that made these settings
    dataset: str  # the identity of the data the grades are computed on (assignments.dataset_identity)
    seed_source: str = ""  # where the hidden seed came from, for the instructor's summary line (not recorded)

    @classmethod
    def resolve(cls, hidden_seed_given, limits: Limits, credit: str = "strict", for_class: bool = True):
        """Validate what the user gave (raises SettingsError) and complete it with this grader and dataset."""
        from . import assignments

        seed, source = hidden_seed(hidden_seed_given, for_class)
        if credit not in CREDIT_MODES:
            raise SettingsError(f"--credit must be one of {', '.join(CREDIT_MODES)}, not {credit!r}")
        try:
            dataset = assignments.dataset_identity(assignments.datasets())
        except RuntimeError as e:
            raise SettingsError(str(e)) from None
        return cls(seed, check_limits(limits), credit, grader_version(), dataset, source)

    def record(self) -> dict:
        """What a result keeps of its settings, and what "unchanged" compares: the seed by its identity only."""
        return {"hidden_seed": seed_identity(self.hidden_seed), "timeout": self.limits.timeout,
                "memory_gib": self.limits.memory_gib, "credit": self.credit, "grader": self.grader,
                "dataset": self.dataset}  # fmt: skip

    def summary(self) -> str:
        where = f" (from {self.seed_source})" if self.seed_source else ""
        return (f"hidden seed {seed_identity(self.hidden_seed)}{where}; {self.limits.timeout:g} s and "
                f"{self.limits.memory_gib:g} GiB per exercise; {self.credit} credit; grader {self.grader}")


SETTING_NAMES = {"hidden_seed": "hidden seed", "timeout": "timeout", "memory_gib": "memory limit",
                 "credit": "credit mode", "grader": "grader version", "dataset": "dataset"}  # fmt: skip


NOT_RECORDED = "settings not recorded then"


def differences(old: dict | None, new: dict) -> list[str]:
    """Which settings of `new` a result graded under `old` differs in, by name ("hidden seed", ...); a result
    from before settings were recorded differs in that."""
    if not old:
        return [NOT_RECORDED]
    return [SETTING_NAMES[key] for key in SETTING_NAMES if old.get(key) != new.get(key)]
