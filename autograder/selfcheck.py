"""What every assignment's in-notebook `check("ex1")` shares: finding the kernel's namespace, and saying a short
result where nbgrader's Validate button shows it.

Each assignment's own check is its selfcheck module (Assignment.selfcheck_module); `autograder.check` is the
first assignment's, the one the released notebooks of the first wave call.
"""
import ast
import functools
import inspect
import os
import re
import sys
import traceback

from .render import exercise_summary
from .results import ExerciseResult, Score
from .static_checks import source_nodes
from .student_process import error_record

# The cells the kernel ran since the course package was imported, last ones last: each one's source and how it
# stopped (student_process.error_record, None when it ran through). check("ex1") judges the answer cell's own.
_executions: list[tuple[str, dict | None]] = []
KEPT = 200
# A cell that calls check("exN"): the notebook's check cells, never an answer.
CHECK_CALL = re.compile(r"\bcheck\(\s*['\"]ex\w*['\"]")


def _record(result):
    """IPython's post_run_cell: keep the cell's source, and where in it the cell stopped."""
    error = result.error_before_exec or result.error_in_exec
    _executions.append((result.info.raw_cell or "", _kernel_error(error) if error is not None else None))
    del _executions[:-KEPT]


def _kernel_error(e: BaseException) -> dict:
    """A cell's error as a graded run reports it, its line counted in the cell: the cell's code is the first
    frame below IPython's own (a SyntaxError has no frame, but its line)."""
    import IPython

    internal = os.path.dirname(IPython.__file__)
    frames = [f for f in traceback.extract_tb(e.__traceback__) if not f.filename.startswith(internal)]
    return error_record(e, frames[0].filename if frames else None)


def listen():
    """Record every cell the kernel runs from now on (the notebook's first cell imports the package)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None and _record not in shell.events.callbacks["post_run_cell"]:
        shell.events.register("post_run_cell", _record)


def answer_names(assignment, ex, defines: frozenset = frozenset()) -> set[str]:
    """The names that tell an exercise's answer cell: its checks' names that no other exercise reads (Exercise 1
    and 2 of micrograd both set db), else all of them; and what its answer `defines` (a class, a network)."""
    own = {c.variable for c in ex.checks}
    others = {c.variable for other in assignment.exercises if other.id != ex.id for c in other.checks}
    return (own - others or own) | set(defines)


def answer_cell(assignment, names: set[str]) -> tuple[str, dict | None]:
    """The answer check("exN") judges, with how it stopped: the last cell the kernel ran that sets one of `names`
    (the exercise's gradients, or the functions and class its answer defines); when none does (a stub, a cell
    left with a comment), the last cell run; ("", None) when there is none (a namespace handed to check() by a
    script). Check cells and the cells the notebook gives (a setup cell, Exercise 6's softmax) are never an
    answer, and a scratch cell run between the answer and its check (a cmp, a print of .grad) sets none of its
    names."""
    given = _given_cells(assignment.id)
    cells = [(source, error) for source, error in reversed(_executions)
             if not CHECK_CALL.search(source) and source.strip() not in given]  # fmt: skip
    return next((cell for cell in cells if defined_names(cell[0]) & names), cells[0] if cells else ("", None))


SYNTAX_ERRORS = ("SyntaxError", "IndentationError", "TabError")
# What a cell that does not parse assigns or defines, as far as its lines say.
DEFINED = re.compile(r"^\s*(?:(?:def|class)\s+(\w+)|(\w+)\s*(?:[-+*/]?=(?!=)|,))", re.M)


def defined_names(source: str, before: int | None = None) -> set[str]:
    """The names a cell assigns or defines (def, class), in its top-level statements that start before line
    `before` when given."""
    nodes = source_nodes(source)
    if nodes is None:
        return {a or b for a, b in DEFINED.findall(source)}
    statements = [s for s in nodes[0].body if before is None or s.lineno < before]
    return {node.id if isinstance(node, ast.Name) else node.name for s in statements for node in ast.walk(s)
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)
            or isinstance(node, (ast.FunctionDef, ast.ClassDef))}  # fmt: skip


def as_last_run(ns: dict, source: str, error: dict | None, names: set[str]) -> dict:
    """The kernel's namespace as a graded run of the answer cell would leave it: of the exercise's `names` (and
    what the cell defines), only those the cell's last run set, before the line it stopped at (none when it did
    not parse). What an earlier run left behind is taken away. Unchanged when no cell was recorded (a script)."""
    if not source:
        return ns
    if error and error["type"] in SYNTAX_ERRORS:
        kept = set()
    elif error and error.get("line"):
        kept = defined_names(source, error["line"])
    else:
        kept = defined_names(source)
    stale = (names | defined_names(source)) - kept
    return {name: value for name, value in ns.items() if name not in stale}


@functools.cache
def _given_cells(assignment_id: str) -> frozenset[str]:
    """The sources of the released notebook's code cells that are not the student's to write."""
    from . import assignments

    cells = assignments.get(assignment_id).released_notebook()["cells"]
    return frozenset("".join(cell["source"]).strip() for cell in cells
                     if cell["cell_type"] == "code" and not cell["metadata"].get("nbgrader", {}).get("solution"))


listen()


def kernel_outcome(part, ex, source: str, error: dict | None, values: dict, graphless: bool = False):
    """The kernel's `values` (by a run's names) as the public seed's outcome a graded run would report: each value
    described as a run describes it, the result held to the run's closed schema. `graphless`: the notebook's
    forward pass keeps its graph for cmp's .grad, so a gradient computed from its tensors carries one; what the
    answer asks of autograd, its source says (as in a grade)."""
    from .grading import SeedOutcome
    from .run_result import clean_result
    from .student_process import describe

    metas, arrays = {}, {}
    for name, value in values.items():
        metas[name], array = describe(value)
        if graphless:
            metas[name]["has_graph"] = False
        if array is not None:
            arrays[name] = array
    result = clean_result({"values": metas, "error": error}, part.value_names(ex), len(source.splitlines()))
    return SeedOutcome({"status": "finished"}, result, arrays)


def caller_namespace() -> dict:
    """The namespace the student's cells run in: the IPython kernel's, else the first caller outside this package."""
    try:
        from IPython import get_ipython

        shell = get_ipython()
        if shell is not None:
            return shell.user_ns
    except ImportError:
        pass
    frame = inspect.currentframe()
    while frame is not None and frame.f_globals.get("__name__", "").startswith("autograder"):
        frame = frame.f_back
    return frame.f_globals if frame is not None else {}


def for_the_validator(result: ExerciseResult) -> ExerciseResult:
    """A check cell's result, said on stderr too when nbgrader validates and it is short of full marks.

    nbgrader's Validate says only "Partial credit; passed some but not all of the tests" for such a cell, unless
    the cell wrote to stderr: then it shows that. It sets this variable only while validating, so `nbgrader
    autograde` still reads the cell's score as partial credit."""
    result.score = Score(result.score)  # the cell's last value: nbgrader reads its printout, 12 not 12.0
    if os.environ.get("NBGRADER_VALIDATING") and result.score < result.max_score:
        print(exercise_summary(result), file=sys.stderr)
    return result
