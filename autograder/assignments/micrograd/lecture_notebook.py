"""Reading the first lecture's exercise notebook, micrograd_exercises.ipynb (the Colab the lecture links), filled
in as learners leave it.

It asks two things, which are our Exercises 3 and 6: section 1, `gradf` and the estimates `numerical_grad`
(one-sided) and `numerical_grad2` (symmetric), with the learner's own step h; section 2, the Value ops a softmax
and its negative log likelihood need. Its other cells (the expression graph, the neuron, the Value class's
backward, the training loop of our Exercises 1, 2, 4 and 5) it does not ask: those exercises are not graded.

Each answer is found by what it defines, wherever the learner put it: the statements that assign the names an
exercise asks for, and, going back through the notebook, the statements those read (their own h, a helper, an
import). Everything else is left out: the notebook's own OK / WRONG! loops, printouts, its `ans` lists, the
torch cell, and the setup the grader provides itself (f, the softmax cell). So a print line that raises cannot
stop an answer from being graded, and a learner's copy of f cannot change what is graded.
"""
import ast

from ...notebook import NOT_ASKED, ExerciseCell, Span, without_magics
from ...student_notebook import write_notebook
from . import ASSIGNMENT, EXERCISES

# Names only this notebook's cells define: any of them tells it from another.
SIGNATURE = ("def gradf", "numerical_grad2", "def softmax(")
# What each exercise it asks is, by the names its answer defines; and the names the grader's setup gives, never
# taken from the learner's notebook (their f, their softmax cell).
ASKED = {"ex3": ("gradf", "numerical_grad", "numerical_grad2"), "ex6": ("Value",)}
PROVIDED = {"ex3": {"f"}, "ex6": {"softmax", "logits", "probs", "loss"}}
# The notebook's own placeholders: an answer made of these alone is not answered yet.
PLACEHOLDERS = {
    "ex3": "def gradf(a, b, c):\n  return [0, 0, 0]\nnumerical_grad = [0, 0, 0]\nnumerical_grad2 = [0, 0, 0]",
}
# The starter Value's own methods: a class with no other has none of section 2's ops yet.
STARTER_METHODS = {"__init__", "__repr__", "__add__", "backward"}
DESCRIPTION = "the lecture's micrograd_exercises.ipynb"
READ_AS = ("Read as the lecture's exercise notebook (micrograd_exercises.ipynb): each section's answer is the code "
           "that defines what it asks (gradf, numerical_grad, numerical_grad2; the Value class), graded in the "
           "grader's own copy of the setup. Our Exercises 1, 2, 4 and 5 are not in it, and not graded.")
UNANSWERED = "write your code where the notebook says TODO"


def _text(cell) -> str:
    source = cell.get("source", "") if isinstance(cell, dict) else ""
    if isinstance(source, list):
        source = "".join(part for part in source if isinstance(part, str))
    return source if isinstance(source, str) else ""


def _is_code(cell) -> bool:
    return isinstance(cell, dict) and cell.get("cell_type") == "code"


def parse(source: str) -> ast.Module | None:
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def is_lecture_notebook(cells: list) -> bool:
    code = "\n".join(_text(c) for c in cells if _is_code(c))
    return any(name in code for name in SIGNATURE)


def read_lecture_notebook(cells: list) -> dict[str, ExerciseCell]:
    statements, unparsable = [], []
    for index, cell in enumerate(cells):
        if not _is_code(cell):
            continue
        source = without_magics(_text(cell))[0]
        tree = parse(source)
        if tree is None:
            unparsable.append(f"cell {index + 1} was left out: it does not parse (a syntax error)")
            continue
        statements += [(index, source, node) for node in tree.body]
    answers = {}
    for ex in EXERCISES:
        if ex.id not in ASKED:
            answers[ex.id] = ExerciseCell(None, f"not asked by {DESCRIPTION}", status=NOT_ASKED)
            continue
        kept = _slice(statements, set(ASKED[ex.id]), PROVIDED[ex.id])
        if not any(_binds(node) & set(ASKED[ex.id]) for _, _, node in kept):
            names = ", ".join(ASKED[ex.id])
            answers[ex.id] = ExerciseCell(None, f"not found: no cell defines {names}", status="not found")
            continue
        answers[ex.id] = _answer(cells, kept, unparsable, _untouched(ex.id, kept))
    return answers


SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)


def _walk_scope(node: ast.AST):
    """The nodes of a statement in its own scope: a def's, class's or lambda's body is another scope."""
    yield node
    for child in ast.iter_child_nodes(node):
        if isinstance(child, SCOPES):
            yield child  # its name and decorators, not its body
            continue
        yield from _walk_scope(child)


def _binds(node: ast.stmt) -> set[str]:
    """The names a statement defines or changes: assigned (`numerical_grad[0] = ...` changes numerical_grad),
    defined by def or class, imported, or a method called on them (`grads.append(...)`)."""
    names = {node.name} if isinstance(node, SCOPES[:3]) else set()
    for sub in _walk_scope(node) if not isinstance(node, SCOPES) else ():
        if isinstance(sub, SCOPES[:3]):
            names.add(sub.name)
        elif isinstance(sub, (ast.Import, ast.ImportFrom)):
            names.update((alias.asname or alias.name).split(".")[0] for alias in sub.names)
        targets = []
        if isinstance(sub, ast.Assign):
            targets = sub.targets
        elif isinstance(sub, (ast.AugAssign, ast.AnnAssign)):
            targets = [sub.target]
        elif isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute):
            targets = [sub.func.value]
        elif isinstance(sub, (ast.For, ast.comprehension)):
            targets = [sub.target]
        for target in targets:
            for part in ast.walk(target):
                while isinstance(part, (ast.Subscript, ast.Attribute, ast.Starred)):
                    part = part.value
                if isinstance(part, ast.Name):
                    names.add(part.id)
    return names


def _reads(node: ast.AST) -> set[str]:
    """The names a statement reads from the notebook's namespace: a def's or class's free names (not its
    parameters, nor what it assigns itself)."""
    if isinstance(node, ast.ClassDef):  # a method's free names are the notebook's (the class's are not in scope)
        outside = [*node.bases, *node.keywords, *node.decorator_list]
        return set().union(*map(_reads, node.body), *map(_reads, outside))
    loads = {sub.id for sub in ast.walk(node) if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Load)}
    if not isinstance(node, SCOPES):
        return loads
    local = {sub.arg for sub in ast.walk(node) if isinstance(sub, ast.arg)}
    local |= {sub.id for sub in ast.walk(node) if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store)}
    local |= {sub.name for sub in ast.walk(node) if isinstance(sub, SCOPES[:3]) and sub is not node}
    return loads - local


def _slice(statements: list, wanted: set, provided: set) -> list:
    """The statements an answer is made of, in notebook order: going back from the last, each one that defines a
    name still needed (one the exercise asks for, or one a kept statement reads), but never the setup's own."""
    needed, kept = set(wanted), []
    for index, source, node in reversed(statements):
        if (_binds(node) - provided) & needed:
            kept.append((index, source, node))
            needed |= _reads(node) - provided
    return kept[::-1]


def _untouched(exercise: str, kept: list) -> bool:
    """Whether the answer is the notebook's placeholders alone (or the starter class with no op of its own)."""
    if exercise == "ex6":
        classes = [node for _, _, node in kept if isinstance(node, ast.ClassDef) and node.name == "Value"]
        return bool(classes) and all({n.name for n in c.body if isinstance(n, ast.FunctionDef)} <= STARTER_METHODS
                                     for c in classes)  # fmt: skip
    placeholders = {ast.dump(node) for node in ast.parse(PLACEHOLDERS[exercise]).body}
    return all(ast.dump(node) in placeholders for _, _, node in kept)


def _answer(cells: list, kept: list, unparsable: list, untouched: bool) -> ExerciseCell:
    """The kept statements' lines, cell after cell, with the learner's comments between them, and where each
    stretch came from."""
    by_cell: dict[int, tuple[str, set]] = {}
    for index, source, node in kept:
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])
        by_cell.setdefault(index, (source, set()))[1].update(range(first - 1, node.end_lineno))
    parts, spans = [], []
    for index, (source, lines) in sorted(by_cell.items()):
        text = source.split("\n")
        inside = range(min(lines), max(lines) + 1)
        taken = [line if k in lines or line.lstrip().startswith("#") else "" for k, line in enumerate(text)
                 if k in inside]  # fmt: skip
        count = cells[index].get("execution_count")
        spans.append(Span(index + 1, count if type(count) is int and 0 <= count < 10**9 else None, min(lines) + 1,
                          len(parts) + 1, len(taken)))  # fmt: skip
        parts += taken
    source = "\n".join(parts)
    if untouched:
        return ExerciseCell(None, f"not answered yet: {UNANSWERED}", status="not answered", answer=None)
    return ExerciseCell(source, origin=tuple(spans), left_out=tuple(unparsable), unanswered=UNANSWERED,
                        answer=source)


def convert(cells: dict[str, ExerciseCell], path) -> list[str]:
    """Write our student notebook at `path` with the exercise notebook's answers in place of our cells (Exercise
    3's functions and estimates, Exercise 6's class), so the learner goes on in JupyterLab with our checks and the
    exercises the lecture's notebook does not ask. Returns the exercises filled in."""
    answers = {ex_id: cells[ex_id].answer for ex_id in ASKED if cells[ex_id].answer}
    write_notebook(ASSIGNMENT, path, answers, whole_cells=True)
    return list(answers)
