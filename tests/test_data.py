import hashlib
import io
import string
import sys
import urllib.error
import urllib.request

import pytest

from autograder.assignments.backprop_ninja import data

SMALL_NAMES = b"emma\nolivia\nava"


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    # Never read the real cache, never touch the network, ignore the user's file.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("BACKPROP_NINJA_OFFLINE", "1")
    monkeypatch.delenv("BACKPROP_NINJA_NAMES", raising=False)


@pytest.fixture
def small_names_file(monkeypatch, tmp_path):
    path = tmp_path / "names.txt"
    path.write_bytes(SMALL_NAMES)
    monkeypatch.setattr(data, "NAMES_SHA256", (hashlib.sha256(SMALL_NAMES).hexdigest(),))
    return path


def cache_file(tmp_path):
    return tmp_path / "cache" / "backprop-ninja" / "names.txt"


def assert_is_fallback(words):
    assert "`names` package" in words.source
    assert "names.txt not available" in words.source


def test_fallback_gives_lowercase_census_names_covering_the_alphabet():
    words = data.load_words()

    assert_is_fallback(words)
    assert words.words
    assert all(name.isascii() and name.isalpha() and name.islower() for name in words.words)
    assert set("".join(words.words)) == set(string.ascii_lowercase)
    assert len(set(words.words)) == len(words.words)
    assert str(len(words.words)) in words.source
    assert data.load_words() == words


def test_file_at_env_path_with_right_checksum_is_used(monkeypatch, small_names_file):
    monkeypatch.setenv("BACKPROP_NINJA_NAMES", str(small_names_file))

    words = data.load_words()

    assert words.words == ["emma", "olivia", "ava"]
    assert words.source == "names.txt from karpathy/makemore (3 names)"


def test_cached_file_with_right_checksum_is_used(monkeypatch, tmp_path):
    monkeypatch.setattr(data, "NAMES_SHA256", (hashlib.sha256(SMALL_NAMES).hexdigest(),))
    cache_file(tmp_path).parent.mkdir(parents=True)
    cache_file(tmp_path).write_bytes(SMALL_NAMES)

    assert data.load_words().words == ["emma", "olivia", "ava"]


def test_files_with_wrong_checksum_are_ignored(monkeypatch, tmp_path):
    user_file = tmp_path / "names.txt"
    user_file.write_bytes(SMALL_NAMES)
    monkeypatch.setenv("BACKPROP_NINJA_NAMES", str(user_file))
    cache_file(tmp_path).parent.mkdir(parents=True)
    cache_file(tmp_path).write_bytes(SMALL_NAMES)

    assert_is_fallback(data.load_words())


def test_offline_makes_no_network_call(monkeypatch):
    def no_network(*args, **kwargs):
        pytest.fail("load_words() used the network while BACKPROP_NINJA_OFFLINE=1")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)

    assert_is_fallback(data.load_words())


def test_verified_download_is_used_and_cached(monkeypatch, tmp_path):
    monkeypatch.delenv("BACKPROP_NINJA_OFFLINE")
    monkeypatch.setattr(data, "NAMES_SHA256", (hashlib.sha256(SMALL_NAMES).hexdigest(),))
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: io.BytesIO(SMALL_NAMES))

    assert data.load_words().words == ["emma", "olivia", "ava"]
    assert cache_file(tmp_path).read_bytes() == SMALL_NAMES


def test_download_with_wrong_checksum_is_rejected(monkeypatch, tmp_path):
    monkeypatch.delenv("BACKPROP_NINJA_OFFLINE")
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: io.BytesIO(SMALL_NAMES))

    assert_is_fallback(data.load_words())
    assert not cache_file(tmp_path).exists()


def test_failed_download_falls_back_silently(monkeypatch):
    def unreachable(url, timeout):
        raise urllib.error.URLError("no route to host")

    monkeypatch.delenv("BACKPROP_NINJA_OFFLINE")
    monkeypatch.setattr(urllib.request, "urlopen", unreachable)

    assert_is_fallback(data.load_words())


def test_clear_error_when_no_source_is_available(monkeypatch):
    # A None entry in sys.modules makes `import names` fail as if it were missing.
    monkeypatch.setitem(sys.modules, "names", None)

    with pytest.raises(RuntimeError, match="pip install names.*BACKPROP_NINJA_NAMES"):
        data.load_words()
