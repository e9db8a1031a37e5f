"""An assignment's student notebook as the package ships it (Assignment.release, nbgrader's release of
solutions/), and putting an answer where one of its exercise cells has nbgrader's stub.

`backprop-ninja notebook` writes a fresh copy from here, so a learner needs the package alone; the first
assignment's `convert` and lecture-notebook reader put a learner's answers in place of its stubs.
"""
import functools
import json
import re
from pathlib import Path

STUB = re.compile(r"^([ \t]*)# YOUR CODE HERE\n[ \t]*raise NotImplementedError\(\)", re.M)


def cell_source(cell: dict) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


@functools.cache  # read once per process: a lecture notebook's Exercise 4 needs the loop for every submission
def released_cells(assignment) -> dict[str, str]:
    """The release's source of each cell, by nbgrader grade_id (shared: do not change it)."""
    return {c["metadata"]["nbgrader"]["grade_id"]: cell_source(c) for c in assignment.released_notebook()["cells"]
            if "nbgrader" in c.get("metadata", {})}  # fmt: skip


def fill_stub(released_cell: str, code: str) -> tuple[str, int]:
    """`released_cell` with `code` in place of its stub, at the stub's indentation (inside a loop, say), and the
    line of the cell where `code` starts."""
    match = STUB.search(released_cell)
    indent = match.group(1)
    body = "\n".join(indent + line if line.strip() else "" for line in code.split("\n"))
    first = released_cell.count("\n", 0, match.start()) + 1
    return released_cell[: match.start()] + body + released_cell[match.end():], first


def write_notebook(assignment, path, answers: dict[str, str] | None = None, whole_cells: bool = False) -> Path:
    """A copy of the assignment's student notebook at `path`, with each exercise in `answers` (grade_id -> code)
    filled in: in place of the cell's stub, or (`whole_cells`) as the whole cell, where an answer is a whole class
    or several definitions."""
    nb = assignment.released_notebook()
    for cell in nb["cells"]:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        if answers and grade_id in answers:
            code = answers[grade_id]
            cell["source"] = code if whole_cells else fill_stub(cell_source(cell), code)[0]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")
    return path
