"""The lecture's own notebook, filled in as learners leave it, graded as it is: each shape of notebook below gets
its exact verdicts, the same ones its answers get in our notebook (`convert`)."""
import json
import subprocess
import sys

import pytest
from lecture_notebooks import EX4_STUB, lecture_notebook, right
from submissions import answer

from autograder.assignments.backprop_ninja import EXERCISE_BY_ID, MAX_SCORE
from autograder.assignments.backprop_ninja.lecture_notebook import convert
from autograder.notebook import COURSE, LECTURE, read_submission

# The lecture's own solution leaves keepdim out of dbnmeani: its cmp broadcasts [64] into [1, 64] and says True.
LECTURE_DBNMEANI = ("dbnmeani = (-dbndiff).sum(0, keepdim=True)", "dbnmeani = (-dbndiff).sum(0)")
ALL_RIGHT = dict(ex1=right("ex1"), ex2=right("ex2"), ex3=right("ex3"), ex4=right("ex4"))


def spread_ex1() -> list[str]:
    """Exercise 1 over four cells, with the learner's cmp calls, printouts and looks at values between the steps."""
    lines = right("ex1").split("\n")
    first, second, third = lines[:8], lines[8:20], lines[20:]
    return [
        "\n".join(first) + "\ncmp('logprobs', dlogprobs, logprobs)\ncmp('probs', dprobs, probs)\nprint(dprobs.shape)",
        "dprobs[:3]\n%timeit dprobs.sum()",
        "\n".join(second) + "\ncmp('h', dh, h); cmp('W2', dW2, W2)\nassert dh.shape == h.shape",
        "\n".join(third) + "\nfor name in ['C']:\n    print(name)\ncmp('C', dC, C)",
    ]


EXPLORATION = [
    "logits.shape, Yb.shape",
    "F.softmax(logits, 1)[0]",
    "plt.figure(figsize=(4, 4))\nplt.imshow(dlogits.detach(), cmap='gray')",
    "print(dlogits[0].sum()",  # a syntax error the learner never fixed
]

# name -> (notebook arguments, {exercise: (score, status)}, what else must hold)
CORPUS = {
    "the Colab exercise notebook, untouched": (
        {}, {"ex1": (0, "not answered"), "ex2": (0, "not answered"), "ex3": (0, "not answered"),
             "ex4": (0, "not answered")}),
    "every placeholder replaced by a right answer": (ALL_RIGHT, {ex: ("full", "passed") for ex in ALL_RIGHT}),
    "the repository's solved notebook (its dbnmeani has no keepdim)": (
        dict(ALL_RIGHT, ex1=answer("ex1", LECTURE_DBNMEANI), solved=True),
        {"ex1": (25, "partial"), "ex2": (6, "passed"), "ex3": (6, "passed"), "ex4": (14, "passed")}),
    "Exercise 1 over several cells with cmp between, exploration after Exercise 2, out of order": (
        dict(ALL_RIGHT, ex1=None, ex1_cells=spread_ex1(), ex2_extra=EXPLORATION, counts=[9, 3, 1, 2, 4, 5, 6, 44, 41,
                                                                                        42, 43] + list(range(50, 70))),
        {ex: ("full", "passed") for ex in ALL_RIGHT}),
    "a slip in each exercise": (
        dict(ex1=answer("ex1", ("dhpreact = (1.0 - h**2) * dh", "dhpreact = (1.0 - hpreact**2) * dh")),
             ex2=answer("ex2", ("dlogits /= n", "dlogits = dlogits")),
             ex3=answer("ex3", ("- n/(n-1)*bnraw", "- bnraw")),
             ex4=answer("ex4", ("dhpreact = (1.0 - h**2) * dh", "dhpreact = (1.0 - hpreact**2) * dh"))),
        {"ex1": (12, "partial"), "ex2": (0, "failed"), "ex3": (0, "failed"), "ex4": (6, "partial")}),
    "Exercise 3 left as TODO, Exercise 4 answered above the lecture's None line": (
        dict(ex1=right("ex1"), ex2=right("ex2"), ex4=right("ex4") + "\n" + EX4_STUB),
        {"ex1": (26, "passed"), "ex2": (6, "passed"), "ex3": (0, "not answered"), "ex4": (0, "failed")}),
    "Exercise 4 after '# manual backprop!' with no dashes around it": (
        dict(ALL_RIGHT, loop_markers=False), {ex: ("full", "passed") for ex in ALL_RIGHT}),
    "the notebook ends before Exercise 4": (
        dict(ALL_RIGHT, drop=(4,)), {"ex1": (26, "passed"), "ex2": (6, "passed"), "ex3": (6, "passed"),
                                     "ex4": (0, "not found")}),
    "Exercise 4 with the lecture's n_hidden = 200 written as a number": (
        dict(ALL_RIGHT, ex4=answer("ex4", ("dbnbias = dhpreact.sum(0, keepdim=True)",
                                           "dbnbias = dhpreact.sum(0).view(1, 200)"))),
        {"ex1": (26, "passed"), "ex2": (6, "passed"), "ex3": (6, "passed"), "ex4": (0, "failed")}),
    "the learner's own notes list the exercises before the setup": (
        dict(ALL_RIGHT, notes=True), {ex: ("full", "passed") for ex in ALL_RIGHT}),
    # A comment that ends in a question is the learner's note, not IPython's `obj?` help (which is left out).
    "a comment ending in '?' on an answer line, and an `obj?` line": (
        dict(ALL_RIGHT, ex1=answer("ex1", ("db2 = dlogits.sum(0)", "db2 = dlogits.sum(0) # ?\nlogits?"))),
        {ex: ("full", "passed") for ex in ALL_RIGHT}),
    # How real learners edit the lecture's notebook: headings and markers are hints, not requirements.
    "Exercise 4 with the opening dashes but no closing ones (the update below must not run twice)": (
        dict(ALL_RIGHT, loop_markers="opening"), {ex: ("full", "passed") for ex in ALL_RIGHT}),
    "every '# Exercise N' heading renamed": (
        dict(ALL_RIGHT, headings=False), {ex: ("full", "passed") for ex in ALL_RIGHT}),
    "the loop's answer headed '# ----- Backpropagation -----'": (
        dict(ALL_RIGHT, backprop_heading="# ----- Backpropagation -----", loop_markers=False),
        {ex: ("full", "passed") for ex in ALL_RIGHT}),
    "headings renamed, Exercise 4 marked by nothing, and a wrong Exercise 3": (
        dict(ALL_RIGHT, headings=False, backprop_heading="# my backward pass", loop_markers=False,
             ex3=answer("ex3", ("- n/(n-1)*bnraw", "- bnraw"))),
        {"ex1": (26, "passed"), "ex2": (6, "passed"), "ex3": (0, "failed"), "ex4": (14, "passed")}),
    # A learner's comparison with autograd is a check, as cmp is: left out, never flagged.
    "the learner's own comparisons against .grad in the answers": (
        dict(ALL_RIGHT, ex1=answer("ex1", ("dhpreact = (1.0 - h**2) * dh",
                                           "dhpreact = (1.0 - h**2) * dh\ntorch.all(dhpreact == hpreact.grad).item()\n"
                                           "ok = torch.allclose(dhpreact, hpreact.grad)\nassert ok\n"
                                           "print((dh - h.grad).abs().max())\n"
                                           "if not torch.allclose(dW2, W2.grad):\n    print('W2 is off')")),
             ex4=answer("ex4", ("dhpreact = (1.0 - h**2) * dh",
                                "dhpreact = (1.0 - h**2) * dh\nprint(torch.allclose(dlogits, logits.grad))"))),
        {ex: ("full", "passed") for ex in ALL_RIGHT}),
    # IPython's own transformer says which lines are its commands: `%time` runs its statement, `!ls` is not Python.
    "an answer line timed with %time, a shell line and a %%time cell": (
        dict(ALL_RIGHT, ex2="%time " + right("ex2").replace("\n", "\n!ls\n", 1),
             ex3="%%time\n" + right("ex3")),
        {ex: ("full", "passed") for ex in ALL_RIGHT}),
    "autograd's .grad read in an answer cell": (
        dict(ALL_RIGHT, ex2="dlogits = logits.grad"),
        {"ex1": (26, "passed"), "ex2": (0, "autograd"), "ex3": (6, "passed"), "ex4": (14, "passed")}),
}


@pytest.fixture(scope="module")
def graded(grader, tmp_path_factory):
    folder = tmp_path_factory.mktemp("lecture")
    reports = {}
    for k, (name, (arguments, _)) in enumerate(CORPUS.items()):
        path = lecture_notebook(folder / f"{k}.ipynb", **arguments)
        reports[name] = (path, grader.grade(path))
    return reports


@pytest.mark.parametrize("name", CORPUS)
def test_each_lecture_notebook_gets_its_exact_verdicts(graded, name):
    path, report = graded[name]
    assert report.format == LECTURE
    expected = CORPUS[name][1]
    got = {e.id: (e.score, e.status) for e in report.exercises}
    want = {ex: (EXERCISE_BY_ID[ex].max_score if score == "full" else score, status)
            for ex, (score, status) in expected.items()}  # fmt: skip
    assert got == want


def by_id(report):
    return {e.id: e for e in report.exercises}


def test_the_lecture_solution_fails_dbnmeani_on_its_shape_alone(graded):
    ex1 = by_id(graded["the repository's solved notebook (its dbnmeani has no keepdim)"][1])["ex1"]
    failed = [c for c in ex1.checks if not c.passed]
    assert [c.name for c in failed] == ["bnmeani"]
    assert "keepdim=True" in failed[0].hint and "cmp would broadcast it" in failed[0].message


def test_answers_spread_over_cells_are_found_and_reported(graded):
    path, report = graded["Exercise 1 over several cells with cmp between, exploration after Exercise 2, out of order"]
    exercises = by_id(report)
    taken = exercises["ex1"].answer_from
    # The markdown heading is cell 9; cell 11 only looks at a value and times something: nothing of it is taken.
    assert [span["cell"] for span in taken] == [10, 12, 13]
    # Cell 10 was run again last (In [44]): the cells are taken in the notebook's order, as a learner reads them.
    assert [span["execution_count"] for span in taken] == [44, 42, 43]
    assert taken[0]["lines"] == [1, 8]  # the cmp calls and the printout after the answer are not taken
    # The syntax error is in a looking cell after the answer: it is left out and said so; the answer still passes.
    assert exercises["ex2"].left_out == ["cell 19 was left out: it does not parse (a syntax error)"]
    assert "Cell 19 was left out" in str(exercises["ex2"])


def test_mistakes_point_at_the_root_cause_with_the_lectures_hint(graded):
    exercises = by_id(graded["a slip in each exercise"][1])
    assert exercises["ex1"].first_wrong == "hpreact"
    assert "tanh's derivative taken at its input" in next(c.hint for c in exercises["ex1"].checks if c.name == "hpreact")
    assert "n = 32 times too large" in exercises["ex2"].checks[0].hint
    assert "Bessel's correction left out" in exercises["ex3"].checks[0].hint
    assert exercises["ex4"].first_wrong == "hpreact" and "tanh's derivative" in exercises["ex4"].message


def test_the_lectures_placeholder_kept_below_an_answer_is_named_with_its_cell_and_line(graded):
    path, report = graded["Exercise 3 left as TODO, Exercise 4 answered above the lecture's None line"]
    ex4 = by_id(report)["ex4"]
    loop_cell = ex4.answer_from[0]["cell"]
    last_line = ex4.answer_from[0]["lines"][1]
    assert ex4.message == (f"cell {loop_cell}, line {last_line - 1} sets your gradients back to None after your code "
                           "computed them (the notebook's placeholder): delete that line")  # fmt: skip
    assert by_id(report)["ex3"].message == "not answered yet: write your code where the lecture's notebook says # YOUR CODE HERE :)"


def test_exercise_4_is_drawn_at_the_lectures_own_sizes(graded):
    ex4 = by_id(graded["Exercise 4 with the lecture's n_hidden = 200 written as a number"][1])["ex4"]
    cell, (first, _) = ex4.answer_from[0]["cell"], ex4.answer_from[0]["lines"]
    line = first + right("ex4").split("\n").index("dbnbias = dhpreact.sum(0, keepdim=True)")
    # Right on the public run (n_hidden 200, as the learner's notebook has it), wrong at the hidden sizes.
    bnbias = next(c for c in ex4.checks if c.name == "bnbias")
    assert bnbias.exact is False and bnbias.shape_ok and not bnbias.passed
    assert ex4.message == (f"right at the sizes you see, wrong at others: look for the hard-coded 200 at cell {cell}, "
                           f"line {line} (use n_hidden, or the tensors' shapes)")  # fmt: skip


def test_autograd_in_an_answer_scores_zero_with_its_cell(graded):
    ex2 = by_id(graded["autograd's .grad read in an answer cell"][1])["ex2"]
    assert ex2.message.startswith("uses autograd (cell 11, line 5: dlogits = logits.grad)")
    assert ex2.flags[0]["cell"] == 11 and ex2.flags[0]["line"] == 5


# Every kind of answer once: placeholders, right answers in each layout, slips, the placeholder kept, autograd.
SAME_IN_OURS = ["the Colab exercise notebook, untouched", "the repository's solved notebook (its dbnmeani has no keepdim)",
                "Exercise 1 over several cells with cmp between, exploration after Exercise 2, out of order",
                "a slip in each exercise", "Exercise 3 left as TODO, Exercise 4 answered above the lecture's None line",
                "autograd's .grad read in an answer cell"]  # fmt: skip


@pytest.mark.parametrize("name", SAME_IN_OURS)
def test_verdicts_equal_those_of_the_same_answers_in_our_notebook(graded, grader, tmp_path, name):
    """`convert` puts the answers in our notebook: every check gets the same verdict there (our Exercise 4 runs at
    our own sizes; an answer that does not depend on them is judged alike)."""
    path, report = graded[name]
    ours = tmp_path / "ours.ipynb"
    convert(read_submission(path).cells, ours)
    assert read_submission(ours).format == COURSE
    converted = grader.grade(ours)
    for lecture_ex, our_ex in zip(report.exercises, converted.exercises):
        assert lecture_ex.status == our_ex.status, lecture_ex.id
        assert [(c.name, c.passed) for c in lecture_ex.checks] == [(c.name, c.passed) for c in our_ex.checks]


def test_check_json_says_the_format_and_where_each_answer_came_from(graded, tmp_path):
    path = lecture_notebook(tmp_path / "makemore_part4_backprop.ipynb", **dict(ALL_RIGHT, solved=True))
    run = subprocess.run([sys.executable, "-m", "autograder", "check", str(path), "--json"], capture_output=True,
                         text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["format"] == "lecture" and report["score"] == MAX_SCORE
    # Exercises 2 and 3 take their forward cells' one assignment too (loss_fast, hpreact_fast): harmless, and said.
    assert [[span["cell"] for span in e["answer_from"]] for e in report["exercises"]] == [[9], [10, 11], [12, 13], [14]]
    # The text view of the same report (the CLI's table is render.report_renderables, as str() is).
    path, graded_report = graded["the repository's solved notebook (its dbnmeani has no keepdim)"]
    text = str(graded_report)
    assert "Read as the lecture's own notebook" in text and "Taken from cell 9 (In [8]), lines 5-39." in text


def test_convert_writes_our_notebook_with_the_answers_and_keeps_the_learners_comments(tmp_path):
    ex4 = right("ex4").replace("dh = dlogits @ W2.T", "dh = dlogits @ W2.T  # my note")
    path = lecture_notebook(tmp_path / "lecture.ipynb", **dict(ALL_RIGHT, ex3=None, ex4=ex4))
    run = subprocess.run([sys.executable, "-m", "autograder", "convert", str(path)], capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
    out = tmp_path / "backprop_ninja.ipynb"
    assert run.stdout.strip() == f"Wrote {out} with your answers to ex1, ex2, ex4; left as stubs: ex3 (not answered yet)"
    cells = {c["metadata"]["nbgrader"]["grade_id"]: "".join(c["source"]) for c in json.loads(out.read_text())["cells"]
             if "nbgrader" in c["metadata"]}  # fmt: skip
    assert "dh = dlogits @ W2.T  # my note" in cells["ex4"] and "raise NotImplementedError" not in cells["ex4"]
    assert cells["ex3"] == "# YOUR CODE HERE\nraise NotImplementedError()"  # the lecture's placeholder is no answer
    again = subprocess.run([sys.executable, "-m", "autograder", "convert", str(path)], capture_output=True, text=True)
    assert again.returncode == 2 and "already exists" in again.stderr


def test_convert_never_carries_the_learners_update_into_our_loop(tmp_path):
    """Without the closing dashes, or with the answer headed otherwise, the loop's answer stops at the learner's
    own update: our notebook's loop does the update once."""
    for k, shape in enumerate([dict(loop_markers="opening"), dict(backprop_heading="# --- Backpropagation ---",
                                                                  loop_markers=False, headings=False)]):
        path = lecture_notebook(tmp_path / f"{k}.ipynb", **ALL_RIGHT, **shape)
        filled = convert(read_submission(path).cells, tmp_path / f"{k}" / "backprop_ninja.ipynb")
        assert filled == ["ex1", "ex2", "ex3", "ex4"]
        nb = json.loads((tmp_path / f"{k}" / "backprop_ninja.ipynb").read_text())
        ex4 = next("".join(c["source"]) for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "ex4")
        assert ex4.count("p.data += -lr * grad") == 1 and ex4.count("lr = ") == 1 and "lossi.append" in ex4
        assert ex4.count("grads = [dC, dW1, db1, dW2, db2, dbngain, dbnbias]") == 1


def test_a_notebook_neither_ours_nor_the_lectures_is_one_line(tmp_path):
    path = tmp_path / "other.ipynb"
    path.write_text(json.dumps({"cells": [{"cell_type": "code", "metadata": {}, "source": "# Exercise 1\nx = 1",
                                           "outputs": [], "execution_count": 1}],
                                "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))  # fmt: skip
    run = subprocess.run([sys.executable, "-m", "autograder", "check", str(path)], capture_output=True, text=True)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "nor the lecture's makemore_part4_backprop.ipynb" in run.stderr


def test_crafted_cells_are_read_without_a_crash(grader, tmp_path):
    """Whatever a notebook's JSON holds where cells and sources should be, reading it never raises: null bytes,
    a source that is a number, a cell that is not an object, absurd nesting. Each exercise gets a verdict."""
    path = lecture_notebook(tmp_path / "crafted.ipynb", **ALL_RIGHT)
    nb = json.loads(path.read_text())
    # After Exercise 2's forward cell (cell 10), before its answer:
    nb["cells"][10:10] = [{"cell_type": "code", "source": "loss_fast = 1\x00"}, 42, {"cell_type": "code", "source": 7},
                          {"cell_type": "code", "source": ["x = " + "(" * 250 + ")" * 250]},
                          {"cell_type": "code", "source": "y = " + "-" * 100000 + "1", "execution_count": "9" * 5000}]
    path.write_text(json.dumps(nb))
    report = grader.grade(path)
    exercises = by_id(report)
    assert [e.status for e in report.exercises] == ["passed", "passed", "passed", "passed"]
    assert exercises["ex2"].left_out == [f"cell {k} was left out: it does not parse (a syntax error)" for k in (11, 14, 15)]
    assert all(span["execution_count"] is None or type(span["execution_count"]) is int
               for span in exercises["ex2"].answer_from)  # fmt: skip


def test_the_lecture_notebook_saved_under_an_assignments_name_is_still_the_lectures(tmp_path):
    # The file's name picks the assignment; it must not stop the lecture's own notebook from being recognised.
    path = lecture_notebook(tmp_path / "backprop_ninja.ipynb", ex2=right("ex2"))
    submission = read_submission(path)
    assert submission.format == LECTURE and submission.assignment.id == "backprop_ninja"
    assert submission.cells["ex2"].source and not submission.cells["ex2"].problem
