"""Where a student's gradient is compared with autograd's: the lecture's `cmp` columns, plus what `cmp` misses.

`cmp` reports exact (bitwise), approximate (allclose) and maxdiff, and it broadcasts: a [64] gradient for a
[1, 64] tensor looks right to it. Here a check passes only when the value is a tensor of the reference's shape
and dtype, finite, and approximately equal; and it must hold on every seed (and every training step).
"Exact: False" alone never fails a check: on AVX2/AVX512 CPUs PyTorch's tanh backward uses a fused
multiply-add, so even the lecture's own answer is not bit-exact from hpreact on.
"""
from dataclasses import dataclass

import numpy as np

from .checks import Check


@dataclass(frozen=True)
class Comparison:
    """One check on one seed (or one training step)."""

    exact: bool = False
    approx: bool = False
    maxdiff: float | None = None
    shape_ok: bool = False
    dtype_ok: bool = False
    problem: str | None = None  # why the value could not be compared or is wrong, in a sentence for the student
    difference: np.ndarray | None = None  # |student - reference|, for the heatmap of where a wrong value differs
    assigned: bool = True  # False when the student's code never set the variable

    @property
    def passed(self) -> bool:
        return self.approx and self.shape_ok and self.dtype_ok and self.problem is None


def compare(check: Check, meta: dict | None, array: np.ndarray | None, reference: np.ndarray) -> Comparison:
    """Compare what the student assigned to `d<name>` (as described by the child process) with autograd's."""
    var, ref_shape = check.variable, list(reference.shape)
    if meta is None:
        return Comparison(problem=f"{var} was not assigned", assigned=False)
    if meta.get("kind") != "tensor" or array is None:
        return Comparison(problem=f"{var} is not a tensor (it is a {meta.get('type', 'something else')})")
    shape = list(array.shape)
    if shape != ref_shape or meta.get("shape") != shape:
        hint = " (cmp would broadcast it and call it right)" if _broadcasts(shape, ref_shape) else ""
        return Comparison(problem=f"{var} has shape {shape} but {check.name} has shape {ref_shape}{hint}")
    dtype_ok = meta.get("dtype") == "torch.float32"
    student = array.astype(np.float32) if array.dtype != np.float32 else array
    if not np.isfinite(student).all():
        return Comparison(shape_ok=True, dtype_ok=dtype_ok, problem=f"{var} contains NaN or infinity")
    diff = np.abs(student.astype(np.float64) - reference.astype(np.float64))
    maxdiff = float(diff.max()) if diff.size else 0.0
    exact = dtype_ok and bool(np.array_equal(student, reference))
    # torch.allclose's rule, elementwise: |student - reference| <= atol + rtol * |reference|.
    approx = bool((diff <= check.atol + check.rtol * np.abs(reference.astype(np.float64))).all())
    problem = None
    if not dtype_ok:
        problem = f"{var} is {meta.get('dtype')}; {check.name} is torch.float32, so its gradient must be too"
    elif not approx:
        problem = f"{var} differs from autograd by up to {maxdiff:.3g}"
    return Comparison(exact, approx, maxdiff, True, dtype_ok, problem, diff.astype(np.float32) if not approx else None)


def _broadcasts(shape, ref_shape) -> bool:
    try:
        np.broadcast_shapes(tuple(shape), tuple(ref_shape))
        return True
    except ValueError:
        return False
