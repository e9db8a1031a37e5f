"""`backprop-ninja grade` and `report` on a real nbgrader course: gradebook, autograded notebooks, feedback, report."""
import csv
import html
import json
import re
import subprocess
import sysconfig
from pathlib import Path

import nbformat
import pytest
from courses import ASSIGNMENT, CELLS, COURSE_SEED, SAMPLES, cli, gradebook_scores, make_course, submit
from nbgrader.api import Gradebook
from nbgrader.utils import determine_grade
from submissions import answer, solution_region, write_submission

from autograder.assignments.backprop_ninja import ASSIGNMENT as ASSIGNMENT_TABLE
from autograder.assignments.backprop_ninja import EXERCISES, HIDDEN_SIZES, MAX_SCORE
from autograder.class_report import check_pass_rates, load_results
from autograder.course import Course


@pytest.fixture(scope="module")
def graded_class(tmp_path_factory):
    """The sample class (right, wrong, crashing, untouched) plus a file that is not a notebook, graded once."""
    course = make_course(tmp_path_factory.mktemp("class"))
    for student in ("alice", "bob", "carol", "dave"):
        submit(course, student)
    (submit(course, "alice") / "timestamp.txt").write_text("2026-03-01 09:30:00.000000 UTC")
    (course / "submitted" / "erin" / ASSIGNMENT).mkdir(parents=True)
    (course / "submitted" / "erin" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").write_text("{not json")
    # one early slip: everything right but d(1/x)'s minus sign in Exercise 1
    slip = answer("ex1", ("dcounts_sum = (-counts_sum**-2)", "dcounts_sum = (counts_sum**-2)"))
    right = {ex: solution_region(ex) for ex in ("ex2", "ex3", "ex4")}
    submit(course, "frank", write_submission(tmp_path_factory.mktemp("frank") / "nb.ipynb", ex1=slip, **right))
    # As an instructor may run it: by the path of a venv that is not activated, nothing of the venv on PATH, so
    # nbgrader's alembic and jupyter are found beside backprop-ninja (cli.tools_on_path) or not at all.
    scripts = Path(sysconfig.get_path("scripts"))
    run = cli("grade", ASSIGNMENT, "--jobs", "2", cwd=course, program=scripts / "backprop-ninja",
              env={"PATH": "/usr/bin:/bin"})  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    return course, run


def test_gradebook_holds_per_cell_scores_equal_to_check(graded_class):
    course, run = graded_class
    scores = gradebook_scores(course)
    assert set(scores) == {"alice", "bob", "carol", "dave", "erin", "frank"}  # students were added
    assert scores["alice"] == {f"{ex.id}_check": ex.max_score for ex in EXERCISES}
    assert scores["dave"] == dict.fromkeys(CELLS, 0.0)
    for student in ("alice", "bob"):  # honest submissions: the class grade is the student's own check
        checked = json.loads(cli("check", SAMPLES / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", "--json").stdout)
        assert scores[student] == {f"{e['id']}_check": e["score"] for e in checked["exercises"]}
    assert 0 < sum(scores["bob"].values()) < MAX_SCORE
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        assert str(gb.find_submission(ASSIGNMENT, "alice").timestamp).startswith("2026-03-01 09:30:00")
        assert gb.find_submission(ASSIGNMENT, "alice").score == MAX_SCORE


def test_broken_submissions_score_zero_with_the_reason_and_the_batch_goes_on(graded_class):
    course, run = graded_class
    assert "Graded 6" in run.stdout
    assert "erin: scored 0, cannot grade" in run.stdout and "not a notebook" in run.stdout
    erin = json.loads((course / "results" / ASSIGNMENT / "erin.json").read_text())
    assert erin["score"] == 0 and "not a notebook" in erin["problem"]
    carol = json.loads((course / "results" / ASSIGNMENT / "carol.json").read_text())
    assert carol["problem"] is None and carol["scores"]["ex1"] > 0  # her crash in one exercise costs only that one
    assert "Traceback" not in run.stdout + run.stderr


def test_autograded_notebooks_carry_the_same_scores_for_nbgrader(graded_class):
    course, _ = graded_class
    scores = gradebook_scores(course)
    for student in scores:
        nb = nbformat.read(course / "autograded" / student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
        cells = {c.metadata.get("nbgrader", {}).get("grade_id"): c for c in nb.cells}
        assert {cell: determine_grade(cells[cell])[0] for cell in CELLS} == scores[student], student
    alice = nbformat.read(course / "autograded" / "alice" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    ex2 = next(c for c in alice.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "ex2")
    assert solution_region("ex2").strip().splitlines()[0] in ex2.source  # her own answer, as graded


def test_nbgrader_generate_feedback_and_export_show_the_scores(graded_class, tmp_path):
    course, _ = graded_class
    subprocess.run(["nbgrader", "generate_feedback", ASSIGNMENT, "--CourseDirectory.feedback_directory=nbfeedback"],
                   cwd=course, check=True, capture_output=True)  # fmt: skip
    page = (course / "nbfeedback" / "bob" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    total = sum(gradebook_scores(course)["bob"].values())
    assert re.search(rf"Score:\s*{total:g}(\.0)?\s*/\s*{MAX_SCORE:g}", re.sub(r"<[^>]+>", " ", page))
    subprocess.run(["nbgrader", "export", f"--to={tmp_path / 'grades.csv'}"], cwd=course, check=True,
                   capture_output=True)  # fmt: skip
    rows = {r["student_id"]: float(r["score"]) for r in csv.DictReader(open(tmp_path / "grades.csv"))}
    assert rows["alice"] == MAX_SCORE and rows["bob"] == total and rows["erin"] == 0


def _text(page: str) -> str:
    return re.sub(r"data:image/(png|svg\+xml);base64,[A-Za-z0-9+/=]+", "", page)


def test_feedback_pages_show_tables_and_heatmaps_without_hidden_values_or_solutions(graded_class, small_hidden):
    course, _ = graded_class
    result = json.loads((course / "results" / ASSIGNMENT / "bob.json").read_text())
    failing = [c for e in result["report"]["exercises"] for c in e["checks"] if not c["passed"]]
    solution_lines = {line.strip() for ex in ("ex1", "ex2", "ex3", "ex4") for line in solution_region(ex).splitlines()
                      if len(line.strip()) > 25}  # fmt: skip
    for student in ("alice", "bob", "carol", "dave", "erin", "frank"):
        page = (course / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
        text = _text(page)
        assert "Score: " in text and "Student " + student in text
        assert not [line for line in solution_lines if line in text], student
        assert str(COURSE_SEED) not in text
        assert not [v for v in small_hidden if v in text], student
    bob = (course / "feedback" / "bob" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert "Exercise 1" in bob and "maxdiff" in bob and "FAIL" in bob
    # a heatmap for each check with the right shape but wrong values on the public seed (the seed it may show)
    pictured = [c for c in failing if c["shape_ok"] and not c["approx"] and c["maxdiff"] is not None
                and not c["message"].startswith("right on the public seed")]  # fmt: skip
    # each pictured once (root causes in the table, the rest below it), and Exercise 4's loss curves
    loss_curves = sum(1 for e in result["report"]["exercises"] if e["losses"] and e["reference_losses"])
    assert bob.count("<img") == len(pictured) + loss_curves
    assert bob.count("src='data:image/png;base64,") == len(pictured)  # heatmaps, PNG
    assert bob.count("src='data:image/svg+xml;base64,") == loss_curves  # the loss curve, SVG
    assert len(pictured) > 10 and loss_curves == 1
    for check in failing:
        assert check["message"].replace("'", "&#x27;") in bob
    erin = (course / "feedback" / "erin" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert "could not be graded" in erin and "not a notebook" in erin
    # the student's own words: no folder of the instructor's, and the note on numbers only under numbers
    note = html.escape(ASSIGNMENT_TABLE.note, quote=True)
    assert "submitted/" not in erin and "your notebook: not a notebook" in erin and note not in erin
    assert note in bob


@pytest.fixture(scope="module")
def small_hidden():
    """Hidden-seed reference values as a page would print them (6 significant digits), none near zero."""
    from autograder.assignments.backprop_ninja import data, lecture
    from autograder.assignments.backprop_ninja.reference import make_problem

    (Xtr, Ytr), _, _ = lecture.split_dataset(data.load_words().words)
    grads = make_problem(COURSE_SEED, Xtr, Ytr, HIDDEN_SIZES).grads
    values = [v for name in ("logits", "hprebn", "W1", "C") for v in grads[name].ravel()[:40] if abs(v) > 1e-3]
    return {f"{v:.6g}" for v in values} | {f"{v:.4f}" for v in values if abs(v) > 0.01}


def test_report_html_and_csv(graded_class):
    course, _ = graded_class
    run = cli("report", ASSIGNMENT, cwd=course)
    assert run.returncode == 0, run.stderr
    rows = list(csv.DictReader(open(course / "reports" / ASSIGNMENT / "report.csv")))
    by_student = {r["student"]: r for r in rows}
    assert set(by_student) == {"alice", "bob", "carol", "dave", "erin", "frank"}
    assert float(by_student["alice"]["score"]) == MAX_SCORE and by_student["alice"]["failed_checks"] == ""
    assert by_student["erin"]["status"] == "not gradable"
    # grading takes time; refusing a file that is not a notebook may take well under the CSV's millisecond
    assert all(float(r["seconds"]) > 0 for r in rows if r["status"] != "not gradable")
    assert all(float(r["seconds"]) >= 0 for r in rows)
    bob = json.loads((course / "results" / ASSIGNMENT / "bob.json").read_text())
    assert float(by_student["bob"]["score"]) == bob["score"]
    page = (course / "reports" / ASSIGNMENT / "report.html").read_text()
    assert page.count("src='data:image/png;base64,") == 1 and "6 submissions" in page  # the score histogram
    rates = check_pass_rates(load_results(Course(course, ASSIGNMENT)))
    assert rates["ex1/logprobs"] == pytest.approx(4 / 6)  # dave (untouched) and erin (not a notebook) fail it
    assert rates["ex2/logits"] == pytest.approx(2 / 6)  # alice and frank
    # the pass rate of every gradient, in the lecture's order
    gradients = re.findall(r"<tr><td>(Exercise \d)</td><td>d(\w+)</td>", page.split("id='gradients'")[1])
    assert gradients == [(ex.title.partition(":")[0], c.name) for ex in EXERCISES for c in ex.checks]


def test_what_a_person_sees_in_a_browser(graded_class, tmp_path):
    """The feedback pages of an untouched notebook (dave), one that crashes (carol), one early slip (frank) and a
    perfect one (alice), and the class report, opened in Debian's chromium as a person would, with screenshots.
    What the browser shows is checked, not the HTML: a folded row is in the page but not on screen."""
    from test_browser import ARTIFACTS, CHROMIUM, browser_page

    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (.ci/run installs it)")
    course, _ = graded_class
    assert cli("report", ASSIGNMENT, cwd=course).returncode == 0
    shots = ARTIFACTS / "class"
    shots.mkdir(parents=True, exist_ok=True)

    def section(page, ex_id):
        return page.locator(f".backprop-ninja-exercise[data-exercise='{ex_id}']")

    def lines(locator) -> list[str]:
        return [line for line in locator.inner_text().splitlines() if line.strip()]

    def rows_on_screen(locator) -> list[str]:
        return [row.get_attribute("data-check") for row in locator.locator("tr[data-check]").all() if row.is_visible()]

    with browser_page(tmp_path / "profile") as page:
        def feedback(student):
            page.goto((course / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html").as_uri())
            page.screenshot(path=shots / f"feedback-{student}.png", full_page=True)

        feedback("dave")  # untouched: a line per exercise, no table
        for ex in EXERCISES:
            assert lines(section(page, ex.id))[1:] == [
                "Not answered yet: replace `raise NotImplementedError()`."]
        assert page.locator("table").count() == 0

        feedback("carol")  # crashes: where it stopped once, what it never reached in a line, no contradictions
        ex1 = section(page, "ex1")
        assert ex1.locator("p.lead").inner_text().startswith("Your code stopped at line 16 with NameError")
        assert ex1.locator("[data-fold='not reached']").inner_text().startswith("▸ 14 were not reached")
        assert rows_on_screen(ex1) == [] and "root cause" not in page.inner_text("body")
        assert lines(section(page, "ex3"))[1:] == [
            "Your code ended its own process (exit code 3) before its gradients could be read, so nothing could be "
            "graded."]  # fmt: skip
        assert "hidden" not in section(page, "ex3").inner_text()

        feedback("frank")  # one early slip: its row, hint and heatmap open; the 21 that follow folded until asked
        ex1 = section(page, "ex1")
        assert ex1.locator("p.lead").inner_text().startswith("Start at dcounts_sum:")
        assert rows_on_screen(ex1) == ["counts_sum"] and ex1.locator("img:visible").count() == 1
        follows = ex1.locator("details[data-fold='follows']")
        assert follows.locator("summary").inner_text().startswith("21 more follow from dcounts_sum")
        follows.locator("summary").click()
        assert len(rows_on_screen(follows)) == 21 and follows.locator("img:visible").count() >= 1
        page.screenshot(path=shots / "feedback-frank-opened.png", full_page=True)
        assert [section(page, ex).get_attribute("data-status") for ex in ("ex2", "ex3", "ex4")] == ["passed"] * 3

        feedback("alice")  # perfect: each exercise's verdict, every row folded under "all pass"
        for ex in EXERCISES:
            text = section(page, ex.id).inner_text()
            assert "matches autograd" in text and rows_on_screen(section(page, ex.id)) == []
        assert section(page, "ex1").locator("summary").inner_text().startswith("all 26 pass")

        page.goto((course / "reports" / ASSIGNMENT / "report.html").as_uri())
        page.screenshot(path=shots / "report.png", full_page=True)
        headings = page.locator("h2").all_inner_texts()
        assert headings[:2] == ["What the class got wrong", "Pass rates per exercise"]
        mistakes = [row.split("\t") for row in page.locator("table.mistakes tr").all_inner_texts()[1:]]
        assert any(m[:3] == ["1", "Exercise 1", "dcounts_sum"] and "the sign is flipped" in m[3] and m[4] == "frank"
                   for m in mistakes)  # fmt: skip
        assert any(m[2] == "dhpreact" and "tanh's derivative taken at its input" in m[3] and m[4] == "bob"
                   for m in mistakes)  # fmt: skip
        review = page.locator("table.review").inner_text()
        assert "erin" in review and "not gradable" in review and "ended its own process" in review
        assert "uses autograd" in review and "loss.backward()" in review
        page.locator("table.review a", has_text="carol").first.click()
        assert page.title() == f"{ASSIGNMENT}: feedback for carol"


def test_course_not_ready_is_one_line(tmp_path):
    # first what to do first: the assignment, never generated, then the submissions, never collected
    course = make_course(tmp_path, generate=False)
    run = cli("grade", ASSIGNMENT, cwd=course)
    assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1
    assert f"run `nbgrader generate_assignment {ASSIGNMENT} --force`" in run.stderr
    make_course(tmp_path / "generated")
    course = tmp_path / "generated" / "course"
    run = cli("grade", ASSIGNMENT, cwd=course)
    assert run.returncode == 2 and "no submissions" in run.stderr and len(run.stderr.strip().splitlines()) == 1
    run = cli("report", ASSIGNMENT, cwd=course)
    assert run.returncode == 2 and "backprop-ninja grade" in run.stderr


def test_a_course_whose_release_notebook_is_gone_is_one_line(tmp_path):
    """The autograded notebooks are made from the release notebook, read once before anything is graded."""
    course = make_course(tmp_path)
    submit(course, "alice")
    (course.parent / "exercises" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").unlink()  # the config releases there
    run = cli("grade", ASSIGNMENT, "--hidden-seed", str(COURSE_SEED), cwd=course)
    assert run.returncode == 2 and len(run.stderr.strip().splitlines()) == 1
    assert "no release notebook" in run.stderr and "nbgrader generate_assignment" in run.stderr
    assert not (course / "autograded").exists() and gradebook_scores(course) == {}


def test_times_are_written_in_one_form_that_nbgrader_reads_back_as_written():
    """Year 1 (a timestamp.txt can say anything) was written "1-01-01", which nbgrader reads back as 2001."""
    from datetime import datetime, timezone

    from dateutil.parser import parse

    from autograder.class_grading import utc_text

    for when in (datetime(1, 1, 1, tzinfo=timezone.utc), datetime(2026, 3, 1, 9, 30, tzinfo=timezone.utc)):
        assert parse(utc_text(when)) == when, utc_text(when)
