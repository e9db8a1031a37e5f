"""A declared assignment's nbgrader source notebook, written from its declaration: the intro, the imports and
sizes, and per exercise its prose, a provided cell (its inputs drawn as the grader draws them, problems.py, then
the forward pass's lines), the answer cell (the solution between nbgrader's markers) and the check cell.

`nbgrader generate_assignment` makes the student's release from it, as for the other assignments.
"""
import json

from ..notebook import MARKER
from .forward import read_forward

PACKAGE_HINT = ("This notebook needs the course package backprop-ninja (it provides the module `autograder`). In a "
                "terminal, in the folder where you saved the wheel file your instructor gave you, run:  pip install "
                "backprop_ninja-0.1.0-py3-none-any.whl  (or, in a copy of the course repository: pip install -e .), "
                "then restart this notebook's kernel.")  # fmt: skip


def _cell(kind: str, grade_id: str, source: str, solution: bool = False, points: float | None = None) -> dict:
    nbgrader = {"grade": points is not None, "grade_id": grade_id, "locked": not solution, "schema_version": 3,
                "solution": solution, "task": False}  # fmt: skip
    if points is not None:
        nbgrader["points"] = points
    cell = {"cell_type": kind, "metadata": {"nbgrader": nbgrader}, "source": source}
    if kind == "code":
        cell.update(execution_count=None, outputs=[])
    return cell


def draw_lines(inputs) -> list[str]:
    """The provided cell's draws, the same calls problems.draw makes, in the same order."""
    lines = []
    for spec in inputs:
        shape = ", ".join(str(d) for d in spec.shape) + ("," if len(spec.shape) == 1 else "")
        if spec.draw == "index":
            lines.append(f"{spec.name} = torch.randint(0, {spec.high}, ({shape}), generator=g)")
        else:
            scaled = (f" * {spec.scale!r}" if spec.scale != 1 else "") + (f" + {spec.shift!r}" if spec.shift else "")
            lines.append(f"{spec.name} = torch.randn(({shape}), generator=g){scaled}")
    return lines


def source_notebook(declaration) -> dict:
    """The instructor's notebook (solutions between nbgrader's markers), as nbformat 4 JSON."""
    imports = (f"try:\n    from autograder.declared.selfcheck import checker  # the course package, backprop-ninja\n"
               f"except ModuleNotFoundError:\n    raise ModuleNotFoundError({PACKAGE_HINT!r})\n"
               f"import math\nimport torch\nimport torch.nn.functional as F\n\ncheck = checker({declaration.id!r})")  # fmt: skip
    sizes = "\n".join(f"{name} = {value}" for name, value in declaration.sizes.items())
    cells = [_cell("markdown", "intro", declaration.intro), _cell("code", "imports", imports),
             _cell("code", "sizes", "# the sizes you see (the grader also uses others)\n" + sizes)]  # fmt: skip
    for k, task in enumerate(declaration.tasks):
        forward = read_forward(task.forward)
        provided = [f"g = torch.Generator().manual_seed({declaration.public_seed + k})", *draw_lines(task.inputs),
                    "", "# forward pass", *forward.lines]  # fmt: skip
        asks = ", ".join(f"`d{name}`" for name in task.asks)
        prose = task.prose or f"Compute {asks}, the gradients of `loss`."
        answer = (task.stub + "\n" if task.stub else "") + f"### BEGIN SOLUTION\n{task.solution.strip()}\n### END SOLUTION"
        cells += [
            _cell("markdown", f"{task.id}_md", f"## {task.title}\n\n{prose}"),
            _cell("code", f"{task.id}_given", "\n".join(provided)),
            _cell("code", task.id, answer, solution=True),
            _cell("code", f"{task.id}_check", f'result = check("{task.id}")  # compares your gradients with '
                  f"autograd's\ndisplay(result)\nresult.score", points=task.points * len(task.asks)),
        ]  # fmt: skip
    return {"cells": cells, "metadata": {MARKER: {"assignment": declaration.id},
                                         "kernelspec": {"display_name": "Python 3 (ipykernel)", "language": "python",
                                                        "name": "python3"},
                                         "language_info": {"name": "python"}},
            "nbformat": 4, "nbformat_minor": 4}  # fmt: skip


def release_notebook(declaration) -> dict:
    """The student's notebook as `nbgrader generate_assignment` makes it from the source: each solution replaced
    by its stub (for a declared assignment that ships no release of its own)."""
    nb = source_notebook(declaration)
    for cell in nb["cells"]:
        if cell["metadata"]["nbgrader"]["solution"]:
            before = cell["source"].split("### BEGIN SOLUTION")[0]
            cell["source"] = before + "# YOUR CODE HERE\nraise NotImplementedError()"
    return nb


def write_source_notebook(declaration, path) -> None:
    with open(path, "w") as f:
        json.dump(source_notebook(declaration), f, indent=1)
        f.write("\n")
