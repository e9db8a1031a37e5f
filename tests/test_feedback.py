"""Feedback that teaches: the first wrong step (localise.py), the kind of mistake (hints.py), the pictures."""
import json

import numpy as np
import pytest
import torch
from submissions import all_right, answer, write_submission
from test_grading import CORRECT_VARIANTS, EX1, EX1_MISTAKES

from autograder.assignments.backprop_ninja import EXERCISE_BY_ID, lecture
from autograder.assignments.backprop_ninja.hints import hint
from autograder.assignments.backprop_ninja.localise import consumers, forward_values, local_gradients
from autograder.checks import PUBLIC
from autograder.grading import Grader
from autograder.sandbox import Limits

# Each mistake of test_grading's catalogue (plus a sign flip): the step that is its root cause, and words the hint
# must contain to name the mistake.
ROOT_CAUSES = {
    "the 1/n of the mean forgotten": ("logprobs", "1/n of the mean was left out"),
    "a [64] for a [1, 64] gradient": ("bnmeani", "keepdim=True"),
    "keepdim=True, then the dimension squeezed away": ("bnmeani", "keepdim=True is there, but what follows it"),
    "a bias gradient not summed over the batch": ("b2", "summed over the batch it would be right"),
    "1/n for 1/(n-1) in the variance": ("bndiff2", "Bessel's correction"),
    "tanh's derivative taken at the pre-activation": ("hpreact", "1 - h**2"),
    "repeated embedding rows overwritten instead of accumulated": ("C", "each occurrence must add its gradient"),
    "repeated embedding rows added by a fancy-indexed +=": ("C", "as does dC[ix] += ... with a tensor of indices"),
    "dprobs multiplied by probs instead of divided": ("probs", "divide"),
    "d(1/x) without its minus sign": ("counts_sum", "sign is flipped"),
}
MISTAKES = {name: edit for name, (edit, _) in EX1_MISTAKES.items()}
MISTAKES["d(1/x) without its minus sign"] = ("dcounts_sum = (-counts_sum**-2)", "dcounts_sum = (counts_sum**-2)")


def by_name(exercise) -> dict:
    return {c.name: c for c in exercise.checks}


@pytest.mark.parametrize("mistake", ROOT_CAUSES)
def test_the_first_wrong_step_is_named_with_its_mistake(grader, tmp_path, mistake):
    report = grader.grade(write_submission(tmp_path / "nb.ipynb", ex1=answer("ex1", MISTAKES[mistake])))
    ex1 = report.exercises[0]
    root, words = ROOT_CAUSES[mistake]
    assert ex1.first_wrong == root
    checks = by_name(ex1)
    assert words in checks[root].hint
    assert not checks[root].locally_correct
    # every other failing step is right given the student's own upstream gradients, and gets no hint of its own
    for check in ex1.checks:
        if check.name != root:
            assert check.locally_correct, check
            assert check.hint is None
    # the JSON carries the diagnosis, the text and the HTML say it
    data = json.loads(json.dumps(report.to_dict()))["exercises"][0]
    assert data["first_wrong"] == root
    assert {(c["name"], c["locally_correct"], c["hint"]) for c in data["checks"]} == {
        (c.name, c.locally_correct, c.hint) for c in ex1.checks}
    # every view leads with the root cause and its hint, and folds what only follows from it into one line
    text, page = str(ex1), ex1._repr_html_()
    assert [row["check"] for row in data["layout"]["rows"]] == [root] and words in data["layout"]["rows"][0]["mistake"]
    assert f"d{root}: " in text and words in text
    following = [c for c in ex1.checks if not c.passed and c.locally_correct]
    if following:
        assert text.count(f"Start at d{root}") == 1 and f"{len(following)} more follow from d{root}" in text
        fold = page.split("data-fold='follows'")[1].split("</details>")[0]
        assert fold.count("<tr data-check=") == fold.count("follows from an earlier mistake") == len(following)
        assert {f["kind"]: len(f["checks"]) for f in data["layout"]["folds"]}["follows"] == len(following)
    open_rows = page.split("<details")[0]
    assert open_rows.count("<tr data-check=") == 1 and f"data-check='{root}'" in open_rows
    assert page.count("<img") == (1 if checks[root].difference is not None else 0)  # a heatmap for the root cause


def test_right_and_differently_written_answers_get_no_diagnosis(grader, tmp_path):
    variants = [answer("ex1", edit) for edit in CORRECT_VARIANTS.values()]
    for i, code in enumerate(variants):
        ex1 = grader.grade(write_submission(tmp_path / f"v{i}.ipynb", ex1=code)).exercises[0]
        assert ex1.first_wrong is None
        assert all(c.locally_correct and c.hint is None for c in ex1.checks)
    report = grader.grade(all_right(tmp_path / "right.ipynb"))
    for exercise in report.exercises:
        assert exercise.first_wrong is None
        assert all(c.locally_correct and c.hint is None for c in exercise.checks)
        assert "<img" not in exercise._repr_html_() or exercise.id == "ex4"


def test_two_mistakes_are_two_root_causes(grader, tmp_path):
    edits = (MISTAKES["the 1/n of the mean forgotten"], MISTAKES["1/n for 1/(n-1) in the variance"])
    ex1 = grader.grade(write_submission(tmp_path / "nb.ipynb", ex1=answer("ex1", *edits))).exercises[0]
    roots = [c.name for c in ex1.checks if not c.locally_correct]
    assert roots == ["logprobs", "bndiff2"]
    # the second hint is about the step's own slip, not the factor n inherited from upstream
    assert "Bessel's correction" in by_name(ex1)["bndiff2"].hint


@pytest.fixture(scope="module")
def local_credit_grader(small_words):
    with Grader(Limits(timeout=30), words=small_words, credit="local") as g:
        yield g


def test_local_credit_pays_for_steps_right_given_their_upstream(grader, local_credit_grader, tmp_path):
    path = write_submission(tmp_path / "nb.ipynb", ex1=answer("ex1", MISTAKES["the 1/n of the mean forgotten"]))
    strict, local = grader.grade(path).exercises[0], local_credit_grader.grade(path).exercises[0]
    assert strict.score == 2  # db1 and dlogit_maxes: exactly zero, however scaled
    assert local.score == len(EX1) - 1 and local.status == "partial"
    assert [c.passed for c in strict.checks] == [c.passed for c in local.checks]  # the verdicts stay strict


def test_local_credit_cannot_be_had_with_zeros(grader, local_credit_grader, tmp_path):
    """All zeros are "right given their upstream" from dlogprobs on; they earn no more than strictly."""
    code = "\n".join(f"{c.variable} = torch.zeros_like({c.name})" for c in EXERCISE_BY_ID["ex1"].checks)
    path = write_submission(tmp_path / "nb.ipynb", ex1=code)
    strict, local = grader.grade(path).exercises[0], local_credit_grader.grade(path).exercises[0]
    assert local.score == strict.score == 2  # db1 and dlogit_maxes, whose true gradients are about zero


def test_local_credit_is_judged_on_the_hidden_seed_too(local_credit_grader, grader, tmp_path):
    # dlogprobs right at the sizes the student sees only (1/32 for 1/n): the steps after it are right given it on
    # both seeds
    code = answer("ex1", ("dlogprobs[range(n), Yb] = -1.0/n", "dlogprobs[range(n), Yb] = -1.0/32"))
    ex1 = local_credit_grader.grade(write_submission(tmp_path / "nb.ipynb", ex1=code)).exercises[0]
    assert ex1.first_wrong == "logprobs" and not by_name(ex1)["logprobs"].locally_correct
    assert ex1.score == len(EX1) - 1


def test_exercises_2_to_4_get_hints_loss_curves_and_a_uniform_shape(grader, tmp_path):
    overwrite = MISTAKES["repeated embedding rows overwritten instead of accumulated"]  # Exercise 4 has the same loop
    path = write_submission(
        tmp_path / "nb.ipynb",
        ex2=answer("ex2", ("dlogits /= n", "")),
        ex3=answer("ex3", ("n/(n-1)", "1")),
        ex4=answer("ex4", overwrite),
    )
    _, ex2, ex3, ex4 = grader.grade(path).exercises
    assert ex2.first_wrong == "logits" and "1/n of the mean was left out" in ex2.checks[0].hint
    assert ex3.first_wrong == "hprebn" and not ex3.checks[0].locally_correct
    assert ex4.first_wrong == "C" and "each occurrence must add its gradient" in by_name(ex4)["C"].hint
    assert all(c.locally_correct == c.passed for ex in (ex2, ex3, ex4) for c in ex.checks)
    assert len(ex4.losses) == len(ex4.reference_losses) == EXERCISE_BY_ID["ex4"].steps
    # the first step starts from the same parameters: the same loss up to rounding
    assert ex4.losses[0] == pytest.approx(ex4.reference_losses[0], rel=1e-5)
    assert "alt='loss curves'" in ex4._repr_html_() and "alt='dC: where it differs'" in ex4._repr_html_()


def test_the_ops_replay_lecture_forward_and_know_their_consumers(grader):
    problem = grader.problems[PUBLIC]
    atoms = vars(lecture.forward(**problem.params, Xb=problem.Xb, Yb=problem.Yb))
    values = forward_values(problem.params, problem.Xb, problem.Yb)
    for name, value in atoms.items():
        assert torch.equal(values[name], value), name
    assert {op.output for op in consumers("counts")} == {"probs", "counts_sum"}
    assert {op.output for op in consumers("bndiff")} == {"bndiff2", "bnraw"}
    assert {op.output for op in consumers("hprebn")} == {"bnmeani", "bndiff"}
    assert {op.output for op in consumers("logits")} == {"logit_maxes", "norm_logits"}
    assert {op.output for op in consumers("W2")} == {"logits"}
    # from autograd's own upstream gradients every step's local gradient is autograd's
    upstream = {name: torch.from_numpy(grad) for name, grad in problem.grads.items()}
    local = local_gradients(values, upstream)
    for check in EXERCISE_BY_ID["ex1"].checks:
        torch.testing.assert_close(local[check.name], problem.grads[check.name], rtol=1e-5, atol=1e-7)


TENSOR = {"kind": "tensor", "dtype": "torch.float32"}
EX2_LOGITS = EXERCISE_BY_ID["ex2"].checks[0]


@pytest.mark.parametrize(
    "make, meta, words",
    [
        (lambda e: e.T.copy(), TENSOR, "transposed"),
        (lambda e: np.zeros_like(e), TENSOR, "all zeros"),
        (lambda e: np.where(e > 0, np.inf, e), TENSOR, "NaN or infinity"),
        (lambda e: e.astype(np.float64), {"kind": "tensor", "dtype": "torch.float64"}, "its values are right"),
        (lambda e: -e / lecture.n, TENSOR, "sign is flipped and a 1/n too many"),
        (lambda e: 1.7 * e, TENSOR, "constant factor of 1.7"),
        (lambda e: e + np.random.default_rng(0).normal(size=e.shape).astype(np.float32), TENSOR, None),
    ],
)
def test_hints_on_made_up_tensors(make, meta, words):
    expected = np.random.default_rng(1).normal(size=(32, 27)).astype(np.float32)
    found = hint(EX2_LOGITS, meta, make(expected), expected)
    assert found is None if words is None else words in found


def test_the_in_notebook_check_names_the_root_cause_and_shows_where():
    """selfcheck.check on a kernel namespace like the notebook's after a tanh slip in Exercise 1."""
    import torch.nn.functional as F

    from autograder.assignments.backprop_ninja import selfcheck

    problem = selfcheck._public_problem()
    ns = {"torch": torch, "F": F, "n": lecture.n, **problem.params, "Xb": problem.Xb, "Yb": problem.Yb}
    ns.update(vars(lecture.forward(**problem.params, Xb=problem.Xb, Yb=problem.Yb)))
    with torch.no_grad():
        exec(answer("ex1", MISTAKES["tanh's derivative taken at the pre-activation"]), ns)
    ex1 = selfcheck.check("ex1", ns)
    assert ex1.first_wrong == "hpreact" and "1 - h**2" in by_name(ex1)["hpreact"].hint
    assert all(c.locally_correct for c in ex1.checks if c.name != "hpreact")
    page = ex1._repr_html_()
    assert page.count("<img") == 1 and "alt='dhpreact: where it differs'" in page


def loop_namespace(steps: int) -> dict:
    """A kernel's namespace as the notebook leaves it before Exercise 4's loop, set to run `steps` steps."""
    import torch.nn.functional as F

    from autograder.assignments.backprop_ninja import selfcheck

    part = selfcheck._grading()
    problem, Xtr, Ytr = part.problems[PUBLIC], part.Xtr, part.Ytr
    g = torch.Generator()
    g.set_state(problem.loop_generator_state)
    params = {name: p.clone() for name, p in problem.params.items()}
    return {"torch": torch, "F": F, "n": lecture.n, "batch_size": lecture.batch_size, "Xtr": Xtr, "Ytr": Ytr, "g": g,
            "max_steps": steps, "lossi": [], **params, "parameters": list(params.values())}  # fmt: skip


def test_the_in_notebook_check_of_the_loop_plots_its_losses_against_the_reference():
    """Exercise 4's check in the kernel: the real loop cell for a few steps, then its losses beside the reference's."""
    from submissions import SOLUTIONS, _cells

    from autograder.assignments.backprop_ninja import selfcheck

    ns = loop_namespace(steps=5)
    exec(_cells(SOLUTIONS)["ex4"], ns)
    ex4 = selfcheck.check("ex4", ns)
    assert ex4.status == "passed"
    assert len(ex4.losses) == len(ex4.reference_losses) == 5
    assert np.allclose(ex4.losses, ex4.reference_losses, rtol=1e-4)  # the right loop trains as the reference does
    assert "alt='loss curves'" in ex4._repr_html_()


def test_the_in_notebook_check_of_the_loop_judges_the_others_beside_one_misshapen_gradient():
    """dbnbias as a [64] for a [1, 64] parameter: the loop still runs (it broadcasts), and only dbnbias fails."""
    from submissions import SOLUTIONS, _cells

    from autograder.assignments.backprop_ninja import selfcheck

    ns = loop_namespace(steps=3)
    loop = _cells(SOLUTIONS)["ex4"]
    assert "dbnbias = dhpreact.sum(0, keepdim=True)" in loop
    exec(loop.replace("dbnbias = dhpreact.sum(0, keepdim=True)", "dbnbias = dhpreact.sum(0)"), ns)
    ex4 = selfcheck.check("ex4", ns)
    assert [c.name for c in ex4.checks if not c.passed] == ["bnbias"] and ex4.first_wrong == "bnbias"
    assert ex4.score == ex4.max_score - 2 and repr(ex4.score) == f"{ex4.max_score - 2:g}"


def test_cli_credit_option(tmp_path):
    import subprocess
    import sys

    path = write_submission(tmp_path / "nb.ipynb", ex1=answer("ex1", MISTAKES["the 1/n of the mean forgotten"]))
    scores = {}
    for credit in ("strict", "local"):
        run = subprocess.run([sys.executable, "-m", "autograder", "check", str(path), "--json", "--credit", credit],
                             capture_output=True, text=True, timeout=300)  # fmt: skip
        assert run.returncode == 1, run.stderr
        scores[credit] = json.loads(run.stdout)["exercises"][0]["score"]
    assert scores == {"strict": 2, "local": len(EX1) - 1}


def test_exercise_3_names_bessels_correction_left_out(grader, tmp_path):
    path = write_submission(tmp_path / "nb.ipynb", ex3=answer("ex3", ("n/(n-1)", "1")))
    ex3 = grader.grade(path).exercises[2]
    assert ex3.first_wrong == "hprebn"
    assert ex3.checks[0].hint.startswith("Bessel's correction left out")


@pytest.mark.parametrize("edit, root, words", [
    (("db1 = dhprebn.sum(0)", "db1 = dhprebn.sum(0, keepdim=True)"), "b1",
     "the values are right but the shape is [1, 64], not [64]: sum without keepdim=True (or drop the extra "
     "dimension), so it has the tensor's own shape (broadcasting would hide this one)"),
    (("dbnmeani = (-dbndiff).sum(0, keepdim=True)", "dbnmeani = (-dbndiff).sum(0)"), "bnmeani",
     "the values are right but the shape is [64], not [1, 64]: keep the summed dimension with keepdim=True "
     "(broadcasting would hide this one)"),
])  # fmt: skip
def test_the_keepdim_hint_points_the_way_to_the_fix(grader, edit, root, words):
    """5 of 31 learners kept a dimension db1 does not have; the hint must not tell them to keep it."""
    from autograder.notebook import ExerciseCell

    ex1 = grader.grade_exercise(EXERCISE_BY_ID["ex1"], ExerciseCell(answer("ex1", edit)))
    assert ex1.first_wrong == root and by_name(ex1)[root].hint == words


def test_clearing_grad_with_none_is_not_autograd(grader):
    """The lecture's `for p in parameters: p.grad = None`, pasted into the loop, uses no autograd; reading or
    setting .grad to anything else still does."""
    from submissions import SOLUTIONS, _cells

    from autograder.notebook import ExerciseCell
    from autograder.static_checks import autograd_uses

    assert autograd_uses("for p in parameters:\n    p.grad = None") == []
    assert [u["line"] for u in autograd_uses("p.grad = None\nx = p.grad\np.grad = torch.zeros(1)")] == [2, 3]
    loop = _cells(SOLUTIONS)["ex4"] + "\nfor p in parameters:\n    p.grad = None\n"
    ex4 = grader.grade_exercise(EXERCISE_BY_ID["ex4"], ExerciseCell(loop))
    assert ex4.status == "passed" and ex4.flags == []


@pytest.mark.parametrize("edits, check, words", [
    ((("dlogit_maxes = ", "dlogits_maxes = "), ("* dlogit_maxes", "* dlogits_maxes")), "logit_maxes",
     "dlogit_maxes was not assigned: did you mean dlogits_maxes? The grader reads the lecture's name, dlogit_maxes"),
    ((("dhprebn = dbndiff.clone()", "dbhprebn = dbndiff.clone()"), ("dhprebn += ", "dbhprebn += "),
      ("dembcat = dhprebn", "dembcat = dbhprebn"), ("embcat.T @ dhprebn", "embcat.T @ dbhprebn"),
      ("db1 = dhprebn", "db1 = dbhprebn")), "hprebn",
     "dhprebn was not assigned: did you mean dbhprebn? The grader reads the lecture's name, dhprebn"),
    ((("dlogprobs", "dL_dlogprobs"),), "logprobs",
     "dlogprobs was not assigned: you named it dL_dlogprobs: the grader reads the lecture's name, dlogprobs"),
])  # fmt: skip
def test_a_gradient_under_another_name_is_named(grader, edits, check, words):
    """Typos and naming schemes of learners' own: the message says which name the grader looked for."""
    from autograder.notebook import ExerciseCell

    ex1 = grader.grade_exercise(EXERCISE_BY_ID["ex1"], ExerciseCell(answer("ex1", *edits)))
    assert by_name(ex1)[check].message == words


def test_a_loop_that_never_sets_grads_says_so(grader):
    """Updating the parameters in place without `grads`: not 'dC was not assigned' seven times."""
    from submissions import SOLUTIONS, _cells

    from autograder.notebook import ExerciseCell

    loop = _cells(SOLUTIONS)["ex4"]
    grads = "grads = [dC, dW1, db1, dW2, db2, dbngain, dbnbias]"
    update = "for p, grad in zip(parameters, grads):"
    assert grads in loop and update in loop
    loop = loop.replace(grads, "pass").replace(update, "for p, grad in zip(parameters, [dC, dW1, db1, dW2, db2, dbngain, dbnbias]):")
    ex4 = grader.grade_exercise(EXERCISE_BY_ID["ex4"], ExerciseCell(loop))
    assert ex4.score == 0 and ex4.message.startswith("grads was never set: each step of the loop must set grads = [")
    assert {c.message for c in ex4.checks} == {"grads was never set"}


def test_two_gradients_bound_to_one_tensor_are_named_with_the_line(grader):
    """`dhprebn = dbndiff` without .clone(), then `dhprebn += ...`: dbndiff changed under the student's feet."""
    from autograder.notebook import ExerciseCell

    code = answer("ex1", ("dhprebn = dbndiff.clone()", "dhprebn = dbndiff"))
    line = code.splitlines().index("dhprebn = dbndiff") + 1
    ex1 = grader.grade_exercise(EXERCISE_BY_ID["ex1"], ExerciseCell(code))
    assert [c.name for c in ex1.checks if not c.passed] == ["bndiff"] and ex1.first_wrong == "bndiff"
    assert by_name(ex1)["bndiff"].hint == (f"dbndiff and dhprebn are the same tensor (line {line}: dhprebn = dbndiff): "
                                           "changing one in place (+=) changes the other; bind a copy with .clone()")
    # a view of another gradient is no alias (demb = dembcat.view(emb.shape) is the lecture's own line)
    assert grader.grade_exercise(EXERCISE_BY_ID["ex1"], ExerciseCell(answer("ex1"))).status == "passed"


@pytest.mark.parametrize("old, new, root, follows, words", [
    ("n/(n-1)*bnraw", "1*bnraw", "hprebn", {"C", "W1"},
     "Step 1 of your loop first goes wrong at dhprebn, which it computes on the way (not graded itself): Bessel's "
     "correction left out: bnvar divides by n-1, so the last term carries a factor n/(n-1)"),
    ("(1.0 - h**2)", "(1.0 - hpreact**2)", "hpreact", {"C", "W1", "bngain", "bnbias"},
     "Step 1 of your loop first goes wrong at dhpreact, which it computes on the way (not graded itself): tanh's "
     "derivative taken at its input: it is 1 - h**2 with h = tanh(hpreact), not 1 - hpreact**2"),
])  # fmt: skip
def test_the_loops_backward_is_judged_step_by_step(grader, old, new, root, follows, words):
    """Exercise 4 as Exercise 1: the root cause in the order of the backward pass (not dC, the list's first),
    with the same hints, and the gradients that only inherit it marked so."""
    from submissions import SOLUTIONS, _cells

    from autograder.notebook import ExerciseCell

    loop = _cells(SOLUTIONS)["ex4"]
    assert old in loop
    ex4 = grader.grade_exercise(EXERCISE_BY_ID["ex4"], ExerciseCell(loop.replace(old, new)))
    assert ex4.first_wrong == root and ex4.message == words
    assert {c.name for c in ex4.checks if not c.passed} == follows
    assert all(c.locally_correct and c.hint is None for c in ex4.checks if not c.passed)
    text = str(ex4)  # the loop's sentence leads; the graded gradients it spoils fold under it, the rest pass
    assert text.splitlines()[1] == words + "."
    assert f"▸ {len(follows)} more follow from d{root}" in text and not ex4.layout().rows


def test_a_wrong_parameter_gradient_in_the_loop_is_the_root_cause_with_its_hint(grader):
    from submissions import SOLUTIONS, _cells

    from autograder.notebook import ExerciseCell

    loop = _cells(SOLUTIONS)["ex4"].replace("dW2 = h.T @ dlogits", "dW2 = 2 * h.T @ dlogits")
    ex4 = grader.grade_exercise(EXERCISE_BY_ID["ex4"], ExerciseCell(loop))
    assert ex4.first_wrong == "W2" and [c.name for c in ex4.checks if not c.passed] == ["W2"]
    assert by_name(ex4)["W2"].hint.startswith("twice as large")


def test_did_you_mean_never_points_to_another_of_the_lectures_gradients():
    """A learner who has not reached dprobs yet is not told to use dlogprobs, or dbndiff2 for dbndiff."""
    from autograder.assignments.backprop_ninja import ASSIGNMENT
    from autograder.naming import did_you_mean

    written, known = {"dlogprobs", "dcounts_sum_inv", "dbndiff2", "dlogits_maxes"}, ASSIGNMENT.answer_names
    assert did_you_mean("dprobs", "probs", written, known) is None
    assert did_you_mean("dbndiff", "bndiff", written, known) is None
    assert did_you_mean("dlogit_maxes", "logit_maxes", written, known).startswith("did you mean dlogits_maxes?")


def test_the_in_notebook_check_also_asks_did_you_mean():
    from autograder.assignments.backprop_ninja import selfcheck

    problem = selfcheck._public_problem()
    ns = {"dL_dlogits": torch.from_numpy(problem.grads["logits"].copy())}
    ex2 = selfcheck.check("ex2", ns, cell=("dL_dlogits = F.softmax(logits, 1)\n", None))  # as the grade, from the cell
    assert ex2.checks[0].message == ("dlogits was not assigned: you named it dL_dlogits: the grader reads the "
                                     "lecture's name, dlogits")  # fmt: skip


def test_a_loss_list_of_raw_losses_is_no_crash_in_the_notebooks_check():
    # lossi should hold log10 of each loss; a learner who appends the raw loss (or a huge one) gets a plot without it
    from autograder.assignments.backprop_ninja import selfcheck

    losses, reference = selfcheck._loop_losses({"lossi": [400.0, 0.5]})
    assert losses[0] == float("inf") and len(reference) == 2
