"""The micrograd assignment end to end: its solutions get full marks and its stubs zero through `check`, and a
corpus of realistic answers, right ones written differently and the mistakes this lecture is about, gets exact
verdicts and hints, each graded in the sandbox on the public and the hidden values."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from micrograd_corpus import CORPUS, EX1_RIGHT, EX2_RIGHT, EX3_SOLUTION, ROOT, SOLUTION

from autograder.grading import Grader
from autograder.sandbox import Limits

RELEASE = ROOT / "exercises" / "micrograd" / "micrograd.ipynb"
# Each exercise is graded on its own, in runs of its own: the k-th answer to every exercise is graded in one
# notebook, so the whole corpus takes as many grades as its longest exercise has answers.
BY_EXERCISE = {ex: [entry for entry in CORPUS if entry[0] == ex] for ex in ("ex1", "ex2", "ex3", "ex4", "ex5", "ex6")}
ROWS = max(len(answers) for answers in BY_EXERCISE.values())


def notebook_with(tmp_path: Path, answers: dict[str, str], folder: str) -> Path:
    """The solutions notebook with `answers` ({grade_id: source}) in place, written to tmp_path/folder/."""
    nb = json.loads(SOLUTION.read_text())
    for cell in nb["cells"]:
        cell["source"] = answers.get(cell["metadata"].get("nbgrader", {}).get("grade_id"), cell["source"])
    path = tmp_path / folder / "micrograd.ipynb"
    path.parent.mkdir()
    path.write_text(json.dumps(nb))
    return path


@pytest.fixture(scope="module")
def grader():
    with Grader(Limits(timeout=30), hidden_seed=4242) as g:
        yield g


def test_the_corpus_is_large_enough():
    assert all(len(answers) >= 25 for answers in BY_EXERCISE.values()), {ex: len(a) for ex, a in BY_EXERCISE.items()}


def assert_verdict(ex, score: float, failing: dict):
    failed = {c.name: c for c in ex.checks if not c.passed}
    assert set(failed) == set(failing), [(c.name, c.message, c.hint) for c in ex.checks]
    assert ex.score == score
    for name, expected in failing.items():
        check = failed[name]
        if expected == "follows":
            assert check.locally_correct and ex.first_wrong != name
        elif expected == "hidden":
            assert check.message.startswith("right at the values you see, wrong at others") and check.hint is None
            assert "not on the hidden ones" in ex.message
        elif expected is None:
            assert check.hint is None, (name, check.hint)
        elif "failed above" in expected:  # a check built of ops that failed: Exercise 4's graphs follow from them
            assert expected in check.hint and ex.first_wrong != name, (name, check.hint)  # (the softmax also runs
            assert check.locally_correct == (name == "graphs")  # the class's backward(), which nothing checks alone)
        else:
            assert expected in (check.hint or check.message), (name, check.message, check.hint)
            assert ex.first_wrong == name or not check.locally_correct


@pytest.mark.parametrize("row", range(ROWS))
def test_each_answer_gets_its_verdict_and_hint(grader, tmp_path, row):
    answers = {ex: entries[row] for ex, entries in BY_EXERCISE.items() if row < len(entries)}
    path = notebook_with(tmp_path, {ex: answer for ex, (_, answer, _, _) in answers.items()}, "row")
    for ex in grader.grade(path).exercises:
        if ex.id not in answers:
            assert ex.score == ex.max_score, (ex.id, ex.message)
            continue
        _, answer, score, failing = answers[ex.id]
        try:
            assert_verdict(ex, score, failing)
        except AssertionError as e:
            raise AssertionError(f"{ex.id}, answer {BY_EXERCISE[ex.id].index(answers[ex.id])}:\n{answer}") from e


def test_check_gives_the_solutions_full_marks_and_the_stubs_zero():
    for notebook, expected in ((SOLUTION, "51/51"), (RELEASE, "0/51")):
        run = subprocess.run([sys.executable, "-m", "autograder", "check", str(notebook)], capture_output=True,
                             text=True, timeout=300)  # fmt: skip
        assert re.search(rf"\b{expected}\b", run.stdout), run.stdout + run.stderr


def test_an_object_posing_as_a_float_is_not_converted_by_running_its_code(grader, tmp_path):
    # isinstance() believes __class__, and float() would call the object's own __float__ after the run's guards
    # are off: only exact ints and floats are read as numbers.
    sneaky = EX1_RIGHT.replace("da = b * de", (
        "class Sneaky:\n"
        "    __class__ = property(lambda self: float)\n"
        "    def __float__(self):\n"
        "        return b * de\n"
        "da = Sneaky()"))
    report = grader.grade(notebook_with(tmp_path, {"ex1": sneaky}, "answer0"))
    (ex1,) = [ex for ex in report.exercises if ex.id == "ex1"]
    (failed,) = [c for c in ex1.checks if not c.passed]
    assert failed.name == "a" and failed.message == "da is not a number (it is a Sneaky)"
    assert ex1.score == 6


def test_the_lead_names_the_root_cause_or_each_mistake_as_it_is(grader, tmp_path):
    # Exercise 2's slip at dn also makes dw2 wrong on the hidden values only (x2 = 0 on the public ones): the lead
    # is still the root cause, not the hidden-values line. Exercise 5 has no upstream to judge against: its two
    # failing steps are each a mistake of their own, named as the student wrote them (no d prefix).
    ex2_answer = BY_EXERCISE["ex2"][1][1]  # tanh's derivative at its input
    ex5_answer = BY_EXERCISE["ex5"][1][1]  # zero_grad forgotten
    path = notebook_with(tmp_path, {"ex2": ex2_answer, "ex5": ex5_answer}, "lead")
    exercises = {ex.id: ex for ex in grader.grade(path).exercises}
    assert exercises["ex2"].message == ""
    assert exercises["ex2"].layout().lead.startswith("Start at dn: it is the first gradient that is wrong given your own")
    assert exercises["ex5"].layout().lead == "2 checks fail, each a mistake of its own: step2, step3."


def test_the_release_is_nbgraders_of_the_solutions_and_its_points_come_from_the_table(tmp_path):
    import shutil

    import nbformat

    from autograder.assignments import get

    shutil.copytree(ROOT / "course", tmp_path / "course", ignore=shutil.ignore_patterns("gradebook.db", "sample_*"))
    shutil.copytree(ROOT / "solutions", tmp_path / "solutions")
    subprocess.run(["nbgrader", "generate_assignment", "micrograd", "--force"], cwd=tmp_path / "course", check=True,
                   capture_output=True)  # fmt: skip
    fresh = tmp_path / "exercises" / "micrograd" / "micrograd.ipynb"
    cells = [(c.cell_type, c.metadata, c.source) for c in nbformat.read(fresh, as_version=4).cells]
    assert cells == [(c.cell_type, c.metadata, c.source) for c in nbformat.read(RELEASE, as_version=4).cells]
    by_id = {meta["nbgrader"]["grade_id"]: (meta["nbgrader"], source) for _, meta, source in cells}
    for ex in get("micrograd").exercises:
        assert "raise NotImplementedError()" in by_id[ex.id][1]
        assert by_id[f"{ex.id}_check"][0]["points"] == ex.max_score


def test_the_solutions_run_in_a_kernel_and_every_check_cell_gives_full_marks(tmp_path):
    import nbformat
    from nbclient import NotebookClient
    from nbgrader.utils import determine_grade

    nb = nbformat.read(SOLUTION, as_version=4)
    NotebookClient(nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(tmp_path)}}).execute()
    scores = {}
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            score, max_score = determine_grade(cell)
            scores[cell.metadata["nbgrader"]["grade_id"]] = (score, max_score)
            assert any("text/html" in o.get("data", {}) for o in cell.outputs)
    assert scores == {"ex1_check": (7, 7), "ex2_check": (10, 10), "ex3_check": (6, 6), "ex4_check": (10, 10),
                      "ex5_check": (8, 8), "ex6_check": (10, 10)}  # fmt: skip


# Exercise 1 right, Exercise 2's upstream factor left out, Exercise 3's power rule and its one-sided estimate
# written symmetric (judged from where the setup's record_calls saw f evaluated), Exercise 4's add overwritten,
# Exercise 5's zero_grad forgotten, Exercise 6's log overwritten.
@pytest.mark.parametrize("ex, k", [("ex1", 0), ("ex2", 4), ("ex3", 1), ("ex3", 18), ("ex4", 1), ("ex5", 1),
                                   ("ex6", 6)])
def test_the_notebooks_check_gives_what_the_grade_gives_on_the_values_the_student_sees(ex, k):
    # The same harness, comparisons and hints as a graded run, on the kernel's own namespace (public values only;
    # none of these answers differs on the hidden ones). Exercise 5's loop runs 20 steps in the notebook and is
    # recorded by the setup cell's record_training().
    from autograder.assignments.micrograd import selfcheck

    exercise, answer, score, failing = BY_EXERCISE[ex][k]
    nb = json.loads(SOLUTION.read_text())
    ns = {}
    for cell in nb["cells"]:
        grade_id = cell["metadata"]["nbgrader"]["grade_id"]
        if cell["cell_type"] != "code" or grade_id.endswith("_check") or grade_id == "imports":
            continue
        source = answer if grade_id == exercise else re.sub(r"(?m)^ *### (BEGIN|END) SOLUTION\n", "",
                                                            "".join(cell["source"]))  # fmt: skip
        exec(source.replace("record_training()", "record_training(globals())"), ns)
        if grade_id == exercise:
            break
    result = selfcheck.check(exercise, ns)
    assert result.score == score and not result.hidden_judged
    assert {c.name for c in result.checks if not c.passed} == set(failing)
    for name, expected in failing.items():
        check = next(c for c in result.checks if c.name == name)
        assert expected in (check.hint or check.message)


def test_one_course_grades_both_assignments_and_the_course_not_the_notebook_decides_which(tmp_path):
    # A class graded with the real nbgrader commands into one gradebook. Mallory hands in, in the backprop_ninja
    # slot, the perfect micrograd notebook: the course's release is backprop_ninja, so it is never graded as
    # micrograd (51 points in backprop_ninja's grade cells): it is not gradable, and says what it is. And the
    # reverse in the micrograd slot.
    import shutil

    from courses import SAMPLES, cli, make_course
    from nbgrader.api import Gradebook

    course = make_course(tmp_path)
    subprocess.run(["nbgrader", "generate_assignment", "micrograd", "--force"], cwd=course, check=True,
                   capture_output=True)  # fmt: skip
    # (make demo grades the whole sample class on both; here, what it does not show)
    handed_in = {("bob", "micrograd"): SAMPLES / "bob" / "micrograd" / "micrograd.ipynb",
                 ("mallory", "backprop_ninja"): SAMPLES / "alice" / "micrograd" / "micrograd.ipynb",
                 ("mallory", "micrograd"): SAMPLES / "alice" / "backprop_ninja" / "backprop_ninja.ipynb"}
    for (student, assignment), notebook in handed_in.items():
        folder = course / "submitted" / student / assignment
        folder.mkdir(parents=True)
        shutil.copy(notebook, folder / f"{assignment}.ipynb")
    for assignment, other in (("micrograd", "backprop_ninja"), ("backprop_ninja", "micrograd")):
        graded = cli("grade", assignment, "--jobs", "1", cwd=course)
        assert graded.returncode == 0, graded.stdout + graded.stderr
        assert (f"mallory: scored 0, cannot grade submitted/mallory/{assignment}/{assignment}.ipynb: this is the "
                f"{other} notebook, handed in as {assignment}") in graded.stdout, graded.stdout
        assert cli("report", assignment, cwd=course).returncode == 0
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        scores = {(s.student.id, a): s.score for a in ("micrograd", "backprop_ninja")
                  for s in gb.find_assignment(a).submissions}  # fmt: skip
        cells = {c.name: c.max_score for c in gb.find_notebook("micrograd", "micrograd").grade_cells}
    assert scores == {("bob", "micrograd"): 30, ("mallory", "backprop_ninja"): 0, ("mallory", "micrograd"): 0}
    assert cells == {"ex1_check": 7, "ex2_check": 10, "ex3_check": 6, "ex4_check": 10, "ex5_check": 8, "ex6_check": 10}
    report = (course / "reports" / "micrograd" / "report.csv").read_text().splitlines()
    assert report[0].startswith("student,score,max_score,ex1,ex2,ex3,ex4,ex5,ex6,status")
    bob = json.loads((course / "results" / "micrograd" / "bob.json").read_text())
    assert bob["graded_as"] == "micrograd" and bob["max_score"] == 51
    page = (course / "feedback" / "bob" / "micrograd" / "micrograd.html").read_text()
    assert "Score: 30/51" in page and "tanh&#x27;s derivative is 1 - o**2" in page
    # What bob sees of it in a browser: the root cause open, what follows from it folded, no d-prefixed names.
    from test_browser import ARTIFACTS, CHROMIUM, browser_page

    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (.ci/run installs it)")
    shots = ARTIFACTS / "micrograd"
    shots.mkdir(parents=True, exist_ok=True)
    with browser_page(tmp_path / "profile") as browser:
        browser.goto((course / "feedback" / "bob" / "micrograd" / "micrograd.html").as_uri())
        browser.screenshot(path=shots / "feedback-bob.png", full_page=True)

        def section(ex_id):
            return browser.locator(f".backprop-ninja-exercise[data-exercise='{ex_id}']")

        def rows_on_screen(ex_id) -> list[str]:
            return [row.get_attribute("data-check") for row in section(ex_id).locator("tr[data-check]").all()
                    if row.is_visible()]  # fmt: skip

        assert section("ex2").locator("p.lead").inner_text().startswith("Start at dn: it is the first gradient")
        assert rows_on_screen("ex2") == ["n"] and "tanh's derivative is 1 - o**2" in section("ex2").inner_text()
        assert section("ex4").locator("p.lead").inner_text() == (
            "add is wrong: the gradient is overwritten (=) instead of accumulated (+=): a node used twice, or by two "
            "ops, must sum what each gives it; graphs only fails because it uses it.")  # fmt: skip
        assert rows_on_screen("ex4") == ["add"]  # the graphs folded: they follow from add
        assert rows_on_screen("ex5") == ["step2", "step3"]
        assert "dstep2" not in browser.inner_text("body") and "30/51" in browser.inner_text("body")


def test_torchs_autograd_in_an_answer_scores_nothing(grader, tmp_path):
    # The lecture's .grad and .backward() are the Value class's here and are never flagged; torch's autograd is
    # refused in the run and the exercise scores 0, with the line that asked for it.
    answer = "import torch\n\n\n" + EX3_SOLUTION.replace(
        "    return [-3*a**2 - 0.5*a**-0.5, 3*cos(3*b) + 2.5*b**1.5, 1/c**2]\n",
        "    x = torch.tensor([a, b, c], dtype=torch.float64, requires_grad=True)\n"
        "    out = -x[0]**3 + torch.sin(3*x[1]) - 1.0/x[2] + x[1]**2.5 - x[0]**0.5\n"
        "    out.backward()\n"
        "    return x.grad.tolist()\n")
    report = grader.grade(notebook_with(tmp_path, {"ex3": answer}, "answer0"))
    ex3, others = report.exercises[2], [ex for ex in report.exercises if ex.id != "ex3"]
    assert ex3.status == "autograd" and ex3.score == 0 and "line 7: out.backward()" in ex3.message, ex3.message
    assert all(ex.status == "passed" for ex in others)  # their .grad and .backward() are the lecture's Value's


def test_summaries_name_what_a_gradient_follows_from_and_never_a_leaf_or_an_unset_gradient(grader, tmp_path):
    answers = {
        # a product's gradient typed in (right at x2 = 0): the two below it are right given it
        "ex2": EX2_RIGHT.replace("dx2w2 = dn", "dx2w2 = 0.5"),
        # dd typed in: de and dc are right given it, da and db given de
        "ex1": EX1_RIGHT.replace("dd = f", "dd = -2.0"),
    }
    exercises = {ex.id: ex for ex in grader.grade(notebook_with(tmp_path, answers, "typed")).exercises}
    ex1, ex2 = exercises["ex1"], exercises["ex2"]
    checks = {c.name: c for c in ex2.checks}
    assert checks["x2"].hint == "right given dx2w2; dx2w2 is a number typed for these values"
    assert checks["x2w2"].hint.startswith("dx2w2 is a number typed for these values")
    view = ex2.layout()
    assert [c.name for c in view.rows] == ["x2w2"]
    assert view.folds[0].summary.startswith("2 more follow from dx2w2 ")
    # each exercise's own example of an expression
    assert "dw1 = x1 * dx1w1" in view.lead and "da = " not in view.lead
    assert "da = b * de" in ex1.layout().lead
    checks = {c.name: c for c in ex1.checks}
    assert checks["c"].hint == "right given dd; dd is a number typed for these values"
    assert checks["a"].hint == "right given de, which follows from dd; dd is a number typed for these values"
    assert ex1.layout().folds[0].summary.startswith("4 more follow from dd ")


def test_a_leaf_has_no_followers_and_an_unset_gradient_is_no_root_cause(grader, tmp_path):
    answers = {
        # dw2 typed in (right at x2 = 0): a leaf, nothing is computed from it
        "ex2": EX2_RIGHT.replace("dw2 = x2 * dx2w2", "dw2 = 0.0"),
        # dL never set (dd written without it), and dd's sign flipped: dd is where to start
        "ex1": EX1_RIGHT.replace("dL = 1.0\n", "").replace("dd = f", "dd = -f"),
        # the notebook's placeholder left below a first answer
        "ex3": EX3_SOLUTION.split("# numerical_grad = ")[0] + "# YOUR CODE HERE\nraise NotImplementedError()\n",
    }
    exercises = {ex.id: ex for ex in grader.grade(notebook_with(tmp_path, answers, "leaf")).exercises}
    view = exercises["ex2"].layout()
    assert [c.name for c in view.rows] == ["w2"] and [f.kind for f in view.folds] == ["passing"]
    assert "follow" not in view.lead
    ex1 = exercises["ex1"]
    assert ex1.first_wrong == "d"
    assert ex1.layout().lead == ("Start at dd: it is the first gradient that is wrong given your own upstream "
                                 "gradients. 4 more only follow from dd. Not answered yet: dL.")
    ex3 = exercises["ex3"]
    line = answers["ex3"].splitlines().index("raise NotImplementedError()") + 1
    assert ex3.score == 2 and ex3.message == (f"not finished yet: line {line} is still the notebook's `raise "
                                              "NotImplementedError()`; the gradients set before it are graded")


def test_a_slip_among_typed_numbers_is_the_root_and_a_hidden_follower_names_a_root_wrong_where_you_look(grader,
                                                                                                         tmp_path):
    answers = {
        # Every gradient worked out by hand, dd's sign slipped: the others are right given dd (de = dd here), so
        # dd is where to start; df, typed and right at these values, is wrong at others, a mistake of its own.
        "ex1": "dL = 1.0\ndd = 2.0\ndf = 4.0\nde = 2.0\ndc = 2.0\nda = -6.0\ndb = 4.0\n",
        # dn's sign flipped: dw2 is right where x2 = 0 and wrong at other values, where it follows from dn
        "ex2": EX2_RIGHT.replace("dn = do * (1 - o**2)", "dn = do * (o**2 - 1)"),
    }
    exercises = {ex.id: ex for ex in grader.grade(notebook_with(tmp_path, answers, "slip")).exercises}
    ex1 = exercises["ex1"]
    checks = {c.name: c for c in ex1.checks}
    assert checks["d"].hint == "the sign is flipped"
    assert all(checks[n].locally_correct for n in "e c a b".split())
    assert checks["f"].hint.startswith("df is a number typed for these values")
    assert ex1.layout().lead == ("Start at dd: it is the first gradient that is wrong given your own upstream "
                                 "gradients. 4 more only follow from dd. 1 other mistake: df.")
    w2 = next(c for c in exercises["ex2"].checks if c.name == "w2")
    assert w2.locally_correct and w2.message == "right at the values you see, wrong at others"
    assert w2.hint == "right given dx2w2, which follows from dn; dn is wrong"


@pytest.mark.parametrize("expression, quotient", [
    # right answers with a division in them: tanh written out, 1 - tanh**2 over a common denominator
    ("do*(1-((math.exp(2*(x1w1x2w2+b))-1)/(math.exp(2*(x1w1x2w2+b))+1))**2)", False),
    ("do*((ep+em)**2-(ep-em)**2)/(ep+em)**2", False),
    ("do * 4 / (math.exp(n) + math.exp(-n))**2", False),
    ("L / f", False),
    ("(a - 0.01) / 2", False),
    # the lecture's numerical check, with a named step or one typed in, one-sided or symmetric
    ("((d + h) * f - d * f) / h", True),
    ("(math.tanh(n + 1e-3) - math.tanh(n)) / 1e-3", True),
    ("do * (math.tanh(n + h) - math.tanh(n - h)) / (2 * h)", True),
    ("(math.tanh(n + 0.01) - o) / 0.01", True),
    ("(math.tanh(n + 1e-6) - math.tanh(n - 1e-6)) / 2e-6", True),
])
def test_a_difference_quotient_is_told_from_a_right_answer_with_a_division(expression, quotient):
    import ast

    from autograder.static_checks import is_difference_quotient

    assert is_difference_quotient(ast.parse(expression, mode="eval").body) is quotient
