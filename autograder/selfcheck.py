"""What every assignment's in-notebook `check("ex1")` shares: finding the kernel's namespace, and saying a short
result where nbgrader's Validate button shows it.

Each assignment's own check is its selfcheck module (Assignment.selfcheck_module); `autograder.check` is the
first assignment's, the one the released notebooks of the first wave call.
"""
import inspect
import os
import sys

from .render import exercise_summary
from .results import ExerciseResult


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
    if os.environ.get("NBGRADER_VALIDATING") and result.score < result.max_score:
        print(exercise_summary(result), file=sys.stderr)
    return result
