"""The first assignment, "Becoming a backprop ninja" (makemore part 4): the lecture's MLP with batchnorm.

Its table of exercises and checks is here; the lecture's network lecture.py and its data data.py; the references
(torch autograd) reference.py; localisation, hints and the grader's side localise.py, hints.py and grading.py;
the sandbox's side run.py; the notebook's own check() selfcheck.py; the lecture's own notebook
lecture_notebook.py; the release the package ships, backprop_ninja.ipynb.

A check is named after the lecture's tensor without the leading d: the check "logprobs" compares the student's
`dlogprobs` with autograd's `logprobs.grad`.
"""
from dataclasses import dataclass

from ...assignment import Assignment
from ...checks import Check, Exercise
from ...compare import NOISE_FACTOR

# The lecture's generator seed: the values a student sees in the notebook.
PUBLIC_SEED = 2147483647


@dataclass(frozen=True)
class Sizes:
    batch_size: int  # n
    n_hidden: int


# The lecture's sizes (lecture.py), which the student sees; the hidden run also changes them, so an answer that
# hard-codes 32 or 64 (torch.zeros((32, 27)), range(32), Xb.view(32 * 3)) fails there. The vocabulary (27), the
# embedding (10) and the context (3) stay: the dataset and the provided cells fix them.
PUBLIC_SIZES = Sizes(batch_size=32, n_hidden=64)
HIDDEN_SIZES = Sizes(batch_size=48, n_hidden=40)


# Under every report: what exact: False means for float32 gradients, and when a check passes.
EXACT_NOTE = (
    "exact: False or approx: False alone is not a mistake: float32 rounds differently in each order of operations "
    "(PyTorch's tanh backward uses a fused multiply-add on AVX2/AVX512 CPUs; a gradient that is zero in exact "
    "arithmetic, like db1, comes out as noise). A check passes when the shape and dtype are right and every entry "
    "is within allclose's tolerance of autograd's gradient computed in float64 (entries near zero also within "
    f"{NOISE_FACTOR} times the rounding autograd's own float32 gradient has there), on every seed."
)



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

ASSIGNMENT = Assignment(
    id="backprop_ninja",
    title="Becoming a backprop ninja",
    exercises=EXERCISES,
    public_seed=PUBLIC_SEED,
    grading_class="autograder.assignments.backprop_ninja.grading:BackpropGrading",
    run_module="autograder.assignments.backprop_ninja.run",
    selfcheck_module="autograder.assignments.backprop_ninja.selfcheck",
    release="autograder.assignments.backprop_ninja:backprop_ninja.ipynb",
    dataset="autograder.assignments.backprop_ninja.data:load_words",
    same_dataset="give every worker the same names.txt ($BACKPROP_NINJA_NAMES)",
    note=EXACT_NOTE,
    lecture_notebook="autograder.assignments.backprop_ninja.lecture_notebook",
)
