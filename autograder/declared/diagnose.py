"""Why a declared exercise's gradient is wrong: each step judged from the student's own upstream gradients
(forward.local_gradients), so only the first wrong step is blamed and the ones after it "follow"; and what kind of
mistake that step is: the assignment's own slips first (Declaration.slips), then the kinds any gradient can be
(hints.py), a constant factor named by the sizes that explain it on every seed.
"""
import math

import torch

from ..checks import PUBLIC, Check
from ..compare import compare
from ..hints import close, fitted_factor, hint
from .forward import NAMESPACE, local_gradients, usable_upstream

MATMUL = "dout @ w, and x.T @ dout for the weight"


def size_expressions(sizes: dict) -> list[str]:
    """The factors a size explains, as expressions: each size (a mean's 1/C), each whole ratio of two (the head size
    C/NH), each product of two (B*T rows), and the square root of each (attention's 1/sqrt(head size))."""
    names = [name for name, v in sizes.items() if v > 1]
    exprs = names + [f"{a}/{b}" for a in names for b in names if a != b and sizes[a] % sizes[b] == 0 and sizes[a] > sizes[b]]
    exprs += [f"{a}*{b}" for i, a in enumerate(names) for b in names[i + 1 :]]
    return exprs + [f"sqrt({e})" for e in exprs]


def _value(expr: str, sizes: dict) -> float:
    return float(eval(expr, {"__builtins__": {}, "sqrt": math.sqrt}, dict(sizes)))


def factor_namer(factors: list, sizes_by_seed: list):
    """A function naming the public seed's factor c by the first size expression that gives each seed's own factor
    (`factors`, None where that seed's gradient is not a constant multiple): T and C/NH are both 8 on the sizes the
    student sees, 5 and 12 on the hidden ones."""
    def named(c: float) -> str | None:
        for expr in size_expressions(sizes_by_seed[0]):
            for sign in (1, -1):
                for power in (1, -1):
                    if all(f is None or abs(f - sign * _value(expr, s) ** power) <= 1e-3 * abs(f)
                           for f, s in zip(factors, sizes_by_seed)):  # fmt: skip
                        return _said(expr, _value(expr, sizes_by_seed[0]), sign, power)
        return None

    return named


def _said(expr: str, value: float, sign: int, power: int) -> str:
    flipped = "the sign flipped and " if sign < 0 else ""
    under = f"({expr})" if "*" in expr or ("/" in expr and not expr.startswith("sqrt")) else expr  # after a 1/
    if power == 1:
        return f"{'-' if sign < 0 else ''}{expr} = {sign * value:.4g} times too large: {flipped}a 1/{under} left out"
    return f"{'-' if sign < 0 else ''}1/{under} times: {flipped}a 1/{under} too many, or a {expr} missing"


def diagnose(forward, ex, checks: list, runs: dict, problems: dict, slips: dict, reads: tuple = ()) -> str:
    """Set each check's locally_correct (right given the student's own upstream, on every seed) and a hint for
    each root cause (a wrong step that is not right given its upstream). `slips`: the declaration's own, for this
    exercise: gradient name -> ((expression, what it means), ...). `reads`: atoms whose gradients the answer
    computes on the way, used as its upstream where it set them; when the first wrong step is one of them, the
    exercise's own line says so (returned; "" otherwise)."""
    if all(result.passed for result in checks):
        for result in checks:
            result.locally_correct = True
        return ""
    seen = {c.name: c for c in ex.checks} | {name: Check(name, 0) for name in reads}
    local, upstreams = {}, {}
    for label, run in runs.items():
        problem = problems[label].exercises[ex.id]
        upstream = {}  # what the answer gave: the others are carried back from it (forward.local_gradients)
        for atom in forward.atoms[:-1]:  # all but the loss
            c = seen.get(atom)
            if c is not None and run.result["values"].get(c.variable) is not None:
                upstream[atom] = usable_upstream(run.result["values"][c.variable], run.arrays.get(c.variable),
                                                 problem.grads[atom])  # fmt: skip
        upstreams[label] = upstream
        local[label] = local_gradients(forward, problem.values, upstream, problems[label].sizes)

    def given(check):  # (meta, array, label) on each seed, the public first
        return [(run.result["values"].get(check.variable), run.arrays.get(check.variable), label)
                for label, run in runs.items()]  # fmt: skip

    def locally_correct(check) -> bool:
        """Right given its upstream on every seed whose run set it: one that stopped before (the hidden sizes made
        the code stop earlier) says nothing of this step, and fails the check on its own."""
        judged = [(meta, array, label) for meta, array, label in given(check) if meta is not None]
        return bool(judged) and judged[0][2] == PUBLIC and all(
            check.name in local[label] and compare(check, meta, array, local[label][check.name]).passed
            for meta, array, label in judged)  # fmt: skip

    def kind(check) -> str | None:
        (meta, array, _), *_ = given(check)
        # d<atom> in a slip: the gradient the step received, the answer's own or carried back from it
        received = {**{a: torch.from_numpy(g) for a, g in local[PUBLIC].items()}, **upstreams[PUBLIC]}
        found = _slip(slips.get(check.name, ()), array, problems[PUBLIC], ex.id, received)
        if found is None:
            factors = [fitted_factor(a, local[label][check.name]) if a is not None and a.shape == local[label][check.name].shape
                       else None for _, a, label in given(check)]  # fmt: skip
            named = factor_namer(factors, [problems[label].sizes for label in runs])
            found = hint(meta, array, local[PUBLIC][check.name], matmul=MATMUL, named=named)
        return found

    for check, result in zip(ex.checks, checks):
        result.locally_correct = result.passed or locally_correct(check)
        if not result.locally_correct:
            result.hint = kind(check)
    # The first wrong step, in the backward pass's order, when it is one the answer computes on the way.
    for atom in reversed(forward.atoms[:-1]):
        if atom not in reads or atom in {c.name for c in ex.checks}:
            continue
        check = seen[atom]
        (meta, array, _), *_ = given(check)
        problem = problems[PUBLIC].exercises[ex.id]
        if meta is None or compare(check, meta, array, problem.grads[atom], problem.truth[atom]).passed:
            continue
        if not locally_correct(check):
            what = kind(check)
            return (f"Your backward pass first goes wrong at d{atom}, which it computes on the way (not graded itself)"
                    + (f": {what}" if what else ""))  # fmt: skip
    return ""


def _slip(slips, array, problem, exercise_id: str, upstream: dict) -> str | None:
    """The declared slip the student's gradient is exactly, evaluated on the public seed's values with d<atom> the
    upstream the student had (their own where usable)."""
    if array is None or not slips:
        return None
    ns = {**NAMESPACE, **problem.sizes, **problem.exercises[exercise_id].values,
          **{f"d{name}": g for name, g in upstream.items()}}  # fmt: skip
    for expression, what in slips:
        wrong = eval(expression, ns)
        if isinstance(wrong, torch.Tensor) and tuple(wrong.shape) == array.shape and close(array, wrong.double().numpy()):
            return what
    return None
