"""Submissions for tests: the released notebook with exercise cells filled in.

Right answers come from the instructor's solutions notebook; wrong ones are that answer with one line changed,
so each mistake below is exactly the slip a student makes, and the tests say which checks it must fail.
"""
import json
import re
from pathlib import Path

import nbformat

from autograder.student_notebook import fill_stub

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions" / "backprop_ninja" / "backprop_ninja.ipynb"
EXERCISES = ROOT / "exercises" / "backprop_ninja" / "backprop_ninja.ipynb"
STUB = "# YOUR CODE HERE\nraise NotImplementedError()"


def _cells(path) -> dict:
    nb = nbformat.read(path, as_version=4)
    return {c.metadata.get("nbgrader", {}).get("grade_id"): c.source for c in nb.cells}


def solution_region(grade_id: str) -> str:
    """The instructor's answer for one exercise: the code between BEGIN and END SOLUTION, dedented."""
    source = _cells(SOLUTIONS)[grade_id]
    match = re.search(r"^([ \t]*)### BEGIN SOLUTION\n(.*?)^[ \t]*### END SOLUTION", source, re.S | re.M)
    indent, body = match.group(1), match.group(2)
    return "\n".join(line[len(indent):] for line in body.rstrip("\n").split("\n"))


def answer(grade_id: str, *edits: tuple[str, str]) -> str:
    """The right answer with each (old, new) edit applied; an edit that does not apply is a test bug."""
    code = solution_region(grade_id)
    for old, new in edits:
        assert old in code, f"{old!r} is not in the {grade_id} solution"
        code = code.replace(old, new)
    return code


def fill(released_cell: str, code: str) -> str:
    """Put `code` where the released cell has the stub, at the stub's indentation (Exercise 4: in the loop)."""
    return fill_stub(released_cell, code)[0]


def write_submission(path, **answers: str) -> Path:
    """The released notebook with the given exercises answered (others keep their stubs), saved at `path`."""
    nb = nbformat.read(EXERCISES, as_version=4)
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell.source = fill(cell.source, answers[grade_id])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def all_right(path) -> Path:
    return write_submission(path, **{ex: solution_region(ex) for ex in ("ex1", "ex2", "ex3", "ex4")})


def edit_notebook(path, change) -> Path:
    """Apply `change(notebook_dict)` to a notebook file's JSON, for damaged-notebook tests."""
    nb = json.loads(Path(path).read_text())
    change(nb)
    Path(path).write_text(json.dumps(nb))
    return Path(path)
