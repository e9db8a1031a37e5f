"""The grader end to end on real notebooks: right answers, stubs, realistic mistakes, the hidden seed."""
import numpy as np
import pytest
from submissions import all_right, answer, solution_region, write_submission

from autograder.assignments.backprop_ninja import EXERCISE_BY_ID, MAX_SCORE
from autograder.checks import PUBLIC
from autograder.results import HIDDEN_FAILURE

EX1 = [c.name for c in EXERCISE_BY_ID["ex1"].checks]


def failing(exercise) -> set[str]:
    return {c.name for c in exercise.checks if not c.passed}


def downstream_of(name: str) -> set[str]:
    """Exercise 1's checks from `name` on, in the lecture's order (every later gradient depends on it)."""
    return set(EX1[EX1.index(name):])


def test_right_answers_get_full_marks(grader, tmp_path):
    report = grader.grade(all_right(tmp_path / "right.ipynb"))
    assert report.score == report.max_score == MAX_SCORE
    assert [e.status for e in report.exercises] == ["passed"] * 4
    # exact is False from hpreact on (tanh's fused multiply-add), and that alone fails nothing
    ex1 = report.exercises[0]
    assert all(c.exact for c in ex1.checks[: EX1.index("hpreact")])
    assert all(c.approx and c.shape_ok and c.dtype_ok for c in ex1.checks)


def test_instructor_notebook_gets_full_marks(grader):
    from submissions import SOLUTIONS

    assert grader.grade(SOLUTIONS).score == MAX_SCORE


def test_released_stubs_score_zero_and_say_not_answered(grader):
    from submissions import EXERCISES

    report = grader.grade(EXERCISES)
    assert report.score == 0
    for exercise in report.exercises:
        assert exercise.status == "not answered"
        assert "not answered yet" in exercise.message


# db1 and dlogit_maxes are zero whatever comes from upstream (batchnorm and softmax ignore a constant shift), and
# dbnmeani does not see the variance path (the deviations sum to zero), so a slip upstream leaves them right.
SHIFT_INVARIANT = {"b1", "logit_maxes"}

# Each mistake is one line of the right answer changed, and must fail exactly these checks.
EX1_MISTAKES = {
    # Scaling everything by n also scales db1's and dlogit_maxes's float noise (~1e-9): zero times n is still
    # zero, and the verdict knows rounding from a mistake (compare.py).
    "the 1/n of the mean forgotten": (
        ("dlogprobs[range(n), Yb] = -1.0/n", "dlogprobs[range(n), Yb] = -1.0"), set(EX1) - SHIFT_INVARIANT),
    "a [64] for a [1, 64] gradient": (
        ("dbnmeani = (-dbndiff).sum(0, keepdim=True)", "dbnmeani = (-dbndiff).sum(0)"), {"bnmeani"}),
    # keepdim=True written, then the dimension squeezed away: the hint must not ask for what the line has
    "keepdim=True, then the dimension squeezed away": (
        ("dbnmeani = (-dbndiff).sum(0, keepdim=True)", "dbnmeani = (-dbndiff).sum(0, keepdim=True).squeeze(0)"),
        {"bnmeani"}),
    "a bias gradient not summed over the batch": (("db2 = dlogits.sum(0)", "db2 = dlogits"), {"b2"}),
    "1/n for 1/(n-1) in the variance": (
        ("dbndiff2 = (1.0/(n-1))", "dbndiff2 = (1.0/n)"), downstream_of("bndiff2") - SHIFT_INVARIANT - {"bnmeani"}),
    "tanh's derivative taken at the pre-activation": (
        ("dhpreact = (1.0 - h**2) * dh", "dhpreact = (1.0 - hpreact**2) * dh"), downstream_of("hpreact") - {"b1"}),
    "repeated embedding rows overwritten instead of accumulated": (
        ("dC[ix] += demb[k,j]", "dC[ix] = demb[k,j]"), {"C"}),
    # the loop as one line: with a tensor of indices, += writes each row once, as = does
    "repeated embedding rows added by a fancy-indexed +=": (
        ("for k in range(Xb.shape[0]):\n  for j in range(Xb.shape[1]):\n    ix = Xb[k,j]\n    dC[ix] += demb[k,j]",
         "dC[Xb] += demb"), {"C"}),
    "dprobs multiplied by probs instead of divided": (
        ("dprobs = (1.0 / probs) * dlogprobs", "dprobs = probs * dlogprobs"), downstream_of("probs") - SHIFT_INVARIANT),
}


@pytest.mark.parametrize("mistake", EX1_MISTAKES)
def test_realistic_mistakes_fail_exactly_their_gradients(grader, tmp_path, mistake):
    edit, expected = EX1_MISTAKES[mistake]
    report = grader.grade(write_submission(tmp_path / "nb.ipynb", ex1=answer("ex1", edit)))
    ex1 = report.exercises[0]
    assert failing(ex1) == expected
    assert ex1.score == len(EX1) - len(expected)
    for check in ex1.checks:
        assert bool(check.message) == (check.name in expected)


def test_shape_mistake_is_named_as_one_cmp_would_miss(grader, tmp_path):
    edit, _ = EX1_MISTAKES["a [64] for a [1, 64] gradient"]
    report = grader.grade(write_submission(tmp_path / "nb.ipynb", ex1=answer("ex1", edit)))
    bnmeani = next(c for c in report.exercises[0].checks if c.name == "bnmeani")
    assert not bnmeani.shape_ok and not bnmeani.passed
    assert "has shape [64] but bnmeani has shape [1, 64]" in bnmeani.message
    assert "cmp would broadcast" in bnmeani.message


CORRECT_VARIANTS = {
    "dC with index_add": (
        "dC = torch.zeros_like(C)\nfor k in range(Xb.shape[0]):\n  for j in range(Xb.shape[1]):\n"
        "    ix = Xb[k,j]\n    dC[ix] += demb[k,j]",
        "dC = torch.zeros_like(C).index_add_(0, Xb.view(-1), demb.view(-1, demb.shape[2]))"),
    "dC with scatter_add": (
        "dC = torch.zeros_like(C)\nfor k in range(Xb.shape[0]):\n  for j in range(Xb.shape[1]):\n"
        "    ix = Xb[k,j]\n    dC[ix] += demb[k,j]",
        "dC = torch.zeros_like(C).scatter_add_(0, Xb.view(-1, 1).expand(-1, demb.shape[2]), demb.view(-1, demb.shape[2]))"),
    "dW1 and dW2 with einsum": ("dW1 = embcat.T @ dhprebn", "dW1 = torch.einsum('bi,bj->ij', embcat, dhprebn)"),
    "dC with one_hot": (
        "dC = torch.zeros_like(C)\nfor k in range(Xb.shape[0]):\n  for j in range(Xb.shape[1]):\n"
        "    ix = Xb[k,j]\n    dC[ix] += demb[k,j]",
        "dC = F.one_hot(Xb.view(-1), num_classes=C.shape[0]).float().T @ demb.view(-1, demb.shape[2])"),
}


@pytest.mark.parametrize("variant", CORRECT_VARIANTS)
def test_differently_written_right_answers_pass(grader, tmp_path, variant):
    code = answer("ex1", CORRECT_VARIANTS[variant])
    report = grader.grade(write_submission(tmp_path / "nb.ipynb", ex1=code))
    assert report.exercises[0].status == "passed", report.exercises[0]


def test_one_exercise_per_mistake_later_exercises_unaffected(grader, tmp_path):
    wrong_ex1 = answer("ex1", ("dhpreact = (1.0 - h**2) * dh", "dhpreact = (1.0 - hpreact**2) * dh"))
    path = write_submission(tmp_path / "nb.ipynb", ex1=wrong_ex1, ex3=solution_region("ex3"))
    ex1, _, ex3, _ = grader.grade(path).exercises
    assert ex1.status == "partial"
    assert ex3.status == "passed"  # Exercise 3 starts from the true dhpreact


def test_pasted_values_fail_on_the_hidden_seed(grader, tmp_path):
    public = grader.problems[PUBLIC].grads["logits"]
    pasted = "dlogits = torch.tensor(" + np.array2string(public, separator=",", threshold=10**6, floatmode="unique") + ")"
    report = grader.grade(write_submission(tmp_path / "nb.ipynb", ex2=pasted))
    check = report.exercises[1].checks[0]
    assert not check.passed and report.exercises[1].score == 0
    assert check.message == HIDDEN_FAILURE


def test_exercise_2_and_3_and_4_mistakes(grader, tmp_path):
    path = write_submission(
        tmp_path / "nb.ipynb",
        ex2=answer("ex2", ("dlogits /= n", "")),
        ex3=answer("ex3", ("n/(n-1)", "1")),
        ex4=answer("ex4", ("db1 = dhprebn.sum(0)", "db1 = dhprebn")),
    )
    _, ex2, ex3, ex4 = grader.grade(path).exercises
    assert failing(ex2) == {"logits"} and ex2.score == 0
    assert failing(ex3) == {"hprebn"}
    assert failing(ex4) == {"b1"}
    assert "has shape [32, 64] but b1 has shape [64]" in next(c for c in ex4.checks if c.name == "b1").message


def test_a_cell_that_raises_keeps_what_was_assigned_before(grader, tmp_path):
    code = answer("ex1", ("dbngain = ", "raise ValueError('oops')\ndbngain = "))
    ex1 = grader.grade(write_submission(tmp_path / "nb.ipynb", ex1=code)).exercises[0]
    assert ex1.score == EX1.index("hpreact") + 1  # everything up to and including dhpreact
    assert "ValueError: oops" in ex1.message
    bngain = next(c for c in ex1.checks if c.name == "bngain")
    assert "was not assigned" in bngain.message and "ValueError: oops" in bngain.message


@pytest.mark.parametrize(
    "code, message",
    [
        ("dlogits = [[0.0] * 27] * 32", "dlogits is not a tensor (it is a list)"),
        ("dlogits = torch.zeros(32, 27, dtype=torch.float64)", "dlogits is torch.float64"),
        ("dlogits = torch.full((32, 27), float('nan'))", "contains NaN"),
        ("dlogits = torch.zeros(27, 32)", "has shape [27, 32] but logits has shape [32, 27]"),
        ("dlogits = 'a string'", "dlogits is not a tensor (it is a str)"),
    ],
)
def test_bad_values_are_failed_checks_with_plain_messages(grader, tmp_path, code, message):
    ex2 = grader.grade(write_submission(tmp_path / "nb.ipynb", ex2=code)).exercises[1]
    assert ex2.score == 0 and ex2.status == "failed"
    assert message in ex2.checks[0].message
