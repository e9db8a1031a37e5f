"""nbgrader courses for tests: a copy of the repository's course/, submissions put in, the CLI run in it."""
import atexit
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from nbgrader.api import Gradebook
from submissions import ROOT

from autograder.assignments.backprop_ninja import EXERCISES

ASSIGNMENT = "backprop_ninja"
SAMPLES = ROOT / "course" / "sample_submissions"
CELLS = [f"{ex.id}_check" for ex in EXERCISES]
# The hidden seed test classes are graded with: an instructor's own, not the published default.
COURSE_SEED = 4242


def make_course(tmp_path, generate=True, assignments=(ASSIGNMENT,)):
    """A copy of the repository's course with the assignments generated (which fills the gradebook). Generated
    once per test process for each set of assignments (`nbgrader generate_assignment` takes seconds), then copied."""
    if not generate:
        return _copy_of_the_repository(tmp_path)
    key = tuple(assignments)
    if key not in _GENERATED:
        generated = Path(tempfile.mkdtemp(prefix="backprop-ninja-generated-"))
        atexit.register(shutil.rmtree, generated, ignore_errors=True)
        course = _copy_of_the_repository(generated)
        for assignment in assignments:
            # --force as README says: the release is in the repository (exercises/), and nbgrader skips an
            # assignment already released without entering it in the gradebook
            subprocess.run(["nbgrader", "generate_assignment", assignment, "--force"], cwd=course, check=True,
                           capture_output=True)  # fmt: skip
        _GENERATED[key] = generated
    shutil.copytree(_GENERATED[key], tmp_path, dirs_exist_ok=True, symlinks=True)
    return tmp_path / "course"


_GENERATED: dict[tuple, Path] = {}  # assignments -> a folder holding a course generated for them


def _copy_of_the_repository(folder: Path) -> Path:
    shutil.copytree(ROOT / "course", folder / "course", ignore=shutil.ignore_patterns(
        "gradebook.db", "submitted", "autograded", "feedback", "results", "reports"))  # fmt: skip
    shutil.copytree(ROOT / "solutions", folder / "solutions")
    shutil.copytree(ROOT / "exercises", folder / "exercises")
    return folder / "course"


def submit(course, student, notebook=None, assignment=ASSIGNMENT):
    folder = course / "submitted" / student / assignment
    folder.mkdir(parents=True, exist_ok=True)
    source = notebook or SAMPLES / student / assignment / f"{assignment}.ipynb"
    shutil.copy(source, folder / f"{assignment}.ipynb")
    return folder


def cli(*args, cwd=None, env=None, program=None):
    """The CLI, as an instructor runs it: with their own hidden seed (COURSE_SEED) unless `env` says otherwise.
    `program`: the console script to run by its path (default: this Python's `-m autograder`)."""
    environment = {**os.environ, "BACKPROP_NINJA_HIDDEN_SEED": str(COURSE_SEED), **(env or {})}
    environment = {k: v for k, v in environment.items() if v is not None}
    command = [str(program)] if program else [sys.executable, "-m", "autograder"]
    return subprocess.run([*command, *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=600,
                          env=environment)  # fmt: skip


def gradebook_scores(course, assignment=ASSIGNMENT) -> dict[str, dict[str, float]]:
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return {s.student.id: {g.name: g.score for g in s.notebooks[0].grades}
                for s in gb.find_assignment(assignment).submissions}  # fmt: skip
