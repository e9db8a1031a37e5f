"""The one table of what is graded: exercises, their checks, points and tolerances.

The notebook's self-check cells, the grader, the reports and the tests all read this table, so changing a
check's points or tolerance here changes it everywhere.

A check is named after the lecture's tensor without the leading d: the check "logprobs" compares the student's
`dlogprobs` with autograd's `logprobs.grad`.
"""
from dataclasses import dataclass

# torch.allclose's defaults, the lecture's `cmp` "approximate" column.
RTOL = 1e-5
ATOL = 1e-8

# The lecture's generator seed: the values a student sees in the notebook.
PUBLIC_SEED = 2147483647
# A second seed the student never sees. A graded run must pass on both, so values pasted from a printout fail.
# Instructors can override it (BACKPROP_NINJA_HIDDEN_SEED or --hidden-seed) so it differs from this public file.
DEFAULT_HIDDEN_SEED = 1337
# How results name the two runs. Only the public seed's values and output may ever be shown to a student.
PUBLIC, HIDDEN = "public seed", "hidden seed"


@dataclass(frozen=True)
class Sizes:
    batch_size: int  # n
    n_hidden: int


# The lecture's sizes (lecture.py), which the student sees; the hidden run also changes them, so an answer that
# hard-codes 32 or 64 (torch.zeros((32, 27)), range(32), Xb.view(32 * 3)) fails there. The vocabulary (27), the
# embedding (10) and the context (3) stay: the dataset and the provided cells fix them.
PUBLIC_SIZES = Sizes(batch_size=32, n_hidden=64)
HIDDEN_SIZES = Sizes(batch_size=48, n_hidden=40)


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
    # gradients (localise.py).
    step_by_step: bool = False
    # A training loop: how many steps a graded run takes. Each step's gradients are checked.
    steps: int = 0

    @property
    def trains(self) -> bool:
        return self.steps > 0

    @property
    def max_score(self) -> float:
        return sum(c.points for c in self.checks)


def _each(names: str, points: float, **tolerances) -> tuple[Check, ...]:
    return tuple(Check(name, points, **tolerances) for name in names.split())


EXERCISES = (
    Exercise(
        "ex1",
        "Exercise 1: backprop through the whole graph, atom by atom",
        # The lecture's order, from the loss back to the embedding table; one point per gradient.
        _each(
            "logprobs probs counts_sum_inv counts_sum counts norm_logits logit_maxes logits h W2 b2 "
            "hpreact bngain bnbias bnraw bnvar_inv bnvar bndiff2 bndiff bnmeani hprebn embcat W1 b1 emb C",
            1,
        ),
        step_by_step=True,
    ),
    Exercise(
        "ex2",
        "Exercise 2: cross-entropy backward in one expression",
        (Check("logits", 6),),
    ),
    Exercise(
        "ex3",
        "Exercise 3: batchnorm backward in one expression",
        (Check("hprebn", 6),),
        given=("hpreact",),
    ),
    Exercise(
        "ex4",
        "Exercise 4: the complete training loop with your backward pass",
        # atol 1e-7: the loop's fused cross-entropy and the reference's atom-by-atom graph round differently,
        # and after a step or two entries near zero differ by ~2e-8. Real mistakes are orders larger.
        _each("C W1 b1 W2 b2 bngain bnbias", 2, atol=1e-7),
        steps=3,
    ),
)

EXERCISE_BY_ID = {ex.id: ex for ex in EXERCISES}
MAX_SCORE = sum(ex.max_score for ex in EXERCISES)
