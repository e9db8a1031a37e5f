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
from ...naming import did_you_mean
from ...results import CheckResult, ExerciseResult, Score, score_status
from ...selfcheck import caller_namespace, for_the_validator
from ...student_process import describe
from . import ASSIGNMENT, EXERCISE_BY_ID, PUBLIC_SEED, data, lecture
from .hints import diagnose, hint
from .localise import SeedRun
from .reference import autograd_gradients, float64_gradients, make_problem, reference_losses

# The loss curve in Exercise 4's check covers at most this many of the loop's first steps: the reference
# solution's run is replayed here, in the kernel, and the lecture's full schedule would take minutes.
LOSS_CURVE_STEPS = 200


@functools.cache
def _public():
    """The public seed's problem and the training set its loop draws from."""
    (Xtr, Ytr), _, _ = lecture.split_dataset(data.load_words().words)
    return make_problem(PUBLIC_SEED, Xtr, Ytr), Xtr, Ytr


def _public_problem():
    return _public()[0]


def _loop_losses(ns: dict) -> tuple[list, list]:
    """Exercise 4: the loss of the loop's first steps (from its lossi, which holds log10 of each) and the
    reference solution's over the same steps."""
    lossi = ns.get("lossi")
    if not isinstance(lossi, list) or not all(isinstance(x, float) for x in lossi[:LOSS_CURVE_STEPS]):
        return [], []
    losses = [10**x for x in lossi[:LOSS_CURVE_STEPS]]
    problem, Xtr, Ytr = _public()
    return losses, (reference_losses(problem, Xtr, Ytr, len(losses)) if losses else [])


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


def check(exercise_id: str, namespace: dict | None = None) -> ExerciseResult:
    ex = EXERCISE_BY_ID[exercise_id]
    ns = caller_namespace() if namespace is None else namespace
    # nbgrader gives a test cell 0 points for any output on stderr, warnings included.
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        problem = _public_problem()
        if ex.trains:
            (reference, truth), student = _last_training_step(ns)
        else:
            reference, truth = problem.grads, problem.truth
            student = {c.variable: ns.get(c.variable) for c in ex.checks}
        checks, metas, arrays = [], {}, {}
        tensors = {name for name, v in ns.items() if isinstance(v, torch.Tensor) and not name.startswith("_")}
        for c in ex.checks:
            value = student.get(c.name if ex.trains else c.variable)
            meta, array = describe(value) if value is not None else (None, None)
            metas[c.variable], arrays[c.variable] = meta, array
            # Without a usable last step, the first step's gradient still gives the shape to report against.
            expected = reference.get(c.name, problem.grads[c.name])
            comparison = compare(c, meta, array, expected, truth.get(c.name, problem.truth[c.name]))
            checks.append(CheckResult.from_comparisons(c, {PUBLIC: comparison}))
            meant = did_you_mean(c.variable, c.name, tensors, ASSIGNMENT.answer_names) if value is None and not ex.trains else None
            checks[-1].message += f": {meant}" if meant else ""
            if ex.trains and not checks[-1].passed:
                checks[-1].hint = hint(c, meta, array, expected, _batch_index(ns))
        if not ex.trains:
            diagnose(ex, checks, [SeedRun(problem, metas, arrays)])
        losses, reference = _loop_losses(ns) if ex.trains else ([], [])
    score = Score(sum(c.points for c in checks))
    status = "not answered" if not any(c.assigned for c in checks) else score_status(score, ex.max_score)
    return for_the_validator(ExerciseResult(ex.id, ex.title, score, ex.max_score, status, "", [], checks,
                                            losses=losses, reference_losses=reference, hidden_judged=False))
