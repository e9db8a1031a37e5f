"""Why a declared exercise's gradient is wrong: each step judged from the student's own upstream gradients
(forward.local_gradients), so only the first wrong step is blamed and the ones after it "follow"; and what kind of
mistake that step is (hints.py), its constant factors named by the assignment's sizes and tried on every seed.
"""
import math

import torch

from ..checks import PUBLIC
from ..compare import compare
from ..hints import SIGN_AND_TWO, hint
from .forward import local_gradients, usable_upstream

MATMUL = "dout @ w, and x.T @ dout for the weight"


def size_factors(sizes: dict) -> list[tuple[str, float]]:
    """(expression, value) of the factors a size explains: each size (a mean's 1/C), each whole ratio of two (the
    head size C/NH), and the square root of each (attention's 1/sqrt(head size))."""
    named = [(name, float(v)) for name, v in sizes.items() if v > 1]
    named += [(f"{a}/{b}", sizes[a] / sizes[b]) for a in sizes for b in sizes
              if a != b and sizes[b] > 1 and sizes[a] % sizes[b] == 0 and sizes[a] > sizes[b]]  # fmt: skip
    return named + [(f"sqrt({expr})", math.sqrt(value)) for expr, value in named]


def factor_table(sizes: dict) -> tuple:
    """The factors for hints.hint, each value said once, by the first size that has it (the table's order: the
    sizes as declared, then their ratios, then square roots)."""
    table, seen = [], set()
    for expr, value in size_factors(sizes):
        key = round(value, 9)
        if key in seen:
            continue
        seen.add(key)
        table += [(value, f"{expr} = {value:.4g} times too large: a 1/{expr} left out"),
                  (1 / value, f"{expr} = {value:.4g} times too small: a 1/{expr} too many, or a {expr} missing"),
                  (-value, f"-{expr} times: the sign flipped and a 1/{expr} left out"),
                  (-1 / value, f"-1/{expr} times: the sign flipped and a 1/{expr} too many")]  # fmt: skip
    return tuple(table) + SIGN_AND_TWO


def diagnose(forward, ex, checks: list, runs: dict, problems: dict, sizes: dict) -> list[dict]:
    """Set each check's locally_correct (right given the student's own upstream, on every seed) and a hint for
    each root cause (a wrong step that is not right given its upstream). Returns each seed's local references."""
    if all(result.passed for result in checks):
        for result in checks:
            result.locally_correct = True
        return []
    local = {}
    for label, run in runs.items():
        problem = problems[label].exercises[ex.id]
        asked = {c.name: c for c in ex.checks}
        upstream = {}
        for atom in forward.atoms:
            if atom == "loss":
                continue
            if atom in asked:
                c = asked[atom]
                upstream[atom] = usable_upstream(run.result["values"].get(c.variable), run.arrays.get(c.variable),
                                                 problem.grads[atom])  # fmt: skip
            else:
                upstream[atom] = torch.from_numpy(problem.grads[atom])
        local[label] = local_gradients(forward, problem.values, upstream, problems[label].sizes)
    public = runs[PUBLIC]
    factors = factor_table(sizes)
    for check, result in zip(ex.checks, checks):
        result.locally_correct = result.passed or all(
            check.name in local[label] and compare(check, run.result["values"].get(check.variable),
                                                   run.arrays.get(check.variable), local[label][check.name]).passed
            for label, run in runs.items())  # fmt: skip
        if result.locally_correct:
            continue
        meta, array = public.result["values"].get(check.variable), public.arrays.get(check.variable)
        expected = local[PUBLIC].get(check.name, problems[PUBLIC].exercises[ex.id].grads[check.name])
        result.hint = hint(meta, array, expected, factors, MATMUL)
    return [local[label] for label in runs]
