import random
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from autograder.assignments.backprop_ninja.data import Words  # noqa: E402
from autograder.grading import Grader  # noqa: E402
from autograder.sandbox import Limits  # noqa: E402


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("BACKPROP_NINJA_OFFLINE", "1")


@pytest.fixture(scope="session")
def small_words() -> Words:
    """A small made-up dataset (tests make their own data): 400 names over all 26 letters."""
    rng = random.Random(0)
    letters = "abcdefghijklmnopqrstuvwxyz"
    words = [letters[i : i + 3] for i in range(24)]  # every letter appears
    words += ["".join(rng.choice(letters) for _ in range(rng.randint(3, 8))) for _ in range(376)]
    return Words(words=words, source="test names")


@pytest.fixture(scope="session")
def grader(small_words):
    with Grader(Limits(timeout=30), words=small_words) as g:
        yield g
