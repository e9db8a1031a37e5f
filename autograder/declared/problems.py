"""What one seed gives a declared assignment: each exercise's inputs drawn at its sizes, the forward pass's values,
and autograd's gradients (float32, as the notebook's autograd gives them; float64 from the same float32 inputs,
which the verdict compares with).

Each exercise draws from a generator of its own, seeded with the seed plus the exercise's place (Exercise 1 at
seed, Exercise 2 at seed + 1, ...), its inputs in the order declared: the notebook's provided cell draws the same
way (notebook.py), so re-running one exercise's cells gives the same values.
"""
from dataclasses import dataclass

import torch

from .forward import Forward, gradients, read_forward, values


@dataclass(frozen=True)
class ExerciseProblem:
    forward: Forward
    inputs: dict  # name -> tensor, as drawn
    values: dict  # name -> every input's, constant's and atom's value (float32 tensors, ints)
    grads: dict  # atom or input -> float32 array: autograd's gradient
    truth: dict  # the same in float64, from the same float32 inputs


@dataclass(frozen=True)
class Problem:
    seed: int
    sizes: dict
    exercises: dict  # exercise id -> ExerciseProblem


def draw(inputs, sizes: dict, generator: torch.Generator) -> dict:
    """The declared inputs (declared.Input), in order, from `generator`."""
    drawn = {}
    for spec in inputs:
        shape = tuple(size(d, sizes) for d in spec.shape)
        if spec.draw == "index":
            drawn[spec.name] = torch.randint(0, size(spec.high, sizes), shape, generator=generator)
        else:
            drawn[spec.name] = torch.randn(shape, generator=generator) * spec.scale + spec.shift
    return drawn


def size(dimension, sizes: dict) -> int:
    """A dimension as declared: a whole number, a size's name ("C"), or an expression of sizes ("3 * C")."""
    return dimension if isinstance(dimension, int) else int(eval(dimension, {"__builtins__": {}}, dict(sizes)))


def make_problem(declaration, seed: int, sizes: dict) -> Problem:
    exercises = {}
    for k, task in enumerate(declaration.tasks):
        forward = read_forward(task.forward)
        inputs = draw(task.inputs, sizes, torch.Generator().manual_seed(seed + k))
        exercises[task.id] = ExerciseProblem(forward, inputs, values(forward, inputs, sizes),
                                             gradients(forward, inputs, sizes), gradients(forward, inputs, sizes, torch.float64))  # fmt: skip
    return Problem(seed, dict(sizes), exercises)
