"""The second assignment, the first lecture's: backprop by hand through micrograd.

Its table of exercises and checks is here; the lecture's values, Value class and graphs are lecture.py; the
references (torch autograd in float64), comparisons and hints grading.py; the sandbox's side run.py.
"""
from ...assignment import Assignment
from ...checks import Check, Exercise

# Every answer here is Python numbers, computed in float64: right answers written in another order differ by a
# few units in the 16th digit (1e-16 of the value, or of its terms where they cancel), mistakes by far more. Tighter than a float32 tolerance on purpose: a
# numerical estimate (a difference quotient with h = 1e-6) is off by about 1e-9 of the value and is no answer to
# "write the derivative"; Exercise 3's estimates have tolerances of their own, from their step.
RTOL, ATOL = 1e-12, 1e-14
# The values the student sees are the lecture's own; this seed draws Exercise 4's op cases and graphs for them.
PUBLIC_SEED = 2147483647


def _numbers(names: str, points: float, called: bool = False) -> tuple[Check, ...]:
    """Checks of Python numbers. `called`: what the harness gets from the student's functions and classes, under
    the check's own name (Exercises 3-5), rather than the student's variable d<name>."""
    return tuple(Check(name, points, RTOL, ATOL, kind="number", dtype="torch.float64", answer=name if called else "")
                 for name in names.split())  # fmt: skip


EXERCISES = (
    Exercise(
        "ex1",
        "Exercise 1: the expression graph by hand",
        _numbers("L d f e c b a", 1),  # from the output back, as the lecture fills them in
        step_by_step=True,
    ),
    Exercise(
        "ex2",
        "Exercise 2: one neuron by hand",
        _numbers("o n b x1w1x2w2 x2w2 x1w1 w2 x2 w1 x1", 1),
        step_by_step=True,
    ),
    Exercise(
        "ex3",
        "Exercise 3: a derivative, by calculus and by estimates",
        # The estimates are held to the estimate of their kind at the learner's own step h (grading.estimates).
        _numbers("gradf numerical_grad numerical_grad2", 2, called=True),
    ),
    Exercise(
        "ex4",
        "Exercise 4: the Value class's backward pass",
        _numbers("add mul pow tanh exp", 1, called=True) + _numbers("backward", 2, called=True)
        + _numbers("graphs", 3, called=True),
    ),
    Exercise(
        "ex5",
        "Exercise 5: training the MLP",
        _numbers("step1 step2 step3 update", 2, called=True),
        steps=3,
    ),
    Exercise(
        "ex6",
        "Exercise 6: support for softmax",
        # Each op the softmax and its loss use, alone; then the notebook's loss through the learner's whole class.
        _numbers("exp log div neg radd mul pow", 1, called=True) + _numbers("softmax", 3, called=True),
    ),
)
ASSIGNMENT = Assignment(
    id="micrograd",
    title="Building micrograd: backpropagation by hand",
    exercises=EXERCISES,
    public_seed=PUBLIC_SEED,
    grading_class="autograder.assignments.micrograd.grading:MicrogradGrading",
    run_module="autograder.assignments.micrograd.run",
    selfcheck_module="autograder.assignments.micrograd.selfcheck",
    release="autograder.assignments.micrograd:micrograd.ipynb",
    lecture_notebook="autograder.assignments.micrograd.lecture_notebook",
    note=("exact: False alone is not a mistake: a right answer computed in another order can differ from autograd's "
          f"in the last digits. A check passes when every number is within a relative {RTOL:g} of autograd's, "
          "computed in float64 (Exercise 3's estimates: within rounding of the estimate of their kind at your step h), "
          "on the values you see and on hidden ones."),
)
