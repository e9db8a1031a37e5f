"""A class graded as an instructor runs it, with attacks beside honest work: no submission sees another, and none
is lost from the gradebook, the results, the feedback pages or the report."""
import csv
import dataclasses
import json

import pytest
from courses import ASSIGNMENT, CELLS, COURSE_SEED, cli, gradebook_scores, make_course, submit
from submissions import all_right, answer, solution_region, write_submission

from autograder.assignments.backprop_ninja import EXERCISE_BY_ID, MAX_SCORE
from autograder.class_grading import Task, _record, internal_error_outcome
from autograder.class_report import write_report
from autograder.course import Course
from autograder.gradebook import GradebookWriter
from autograder.results import CheckResult, ExerciseResult, Report
from autograder.sandbox import Limits
from autograder.settings import GradingSettings, grader_version

# Planted in an honest student's code; the attacker searches for it in two halves, so that the whole marker
# exists in the attacker's process only if something of the classmate's code reached it.
HALVES = ("aaron-writes-", "Qz7Xk2Lp9Vw4")
# In the attacker's own cell: the search must find this one, or it proves nothing.
OWN_HALVES = ("zed-writes-", "Hn3Rt8Yc1Mb6")

SCAN = f"""import ctypes, os
# {OWN_HALVES[0]}{OWN_HALVES[1]}
pairs = {{"found": ({HALVES[0]!r}.encode(), {HALVES[1]!r}.encode()),
         "own": ({OWN_HALVES[0]!r}.encode(), {OWN_HALVES[1]!r}.encode())}}
hits = {{"found": 0, "own": 0, "scanned": 0}}
def search(data):
    for key, (a, b) in pairs.items():
        i = data.find(a)
        while i != -1:
            hits[key] += data[i + len(a): i + len(a) + len(b)] == b
            i = data.find(a, i + 1)
# Its own memory, read in place (a run may not ptrace, nor open its own /proc/self/mem: it is not dumpable).
with open('/proc/self/maps') as maps:
    regions = [line.split() for line in maps]
for fields in regions:
    start, end = (int(x, 16) for x in fields[0].split('-'))
    if 'r' not in fields[1] or end - start > 2**30 or (len(fields) > 5 and fields[5].startswith('[v')):
        continue  # unreadable, or the kernel's vvar/vsyscall pages, which fault when read
    data = ctypes.string_at(start, end - start)
    hits["scanned"] += len(data)
    search(data)
for top in ('/tmp', '/dev/shm', '/job', os.path.expanduser('~'), '..'):
    for root, dirs, files in os.walk(top):
        for name in files:
            try:
                search(open(os.path.join(root, name), 'rb').read(10**7))
            except OSError:
                pass
print('found', hits["found"], 'own', hits["own"], 'scanned', hits["scanned"] // 2**20, 'MiB')
"""


def test_a_later_submission_finds_nothing_of_an_earlier_one(tmp_path):
    """One worker grades aaron (whose code holds the marker) and then zed, whose Exercise 2 searches all the
    memory of its own process (everything it inherited from the zygote) and every file it can reach for it.
    Other processes' memory is out of its reach: test_no_privileges_in_the_sandbox_even_as_root."""
    course = make_course(tmp_path)
    marked = solution_region("ex1") + f"\n# {HALVES[0]}{HALVES[1]}: my own notes\nnote = '{HALVES[0]}{HALVES[1]}'"
    submit(course, "aaron", write_submission(tmp_path / "aaron.ipynb", ex1=marked, ex2=solution_region("ex2")))
    submit(course, "zed", write_submission(tmp_path / "zed.ipynb", ex2=SCAN + solution_region("ex2")))
    run = cli("grade", ASSIGNMENT, "--jobs", "1", cwd=course)
    assert run.returncode == 0, run.stderr
    zed = json.loads((course / "results" / ASSIGNMENT / "zed.json").read_text())
    ex2 = zed["report"]["exercises"][1]
    assert ex2["status"] == "passed", ex2
    _, found, _, own, _, scanned, _ = ex2["output"].split()
    assert found == "0" and int(own) > 0, ex2["output"]
    assert int(scanned) > 100, ex2["output"]  # torch's heap alone is hundreds of MiB
    page = (course / "feedback" / "zed" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert HALVES[1] not in page and HALVES[1] not in json.dumps(zed)


DEEP = '{"cells": ' + "[" * 200_000 + "]" * 200_000 + "}"


@pytest.fixture(scope="module")
def mixed_class(tmp_path_factory):
    """Honest students beside one of each kind of trouble, graded in one run."""
    tmp = tmp_path_factory.mktemp("mixed")
    course = make_course(tmp)
    for student in ("honest1", "honest2", "=HYPERLINK(1)", "@sum", "-dash"):
        submit(course, student, all_right(tmp / f"{student}.ipynb"))
    (submit(course, "honest2", all_right(tmp / "h2.ipynb")) / "timestamp.txt").write_text("=cmd|' /C calc'!A0")
    grads = "grads = [dC, dW1, db1, dW2, db2, dbngain, dbnbias]"
    huge_loss = answer("ex4", (grads, grads + "\nloss = torch.tensor(1e308)"))
    submit(course, "huge-loss", write_submission(tmp / "huge.ipynb", ex4=huge_loss))
    deep = course / "submitted" / "deep" / ASSIGNMENT
    deep.mkdir(parents=True)
    (deep / f"{ASSIGNMENT}.ipynb").write_text(DEEP)
    submit(course, "tab\there", all_right(tmp / "tab.ipynb"))  # a folder name no student id can have
    bomb = "import os\nwhile True:\n    os.fork()"
    submit(course, "forker", write_submission(tmp / "forker.ipynb", ex1=bomb, ex2=solution_region("ex2")))
    run = cli("grade", ASSIGNMENT, "--jobs", "2", cwd=course)
    report = cli("report", ASSIGNMENT, cwd=course)
    return course, run, report


STUDENTS = {"honest1", "honest2", "=HYPERLINK(1)", "@sum", "-dash", "huge-loss", "deep", "forker"}


def test_every_student_has_a_row_everywhere_and_honest_ones_full_marks(mixed_class):
    course, run, report = mixed_class
    assert report.returncode == 0, report.stderr
    # The one folder that is not a student id is refused, said in one line, and the run says it fell short.
    assert run.returncode == 1 and [line for line in run.stderr.splitlines() if "backprop-ninja:" in line] == [
        "backprop-ninja: not graded: the submission folder 'tab\\there': its name is not a student id (unprintable "
        "characters, spaces at its ends, or too long): rename it"], run.stderr
    scores = gradebook_scores(course)
    assert set(scores) == STUDENTS
    for honest in ("honest1", "honest2", "=HYPERLINK(1)", "@sum", "-dash"):
        assert sum(scores[honest].values()) == MAX_SCORE, honest
    assert scores["deep"] == dict.fromkeys(CELLS, 0.0)
    assert scores["forker"]["ex1_check"] == 0 and scores["forker"]["ex2_check"] == EXERCISE_BY_ID["ex2"].max_score
    for student in STUDENTS:
        assert (course / "results" / ASSIGNMENT / f"{student}.json").is_file()
        assert (course / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html").is_file()
    deep = json.loads((course / "results" / ASSIGNMENT / "deep.json").read_text())
    assert "not a notebook" in deep["problem"]
    page = (course / "reports" / ASSIGNMENT / "report.html").read_text()
    review = page.split("For your review")[1]
    # flagged for the instructor, with a link to the student's page
    assert ("forker</a></td><td>Exercise 1</td><td>for review</td><td><code>line 1: import os</code>") in review
    huge = json.loads((course / "results" / ASSIGNMENT / "huge-loss.json").read_text())
    assert huge["report"]["exercises"][3]["losses"][0] is None  # 1e308 is no loss: dropped, not drawn


def test_the_csv_holds_no_live_formula(mixed_class):
    course, _, _ = mixed_class
    rows = list(csv.DictReader(open(course / "reports" / ASSIGNMENT / "report.csv")))
    assert {r["student"] for r in rows} == {"'=HYPERLINK(1)", "'@sum", "'-dash", *STUDENTS - {"=HYPERLINK(1)", "@sum", "-dash"}}
    for r in rows:
        for value in r.values():
            assert value[:1] not in ("=", "+", "-", "@"), r
    honest2 = next(r for r in rows if r["student"] == "honest2")
    assert honest2["timestamp"] == ""  # the timestamp file held a formula, not a time


def test_an_internal_error_is_recorded_for_that_student(tmp_path):
    """When the grader itself fails on a submission, the student still gets 0 in the gradebook, a results file,
    a feedback page that says it was not their fault, and a row in the report."""
    course_dir = make_course(tmp_path)
    submit(course_dir, "unlucky", all_right(tmp_path / "u.ipynb"))
    course = Course(course_dir, ASSIGNMENT)
    settings = GradingSettings(COURSE_SEED, Limits(), "strict", grader_version(), "test words")
    task = Task("unlucky", ASSIGNMENT, f"submitted/unlucky/{ASSIGNMENT}/{ASSIGNMENT}.ipynb", b"{}", None, settings)
    from autograder.class_grading import ClassRun

    gradebook, run = GradebookWriter(course), ClassRun()
    try:
        _record(course, gradebook, run, task, internal_error_outcome(task, ZeroDivisionError("a bug of ours")))
    finally:
        gradebook.close()
    assert run.errors == {"unlucky": "ZeroDivisionError: a bug of ours"}
    assert gradebook_scores(course_dir)["unlucky"] == dict.fromkeys(CELLS, 0.0)
    page = (course_dir / "feedback" / "unlucky" / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    assert "not a mistake in your notebook" in page and "ZeroDivisionError" not in page
    write_report(course)
    rows = list(csv.DictReader(open(course_dir / "reports" / ASSIGNMENT / "report.csv")))
    assert rows[0]["status"] == "internal error" and "ZeroDivisionError" in rows[0]["problem"]


def test_a_class_of_every_attack_gets_its_verdict_beside_honest_students(tmp_path):
    """Each attack of the suite as one student's notebook, between honest ones, graded as a class with short
    limits, as an instructor runs a batch: each attack gets its exact verdict (test_attacks.assert_verdict: 0 in the
    exercise it sits in with the expected status, message and flag, full marks elsewhere), every student has a
    gradebook row, a results file and a feedback page, and every honest student keeps full marks. The normal-user
    run (test_as_a_normal_user.py) grades this class too."""
    from test_attacks import ATTACKS, MEMORY_GIB, TIMEOUT, assert_verdict, attack_notebook

    course = make_course(tmp_path)
    names = {f"attack-{i:02d}": name for i, name in enumerate(ATTACKS)}
    pasted = _public_dlogits_literal()
    for student, name in names.items():
        submit(course, student, attack_notebook(tmp_path / f"{student}.ipynb", ATTACKS[name], pasted))
    honest = [f"honest-{i}" for i in range(3)]
    for student in honest:
        submit(course, student, all_right(tmp_path / f"{student}.ipynb"))
    run = cli("grade", ASSIGNMENT, "--jobs", "2", "--timeout", TIMEOUT, "--memory", MEMORY_GIB, cwd=course)
    assert run.returncode == 0, run.stderr
    scores = gradebook_scores(course)
    assert set(scores) == set(names) | set(honest)
    for student in honest:
        assert sum(scores[student].values()) == MAX_SCORE, student
    wrong = {}
    for student, name in names.items():
        attacked = ATTACKS[name].exercise
        expected = {f"{ex}_check": 0.0 if ex == attacked else EXERCISE_BY_ID[ex].max_score for ex in EXERCISE_BY_ID}
        result = json.loads((course / "results" / ASSIGNMENT / f"{student}.json").read_text())
        try:
            assert scores[student] == expected, scores[student]
            assert_verdict(_report(result["report"]), ATTACKS[name])
        except AssertionError as e:
            wrong[name] = " | ".join(str(e).splitlines()[:3])
        assert (course / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html").is_file()
    assert wrong == {}


def _public_dlogits_literal() -> str:
    """The public seed's dlogits of the course's dataset, as a student would paste them (one attack does)."""
    import numpy as np

    from autograder import assignments
    from autograder.checks import PUBLIC

    public = assignments.get(ASSIGNMENT).grading(COURSE_SEED).problems[PUBLIC].grads["logits"]
    return "dlogits = torch.tensor(" + np.array2string(public, separator=",", threshold=10**6, floatmode="unique") + ")"


def _report(data: dict) -> Report:
    """A report back from a results file (its JSON), as the grader made it."""
    def made(kind, values: dict, **parts):
        names = {f.name for f in dataclasses.fields(kind)}
        return kind(**{k: v for k, v in values.items() if k in names}, **parts)

    exercises = [made(ExerciseResult, {k: v for k, v in e.items() if k != "checks"},
                      checks=[made(CheckResult, c) for c in e["checks"]]) for e in data["exercises"]]  # fmt: skip
    return made(Report, {k: v for k, v in data.items() if k != "exercises"}, exercises=exercises)
