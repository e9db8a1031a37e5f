"""What a table of checks is made of: an assignment's exercises, their checks, points and tolerances.

Each assignment has one such table (assignments/<id>/__init__.py) that its notebook's self-check cells, the
grader, the reports and the tests all read, so changing a check's points or tolerance there changes it everywhere.
"""
from dataclasses import dataclass

# torch.allclose's defaults, the lecture's `cmp` "approximate" column.
RTOL = 1e-5
ATOL = 1e-8

# The seed of the values the student never sees, beside each assignment's public seed. A graded run must pass on
# both, so values pasted from a printout fail.
# Instructors can override it (BACKPROP_NINJA_HIDDEN_SEED or --hidden-seed) so it differs from this public file.
DEFAULT_HIDDEN_SEED = 1337
# How results name the two runs. Only the public seed's values and output may ever be shown to a student.
PUBLIC, HIDDEN = "public seed", "hidden seed"


@dataclass(frozen=True)
class Check:
    name: str
    points: float
    rtol: float = RTOL
    atol: float = ATOL
    # What the answer is: "tensor", a torch tensor of the reference's shape and of `dtype` (this assignment's
    # float32 gradients); or "number", Python numbers (one, or a list of them, as the reference's shape says),
    # which a run hands back as float64 (the micrograd assignment).
    kind: str = "tensor"
    dtype: str = "torch.float32"
    # The student's name for the answer when it is not d<name> (the micrograd assignment's `gradf`).
    answer: str = ""

    @property
    def variable(self) -> str:
        """The student's variable: `dlogprobs` for the check `logprobs`."""
        return self.answer or "d" + self.name


@dataclass(frozen=True)
class Exercise:
    id: str
    title: str
    checks: tuple[Check, ...]
    # Gradients handed to the student's code as autograd computes them, so that a mistake in an earlier
    # exercise costs nothing here (Exercise 3 starts from the true dhpreact).
    given: tuple[str, ...] = ()
    # A step-by-step backward pass, where each check can also be judged from the student's own upstream
    # gradients (the first assignment's localise.py).
    step_by_step: bool = False
    # A training loop: how many steps a graded run takes. Each step's gradients are checked.
    steps: int = 0

    @property
    def trains(self) -> bool:
        return self.steps > 0

    @property
    def max_score(self) -> float:
        return sum(c.points for c in self.checks)
