"""Vector-Jacobian products for the grader's own checks (localisation, the op tables), without torch's import of
sympy.

`torch.autograd.grad(out, inputs, grad_outputs=g)` imports torch.fx.experimental.symbolic_shapes, and with it
sympy, the first time it is given a tensor `g`: 0.3-0.7 CPU-s in every grading worker of every class run, the
largest single part of a class run's fixed cost after the workers themselves. The gradient of sum(out * g) is the
same product, bit for bit: sum's backward hands 1 to every element and mul's multiplies it by g, both exact.
"""
import torch


def vjp(output: torch.Tensor, inputs: list, upstream: torch.Tensor) -> tuple:
    """The gradients of `inputs` given `upstream`, the gradient of `output`: what grad_outputs=upstream gives,
    with its checks (a product would broadcast where grad_outputs refuses)."""
    if upstream.shape != output.shape:
        raise ValueError(f"an upstream gradient of shape {list(upstream.shape)} for an output of {list(output.shape)}")
    return torch.autograd.grad((output * upstream).sum(), inputs)
