"""Reading a submission: the student's exercise cells, found by their nbgrader grade_id.

Only the solution cells are taken from a submission. Everything else a graded run needs (data, parameters,
forward pass) comes from the grader's own copy (lecture.py), as nbgrader restores locked cells from the
source, so editing a provided cell changes nothing.
"""
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import nbformat

from .checks import EXERCISES

ASSIGNMENT = "backprop_ninja"


class NotGradable(Exception):
    """The notebook cannot be graded at all. The message is one line for the user."""


@dataclass(frozen=True)
class ExerciseCell:
    source: str | None  # None when the cell cannot be used; `problem` says why
    problem: str | None = None


def read_submission(path) -> dict[str, ExerciseCell]:
    """The cell of each exercise, by grade_id. Raises NotGradable for a file that is not this assignment."""
    path = Path(path)
    if not path.is_file():
        raise NotGradable(f"{path}: no such file")
    text = path.read_bytes()
    if not text.strip():
        raise NotGradable(f"{path}: the file is empty")
    try:
        with warnings.catch_warnings():  # nbformat's validation warnings would break the one-line message
            warnings.simplefilter("ignore")
            nb = nbformat.reads(text.decode("utf-8", errors="replace"), as_version=4)
    except (json.JSONDecodeError, nbformat.reader.NotJSONError, ValueError):
        raise NotGradable(f"{path}: not a notebook (not valid notebook JSON)") from None
    except Exception as e:  # nbformat raises assorted errors for JSON that is not a notebook
        raise NotGradable(f"{path}: not a notebook ({type(e).__name__})") from None
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        raise NotGradable(f"{path}: not a notebook (no cells)")
    found: dict[str, list] = {}
    for cell in cells:
        meta = cell.get("metadata", {}).get("nbgrader", {}) if isinstance(cell, dict) else {}
        grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
        if isinstance(grade_id, str):
            found.setdefault(grade_id, []).append(cell)
    marked = nb.get("metadata", {}).get("backprop_ninja", {}).get("assignment") == ASSIGNMENT
    if not marked and not any(ex.id in found for ex in EXERCISES):
        raise NotGradable(f"{path}: not a {ASSIGNMENT} notebook (no exercise cells ex1..ex4 found)")
    return {ex.id: _exercise_cell(ex.id, found.get(ex.id, [])) for ex in EXERCISES}


def _exercise_cell(grade_id: str, cells: list) -> ExerciseCell:
    if not cells:
        return ExerciseCell(None, f"the cell with grade_id {grade_id} is missing: restore it from a fresh copy of "
                                  "the notebook and paste your code back in")  # fmt: skip
    if len(cells) > 1:
        return ExerciseCell(None, f"the notebook has {len(cells)} cells with grade_id {grade_id}: delete the "
                                  "copies so that one remains")  # fmt: skip
    cell = cells[0]
    if cell.get("cell_type") != "code":
        return ExerciseCell(None, f"the cell with grade_id {grade_id} is no longer a code cell: change its type "
                                  "back to Code")  # fmt: skip
    source = cell.get("source", "")
    return ExerciseCell(source if isinstance(source, str) else "".join(source))
