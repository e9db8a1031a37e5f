"""What every assignment's in-notebook `check("ex1")` shares: finding the kernel's namespace, and saying a short
result where nbgrader's Validate button shows it.

Each assignment's own check is its selfcheck module (Assignment.selfcheck_module); `autograder.check` is the
first assignment's, the one the released notebooks of the first wave call.
"""
import functools
import inspect
import os
import re
import sys
import traceback

from .render import exercise_summary
from .results import ExerciseResult, Score
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


def answer_cell(assignment) -> tuple[str, dict | None]:
    """The answer check("exN") judges, with how it stopped: the last cell the kernel ran before it that is
    neither a check cell nor one the notebook gives (a setup cell, Exercise 6's softmax): in the notebook the
    answer comes before its check, as Run All, Validate and autograde run them. ("", None) when the kernel ran
    none (a namespace handed to check() by a script)."""
    given = _given_cells(assignment.id)
    for source, error in reversed(_executions):
        if not CHECK_CALL.search(source) and source.strip() not in given:
            return source, error
    return "", None


@functools.cache
def _given_cells(assignment_id: str) -> frozenset[str]:
    """The sources of the released notebook's code cells that are not the student's to write."""
    from . import assignments

    return frozenset("".join(cell["source"]).strip() for cell in assignments.get(assignment_id).released_notebook()["cells"]
                     if cell["cell_type"] == "code" and not cell["metadata"].get("nbgrader", {}).get("solution"))


listen()


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
