"""A declared forward pass, read as atoms: each line `name = expression` of the instructor's function is one op.

The engine derives everything from these ops: the values the student's cell sees (`values`), autograd's gradient
of every atom and input (`gradients`, in float32 as the notebook's autograd gives it and in float64 from the same
float32 inputs, which the verdict compares with), and each op's vector-Jacobian product from the student's own
upstream gradients (`local_gradients`, for localisation). Only the function's source is read, never run as a
whole: its `return` is ignored, and a line that reads no tensor (`n = x.shape[0]`) is a constant of the pass.
"""
import ast
import functools
import inspect
import textwrap
from dataclasses import dataclass

import numpy as np
import torch

from ..vjp import vjp

# What every forward pass may call, and the student's cell has too.
NAMESPACE = {"torch": torch, "F": torch.nn.functional, "math": __import__("math")}


@dataclass(frozen=True)
class Op:
    output: str  # the atom it computes
    inputs: tuple[str, ...]  # the atoms and inputs it reads, in the order they appear
    source: str  # its right-hand side, as written
    expression: object  # compiled


@dataclass(frozen=True)
class Forward:
    """A forward pass's ops, and the names of its inputs (the function's parameters) and constants."""

    name: str
    inputs: tuple[str, ...]
    ops: tuple[Op, ...]
    constants: tuple[tuple[str, object], ...]  # (name, compiled expression), in order
    lines: tuple[str, ...]  # the body as written, for the notebook's provided cell

    @property
    def atoms(self) -> tuple[str, ...]:
        return tuple(op.output for op in self.ops)


class DeclarationError(ValueError):
    """A declaration the engine cannot derive an assignment from; the message says which line and why."""


@functools.cache
def read_forward(function) -> Forward:
    """The ops of `function`, one per assignment line. Each name is assigned once (a reassigned name would make
    two atoms of one name, and 'd<name>' would be ambiguous)."""
    source = textwrap.dedent(inspect.getsource(function))
    (tree,) = ast.parse(source).body
    inputs = tuple(a.arg for a in tree.args.args)
    tensors, ops, constants, lines = set(inputs), [], [], []
    for statement in tree.body:
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant):
            continue  # the docstring
        if isinstance(statement, ast.Return):
            continue
        if not isinstance(statement, ast.Assign) or len(statement.targets) != 1 \
                or not isinstance(statement.targets[0], ast.Name):  # fmt: skip
            raise DeclarationError(f"{function.__name__}, line {statement.lineno}: one `name = expression` per line")
        name = statement.targets[0].id
        if name in tensors or name in dict(constants):
            raise DeclarationError(f"{function.__name__}, line {statement.lineno}: {name} is assigned twice")
        right = ast.get_source_segment(source, statement.value)
        expression = compile(ast.Expression(statement.value), f"<{function.__name__}: {name}>", "eval")
        read = tuple(dict.fromkeys(n.id for n in ast.walk(statement.value) if isinstance(n, ast.Name) and n.id in tensors))
        if read:
            ops.append(Op(name, read, right, expression))
            tensors.add(name)
        else:
            constants.append((name, expression))
        lines.append(ast.get_source_segment(source, statement))
    if not ops or ops[-1].output != "loss":
        raise DeclarationError(f"{function.__name__}: its last line must compute `loss`, a scalar")
    return Forward(function.__name__, inputs, tuple(ops), tuple(constants), tuple(lines))


def values(forward: Forward, inputs: dict, sizes: dict) -> dict:
    """Every constant's and atom's value, by running the ops in order on `inputs` (name -> tensor)."""
    ns = {**NAMESPACE, **sizes, **inputs}
    for name, expression in forward.constants:
        ns[name] = eval(expression, ns)
    for op in forward.ops:
        ns[op.output] = eval(op.expression, ns)
    return {name: ns[name] for name in (*inputs, *dict(forward.constants), *forward.atoms)}


def gradients(forward: Forward, inputs: dict, sizes: dict, dtype=None) -> dict:
    """autograd's gradient of the loss with respect to every atom (but the loss) and every floating input, as
    arrays; in `dtype` (torch.float64 for the truth) from the same inputs, else in their own precision."""
    leaves = {name: (t.to(dtype) if dtype and t.is_floating_point() else t).detach().clone() for name, t in inputs.items()}
    wrt_inputs = [name for name, t in leaves.items() if t.is_floating_point()]
    with torch.enable_grad():
        for name in wrt_inputs:
            leaves[name].requires_grad_(True)
        computed = values(forward, leaves, sizes)
        atoms = [name for name in forward.atoms if name != "loss"]
        wrt = [computed[name] for name in atoms] + [leaves[name] for name in wrt_inputs]
        grads = torch.autograd.grad(computed["loss"], wrt, allow_unused=True)
    names = atoms + wrt_inputs
    return {name: (torch.zeros_like(t) if g is None else g).detach().numpy()
            for name, t, g in zip(names, wrt, grads)}  # fmt: skip


def usable_upstream(meta: dict | None, array: np.ndarray | None, reference: np.ndarray) -> torch.Tensor:
    """The student's gradient as the next step back sees it, or autograd's when theirs cannot be used.

    A [64] for a [1, 64] is read as the student's own code reads it (broadcasting makes it the same numbers).
    A missing, non-tensor, misshapen or non-finite gradient would make every VJP through it meaningless, so the
    step after it is judged from the true gradient instead: its own formula is still what is being checked.
    """
    if meta is None or array is None or meta.get("kind") != "tensor" or array.size != reference.size:
        return torch.from_numpy(reference)
    if array.shape != reference.shape:
        if [d for d in array.shape if d != 1] != [d for d in reference.shape if d != 1]:
            return torch.from_numpy(reference)
        array = array.reshape(reference.shape)
    if not np.isfinite(array).all():
        return torch.from_numpy(reference)
    return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))


def local_gradients(forward: Forward, computed: dict, upstream: dict, sizes: dict) -> dict:
    """Each atom's and input's gradient given `upstream` (atom -> the gradient the student gave it, where usable):
    the sum over the ops that read it of their vector-Jacobian product with their output's gradient. That is the
    student's own where they gave one, else the one this pass carried back from the student's own further down
    (an answer that never names dfcproj still gave dres2, which is the same). The loss's is 1."""
    carried = {"loss": torch.ones(())}
    with torch.enable_grad():
        for op in reversed(forward.ops):  # each atom's consumers come after it: its gradient is whole when met
            out = upstream.get(op.output, carried.get(op.output))
            if out is None:
                continue
            leaves = {name: computed[name].detach().clone().requires_grad_(True) for name in op.inputs
                      if computed[name].is_floating_point()}  # fmt: skip
            if not leaves:
                continue
            output = eval(op.expression, {**NAMESPACE, **sizes, **computed, **leaves})
            for name, product in zip(leaves, vjp(output, list(leaves.values()), out.to(output.dtype))):
                carried[name] = carried[name] + product if name in carried else product
    del carried["loss"]
    return {name: grad.numpy() for name, grad in carried.items()}
