"""Which wrong gradient is the student's own mistake, and which only inherit one from upstream (Exercise 1).

One slip in dlogprobs makes every later gradient wrong, and the lecture's cmp paints them all False. Here each
step is also judged the way the student wrote it: from their OWN upstream gradients. For a tensor x, that is
the sum, over every op that consumes x, of the op's vector-Jacobian product with the student's gradient of the
op's output (vjp.py). A step that matches is "right given your upstream"; the
first failing step that is not is the root cause.

The ops are lecture.forward's own lines, read with ast, so this graph cannot drift from the forward pass the
reference uses. Everything here runs in the grader's process, on plain arrays the student's process returned.
"""
import ast
import functools
import inspect
import textwrap
from dataclasses import dataclass

import numpy as np
import torch

from ...checks import Check
from ...compare import compare
from ...declared.forward import usable_upstream
from ...vjp import vjp
from . import EXERCISE_BY_ID, lecture


@dataclass(frozen=True)
class Op:
    output: str  # the atom it computes, or "loss"
    inputs: tuple[str, ...]  # the atoms and parameters it reads, in the order they appear
    expression: object  # the compiled right-hand side


@functools.cache
def lecture_ops() -> tuple[tuple[Op, ...], dict]:
    """lecture.forward's assignments as ops, and the constant ones (`n = Xb.shape[0]`) as expressions."""
    (function,) = ast.parse(textwrap.dedent(inspect.getsource(lecture.forward))).body
    graded = set(lecture.PARAMETER_NAMES)
    ops, constants = [], {}
    for statement in function.body:
        if not isinstance(statement, ast.Assign):
            continue  # the docstring and the return
        (target,) = statement.targets
        expression = compile(ast.Expression(statement.value), f"<lecture.forward: {target.id}>", "eval")
        names = [node.id for node in ast.walk(statement.value) if isinstance(node, ast.Name)]
        inputs = tuple(dict.fromkeys(name for name in names if name in graded))
        if inputs:
            ops.append(Op(target.id, inputs, expression))
            graded.add(target.id)
        else:
            constants[target.id] = expression
    return tuple(ops), constants


def consumers(name: str) -> list[Op]:
    """The ops that read `name`: its gradient is the sum of what flows back through each."""
    return [op for op in lecture_ops()[0] if name in op.inputs]


def forward_values(params: dict, Xb, Yb) -> dict:
    """Every atom's value, by replaying the ops in order (the same numbers lecture.forward computes)."""
    ops, constants = lecture_ops()
    values = {"torch": torch, "Xb": Xb, "Yb": Yb, **params}
    for name, expression in constants.items():
        values[name] = eval(expression, values)
    for op in ops:
        values[op.output] = eval(op.expression, values)
    return values


def local_gradients(values: dict, upstream: dict) -> dict:
    """For each atom and parameter: what its gradient is, given `upstream` (name -> gradient of that tensor).

    The loss's own gradient is 1. Returns float32 arrays by name.
    """
    upstream = {**upstream, "loss": torch.ones(())}
    local = {}
    with torch.enable_grad():
        for op in lecture_ops()[0]:
            leaves = {name: values[name].detach().clone().requires_grad_(True) for name in op.inputs}
            output = eval(op.expression, {**values, **leaves})
            vjps = vjp(output, list(leaves.values()), upstream[op.output])
            for name, product in zip(leaves, vjps):
                local[name] = local[name] + product if name in local else product
    return {name: grad.numpy() for name, grad in local.items()}


@dataclass
class SeedRun:
    """What one seed gave: the problem (inputs and autograd's answers) and the student's gradients."""

    problem: object  # reference.Problem
    metas: dict  # "dlogprobs" -> the child's description of the value
    arrays: dict  # "dlogprobs" -> np.ndarray


@dataclass
class LocalView:
    """One seed seen step by step: forward values, the student's usable gradients, and what each step should give."""

    values: dict  # atom -> tensor
    upstream: dict  # check name -> the student's gradient as a tensor (autograd's where theirs is unusable)
    local: dict  # check name -> np.ndarray: its gradient computed from `upstream`


def local_view(exercise, run: SeedRun) -> LocalView:
    problem = run.problem
    values = forward_values(problem.params, problem.Xb, problem.Yb)
    upstream = {c.name: usable_upstream(run.metas.get(c.variable), run.arrays.get(c.variable), problem.grads[c.name])
                for c in exercise.checks}  # fmt: skip
    return LocalView(values, upstream, local_gradients(values, upstream))


def mark_locally_correct(exercise, checks: list, runs: list[SeedRun]) -> list[LocalView]:
    """Set each check's `locally_correct`: it passes, or it matches its local reference on every seed.

    Returns each seed's view (in the order of `runs`), which hints.py tests root causes against.
    """
    views = [local_view(exercise, run) for run in runs]
    for check, result in zip(exercise.checks, checks):
        result.locally_correct = result.passed or all(
            compare(check, run.metas.get(check.variable), run.arrays.get(check.variable), view.local[check.name]).passed
            for run, view in zip(runs, views))  # fmt: skip
    return views


def earns_local_credit(check, views: list[LocalView], problems: list) -> bool:
    """Whether a locally correct check may score under local credit: not when what it "should be", given the
    student's upstream, has all but vanished (under 1% of autograd's gradient in norm, on any seed).

    Right-given-upstream alone is gameable: from an all-zeros upstream every later step "should be" zeros, and
    all zeros would match. Any upstream that is not (nearly) zero gives a reference only the right formula
    matches, so an honest slip upstream still leaves the later steps their credit.
    """
    for view, problem in zip(views, problems):
        true = np.linalg.norm(problem.grads[check.name].astype(np.float64))
        if np.linalg.norm(view.local[check.name].astype(np.float64)) < 0.01 * true:
            return False
    return True


# ---- Exercise 4: the loop's fused backward, judged the same way


def replay(values: dict, leaves: dict, output: str) -> torch.Tensor:
    """`output` recomputed from `leaves` by lecture.forward's own ops; what does not depend on them is read from
    `values`. One fused step of the loop's backward (tanh, the whole batchnorm, a linear layer) is the VJP of this."""
    ns, changed = {**values, **leaves}, set(leaves)
    for op in lecture_ops()[0]:
        if changed & set(op.inputs):
            ns[op.output] = eval(op.expression, ns)
            changed.add(op.output)
        if op.output == output:
            return ns[output]
    raise KeyError(output)


def loop_local_gradients(values: dict, upstream: dict) -> dict:
    """What each gradient of the loop's backward should be given the student's own gradient of the step's output
    (`upstream`: name -> tensor, autograd's where theirs is unusable). dlogits has no upstream: it is the true one."""
    local = {}
    with torch.enable_grad():
        for output, inputs in lecture.LOOP_BACKWARD:
            leaves = {name: values[name].detach().clone().requires_grad_(True) for name in inputs}
            vjps = vjp(replay(values, leaves, output), list(leaves.values()), upstream[output])
            local.update({name: grad.numpy() for name, grad in zip(leaves, vjps)})
    return local


@dataclass
class LoopView:
    """One step of the loop seen step by step: where its backward first goes wrong given the student's own
    upstream gradients (a parameter's, or an intermediate's such as dhprebn), and what each should be."""

    step: int
    root: str | None
    values: dict
    upstream: dict
    local: dict


def loop_view(step: int, values: dict, true: dict, student: dict) -> LoopView:
    """`true`: autograd's gradient of every atom and parameter at this step; `student`: name -> (meta, array)
    for the gradients the loop computed (its parameters' and whichever intermediates it named as the lecture)."""
    upstream = {name: usable_upstream(*student.get(name, (None, None)), true[name]) for name in true}
    local = {"logits": true["logits"], **loop_local_gradients(values, upstream)}
    order = ["logits"] + [name for _, inputs in lecture.LOOP_BACKWARD for name in inputs]
    root = next((name for name in order if name in student and student[name][0] is not None
                 and not compare(loop_check(name), *student[name], local[name]).passed), None)  # fmt: skip
    return LoopView(step, root, values, upstream, local)


def loop_check(name: str) -> Check:
    """A gradient of the loop judged as Exercise 4's checks are (atol 1e-7), graded or not (dhprebn is not)."""
    return next((c for c in EXERCISE_BY_ID["ex4"].checks if c.name == name), Check(name, 0, atol=1e-7))
