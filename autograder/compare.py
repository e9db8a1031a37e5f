"""Where a student's gradient is compared with autograd's: the lecture's `cmp` columns, plus what `cmp` misses.

`cmp` reports exact (bitwise), approximate (allclose) and maxdiff, and it broadcasts: a [64] gradient for a
[1, 64] tensor looks right to it. Here a check passes only when the value is a tensor of the reference's shape
and dtype, finite, and close to the true gradient; and it must hold on every seed (and every training step).
"Exact: False" alone never fails a check: on AVX2/AVX512 CPUs PyTorch's tanh backward uses a fused
multiply-add, so even the lecture's own answer is not bit-exact from hpreact on.

Why "approx: False" alone does not fail one either: allclose judges each entry against its own size, and an
entry whose true value is near zero but is computed from large terms (db1 is exactly 0 in exact arithmetic;
dW2 sums 32 rows) carries float32 rounding far above atol = 1e-8, for autograd's own answer as for a right one
written in another order. So the verdict compares with autograd computed in float64 on the same inputs: every
entry within allclose's tolerance, and entries near zero also within NOISE_FACTOR times the rounding autograd's
own float32 gradient shows (allowance). On the corpus (tests/test_tolerance.py) right gradients use at most 36%
of that allowance and mistakes exceed it at least 2.8 times, on three seeds.
"""
from dataclasses import dataclass

import numpy as np

from .checks import Check

# How many times autograd's own float32 rounding (against float64) an entry near zero may differ by. The largest
# seen on a right gradient is about 50 (a slip that scales an exactly-zero gradient's noise by n = 48).
NOISE_FACTOR = 300
# An entry is near zero, for rounding, under this share of its tensor's largest entry.
NEAR_ZERO = 0.03
FLOAT32_EPS = float(np.finfo(np.float32).eps)


def rounding_noise(value: np.ndarray, truth: np.ndarray) -> float:
    """How far float32 arithmetic put autograd's gradient from the float64 one: at least one float32 step at the
    tensor's scale, so an exactly computed reference still allows a right answer rounded another way."""
    if not truth.size:
        return 0.0
    scale = float(np.abs(truth).max())
    # One step of the reference's own precision: float32's for a tensor gradient, float64's for Python numbers.
    eps = float(np.finfo(value.dtype).eps) if value.dtype.kind == "f" else FLOAT32_EPS
    return max(float(np.abs(value.astype(np.float64) - truth).max()), eps * scale)


@dataclass(frozen=True)
class Comparison:
    """One check on one seed (or one training step)."""

    exact: bool = False
    approx: bool = False
    maxdiff: float | None = None
    shape_ok: bool = False
    dtype_ok: bool = False
    within_noise: bool = False  # close to the float64 truth, allowing for float32 rounding: the verdict
    problem: str | None = None  # why the value could not be compared or is wrong, in a sentence for the student
    difference: np.ndarray | None = None  # |student - reference|, for the heatmap of where a wrong value differs
    assigned: bool = True  # False when the student's code never set the variable

    @property
    def passed(self) -> bool:
        return self.within_noise and self.shape_ok and self.dtype_ok and self.problem is None


def compare(check: Check, meta: dict | None, array: np.ndarray | None, reference: np.ndarray,
            truth: np.ndarray | None = None) -> Comparison:  # fmt: skip
    """Compare what the student assigned to `d<name>` (as described by the child process) with autograd's.

    `reference` is autograd's float32 gradient (the cmp columns), `truth` the same gradient computed in float64
    (the verdict, with `allowance`); without it the reference stands for the truth.
    """
    var, ref_shape = check.variable, list(reference.shape)
    numbers = check.kind == "number"
    if meta is None:
        return Comparison(problem=f"{var} was not assigned", assigned=False)
    if meta.get("type") == "NoneType":  # the lecture's placeholders: dlogits = None # TODO
        return Comparison(problem=f"{var} is still None (not assigned yet)", assigned=False)
    if meta.get("kind") == "failed":  # a harness called the student's code for it, and that raised
        return Comparison(problem=f"{var}: your code {meta['why']}", assigned=not meta["unanswered"])
    if meta.get("kind") != "tensor" or array is None:
        wanted = "a number" if numbers else "a tensor"
        return Comparison(problem=f"{var} is not {wanted} (it is a {meta.get('type', 'something else')})")
    shape = list(array.shape)
    if shape != ref_shape or meta.get("shape") != shape:
        if numbers:
            return Comparison(problem=f"{var} is {_count(shape)} but should be {_count(ref_shape)}")
        hint = " (cmp would broadcast it and call it right)" if _broadcasts(shape, ref_shape) else ""
        return Comparison(problem=f"{var} has shape {shape} but {check.name} has shape {ref_shape}{hint}")
    dtype_ok = meta.get("dtype") == check.dtype
    wanted = np.float64 if check.dtype == "torch.float64" else np.float32
    student = array.astype(wanted) if array.dtype != wanted else array
    if not np.isfinite(student).all():
        return Comparison(shape_ok=True, dtype_ok=dtype_ok, problem=f"{var} contains NaN or infinity")
    diff = np.abs(student.astype(np.float64) - reference.astype(np.float64))
    maxdiff = float(diff.max()) if diff.size else 0.0
    exact = dtype_ok and bool(np.array_equal(student, reference))
    # torch.allclose's rule, elementwise: |student - reference| <= atol + rtol * |reference|.
    approx = bool((diff <= check.atol + check.rtol * np.abs(reference.astype(np.float64))).all())
    allowed = allowance(check, reference, truth)
    truth = reference.astype(np.float64) if truth is None else truth.astype(np.float64)
    within = bool((np.abs(student.astype(np.float64) - truth) <= allowed).all())
    problem = None
    if not dtype_ok and numbers:
        problem = f"{var} is a {meta.get('dtype')} tensor: give Python numbers (floats)"
    elif not dtype_ok:
        problem = f"{var} is {meta.get('dtype')}; {check.name} is {check.dtype}, so its gradient must be too"
    elif not within:
        problem = f"{var} differs from autograd by up to {maxdiff:.3g}"
    return Comparison(exact, approx, maxdiff, True, dtype_ok, within, problem,
                      diff.astype(np.float32) if not within else None)  # fmt: skip


def _count(shape: list) -> str:
    if not shape:
        return "one number"
    return f"a list of {shape[0]} numbers" if len(shape) == 1 else f"an array of shape {shape}"


def allowance(check: Check, reference: np.ndarray, truth: np.ndarray | None) -> np.ndarray:
    """How far each entry may be from the truth. Float32 rounding is an absolute amount, about the size of the
    terms an entry is computed from: within allclose's rtol for an entry of the tensor's own size, far past it for
    one that is near zero (under NEAR_ZERO of the largest, or under the rounding allowance itself: db1 is all such).
    So entries near zero get NOISE_FACTOR times the rounding autograd's own float32 gradient shows (against
    float64) beside allclose's tolerance; the others are held to allclose as it is, so a small real slip on them
    (bnvar's 1e-5 left out) is not taken for noise. Without a float64 truth (a local reference, localise.py) the
    reference stands for it, with one float32 step at its scale as the rounding."""
    truth = reference.astype(np.float64) if truth is None else truth.astype(np.float64)
    allowed = check.atol + check.rtol * np.abs(truth)
    if not truth.size:
        return allowed
    noise = NOISE_FACTOR * rounding_noise(reference, truth)
    near_zero = np.abs(truth) < max(NEAR_ZERO * float(np.abs(truth).max()), noise)
    return allowed + np.where(near_zero, noise, 0.0)


def _broadcasts(shape, ref_shape) -> bool:
    try:
        np.broadcast_shapes(tuple(shape), tuple(ref_shape))
        return True
    except ValueError:
        return False
