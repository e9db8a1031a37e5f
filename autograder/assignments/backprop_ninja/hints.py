"""What kind of mistake a wrong gradient is, in a sentence: found by testing it against the value it should have.

Each test is a transformation that would turn the student's tensor into the expected one (reshape, sum over the
batch, transpose, a constant factor, the rows an embedding overwrote...). In Exercise 1 the expected value is
the step's local reference (localise.py): a factor slipped in upstream propagates, and testing against
autograd's value would blame every later step for it. Runs in the grader's process on plain arrays.
"""
import numpy as np
import torch

from ...hints import SIGN_AND_TWO, KEEPDIM, aliasing_hint, close, held_to_code  # noqa: F401  (the grading's, too)
from ...hints import hint as generic_hint
from . import lecture
from .localise import forward_values, mark_locally_correct

n = lecture.batch_size

# Constant factors that have a usual cause: (factor, what it means).
FACTORS = (
    (n, f"n = {n} times too large: the 1/n of the mean was left out"),
    (1 / n, f"n = {n} times too small: a 1/n too many (the mean's 1/n applied twice?)"),
    SIGN_AND_TWO[0],
    (-n, f"-n = -{n} times: the sign is flipped and the mean's 1/n left out"),
    (-1 / n, f"-1/n = -1/{n} times: the sign is flipped and a 1/n too many"),
    ((n - 1) / n, "(n-1)/n times: 1/n where Bessel's correction divides by n-1"),
    (n / (n - 1), "n/(n-1) times: 1/(n-1) where the mean divides by n"),
    *SIGN_AND_TWO[1:],
)
MATMUL = "h.T @ dlogits, not dlogits.T @ h"

# Slips particular to one step: what the slip computes from the forward values (v) and the upstream gradients
# (d: the student's own in Exercise 1, the true ones that Exercises 2-3 start from), and what to say when the
# student's gradient is exactly that.
SLIPS = {
    "hpreact": (lambda v, d: (1.0 - v["hpreact"] ** 2) * d["h"],
                "tanh's derivative taken at its input: it is 1 - h**2 with h = tanh(hpreact), not 1 - hpreact**2"),
    "probs": (lambda v, d: v["probs"] * d["logprobs"],
              "multiplied by probs: the derivative of log(probs) is 1/probs, so divide"),
    "norm_logits": (lambda v, d: v["norm_logits"] * d["counts"],
                    "the derivative of exp is exp itself: multiply by counts, not norm_logits"),
    "hprebn": (lambda v, d: v["bngain"] * v["bnvar_inv"] / n * (n * d["hpreact"] - d["hpreact"].sum(0)
                                                                 - v["bnraw"] * (d["hpreact"] * v["bnraw"]).sum(0)),
               "Bessel's correction left out: bnvar divides by n-1, so the last term carries a factor n/(n-1)"),
}  # fmt: skip


def hint(check, meta: dict | None, array: np.ndarray | None, expected: np.ndarray, index=None) -> str | None:
    """The likely mistake behind `array` (what the student gave for `check`) when it should be `expected`
    (hints.hint with this network's factors), and for the embedding table C rows overwritten where a character
    repeats in the batch (`index`: the batch's Xb). None when nothing recognisable fits."""
    found = generic_hint(meta, array, expected, FACTORS, MATMUL)
    if found is None and check.name == "C" and index is not None and array is not None and meta.get("kind") == "tensor" \
            and array.shape == expected.shape and np.isfinite(array).all() and not close(array, expected):  # fmt: skip
        return _embedding_hint(array, expected.astype(np.float64), np.asarray(index))
    return found


def slip_hint(check, array: np.ndarray | None, values: dict, upstream: dict) -> str | None:
    """The step's own known slip (SLIPS), when the student's gradient is exactly what that slip computes."""
    slip = SLIPS.get(check.name)
    if slip is None or array is None:
        return None
    compute, what = slip
    wrong = compute(values, upstream).detach().numpy().astype(np.float64)
    return what if wrong.shape == array.shape and close(array, wrong) else None


def _embedding_hint(array, expected, index) -> str | None:
    """Right in the rows of C whose character occurs once in the batch, wrong where it repeats: overwritten."""
    counts = np.bincount(index.reshape(-1), minlength=expected.shape[0])
    once = counts <= 1
    if once.all() or not close(array[once], expected[once]):
        return None
    # Said so that it holds whichever the student wrote: with an index tensor, `dC[ix] += x` writes each row once
    # (the last occurrence wins) exactly as `dC[ix] = x` does.
    return ("right except in the rows of C whose character occurs more than once in the batch: each occurrence "
            "must add its gradient, and dC[ix] = ... keeps one of them, as does dC[ix] += ... with a tensor of "
            "indices: loop over the positions, or use dC.index_add_(0, ix, ...)")


def diagnose(exercise, checks: list, runs: list) -> list | None:
    """Exercises 1-3: which checks are locally correct (Exercise 1 only) and a hint for each root cause.

    `runs` are localise.SeedRun, public seed first; hints come from the public seed, the one the student sees.
    Returns each seed's localise.LocalView (Exercise 1), or None.
    """
    public = runs[0]
    if all(result.passed for result in checks):  # nothing to localise or explain: each is its own root, and right
        for result in checks:
            result.locally_correct = True
        return None
    views = mark_locally_correct(exercise, checks, runs) if exercise.step_by_step else None
    for check, result in zip(exercise.checks, checks):
        if result.locally_correct:
            continue
        meta, array = public.metas.get(check.variable), public.arrays.get(check.variable)
        if meta is None or meta.get("kind") != "tensor":
            array = None
        if views:  # judged against what the step should give from the student's own upstream
            values, upstream, expected = views[0].values, views[0].upstream, views[0].local[check.name]
        else:  # Exercises 2-3 start from the true upstream
            problem = public.problem
            values = forward_values(problem.params, problem.Xb, problem.Yb)
            upstream = {name: torch.from_numpy(grad) for name, grad in problem.grads.items()}
            expected = problem.grads[check.name]
        result.hint = slip_hint(check, array, values, upstream) or hint(check, meta, array, expected,
                                                                         values["Xb"].numpy())  # fmt: skip
    return views
