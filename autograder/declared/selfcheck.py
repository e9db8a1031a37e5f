"""Every declared assignment's in-notebook self-check: `check = checker("gpt2_block")`, then `check("ex1")` judges
the gradients the kernel holds now, on the values the student sees (the grade also uses the hidden sizes, in the
sandbox), by the grade's own path (grading.judge)."""
import functools
import warnings

from .. import assignments
from ..checks import PUBLIC
from ..grading import judge
from ..notebook import ExerciseCell
from ..results import ExerciseResult
from ..selfcheck import (SYNTAX_ERRORS, answer_cell, answer_names, as_last_run, caller_namespace, for_the_validator,
                         kernel_outcome)
from . import run


@functools.cache
def _grading(assignment_id: str):
    assignment = assignments.get(assignment_id)
    return assignment.grading(hidden_seed=0)  # only the public problem is used here


class Checker:
    """What Assignment.selfcheck() gives for a declared assignment: its check(exercise_id)."""

    def __init__(self, assignment_id: str):
        self.assignment_id = assignment_id

    def check(self, exercise_id: str, namespace: dict | None = None, cell: tuple[str, dict | None] | None = None
              ) -> ExerciseResult:  # fmt: skip
        return check_exercise(self.assignment_id, exercise_id, namespace, cell)


def checker(assignment_id: str):
    """The notebook's check(exercise_id) for this assignment (its imports cell: check = checker("gpt2_block"))."""
    return Checker(assignment_id).check


def check_exercise(assignment_id: str, exercise_id: str, namespace: dict | None = None,
                   cell: tuple[str, dict | None] | None = None) -> ExerciseResult:  # fmt: skip
    """The verdict on what the kernel (or `namespace`) holds. `cell`: the answer's source and how it stopped, when
    no kernel ran it (a script); else the kernel's last answer cell (selfcheck.answer_cell)."""
    assignment = assignments.get(assignment_id)
    ex = assignment.exercise_by_id[exercise_id]
    ns = caller_namespace() if namespace is None else namespace
    source, error = answer_cell(assignment, answer_names(assignment, ex)) if cell is None else cell
    part = _grading(assignment_id)
    variables = part.variables(ex)  # what a run reads: the checks', and the gradients computed on the way
    ns = as_last_run(ns, source, error, set(variables))
    problem = part.problems[PUBLIC]
    with warnings.catch_warnings():  # nbgrader gives a test cell 0 points for any output on stderr
        warnings.simplefilter("ignore")
        values = {}
        if not (error and error["type"] in SYNTAX_ERRORS):  # a cell that did not parse set nothing
            run.collect({"variables": variables}, ns, values)
        runs = {PUBLIC: kernel_outcome(part, ex, source, error, values)}
        verdict = judge(part, ex, ExerciseCell(source), runs, {PUBLIC: problem}, hidden_judged=False)
    return for_the_validator(verdict)
