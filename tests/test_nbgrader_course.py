"""The course works with nbgrader's own commands around `backprop-ninja grade`: the exchange, autograde, feedback."""
import subprocess

from courses import ASSIGNMENT, SAMPLES, cli, gradebook_scores, make_course, submit
from submissions import solution_region, write_submission

COURSE_ID = "backprop-ninja"


def nbgrader(*args, cwd):
    run = subprocess.run(["nbgrader", *map(str, args)], cwd=cwd, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    return run


def test_release_collect_grade_release_feedback_fetch_feedback(tmp_path):
    """A student's round trip through nbgrader's exchange, graded by backprop-ninja in between."""
    course, exchange, student = make_course(tmp_path), tmp_path / "exchange", tmp_path / "student"
    exchange.mkdir(mode=0o777), student.mkdir()
    where = f"--Exchange.root={exchange}"
    nbgrader("release_assignment", ASSIGNMENT, where, cwd=course)
    nbgrader("fetch_assignment", ASSIGNMENT, "--course", COURSE_ID, where, cwd=student)
    (student / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").write_bytes((SAMPLES / "bob" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_bytes())
    nbgrader("submit", ASSIGNMENT, "--course", COURSE_ID, where, cwd=student)
    nbgrader("collect", ASSIGNMENT, where, cwd=course)
    run = cli("grade", ASSIGNMENT, cwd=course)
    assert run.returncode == 0 and "Graded 1" in run.stdout, run.stderr
    (who, scores), = gradebook_scores(course).items()
    nbgrader("release_feedback", ASSIGNMENT, where, cwd=course)
    nbgrader("fetch_feedback", ASSIGNMENT, "--course", COURSE_ID, where, cwd=student)
    pages = list((student / ASSIGNMENT / "feedback").glob("*/*.html"))
    assert len(pages) == 1
    page = pages[0].read_text()
    assert f"Student {who}." in page and f"Score: {sum(scores.values()):g}/52" in page
    assert "data:image/png;base64," in page  # bob's wrong gradients, pictured in the one file that is released


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
