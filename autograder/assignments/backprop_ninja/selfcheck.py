"""The in-notebook self-check: `check("ex1")` compares the notebook's live gradients with autograd.

It sees what the kernel holds right now, on the public seed only, so it is quick feedback while working; the
grade comes from the isolated run (grading.py), which also uses a hidden seed and never trusts the kernel.
Its last value, `.score`, is what the notebook's nbgrader test cells report as partial credit.
"""
import functools
import warnings

import torch

from ...checks import PUBLIC
from ...compare import compare
from ...grading import judge
from ...notebook import ExerciseCell
from ...results import ExerciseResult
from ...selfcheck import answer_cell, answer_names, as_last_run, caller_namespace, for_the_validator, kernel_outcome
from . import ASSIGNMENT, EXERCISE_BY_ID, data, lecture
from .grading import BackpropGrading
from .hints import hint
from .reference import autograd_gradients, float64_gradients, reference_losses

# The loss curve in Exercise 4's check covers at most this many of the loop's first steps: the reference
# solution's run is replayed here, in the kernel, and the lecture's full schedule would take minutes.
LOSS_CURVE_STEPS = 200


@functools.cache
def _grading() -> BackpropGrading:
    """The grade's side of the assignment, on the public seed's problem (its hidden one is drawn at seed 0, never
    the instructor's, and is not used here)."""
    return BackpropGrading(ASSIGNMENT, hidden_seed=0, words=data.load_words())


def _public_problem():
    return _grading().problems[PUBLIC]


def _loop_losses(ns: dict) -> tuple[list, list]:
    """Exercise 4: the loss of the loop's first steps (from its lossi, which holds log10 of each) and the
    reference solution's over the same steps."""
    lossi = ns.get("lossi")
    if not isinstance(lossi, list) or not all(isinstance(x, float) for x in lossi[:LOSS_CURVE_STEPS]):
        return [], []
    # lossi holds log10 of each loss; a raw loss appended instead can overflow 10**x (the plot leaves it out)
    losses = [10**x if x < 300 else float("inf") for x in lossi[:LOSS_CURVE_STEPS]]
    part = _grading()
    return losses, (reference_losses(part.problems[PUBLIC], part.Xtr, part.Ytr, len(losses)) if losses else [])


def true_gradient(name: str) -> torch.Tensor:
    """Autograd's gradient of `name` on the public seed: the notebook hands Exercise 3 the true dhpreact."""
    return torch.from_numpy(_public_problem().grads[name].copy())


def _last_training_step(ns: dict) -> tuple[tuple[dict, dict], dict]:
    """Exercise 4: autograd's gradients for the loop's last step (float32, float64), and the student's.

    The loop has already applied the last update, so the parameters it was computed at are p + lr * grad. A
    gradient of the wrong shape that broadcasts into its parameter (a [64] for a [1, 64]) was applied like that
    too, so the others are still judged at the right step; one that does not broadcast stopped the loop there.
    """
    grads = ns.get("grads")
    if not isinstance(grads, (list, tuple)) or len(grads) != len(lecture.PARAMETER_NAMES):
        return ({}, {}), {}
    student = dict(zip(lecture.PARAMETER_NAMES, grads))
    lr = ns.get("lr", 0.1)
    params = {}
    for name, grad in student.items():
        p = ns.get(name)
        if not isinstance(p, torch.Tensor) or not isinstance(grad, torch.Tensor) or not _broadcasts(grad, p):
            return ({}, {}), student
        params[name] = (p.detach() + lr * grad.detach()).float()
    Xb, Yb = ns["Xb"], ns["Yb"]
    return (autograd_gradients(params, Xb, Yb), float64_gradients(params, Xb, Yb)), student


def _broadcasts(grad: torch.Tensor, p: torch.Tensor) -> bool:
    try:
        return torch.broadcast_shapes(grad.shape, p.shape) == p.shape
    except RuntimeError:
        return False


def _batch_index(ns: dict):
    Xb = ns.get("Xb")
    return Xb.numpy() if isinstance(Xb, torch.Tensor) else None


def check(exercise_id: str, namespace: dict | None = None, cell: tuple[str, dict | None] | None = None
          ) -> ExerciseResult:
    """The exercise's verdict on what the kernel holds, by the grade's own path (grading.judge): the gradients
    from the kernel's namespace instead of a sandbox, on the public seed only. `cell`: the answer's source and how
    it stopped, when no kernel ran it (a script); else the kernel's last answer cell (selfcheck.answer_cell).
    Exercise 4 is judged at the loop's last step, the one the kernel still holds (a grade runs the first ones)."""
    ex = EXERCISE_BY_ID[exercise_id]
    ns = caller_namespace() if namespace is None else namespace
    source, error = answer_cell(ASSIGNMENT, answer_names(ASSIGNMENT, ex)) if cell is None else cell
    ns = as_last_run(ns, source, error, {c.variable for c in ex.checks})
    part = _grading()
    problem = part.problems[PUBLIC]
    # nbgrader gives a test cell 0 points for any output on stderr, warnings included.
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        if ex.trains:
            (reference, truth), student = _last_training_step(ns)
            keys = {c.variable: f"0/{c.variable}" for c in ex.checks}  # a run's names for a loop's first step
            values = {keys[c.variable]: student[c.name] for c in ex.checks if c.name in student}
        else:
            values = {v: ns[v] for v in (c.variable for c in ex.checks) if v in ns}  # what a run collects
        public = kernel_outcome(part, ex, source, error, values, graphless=True)
        runs, result, arrays = {PUBLIC: public}, public.result, public.arrays
        comparisons = None
        if ex.trains:  # at the last step's parameters, which no run reaches
            comparisons = {c.name: {PUBLIC: compare(c, result["values"].get(keys[c.variable]),
                                                    arrays.get(keys[c.variable]),
                                                    reference.get(c.name, problem.grads[c.name]),
                                                    truth.get(c.name, problem.truth[c.name]))}
                           for c in ex.checks}  # fmt: skip
        verdict = judge(part, ex, ExerciseCell(source), runs, {PUBLIC: problem}, hidden_judged=False,
                        comparisons=comparisons)
        if ex.trains:
            for c, check_result in zip(ex.checks, verdict.checks):
                key = keys[c.variable]
                if not check_result.passed and check_result.assigned:
                    check_result.hint = hint(c, result["values"].get(key), arrays.get(key),
                                             reference.get(c.name, problem.grads[c.name]), _batch_index(ns))
            verdict.losses, verdict.reference_losses = _loop_losses(ns)
    return for_the_validator(verdict)
