"""`backprop-ninja grade` and `report` on a real nbgrader course: gradebook, autograded notebooks, feedback, report."""
import csv
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
from submissions import solution_region

from autograder.checks import EXERCISES, HIDDEN_SIZES, MAX_SCORE
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
    assert set(scores) == {"alice", "bob", "carol", "dave", "erin"}  # students were added
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
    assert "Graded 5" in run.stdout
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
    for student in ("alice", "bob", "carol", "dave", "erin"):
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


@pytest.fixture(scope="module")
def small_hidden():
    """Hidden-seed reference values as a page would print them (6 significant digits), none near zero."""
    from autograder import data, lecture
    from autograder.reference import make_problem

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
    assert set(by_student) == {"alice", "bob", "carol", "dave", "erin"}
    assert float(by_student["alice"]["score"]) == MAX_SCORE and by_student["alice"]["failed_checks"] == ""
    assert by_student["erin"]["status"] == "not gradable"
    # grading takes time; refusing a file that is not a notebook may take well under the CSV's millisecond
    assert all(float(r["seconds"]) > 0 for r in rows if r["status"] != "not gradable")
    assert all(float(r["seconds"]) >= 0 for r in rows)
    bob = json.loads((course / "results" / ASSIGNMENT / "bob.json").read_text())
    assert float(by_student["bob"]["score"]) == bob["score"]
    page = (course / "reports" / ASSIGNMENT / "report.html").read_text()
    assert page.count("src='data:image/png;base64,") == 2  # histogram and pass rates
    assert "Which gradients trip the class" in page and "5 submissions" in page
    rates = check_pass_rates(load_results(Course(course, ASSIGNMENT)))
    assert rates["ex1/logprobs"] == 0.6  # alice, bob, carol; dave (untouched) and erin (not a notebook) fail it
    assert rates["ex2/logits"] == 0.2  # alice only
    hardest = re.findall(r"<tr><td>d(\w+) \((ex\d)\)</td><td>(\d+)%</td></tr>", page)
    assert len(hardest) == 10 and all(int(p) <= 20 for _, _, p in hardest)


def test_course_not_ready_is_one_line(tmp_path):
    course = make_course(tmp_path, generate=False)
    run = cli("grade", ASSIGNMENT, cwd=course)
    assert run.returncode == 2 and "no submissions" in run.stderr and len(run.stderr.strip().splitlines()) == 1
    submit(course, "alice")
    run = cli("grade", ASSIGNMENT, cwd=course)
    assert run.returncode == 2 and "nbgrader generate_assignment" in run.stderr
    run = cli("report", ASSIGNMENT, cwd=course)
    assert run.returncode == 2 and "backprop-ninja grade" in run.stderr
