"""The student notebook as the package ships it (notebooks/backprop_ninja.ipynb, nbgrader's release of
solutions/), and putting an answer where one of its exercise cells has the stub.

`backprop-ninja notebook` writes a fresh copy from here, so a learner needs the package alone; `convert` and the
lecture-notebook reader (lecture_notebook.py) put a learner's answers in place of its stubs.
"""
import functools
import json
import re
from importlib import resources
from pathlib import Path

STUB = re.compile(r"^([ \t]*)# YOUR CODE HERE\n[ \t]*raise NotImplementedError\(\)", re.M)


def released_notebook() -> dict:
    """The release notebook's JSON (a fresh dict on every call: callers may change it)."""
    return json.loads(resources.files("autograder").joinpath("notebooks/backprop_ninja.ipynb").read_text())


def cell_source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


@functools.cache  # read once per process: a lecture notebook's Exercise 4 needs the loop for every submission
def released_cells() -> dict[str, str]:
    """The release's source of each cell, by nbgrader grade_id (shared: do not change it)."""
    return {c["metadata"]["nbgrader"]["grade_id"]: cell_source(c) for c in released_notebook()["cells"]
            if "nbgrader" in c.get("metadata", {})}  # fmt: skip


def fill_stub(released_cell: str, code: str) -> tuple[str, int]:
    """`released_cell` with `code` in place of its stub, at the stub's indentation (Exercise 4: inside the loop),
    and the line of the cell where `code` starts."""
    match = STUB.search(released_cell)
    indent = match.group(1)
    body = "\n".join(indent + line if line.strip() else "" for line in code.split("\n"))
    first = released_cell.count("\n", 0, match.start()) + 1
    return released_cell[: match.start()] + body + released_cell[match.end():], first


def write_notebook(path, answers: dict[str, str] | None = None) -> Path:
    """A copy of the student notebook at `path`, with each exercise in `answers` (grade_id -> code) filled in."""
    nb = released_notebook()
    for cell in nb["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if answers and grade_id in answers:
            cell["source"] = fill_stub(cell_source(cell), answers[grade_id])[0]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return path
