"""Reading the lecture's own notebook, makemore_part4_backprop.ipynb, filled in as learners leave it.

Most learners follow the video in the lecture's notebook (the Colab the lecture links, or the repository's solved
copy) and never see ours. Each exercise's answer is found there by what it assigns: Exercise 1's cells set the
atoms' gradients (dlogprobs ... dC), Exercise 2's dlogits alone, Exercise 3's dhprebn alone, and Exercise 4's
loop runs a forward pass and sets the parameters' gradients. The lecture's headings ("# Exercise 1: ...", in a
comment or a markdown heading) say where an exercise starts when the learner kept them; renamed or removed, the
first cell that assigns the exercise's names does. In Exercise 4's loop the answer starts after the lecture's
"# manual backprop!" line (or at the first gradient the loop sets) and never runs past the learner's own
`grads = [...]` or update: the grader's loop does the update. The answer then takes the place of our notebook's
stub, so it is graded exactly as an answer written in our notebook. Nothing else of the learner's notebook is run:
its data, parameters and forward pass, and its retain_grad() and loss.backward() calls, are the grader's own copy
(lecture.py), as for our notebook.

Between the answers learners leave more than the answer: the lecture's cmp(...) lines, their own comparisons with
autograd's `.grad` (in allclose, ==, asserts or prints), printouts, plots, values shown by a bare expression,
IPython commands. Those statements are checks, not answers, and are left out (none of them sets a gradient);
every other statement, in the order of the notebook, is the answer. A cell that does not parse is left out whole,
and the report says so.
"""
import ast
import re
import textwrap

from ...notebook import ExerciseCell, Span, without_magics
from ...student_notebook import fill_stub, released_cells, write_notebook
from . import ASSIGNMENT, EXERCISES, PUBLIC_SIZES, Sizes

HEADING = re.compile(r"^[ \t]*(?:#+|\*\*)[ \t]*exercise[ \t]*([1-4])\b", re.I | re.M)
# Names only the lecture's forward pass has: with an answer, they tell its notebook from any other.
SIGNATURE = ("counts_sum_inv", "bnvar_inv", "logprobs")
FORWARD = re.compile(r"^[ \t]*counts_sum_inv[ \t]*=", re.M)
MANUAL_BACKPROP = re.compile(r"^[ \t]*#.*manual backprop", re.I)
DASHES = re.compile(r"^[ \t]*#[ \t]*-{5,}[ \t]*$")
# Where the loop's answer has ended at the latest: the update and bookkeeping that follow it in the lecture.
UPDATE = re.compile(r"^[ \t]*(?:#[ \t]*update\b|lr[ \t]*=|for[ \t]+p[ \t]*(?:,[ \t]*\w+[ \t]*)?in\b|p\.data\b"
                    r"|lossi\.append|if[ \t]+i\b|break\b)", re.I)
# Every gradient an answer of this assignment sets; a statement that sets none of them is never an answer.
GRADIENTS = frozenset(check.variable for ex in EXERCISES for check in ex.checks)
# What each exercise's answer assigns, beyond what an earlier exercise's does: how a cell with no heading is read.
EX1_ONLY = frozenset(c.variable for c in EXERCISES[0].checks) - {"dlogits", "dhprebn"}
GRADIENT_LINE = re.compile(r"^[ \t]*(d\w+)[ \t]*(?:\[[^\n]*\])?[ \t]*(?:[-+*/@]?=(?!=)|,)")
# Calls that only show something: what a learner checks with, never part of an answer.
SHOWING = frozenset({"cmp", "print", "display", "plt", "sns", "matplotlib"})
# The lecture's Exercise 4 trains a wider hidden layer than the rest of its notebook.
LOOP_SIZES = Sizes(batch_size=PUBLIC_SIZES.batch_size, n_hidden=200)
# How a message names the notebook this module reads.
DESCRIPTION = "the lecture's makemore_part4_backprop.ipynb"
# The first line of a report read from it.
READ_AS = ("Read as the lecture's own notebook (makemore_part4_backprop.ipynb): each exercise's answer is taken "
           "from the cells that assign its gradients and graded in the grader's own copy of the setup.")
UNANSWERED = "write your code where the lecture's notebook says # YOUR CODE HERE :)"


def parse(source: str) -> ast.Module | None:
    """The source's syntax tree, or None for anything that is not Python (null bytes and absurd nesting too)."""
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _text(cell) -> str:
    source = cell.get("source", "") if isinstance(cell, dict) else ""
    if isinstance(source, list):
        source = "".join(part for part in source if isinstance(part, str))
    return source if isinstance(source, str) else ""


def _is_code(cell) -> bool:
    return isinstance(cell, dict) and cell.get("cell_type") == "code"


def is_lecture_notebook(cells: list) -> bool:
    code = "\n".join(_text(c) for c in cells if _is_code(c))
    return all(name in code for name in SIGNATURE) and (
        any(HEADING.search(_text(c)) for c in cells) or any(_exercise_of(c) for c in cells))


def read_lecture_notebook(cells: list) -> dict[str, ExerciseCell]:
    """Each exercise's answer, from the cells where it starts to where the next exercise starts. An exercise starts
    at its heading, or with none, at the first cell that assigns what it alone assigns (_exercise_of), after the
    cells of the exercise before it. Only after the lecture's forward pass: a learner's notes may list the
    exercises before it, and the setup (with its retain_grad() and loss.backward()) is never an answer."""
    forward = next((k for k, cell in enumerate(cells) if _is_code(cell) and FORWARD.search(_text(cell))), -1)
    after = range(forward + 1, len(cells))
    starts: dict[str, int] = {}
    for index in after:
        for match in HEADING.finditer(_text(cells[index])):
            starts.setdefault(f"ex{match.group(1)}", index)
    kinds = {index: _exercise_of(cells[index]) for index in after}
    previous = forward
    for ex in EXERCISES:
        if ex.id not in starts:
            found = [k for k in after if kinds[k] == ex.id and k > previous]
            if found:
                starts[ex.id] = found[0]
        if ex.id in starts:  # the next exercise's first cell comes after every cell of this one
            own = starts[ex.id]
            later = min((s for s in starts.values() if s > own), default=len(cells))
            previous = max([own] + [k for k in after if kinds[k] == ex.id and own < k < later])
    answers = {}
    for ex in EXERCISES:
        number = ex.id.removeprefix("ex")
        if ex.id not in starts:
            what = ("a loop that trains with your own backward pass" if ex.trains
                    else "a cell that sets " + ", ".join(sorted({c.variable for c in ex.checks})[:3]))
            answers[ex.id] = ExerciseCell(None, f"not found: no cell has the lecture's heading '# Exercise {number}' "
                                                f"or {what}", status="not found")  # fmt: skip
            continue
        start = starts[ex.id]
        end = min((s for s in starts.values() if s > start), default=len(cells))
        section = [(index, cells[index]) for index in range(start, end) if _is_code(cells[index])]
        answers[ex.id] = _loop_answer(section) if ex.trains else _answer(section)
    return answers


def _exercise_of(cell) -> str | None:
    """Which exercise a code cell answers, by what it assigns: a loop that runs the forward pass and sets
    gradients is Exercise 4's; otherwise an atom's gradient is Exercise 1's, dlogits alone Exercise 2's and
    dhprebn alone Exercise 3's."""
    if not _is_code(cell):
        return None
    tree = parse(without_magics(_text(cell))[0])
    if tree is None:
        return None
    for node in ast.walk(tree):
        if isinstance(node, (ast.For, ast.While)) and _sets(node) and _assigned(node) & {"logits", "loss"}:
            return "ex4"
    top = set().union(*(_sets(node) for node in tree.body))
    return "ex1" if top & EX1_ONLY else "ex2" if "dlogits" in top else "ex3" if "dhprebn" in top else None


def _assigned(node: ast.AST) -> set[str]:
    """Every name a statement assigns or changes in place, at any depth (`dC[ix] += ...` changes dC)."""
    names = set()
    for sub in ast.walk(node):
        targets = []
        if isinstance(sub, ast.Assign):
            targets = sub.targets
        elif isinstance(sub, (ast.AugAssign, ast.AnnAssign)):
            targets = [sub.target]
        elif isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute) and sub.func.attr.endswith("_"):
            targets = [sub.func.value]  # dlogits.sub_(...), dC.index_add_(...)
        for target in targets:
            for part in ast.walk(target):
                while isinstance(part, (ast.Subscript, ast.Attribute, ast.Starred)):
                    part = part.value
                if isinstance(part, ast.Name):
                    names.add(part.id)
    return names


def _sets(node: ast.AST) -> set[str]:
    """The assignment's gradients a statement sets."""
    return _assigned(node) & GRADIENTS


def _answer_lines(source: str) -> list[str] | None:
    """The cell's lines with every line that is not part of an answer statement blanked (so lines keep their
    numbers), or None when the cell does not parse."""
    python, commands = without_magics(source)  # IPython's own lines, when the cell needs it
    blanked = {number for number, _ in commands}
    lines = ["" if k + 1 in blanked else line for k, line in enumerate(python.split("\n"))]
    tree = parse("\n".join(lines))
    if tree is None:
        return None
    kept = set()
    for node in tree.body:
        if not _only_shows(node):
            kept.update(range(node.lineno - 1, node.end_lineno))
    # The learner's comments between the answer's statements stay with it (convert carries them over).
    inside = range(min(kept), max(kept) + 1) if kept else range(0)
    return [line if k in kept or (k in inside and line.lstrip().startswith("#")) else ""
            for k, line in enumerate(lines)]


def _only_shows(node: ast.stmt) -> bool:
    """A statement that cannot set a gradient: a check, a printout, a plot, a value shown."""
    if isinstance(node, ast.Assert):
        return True
    if _reads_autograd(node) and not _sets(node):
        return True  # the learner's own check against autograd: torch.all(dh == h.grad), ok = allclose(...)
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        return all(m.split(".")[0] in SHOWING for m in modules)
    if not isinstance(node, ast.Expr):
        return False
    if not isinstance(node.value, ast.Call):
        return True  # `dlogits.shape`, `dh[0]`: Jupyter shows it, nothing changes
    func = node.value.func
    while isinstance(func, ast.Attribute):
        if func.attr == "testing" or func.attr.startswith("assert"):
            return True  # torch.testing.assert_close(...), np.testing.assert_allclose(...)
        func = func.value
    return isinstance(func, ast.Name) and func.id in SHOWING


def _reads_autograd(node: ast.stmt) -> bool:
    return any(isinstance(sub, ast.Attribute) and sub.attr == "grad" and isinstance(sub.ctx, ast.Load)
               for sub in ast.walk(node))


def _trimmed(lines: list[str]) -> tuple[int, list[str]]:
    """The lines from the first non-blank to the last, and how many blank ones were cut in front."""
    filled = [k for k, line in enumerate(lines) if line.strip()]
    return (filled[0], lines[filled[0] : filled[-1] + 1]) if filled else (0, [])


def _answer(section: list[tuple[int, dict]]) -> ExerciseCell:
    parts, spans, left_out = [], [], []
    for index, cell in section:
        lines = _answer_lines(_text(cell))
        if lines is None:
            left_out.append(f"cell {index + 1} was left out: it does not parse (a syntax error)")
            continue
        cut, lines = _trimmed(lines)
        if lines:
            spans.append(Span(index + 1, _execution_count(cell), cut + 1, len(parts) + 1, len(lines)))
            parts.extend(lines)
    source = "\n".join(parts)
    return ExerciseCell(source, origin=tuple(spans), left_out=tuple(left_out), unanswered=UNANSWERED, answer=source)


def _loop_answer(section: list[tuple[int, dict]]) -> ExerciseCell:
    """Exercise 4: the manual backward pass inside the learner's loop, put inside the grader's own loop."""
    for index, cell in section:
        lines = _text(cell).split("\n")
        start = _backprop_start(lines)
        if start is None:
            continue
        end = _backprop_end(lines, start)
        region = textwrap.dedent("\n".join(lines[start:end])).split("\n")
        answer = _answer_lines("\n".join(region))
        cut, region = _trimmed(answer if answer is not None else region)
        answer = "\n".join(region)
        source, first = fill_stub(released_cells(ASSIGNMENT)["ex4"], answer)
        span = Span(index + 1, _execution_count(cell), start + cut + 1, first, len(region))
        return ExerciseCell(source, origin=(span,) if region else (), public_at=LOOP_SIZES, unanswered=UNANSWERED,
                            answer=answer)  # fmt: skip
    return ExerciseCell(None, "not found: Exercise 4 has no loop with the lecture's '# manual backprop!' line or a "
                              "gradient set after its forward pass", status="not found")  # fmt: skip


def _backprop_start(lines: list[str]) -> int | None:
    """The loop's first line of the answer: after the lecture's '# manual backprop!' (and the dashes under it),
    else the first gradient set after the loop's loss; None when the cell has neither."""
    marker = next((k for k, line in enumerate(lines) if MANUAL_BACKPROP.match(line)), None)
    if marker is not None:
        opening = next((k for k in range(marker + 1, len(lines)) if lines[k].strip()), None)
        return opening + 1 if opening is not None and DASHES.match(lines[opening]) else marker + 1
    loss = next((k for k, line in enumerate(lines) if re.match(r"^[ \t]+loss[ \t]*=", line)), None)
    if loss is None:
        return None
    return next((k for k in range(loss + 1, len(lines)) if (m := GRADIENT_LINE.match(lines[k]))
                 and m.group(1) in GRADIENTS), None)  # fmt: skip


def _backprop_end(lines: list[str], start: int) -> int:
    """Where the loop's answer ends: the closing dashes, the update, or the loop's end, whichever comes first;
    and never after the learner's last `grads = [...]`, which the grader's loop updates with."""
    body = next((k for k in range(start, len(lines)) if lines[k].strip() and not lines[k].lstrip().startswith("#")),
                None)  # fmt: skip
    if body is None:
        return len(lines)
    indent = len(lines[body]) - len(lines[body].lstrip())
    end = len(lines)
    for k in range(start, len(lines)):
        line = lines[k]
        code = line.strip() and not line.lstrip().startswith("#")
        if DASHES.match(line) or UPDATE.match(line) or (code and len(line) - len(line.lstrip()) < indent):
            end = k
            break
    region = textwrap.dedent("\n".join(lines[start:end]))
    tree = parse(region)
    if tree is not None:
        grads = [node for node in tree.body if isinstance(node, ast.Assign) and "grads" in _assigned(node)]
        if grads:
            end = start + grads[-1].end_lineno
    return end


def convert(cells: dict[str, ExerciseCell], path) -> list[str]:
    """Write our student notebook at `path`, with the lecture notebook's answers (read_lecture_notebook) in place
    of the stubs, so the learner goes on in JupyterLab with our check tables. Returns the exercises filled in; one
    not found, or not answered yet, keeps its stub."""
    answers = {ex.id: re.sub(r"\n{3,}", "\n\n", cells[ex.id].answer) for ex in EXERCISES
               if cells[ex.id].answer and sets_a_gradient(cells[ex.id].answer, ex)}  # fmt: skip
    write_notebook(ASSIGNMENT, path, answers)
    return list(answers)


def sets_a_gradient(answer: str, ex) -> bool:
    """Whether the answer gives one of the exercise's gradients a value other than None: the lecture's
    placeholders (`dlogits = None # TODO`) alone leave an exercise unanswered, and our stub stays in its place."""
    tree = parse(answer)
    if tree is None:
        return True  # the learner's own code, to be mended in our notebook
    wanted = {check.variable for check in ex.checks}
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            named = {n.id for target in targets for n in ast.walk(target) if isinstance(n, ast.Name)}
            if named & wanted and not _is_none(node.value):
                return True
    return False


def _is_none(value: ast.expr) -> bool:
    """None, or a tuple of Nones (`dC, dW1, ... = None, None, ...`)."""
    values = value.elts if isinstance(value, ast.Tuple) else [value]
    return all(isinstance(v, ast.Constant) and v.value is None for v in values)


def _execution_count(cell: dict) -> int | None:
    count = cell.get("execution_count")
    return count if type(count) is int and 0 <= count < 10**9 else None
