"""The course works with nbgrader's own commands around `backprop-ninja grade`: the exchange, autograde, feedback."""
import csv
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from courses import ASSIGNMENT, SAMPLES, cli, gradebook_scores, make_course, submit
from submissions import solution_region, write_submission


COURSE_ID = "backprop-ninja"


def nbgrader(*args, cwd):
    run = subprocess.run(["nbgrader", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    return run


@pytest.mark.parametrize("ASSIGNMENT", ["backprop_ninja", "micrograd"])
def test_release_feedback_works_for_every_way_a_submission_arrives(tmp_path, ASSIGNMENT):
    """One class, three ways in: nbgrader's exchange (sam), an LMS zip through zip_collect (alice), a notebook
    copied in by hand as the demo does (bob). After grading, release_feedback releases all three; sam's round trip
    through a local exchange ends with fetch_feedback giving her own page, and only hers. The same commands for
    each assignment of the course, in README's order."""
    import zipfile

    course = make_course(tmp_path, assignments=("backprop_ninja", "micrograd"))
    exchange, student = tmp_path / "exchange", tmp_path / "sam"
    full = {"backprop_ninja": 52, "micrograd": 51}[ASSIGNMENT]
    exchange.mkdir(mode=0o777), student.mkdir()
    where = f"--Exchange.root={exchange}"
    nbgrader("release_assignment", ASSIGNMENT, where, cwd=course)
    nbgrader("fetch_assignment", ASSIGNMENT, "--course", COURSE_ID, where, cwd=student)
    (student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").write_bytes((SAMPLES / "bob" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_bytes())
    nbgrader("submit", ASSIGNMENT, "--course", COURSE_ID, where, cwd=student)
    nbgrader("collect", ASSIGNMENT, where, cwd=course)
    archive = course / "downloaded" / ASSIGNMENT / "archive"
    archive.mkdir(parents=True)
    with zipfile.ZipFile(archive / "lms.zip", "w") as z:
        z.write(SAMPLES / "alice" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", f"alice_{ASSIGNMENT}.ipynb")
    nbgrader("zip_collect", ASSIGNMENT, cwd=course)
    submit(course, "bob", assignment=ASSIGNMENT)
    run = cli("grade", ASSIGNMENT, cwd=course)
    assert run.returncode == 0 and "Graded 3" in run.stdout, run.stderr
    scores = gradebook_scores(course, ASSIGNMENT)
    (sam,) = set(scores) - {"alice", "bob"}  # nbgrader's exchange names her by the user running it
    release = nbgrader("release_feedback", ASSIGNMENT, where, cwd=course)
    assert "Traceback" not in release.stdout + release.stderr
    released = list((exchange / COURSE_ID / "feedback").glob("*.html"))
    assert len(released) == 3  # one page each, under names only the submission's secret gives
    nbgrader("fetch_feedback", ASSIGNMENT, "--course", COURSE_ID, where, cwd=student)
    pages = list((student / ASSIGNMENT / "feedback").glob("*/*.html"))
    assert len(pages) == 1
    page = pages[0].read_text()
    assert f"Student {sam}." in page and f"Score: {sum(scores[sam].values()):g}/{full}" in page
    if ASSIGNMENT == "backprop_ninja":
        assert "data:image/png;base64," in page  # her wrong gradients, pictured in the one file that is released
    # the report says when each was submitted: sam through the exchange; the zip and the copy carry no time
    cli("report", ASSIGNMENT, cwd=course)
    rows = {r["student"]: r for r in csv.DictReader(open(course / "reports" / ASSIGNMENT / "report.csv"))}
    assert re.fullmatch(r"20\d\d-\d\d-\d\d \d\d:\d\d:\d\d UTC", rows[sam]["timestamp"])
    assert rows["alice"]["timestamp"] == rows["bob"]["timestamp"] == ""
    assert all(re.fullmatch(r"20\d\d-\d\d-\d\d \d\d:\d\d:\d\d UTC", r["graded_at"]) for r in rows.values())
    assert rows["alice"]["score"] == str(full) and "." not in rows["bob"]["score"] + rows["bob"]["ex1"]


def test_validate_shows_each_exercise_score_and_what_is_not_answered(tmp_path):
    """nbgrader's Validate (the student's button) runs the notebook: each check cell short of full marks says its
    score, instead of nbgrader's "Partial credit; passed some but not all of the tests"."""
    # (the untouched exercises' "not answered" is seen in the browser test's Validate dialog)
    partly = nbgrader_validate(SAMPLES / "bob" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", tmp_path)
    assert "Exercise 1: 12/26 points (partial); start at dhpreact" in partly
    assert "Exercise 2: 0/6 points (failed); start at dlogits" in partly
    assert "Exercise 3" not in partly and "Partial credit" not in partly


def nbgrader_validate(notebook, tmp_path) -> str:
    run = subprocess.run(["nbgrader", "validate", str(notebook)], cwd=tmp_path, capture_output=True, text=True,
                         timeout=600)  # fmt: skip
    return run.stdout + run.stderr


def test_plain_nbgrader_autograde_gives_the_same_per_cell_scores(tmp_path):
    """The notebook's own check cells under `nbgrader autograde` agree with the isolated grader on honest work."""
    course = make_course(tmp_path)
    for student in ("alice", "bob"):
        submit(course, student)
    # Exercise 1 right, Exercises 2 and 3 crash: the kernel still holds Exercise 1's dlogits and dhprebn, which
    # must not count for them (the notebook resets them before each exercise).
    crashed = "raise ValueError('not finished')"
    submit(course, "frank", write_submission(tmp_path / "frank.ipynb", ex1=solution_region("ex1"), ex2=crashed,
                                             ex3=crashed, ex4=solution_region("ex4")))  # fmt: skip
    nbgrader("autograde", ASSIGNMENT, cwd=course)
    by_nbgrader = gradebook_scores(course)
    run = cli("grade", ASSIGNMENT, "--force", cwd=course)
    assert run.returncode == 0, run.stderr
    by_grader = gradebook_scores(course)
    assert by_grader == by_nbgrader
    assert sum(by_grader["alice"].values()) == 52 and 0 < sum(by_grader["bob"].values()) < 52
    assert by_grader["frank"] == {"ex1_check": 26, "ex2_check": 0, "ex3_check": 0, "ex4_check": 14}


def test_zip_collect_from_an_lms_download_then_grade(tmp_path):
    """Notebooks named <student>_backprop_ninja.ipynb in a zip (the course's zip_collect convention)."""
    import zipfile

    course = make_course(tmp_path)
    archive = course / "downloaded" / ASSIGNMENT / "archive"
    archive.mkdir(parents=True)
    with zipfile.ZipFile(archive / "lms.zip", "w") as z:
        z.write(SAMPLES / "alice" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", f"alice_{ASSIGNMENT}.ipynb")
        z.write(SAMPLES / "dave" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", f"jo_ann_{ASSIGNMENT}.ipynb")
    nbgrader("zip_collect", ASSIGNMENT, cwd=course)
    run = cli("grade", ASSIGNMENT, "--jobs", "1", cwd=course)
    assert run.returncode == 0, run.stderr
    scores = gradebook_scores(course)
    assert sum(scores["alice"].values()) == 52 and sum(scores["jo_ann"].values()) == 0


def test_outside_a_course_or_for_an_unknown_assignment_grade_says_what_it_expected(tmp_path):
    elsewhere = cli("grade", "backprop_ninja", cwd=tmp_path)
    assert elsewhere.returncode == 2 and elsewhere.stderr.count("\n") == 1, elsewhere.stderr
    assert elsewhere.stderr.startswith(f"backprop-ninja: {tmp_path} is not an nbgrader course (it has no "
                                       "nbgrader_config.py): run this in your course folder")  # fmt: skip
    course = make_course(tmp_path, generate=False)
    for command in ("grade", "report"):
        unknown = cli(command, "backprop_ninj", cwd=course)
        assert unknown.returncode == 2 and unknown.stderr == (
            "backprop-ninja: this course has no assignment 'backprop_ninj' (it has backprop_ninja, gpt2_block, micrograd; an "
            f"assignment is a folder in {course / '..' / 'solutions'})\n"), unknown.stderr
    # the assignment, not yet generated: the command README gives, with the flag it needs here
    ungenerated = cli("grade", "micrograd", cwd=course)
    assert "run `nbgrader generate_assignment micrograd --force`" in ungenerated.stderr, ungenerated.stderr


def test_ctrl_c_stops_a_class_run_at_once_and_the_next_run_goes_on(tmp_path):
    # Ctrl-C reaches the terminal's whole process group: the grader, its workers (and not the sandboxes, each in a
    # session of its own). One line says what is done and what is left; what was recorded stays, and grading
    # again grades the rest.
    course = make_course(tmp_path)
    for k in range(12):
        submit(course, f"s{k:02d}", SAMPLES / "alice" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    environment = {**os.environ, "BACKPROP_NINJA_HIDDEN_SEED": "4242"}
    run = subprocess.Popen([sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--jobs", "2"], cwd=course,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=environment,
                           start_new_session=True)  # fmt: skip
    results = course / "results" / ASSIGNMENT
    while len(list(results.glob("*.json"))) < 2 and run.poll() is None:
        time.sleep(0.05)
    os.killpg(run.pid, signal.SIGINT)
    pressed = time.monotonic()
    _, stderr = run.communicate(timeout=60)
    took = time.monotonic() - pressed
    graded = len(list(results.glob("*.json")))
    assert run.returncode == 130 and "Traceback" not in stderr, stderr
    assert stderr.splitlines()[-1] == f"backprop-ninja: stopped: {graded} graded, {12 - graded} left; run grade again to go on"
    # Not a timing benchmark: the bound only tells "ends now" from "finishes what it was doing" (14 s before).
    assert took < 10, took
    again = cli("grade", ASSIGNMENT, "--jobs", "2", cwd=course)
    assert again.returncode == 0 and f"Graded {12 - graded}, skipped {graded} unchanged" in again.stdout, again.stdout
    assert set(gradebook_scores(course)) == {f"s{k:02d}" for k in range(12)}
