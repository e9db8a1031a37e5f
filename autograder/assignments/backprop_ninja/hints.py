"""What kind of mistake a wrong gradient is, in a sentence: found by testing it against the value it should have.

Each test is a transformation that would turn the student's tensor into the expected one (reshape, sum over the
batch, transpose, a constant factor, the rows an embedding overwrote...). In Exercise 1 the expected value is
the step's local reference (localise.py): a factor slipped in upstream propagates, and testing against
autograd's value would blame every later step for it. Runs in the grader's process on plain arrays.
"""
import ast

import numpy as np
import torch

from . import lecture
from .localise import forward_values, mark_locally_correct

n = lecture.batch_size

# Constant factors that have a usual cause: (factor, what it means).
FACTORS = (
    (n, f"n = {n} times too large: the 1/n of the mean was left out"),
    (1 / n, f"n = {n} times too small: a 1/n too many (the mean's 1/n applied twice?)"),
    (-1, "the sign is flipped"),
    (-n, f"-n = -{n} times: the sign is flipped and the mean's 1/n left out"),
    (-1 / n, f"-1/n = -1/{n} times: the sign is flipped and a 1/n too many"),
    ((n - 1) / n, "(n-1)/n times: 1/n where Bessel's correction divides by n-1"),
    (n / (n - 1), "n/(n-1) times: 1/(n-1) where the mean divides by n"),
    (2, "twice as large: a 2 too many (the derivative of x**2 is 2x, of x**-0.5 is -0.5x**-1.5)"),
    (0.5, "half as large: a factor 2 missing (the derivative of x**2 is 2x)"),
)

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


def close(student: np.ndarray, expected: np.ndarray) -> bool:
    """Equal up to float32 rounding of the whole tensor's scale (not elementwise: a hint is about the pattern)."""
    scale = float(np.abs(expected).max()) if expected.size else 0.0
    return bool(np.abs(student.astype(np.float64) - expected).max(initial=0.0) <= 1e-4 * scale + 1e-9)


def hint(check, meta: dict | None, array: np.ndarray | None, expected: np.ndarray, index=None) -> str | None:
    """The likely mistake behind `array` (what the student gave for `check`) when it should be `expected`.

    `index` is the batch's Xb, for the embedding table C. None when nothing recognisable fits.
    """
    if meta is None or array is None or meta.get("kind") != "tensor":
        return None
    expected = expected.astype(np.float64)
    if array.shape != expected.shape:
        return _shape_hint(array, expected)
    if not np.isfinite(array).all():
        return "contains NaN or infinity: look for a division by zero, a log of 0 or an exp that overflows"
    if meta.get("dtype") != "torch.float32":
        values = "its values are right, " if close(array, expected) else ""
        return (f"{values}but it is {meta.get('dtype')}: build it from the float32 tensors (e.g. torch.zeros_like), "
                "not from Python numbers or .double()")  # fmt: skip
    if close(array, expected):
        return None
    if not array.any() and expected.any():
        return "all zeros: nothing was accumulated into it (was the += or the assignment skipped?)"
    if array.ndim == 2 and array.shape[0] == array.shape[1] and close(array.T, expected):
        return "transposed: check the order of the matrix product (e.g. h.T @ dlogits, not dlogits.T @ h)"
    factor = _factor(array, expected)
    if factor is not None:
        return factor
    if check.name == "C" and index is not None:
        return _embedding_hint(array, expected, np.asarray(index))
    return None


def slip_hint(check, array: np.ndarray | None, values: dict, upstream: dict) -> str | None:
    """The step's own known slip (SLIPS), when the student's gradient is exactly what that slip computes."""
    slip = SLIPS.get(check.name)
    if slip is None or array is None:
        return None
    compute, what = slip
    wrong = compute(values, upstream).detach().numpy().astype(np.float64)
    return what if wrong.shape == array.shape and close(array, wrong) else None


def aliasing_hint(variable: str, aliases: list, source: str, where=lambda line: f"line {line}") -> str | None:
    """When `variable` is the same tensor as another gradient (the run's aliases), the line that bound them
    (`where` says a line of the source as the student finds it)."""
    other = next((b if a == variable else a for a, b in aliases if variable in (a, b)), None)
    if other is None:
        return None
    bound = ""
    try:
        for node in ast.walk(ast.parse(source)):
            if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Name) and len(node.targets) == 1
                    and isinstance(node.targets[0], ast.Name)
                    and {node.targets[0].id, node.value.id} == {variable, other}):  # fmt: skip
                bound = f" ({where(node.lineno)}: {node.targets[0].id} = {node.value.id})"
                break
    except SyntaxError:
        pass
    return (f"{variable} and {other} are the same tensor{bound}: changing one in place (+=) changes the other; "
            "bind a copy with .clone()")


KEEPDIM = "keep the summed dimension with keepdim=True"


def held_to_code(hint: str | None, expression) -> str | None:
    """A hint held to the learner's own line (`expression`, what the gradient was last assigned): one that asks
    for keepdim=True where the line has it says what else drops the dimension."""
    if hint and KEEPDIM in hint and expression is not None and "keepdim=True" in ast.unparse(expression):
        return hint.replace(KEEPDIM, "keepdim=True is there, but what follows it drops the dimension again (a "
                                     "squeeze, a view, an index): keep it to the end")  # fmt: skip
    return hint


def _shape_hint(array, expected) -> str | None:
    shape, want = list(array.shape), list(expected.shape)
    if array.size == expected.size and [d for d in shape if d != 1] == [d for d in want if d != 1]:
        values = "the values are right but " if close(array.reshape(expected.shape), expected) else ""
        if len(shape) > len(want):  # a [1, 64] for a [64]: a dimension kept that the tensor does not have
            fix = "sum without keepdim=True (or drop the extra dimension), so it has the tensor's own shape"
        elif len(shape) < len(want):  # a [64] for a [1, 64]: the summed dimension dropped
            fix = KEEPDIM
        else:  # a [64, 1] for a [1, 64]
            fix = f"sum over the other dimension, or reshape it to {want}"
        return f"{values}the shape is {shape}, not {want}: {fix} (broadcasting would hide this one)"
    if array.ndim == 2 and shape == want[::-1]:
        values = "the values are right but " if close(array.T, expected) else ""
        return f"{values}transposed: check the order of the matrix product (e.g. h.T @ dlogits, not dlogits.T @ h)"
    try:
        broadcast = list(np.broadcast_shapes(tuple(shape), tuple(want)))
    except ValueError:
        return None
    if broadcast == shape and array.size > expected.size:
        # The forward pass broadcast this tensor over the batch; its gradient sums over the dims it was copied along.
        padded = [1] * (len(shape) - len(want)) + want
        summed = array.sum(axis=tuple(i for i, d in enumerate(padded) if d == 1 and shape[i] != 1)).reshape(want)
        values = "summed over the batch it would be right: " if close(summed, expected) else ""
        return (f"{values}the shape is {shape}, not {want}: a tensor broadcast over the batch in the forward pass "
                "(like a bias) gets the sum of its gradient over the batch, e.g. .sum(0)")  # fmt: skip
    return None


def _factor(array, expected) -> str | None:
    """The constant c with array = c * expected, named when it has a usual cause."""
    denominator = float((expected * expected).sum())
    if denominator == 0.0:
        return None
    c = float((array * expected).sum()) / denominator
    if abs(c - 1) < 1e-3 or not close(array, c * expected):
        return None
    for factor, what in FACTORS:
        if abs(c - factor) <= 1e-3 * abs(factor):
            return what
    return f"off by a constant factor of {c:.4g}"


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
