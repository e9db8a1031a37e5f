"""The micrograd notebook's self-check: `check("ex1")` judges what the kernel holds now, on the lecture's values
only (the grade also uses hidden ones, in the sandbox), with the same harness as a graded run (run.py) and the
same comparisons and hints (grading.py, hints.py).

Exercise 5's loop has run by the time its check does: the notebook's setup cell calls `record_training()`
first, so the loop's first steps are recorded as it runs, as in a graded run. Exercise 3's estimates are judged
at the steps where they evaluated f: its setup cell decorates f with `record_calls`, as a graded run records them.
"""
import functools
import warnings

from ...checks import PUBLIC
from ...grading import judge
from ...notebook import ExerciseCell
from ...results import ExerciseResult
from ...selfcheck import (SYNTAX_ERRORS, answer_cell, answer_names, as_last_run, caller_namespace,
                          for_the_validator, kernel_outcome)
from ...student_process import error_record
from . import ASSIGNMENT, run
from .grading import MicrogradGrading

# What each exercise's answer defines beside the names its checks read: the cell check("exN") judges sets one.
DEFINES = {"ex4": frozenset({"Value"}), "ex5": frozenset({"Neuron", "Layer", "MLP", "n"}), "ex6": frozenset({"Value"})}
_recorder: "run.TrainingRecorder | None" = None
_f_calls: list = []


@functools.cache
def _grading() -> MicrogradGrading:
    return MicrogradGrading(ASSIGNMENT, hidden_seed=0)  # only the public problem is used here


def record_training(namespace: dict | None = None):
    """Record Exercise 5's loop from here on (the notebook's setup cell calls it)."""
    global _recorder
    steps = ASSIGNMENT.exercise_by_id["ex5"].steps
    _recorder = run.TrainingRecorder(caller_namespace() if namespace is None else namespace, steps).install()


def record_calls(f):
    """f, recording the points it is evaluated at for check("ex3") (the notebook's Exercise 3 setup). The points
    recorded start afresh each time the setup cell runs."""
    _f_calls.clear()

    @functools.wraps(f)
    def recorded(a, b, c):
        if len(_f_calls) < run.MAX_F_CALLS and all(type(x) in run.NUMBER_TYPES for x in (a, b, c)):
            _f_calls.append((float(a), float(b), float(c)))
        return f(a, b, c)
    return recorded


def check(exercise_id: str, namespace: dict | None = None, cell: tuple[str, dict | None] | None = None
          ) -> ExerciseResult:
    """The exercise's verdict on what the kernel holds, by the grade's own path (grading.judge): the values from
    the kernel's namespace instead of a sandbox, on the lecture's values only. `cell`: the answer's source and how
    it stopped, when no kernel ran it (a script); else the kernel's last answer cell (selfcheck.answer_cell)."""
    ex = ASSIGNMENT.exercise_by_id[exercise_id]
    ns = caller_namespace() if namespace is None else namespace
    names = answer_names(ASSIGNMENT, ex, DEFINES.get(ex.id, frozenset()))
    source, error = answer_cell(ASSIGNMENT, names) if cell is None else cell
    ns = as_last_run(ns, source, error, {c.variable for c in ex.checks} | DEFINES.get(ex.id, frozenset()))
    part = _grading()
    problem = part.problems[PUBLIC]
    job = {"exercise": ex.id, "variables": [c.variable for c in ex.checks], "steps": ex.steps}
    with warnings.catch_warnings():  # nbgrader gives a test cell 0 points for any output on stderr
        warnings.simplefilter("ignore")
        ran = not (error and error["type"] in SYNTAX_ERRORS)  # a cell that did not parse recorded nothing
        values = dict(_recorder.values) if ex.id == "ex5" and _recorder is not None and ran else {}
        try:
            if ex.id in ("ex1", "ex2"):
                run.collect(job, ns, values)
            else:
                run.after_cell(job, ns, problem.inputs[ex.id], values, f_calls=list(_f_calls))
        except Exception as e:  # as in a run: the harness's own stop (an unwritten backward) is the run's error
            error = error or error_record(e, None)
        runs = {PUBLIC: kernel_outcome(part, ex, source, error, values)}
        verdict = judge(part, ex, ExerciseCell(source), runs, {PUBLIC: problem}, hidden_judged=False)
    return for_the_validator(verdict)
