"""What kind of mistake a wrong gradient is, in a sentence, for any assignment: found by testing it against the
value it should have. Each test is a transformation that would turn the student's tensor into the expected one
(reshape, sum over a broadcast dimension, transpose, a constant factor). The expected value is what the step should
give (localisation's local reference where there is one), so a factor slipped in upstream is blamed once. An
assignment brings its own constant factors (what 1/n or 1/C means there) and its own slips."""
import ast

import numpy as np

# The factors every assignment has: (factor, what it means).
SIGN_AND_TWO = (
    (-1, "the sign is flipped"),
    (2, "twice as large: a 2 too many (the derivative of x**2 is 2x, of x**-0.5 is -0.5x**-1.5)"),
    (0.5, "half as large: a factor 2 missing (the derivative of x**2 is 2x)"),
)


def close(student: np.ndarray, expected: np.ndarray) -> bool:
    """Equal up to float32 rounding of the whole tensor's scale (not elementwise: a hint is about the pattern)."""
    scale = float(np.abs(expected).max()) if expected.size else 0.0
    return bool(np.abs(student.astype(np.float64) - expected).max(initial=0.0) <= 1e-4 * scale + 1e-9)


def hint(meta: dict | None, array: np.ndarray | None, expected: np.ndarray, factors=SIGN_AND_TWO,
         matmul: str = "a @ b.T, not b.T @ a", named=None) -> str | None:
    """The likely mistake behind `array` (what the student gave) when it should be `expected`; `factors`: the
    constant factors with a usual cause here, `named`: a function naming another factor c (or None), `matmul`: an
    example of the product's order, said of a transpose. None when nothing recognisable fits."""
    if meta is None or array is None or meta.get("kind") != "tensor":
        return None
    expected = expected.astype(np.float64)
    if array.shape != expected.shape:
        return _shape_hint(array, expected, matmul)
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
    if array.ndim >= 2 and array.shape[-1] == array.shape[-2] and close(np.swapaxes(array, -1, -2), expected):
        return f"transposed: check the order of the matrix product (e.g. {matmul})"
    found = factor_hint(array, expected, factors, named)
    if found is None and close(np.sort(array, axis=None), np.sort(expected, axis=None)):
        return ("the right numbers in the wrong places: check the order of the dimensions in a view, reshape or "
                "transpose (view splits the last dimension in the order given)")  # fmt: skip
    return found


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


def _shape_hint(array, expected, matmul: str) -> str | None:
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
    if array.ndim >= 2 and shape[:-2] + shape[-2:][::-1] == want:
        values = "the values are right but " if close(np.swapaxes(array, -1, -2), expected) else ""
        return f"{values}transposed: check the order of the matrix product (e.g. {matmul})"
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


def fitted_factor(array, expected) -> float | None:
    """The constant c with array = c * expected (c != 1), or None."""
    expected = expected.astype(np.float64)
    denominator = float((expected * expected).sum())
    if denominator == 0.0:
        return None
    c = float((array * expected).sum()) / denominator
    return None if abs(c - 1) < 1e-3 or not close(array, c * expected) else c


def factor_hint(array, expected, factors, named=None) -> str | None:
    """The constant c with array = c * expected, named when it has a usual cause (`factors`, then `named`)."""
    c = fitted_factor(array, expected)
    if c is None:
        return None
    for factor, what in factors:
        if abs(c - factor) <= 1e-3 * abs(factor):
            return what
    return (named(c) if named else None) or f"off by a constant factor of {c:.4g}"
