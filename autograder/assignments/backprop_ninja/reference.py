"""The reference answers: torch autograd on the lecture's forward pass, computed in the grader's own process.

Student code never runs here; this module only sees the seeds, the dataset and, for Exercise 4, the student's
gradients as plain arrays (to replay the training run they drive).
"""
from dataclasses import dataclass

import numpy as np
import torch

from . import PUBLIC_SIZES, Sizes, lecture


@dataclass(frozen=True)
class Problem:
    """What one seed gives a student: the inputs handed to their code and autograd's answers."""

    seed: int
    sizes: Sizes  # the batch and hidden-layer sizes this problem is drawn at
    params: dict  # name -> float32 tensor, the initial parameters
    Xb: torch.Tensor
    Yb: torch.Tensor
    loop_generator_state: torch.Tensor  # the generator right after the parameters: Exercise 4's loop draws from it
    grads: dict  # "logprobs", ..., "C" -> np.ndarray: every atom's and parameter's gradient
    # The same gradients computed in float64 from the same float32 inputs: what the verdict compares with
    # (compare.py), the float32 ones being what the lecture's cmp shows.
    truth: dict

    def inputs(self, exercise, Xtr, Ytr) -> dict:
        """The arrays a student's code for `exercise` starts from (what the notebook has at that point)."""
        arrays = {name: p.numpy() for name, p in self.params.items()}
        if exercise.trains:
            # The loop draws its own batches from the training set with the generator, as in the lecture.
            arrays.update(Xtr=Xtr.numpy(), Ytr=Ytr.numpy(), generator_state=self.loop_generator_state.numpy())
        else:
            arrays.update(Xb=self.Xb.numpy(), Yb=self.Yb.numpy())
        arrays.update({"d" + name: self.grads[name] for name in exercise.given})
        return arrays

    def constants(self) -> dict:
        """The sizes the notebook names (n, batch_size, n_hidden), as this problem has them."""
        return {"batch_size": self.sizes.batch_size, "n": self.sizes.batch_size, "n_hidden": self.sizes.n_hidden}


def autograd_gradients(params: dict, Xb, Yb) -> dict:
    """Every atom's and parameter's gradient of the loss, by autograd, as float32 arrays."""
    leaves = {name: p.detach().clone().requires_grad_(True) for name, p in params.items()}
    with torch.enable_grad():
        atoms = lecture.forward(**leaves, Xb=Xb, Yb=Yb)
        intermediates = {name: t for name, t in vars(atoms).items() if name != "loss"}
        wrt = list(intermediates.values()) + list(leaves.values())
        grads = torch.autograd.grad(atoms.loss, wrt)
    names = list(intermediates) + list(leaves)
    return {name: grad.numpy() for name, grad in zip(names, grads)}


def float64_gradients(params: dict, Xb, Yb) -> dict:
    """autograd_gradients in float64, from the float32 parameters as given: the truth float32 rounding misses."""
    return autograd_gradients({name: p.double() for name, p in params.items()}, Xb, Yb)


def make_problem(seed: int, Xtr, Ytr, sizes: Sizes = PUBLIC_SIZES) -> Problem:
    """Parameters and the first batch drawn in the notebook's order, at these sizes, and autograd's answers."""
    g = torch.Generator().manual_seed(seed)
    params = lecture.init_parameters(g, n_hidden=sizes.n_hidden)
    loop_generator_state = g.get_state()
    Xb, Yb = lecture.sample_batch(Xtr, Ytr, g, batch_size=sizes.batch_size)
    return Problem(seed, sizes, params, Xb, Yb, loop_generator_state, autograd_gradients(params, Xb, Yb),
                   float64_gradients(params, Xb, Yb))  # fmt: skip


def loop_batches(problem: Problem, Xtr, Ytr, steps: int) -> list[tuple]:
    """The batches Exercise 4's loop draws, step by step: the generator is used for nothing else in the loop."""
    g = torch.Generator()
    g.set_state(problem.loop_generator_state)
    return [lecture.sample_batch(Xtr, Ytr, g, batch_size=problem.sizes.batch_size) for _ in range(steps)]


def reference_losses(problem: Problem, Xtr, Ytr, steps: int) -> list[float]:
    """The loss at each of Exercise 4's steps when the loop applies autograd's gradients (the reference solution)."""
    params = {name: p.clone() for name, p in problem.params.items()}
    losses = []
    for Xb, Yb in loop_batches(problem, Xtr, Ytr, steps):
        losses.append(float(lecture.forward(**params, Xb=Xb, Yb=Yb).loss))
        lecture.sgd_step(params, {name: torch.from_numpy(g) for name, g in autograd_gradients(params, Xb, Yb).items()
                                  if name in lecture.PARAMETER_NAMES})  # fmt: skip
    return losses


def training_references(problem: Problem, Xtr, Ytr, student_steps: list[dict]) -> list[tuple[dict, dict, dict]]:
    """Autograd's gradients at each step of Exercise 4's loop, along the run the student's gradients drive, in
    float32 (every atom's and parameter's) and in float64 (the parameters', as Problem.grads and Problem.truth),
    and the parameters the step was computed at.

    The loop applies the student's own gradients, so after one wrong step the parameters leave the reference
    path; comparing with autograd at the parameters the student actually has keeps each step's verdict about
    that step alone. The replay uses only the student's gradients (plain arrays), never parameters reported by
    the student's process. A missing or malformed gradient is replaced by autograd's so the replay goes on.
    """
    params = {name: p.clone() for name, p in problem.params.items()}
    references = []
    for step, (Xb, Yb) in zip(student_steps, loop_batches(problem, Xtr, Ytr, len(student_steps))):
        reference, truth = autograd_gradients(params, Xb, Yb), float64_gradients(params, Xb, Yb)
        references.append((reference, {name: truth[name] for name in lecture.PARAMETER_NAMES},
                           {name: p.clone() for name, p in params.items()}))  # fmt: skip
        applied = {}
        for name in lecture.PARAMETER_NAMES:
            grad = step.get(name)
            ok = isinstance(grad, np.ndarray) and grad.shape == params[name].shape and grad.dtype == np.float32
            applied[name] = torch.from_numpy(grad) if ok else torch.from_numpy(reference[name])
        lecture.sgd_step(params, applied)
    return references

