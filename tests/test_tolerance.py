"""The verdict separates float32 rounding from mistakes: held to autograd's float64 verdict on a corpus of real
answers (tests/corpus.py), with the margin between the two populations measured on several seeds."""
import numpy as np
import pytest
import torch
from corpus import ANSWERS, RIGHT, WRONG, borderline, float64_shares, float64_verdicts, run_answer

from autograder.assignments.backprop_ninja import EXERCISE_BY_ID, HIDDEN_SIZES, PUBLIC_SEED, PUBLIC_SIZES
from autograder.assignments.backprop_ninja.reference import make_problem
from autograder.checks import HIDDEN, PUBLIC
from autograder.compare import NOISE_FACTOR, allowance
from autograder.notebook import ExerciseCell


def test_the_corpus_is_what_it_says(grader):
    """Every "right" answer is right on both seeds by float64 autograd, every "wrong" one wrong somewhere."""
    assert len(ANSWERS) >= 40 and {ex for ex, _ in ANSWERS.values()} == {"ex1", "ex2", "ex3", "ex4"}
    for name, (ex, code) in ANSWERS.items():
        verdicts = [float64_verdicts(ex, code, grader.problems[label], grader.Xtr, grader.Ytr) for label in (PUBLIC, HIDDEN)]
        assert all(all(v.values()) for v in verdicts) == (name in RIGHT), (name, verdicts)


def test_the_grader_gives_float64_autograds_verdict_on_every_answer(grader):
    """Graded as a submission is (isolated run, float32, both seeds): each check passes exactly when float64
    autograd says the gradient is right on both seeds."""
    disagree, judged = {}, 0
    for name, (ex, code) in ANSWERS.items():
        shares = [float64_shares(ex, code, grader.problems[label], grader.Xtr, grader.Ytr) for label in (PUBLIC, HIDDEN)]
        result = grader.grade_exercise(EXERCISE_BY_ID[ex], ExerciseCell(code))
        for check in result.checks:
            if any(borderline(seed[check.name]) for seed in shares):
                continue
            judged += 1
            want = all(seed[check.name] <= 1 for seed in shares)
            if check.passed != want:
                disagree.setdefault(name, {})[check.name] = (check.passed, want)
    assert disagree == {} and judged > 600


def share_of_allowance(check, value: torch.Tensor, reference: np.ndarray, truth: np.ndarray) -> float:
    """How much of the verdict's allowance (compare.allowance) the value's worst entry uses: a check passes at 1 or
    less."""
    return float((np.abs(value.double().numpy() - truth) / allowance(check, reference, truth)).max())


def test_right_and_wrong_answers_sit_far_apart(grader):
    """On three seeds (the last at the hidden run's sizes): how much of its allowance the worst right gradient
    uses, and how many times its allowance the least wrong one (same shape) is off. Both far from 1."""
    right, wrong = [], []
    for seed, sizes in ((PUBLIC_SEED, PUBLIC_SIZES), (1337, PUBLIC_SIZES), (4242, HIDDEN_SIZES)):
        problem = make_problem(seed, grader.Xtr, grader.Ytr, sizes)
        for name, (ex, code) in ANSWERS.items():
            if EXERCISE_BY_ID[ex].trains:
                continue  # its steps' references depend on the run: judged by the verdict test above
            truths = float64_shares(ex, code, problem, grader.Xtr, grader.Ytr)
            values = run_answer(ex, code, problem, grader.Xtr, grader.Ytr, float64=False)
            for check in EXERCISE_BY_ID[ex].checks:
                value = values[check.name]
                if borderline(truths[check.name]):
                    continue
                if isinstance(value, torch.Tensor) and tuple(value.shape) == problem.truth[check.name].shape:
                    share = share_of_allowance(check, value, problem.grads[check.name], problem.truth[check.name])
                    (right if truths[check.name] <= 1 else wrong).append((share, name, check.name, seed))
    worst_right, best_wrong = max(right), min(wrong)
    print(f"\nlargest right: {worst_right}\nsmallest wrong: {best_wrong} ({len(right)} right, {len(wrong)} wrong)")
    assert worst_right[0] <= 0.5, worst_right
    assert best_wrong[0] >= 2, best_wrong


def test_a_branch_that_is_zero_in_exact_arithmetic_may_be_left_out(grader):
    """The learner's answer without dlogits's logit_maxes branch: dW2 is off by rounding only. It passes, and
    nothing is called a mistake or "follows from an earlier mistake"."""
    ex1 = grader.grade_exercise(EXERCISE_BY_ID["ex1"], ExerciseCell(ANSWERS["ex1: the logit_maxes branch left out (exactly zero)"][1]))
    assert ex1.status == "passed" and ex1.first_wrong is None
    assert "Start at" not in str(ex1) and "follows" not in str(ex1)


@pytest.mark.parametrize("name", [n for n in WRONG if n.startswith("ex1")])
def test_start_at_names_a_step_that_is_really_wrong(grader, name):
    """Where the table says to start is wrong by float64 autograd (on the seed the student sees, or at the hidden
    run's other values and sizes)."""
    ex, code = ANSWERS[name]
    result = grader.grade_exercise(EXERCISE_BY_ID[ex], ExerciseCell(code))
    seen, hidden = (float64_verdicts(ex, code, grader.problems[label], grader.Xtr, grader.Ytr) for label in (PUBLIC, HIDDEN))
    verdicts = {check: seen[check] and hidden[check] for check in seen}
    assert result.first_wrong is not None and not verdicts[result.first_wrong], (result.first_wrong, verdicts)
    for check in result.checks:  # nothing right by float64 is failed, so nothing right is said to follow a mistake
        assert check.passed or not verdicts[check.name], check.name


@pytest.mark.parametrize("name, line, value, use", [
    ("ex2: torch.zeros((32, 27))", 1, 32, "n"),
    ("ex1: range(32) in the embedding loop", 32, 32, "n"),
    ("ex1: demb by a hard-coded view", 30, 32, "n"),
    ("ex3: the hidden width written out", 1, 64, "n_hidden"),
])  # fmt: skip
def test_hard_coded_sizes_fail_at_the_hidden_sizes_and_say_where(grader, name, line, value, use):
    ex, code = ANSWERS[name]
    assert code.splitlines()[line - 1].count(str(value))
    result = grader.grade_exercise(EXERCISE_BY_ID[ex], ExerciseCell(code))
    assert result.score < result.max_score
    assert result.message == (f"right at the sizes you see, wrong at others: look for the hard-coded {value} at line "
                              f"{line} (use {use}, or the tensors' shapes)")  # fmt: skip
    failing = [c for c in result.checks if not c.passed]
    assert failing and all(c.message == f"right at the sizes you see, wrong at others (the hard-coded {value}?)"
                           for c in failing if c.shape_ok)  # fmt: skip


def test_the_rule_is_stated_where_students_read_it():
    import nbformat
    from submissions import EXERCISES, ROOT

    intro = nbformat.read(EXERCISES, as_version=4).cells[0].source
    for text in (intro, (ROOT / "README.md").read_text()):
        assert f"{NOISE_FACTOR} times the rounding autograd's own float32 gradient" in text.replace("\n", " ")
        assert "a batch of 48, a hidden layer of 40" in text.replace("\n", " ")
