"""The grader's vector-Jacobian products: torch's own with grad_outputs, bit for bit, without importing sympy."""
import subprocess
import sys

import pytest
import torch

from autograder.vjp import vjp


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_vjp_is_torchs_bit_for_bit(dtype):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(32, 27, generator=generator, dtype=dtype, requires_grad=True)
    w = torch.randn(27, 64, generator=generator, dtype=dtype, requires_grad=True)
    out = torch.tanh(x @ w).sum(1, keepdim=True) / 3.0
    upstream = torch.randn(32, 1, generator=generator, dtype=dtype)
    torchs = torch.autograd.grad(out, [x, w], grad_outputs=upstream, retain_graph=True)
    ours = vjp(out, [x, w], upstream)
    assert all(torch.equal(a, b) for a, b in zip(ours, torchs))


def test_an_upstream_of_another_shape_is_refused_not_broadcast():
    x = torch.ones(4, 1, requires_grad=True)
    with pytest.raises(ValueError, match=r"shape \[4\] for an output of \[4, 1\]"):
        vjp(x * 2, [x], torch.ones(4))


def test_it_leaves_sympy_unimported():
    """torch imports sympy (0.3-0.7 CPU-s) on grad_outputs' first use: in every grading worker of a class run."""
    code = ("import sys, torch; from autograder.vjp import vjp; x = torch.ones(3, requires_grad=True); "
            "vjp(x * 2, [x], torch.ones(3)); print('sympy' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"
