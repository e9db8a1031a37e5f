"""Failures on the grader's side, and a submission's own text, with the real commands.

A full scratch space (TMPDIR) or course disk is an internal error for the submissions it meets, never a grade:
recorded where it can be, `grade` exits non-zero and says so in one line, and the next run grades them. Text a
submission chooses (a lone surrogate, NUL, terminal escapes, bidi controls) ends nothing and reaches no view as
it is. The full disks are small tmpfs mounts, so these tests need root (they are skipped, saying so, without it).
"""
import contextlib
import csv
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
import time
from pathlib import Path

import nbformat
import pytest
from courses import ASSIGNMENT, CELLS, SAMPLES, cli, gradebook_scores, make_course, submit
from submissions import all_right, edit_notebook, solution_region, write_submission

from autograder.assignments.backprop_ninja import EXERCISES, MAX_SCORE
from autograder.safe_text import safe_text

BACKPROP_NINJA = Path(sysconfig.get_path("scripts")) / "backprop-ninja"
# One worker: two sandboxes start, not four, on two cores. Nothing here runs long; the limit is for a loaded machine.
LIMITS = ("--jobs", "1", "--timeout", "40")
# What no view may show as it is: ESC, CSI (the C1 form of ESC [), BEL, CR, and every bidi control.
CONTROLS = re.compile("[\x1b\x9b\x07\r\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
CLEAR, OVERRIDE, SURROGATE = "\x1b[2J", "\u202e", "\ud800"
MAX = {ex.id: ex.max_score for ex in EXERCISES}


def hostile_notebook(path: Path) -> Path:
    """Right answers to ex2 and ex4 with a lone surrogate, NUL, escapes and a bidi override in their comments and
    printout; ex1 right but for a `loss.backward()` line that clears the screen and fakes a score (quoted in the
    autograd message), ex3 an error whose message does the same, with honest Unicode beside it. Written as JSON,
    which may hold all of these."""
    fake = f"{CLEAR}{OVERRIDE} Score: 52/52"
    write_submission(path, ex1=solution_region("ex1") + "\nloss.backward()  # FAKE\n",
                     ex2=solution_region("ex2") + "\n# SURROGATE NUL: an honest comment, Grüße, 梯度, δ 🙂\n",
                     ex3="raise ValueError('FAKE, said in Grüße, 梯度, δ 🙂')\n",
                     ex4=solution_region("ex4") + "\nimport os  # FAKE\nprint('FAKE')\n")  # fmt: skip

    def hostile(nb):
        for cell in nb["cells"]:
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            cell["source"] = source.replace("FAKE", fake).replace("SURROGATE", SURROGATE).replace("NUL", "\x00")

    return edit_notebook(path, hostile)


def strings(value):
    """Every string in a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def assert_shown_safely(text: str, where: str):
    assert not CONTROLS.search(text), f"{where}: {CONTROLS.search(text).group()!r} shown as it is"
    assert not re.search("[\ud800-\udfff\x00]", text), f"{where}: a lone surrogate or NUL"


def results(course) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (course / "results" / ASSIGNMENT).glob("*.json")}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    return hostile_notebook(tmp_path_factory.mktemp("hostile") / f"{ASSIGNMENT}.ipynb")


def test_a_class_with_a_lone_surrogate_and_escapes_is_graded_and_every_view_is_safe(tmp_path, hostile):
    course = make_course(tmp_path)
    submit(course, "alice")
    submit(course, "mallory", hostile)
    submit(course, "zed", SAMPLES / "alice" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")  # after her: not left out
    graded = cli("grade", ASSIGNMENT, *LIMITS, cwd=course, program=BACKPROP_NINJA)
    assert graded.returncode == 0 and "Traceback" not in graded.stderr, graded.stderr
    assert "Graded 3, skipped 0" in graded.stdout
    report = cli("report", ASSIGNMENT, cwd=course, program=BACKPROP_NINJA)
    assert report.returncode == 0, report.stderr

    assert set(gradebook_scores(course)) == set(results(course)) == {"alice", "mallory", "zed"}
    mallory = results(course)["mallory"]
    assert mallory["internal_error"] is None and mallory["problem"] is None  # graded, as anyone is
    exercises = {ex["id"]: ex for ex in mallory["report"]["exercises"]}
    assert mallory["scores"] == {"ex1": 0.0, "ex2": MAX["ex2"], "ex3": 0.0, "ex4": MAX["ex4"]}, [
        (ex["id"], ex["status"], ex["message"]) for ex in exercises.values()]  # fmt: skip
    assert gradebook_scores(course)["mallory"] == {f"{ex}_check": score for ex, score in mallory["scores"].items()}
    assert exercises["ex1"]["status"] == "autograd" and "uses autograd (line" in exercises["ex1"]["message"]
    assert "\ufffd[2J" in exercises["ex1"]["message"]  # the line is quoted, in its safe form
    assert "\ufffd[2J\ufffd Score: 52/52, said in Grüße, 梯度, δ 🙂" in exercises["ex3"]["message"]  # honest text kept
    assert exercises["ex4"]["review"] and "\ufffd[2J" in exercises["ex4"]["output"]

    views = {"grade's output": graded.stdout + graded.stderr, "report's output": report.stdout + report.stderr}
    for student, result in results(course).items():
        views[f"{student}'s results"] = "\n".join(strings(result))
        views[f"{student}'s feedback"] = (course / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html").read_text()
    views["report.html"] = (course / "reports" / ASSIGNMENT / "report.html").read_text()
    with open(course / "reports" / ASSIGNMENT / "report.csv", newline="") as table:
        views["report.csv"] = table.read().replace("\r\n", "\n")  # the CSV's own line ends, not a cell's
    for where, text in views.items():
        assert_shown_safely(text, where)
    assert "\ufffd[2J" in views["report.html"] and "\ufffd[2J" in views["mallory's feedback"]
    rows = {r["student"]: r for r in csv.DictReader(open(course / "reports" / ASSIGNMENT / "report.csv"))}
    assert rows["mallory"]["status"] == "graded" and rows["zed"]["score"] == f"{MAX_SCORE:g}"

    # The autograded notebook holds her code as graded, its lone surrogate and NUL read as U+FFFD.
    autograded = nbformat.read(course / "autograded" / "mallory" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", 4)
    ex2 = next(c for c in autograded.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "ex2")
    assert "# \ufffd \ufffd: an honest comment, Grüße, 梯度, δ 🙂" in ex2.source


def test_check_prints_no_escape_or_bidi_control_from_the_notebook(hostile):
    run = subprocess.run([str(BACKPROP_NINJA), "check", str(hostile), "--timeout", "40"], capture_output=True,
                         text=True, timeout=300, env={**os.environ, "COLUMNS": "200"})  # fmt: skip
    assert run.returncode == 1, run.stderr
    assert_shown_safely(run.stdout + run.stderr, "check's output")
    assert "Uses autograd (line" in run.stdout and "\ufffd[2J\ufffd Score: 52/52" in run.stdout
    assert "ValueError: \ufffd[2J\ufffd Score: 52/52, said in Grüße, 梯度, δ 🙂" in run.stdout
    assert f"Score: {sum(MAX[ex] for ex in ('ex2', 'ex4')):g}/{MAX_SCORE:g}" in run.stdout


def test_safe_text_replaces_controls_and_keeps_honest_unicode():
    honest = "Grüße, 梯度, δW1 = dh @ W2.T  # 👩‍🔬 🇫🇷 ﷺ\n\tnext line"  # a ZWJ sequence, flags, tab, newline
    assert safe_text(honest) == honest
    controls = ["\x00", "\x07", "\x08", "\x1b", "\r", "\x7f", "\x85", "\x9b", "\u061c", "\u200e", "\u200f",
                *map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A)), SURROGATE]  # fmt: skip
    assert [safe_text(f"a{control}b") for control in controls] == ["a\ufffdb"] * len(controls)


@contextlib.contextmanager
def tmpfs(folder: Path, options: str):
    """A small filesystem of its own at `folder`, for as long as the block runs."""
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True,
                             text=True)  # fmt: skip
    if mounted.returncode != 0:
        pytest.skip(f"a full disk is made by mounting a small tmpfs, which needs root: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        if subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "--lazy", str(folder)], check=True)
        with contextlib.suppress(OSError):
            folder.rmdir()


def fill(folder: Path, leave: int = 0) -> Path:
    """A file that takes all the free space of `folder`'s filesystem but `leave` bytes."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as f:
        with contextlib.suppress(OSError):  # the last block may not fit: full is what is wanted
            while (room := os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize - leave) > 0:
                f.write(b"\0" * min(room, 2**20))
                f.flush()
    assert os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize == leave
    return filler


def test_a_full_scratch_space_is_an_internal_error_retried_never_a_grade(tmp_path):
    course = make_course(tmp_path / "class")
    submit(course, "alice")
    submit(course, "bob")
    # A short path: the warm server puts its socket in TMPDIR, and a socket's path has at most 107 bytes.
    with tmpfs(Path(tempfile.mkdtemp(prefix="bn-scratch-")), "size=16m,nr_inodes=1024") as scratch:
        # One block left: Python's tempfile still takes TMPDIR (it writes 4 bytes to try it), nothing else fits.
        filler = fill(scratch, leave=os.statvfs(scratch).f_frsize)
        env = {"TMPDIR": str(scratch)}
        full = cli("grade", ASSIGNMENT, *LIMITS, cwd=course, env=env, program=BACKPROP_NINJA)
        assert full.returncode == 1 and "Traceback" not in full.stdout + full.stderr, full.stderr
        assert "Graded 0, skipped 0" in full.stdout
        assert "2 internal errors (the grader's side, not the students')" in full.stderr
        assert f"running `backprop-ninja grade {ASSIGNMENT}` again retries them" in full.stderr
        assert set(results(course)) == {"alice", "bob"}
        for student, result in results(course).items():  # recorded, as internal errors, never as grades
            assert f"could not write its scratch files in {scratch}" in result["internal_error"], student
            assert f"{student}: not graded, an internal error" in full.stdout
        report = cli("report", ASSIGNMENT, cwd=course, program=BACKPROP_NINJA)
        assert report.stdout.count("internal error") == 2, report.stdout

        # One notebook with `check`: one line saying where and what to do, exit 2, no grade.
        check = cli("check", SAMPLES / "alice" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", "--timeout", "40", env=env,
                    program=BACKPROP_NINJA)  # fmt: skip
        assert check.returncode == 2 and check.stdout == "", check.stdout
        assert check.stderr.strip().splitlines() == [
            f"backprop-ninja: the grader could not write its scratch files in {scratch} (No space left on device): "
            "free space there, or point TMPDIR at a folder with room, and run it again"]  # fmt: skip

        filler.unlink()
        again = cli("grade", ASSIGNMENT, *LIMITS, cwd=course, env=env, program=BACKPROP_NINJA)
    assert again.returncode == 0 and "Graded 2, skipped 0" in again.stdout, again.stdout + again.stderr
    assert all(result["internal_error"] is None for result in results(course).values())
    assert results(course)["alice"]["score"] == MAX_SCORE and 0 < results(course)["bob"]["score"] < MAX_SCORE
    assert gradebook_scores(course)["alice"] == {cell: ex.max_score for cell, ex in zip(CELLS, EXERCISES)}


def test_a_full_course_disk_is_an_internal_error_retried_never_a_traceback(tmp_path):
    with tmpfs(tmp_path / "disk", "size=16m") as disk:
        course = make_course(disk)  # the course, its gradebook and its release notebook, on a disk of their own
        submit(course, "alice")
        submit(course, "bob")
        filler = fill(disk)
        full = cli("grade", ASSIGNMENT, *LIMITS, cwd=course, program=BACKPROP_NINJA)
        assert full.returncode == 1 and "Traceback" not in full.stdout + full.stderr, full.stderr
        assert "Graded 0, skipped 0" in full.stdout
        assert "2 internal errors (the grader's side, not the students')" in full.stderr
        assert "alice: not graded, an internal error" in full.stdout and "is full" in full.stdout
        # Nothing could be written, so nothing claims a grade: no gradebook row, no results file.
        assert gradebook_scores(course) == {} and results(course) == {}

        filler.unlink()
        again = cli("grade", ASSIGNMENT, *LIMITS, cwd=course, program=BACKPROP_NINJA)
        assert again.returncode == 0 and "Graded 2, skipped 0" in again.stdout, again.stdout + again.stderr
        assert results(course)["alice"]["score"] == MAX_SCORE and results(course)["alice"]["internal_error"] is None
        assert gradebook_scores(course)["alice"] == {cell: ex.max_score for cell, ex in zip(CELLS, EXERCISES)}
        assert 0 < sum(gradebook_scores(course)["bob"].values()) < MAX_SCORE

        fill(disk)  # the report, on a full disk: one line, exit 2
        report = cli("report", ASSIGNMENT, cwd=course, program=BACKPROP_NINJA)
        assert report.returncode == 2 and report.stderr.strip().splitlines() == [
            f"backprop-ninja: the grader could not write the class report in {course / 'reports' / ASSIGNMENT} "
            "(No space left on device): free space there and run it again"], report.stderr  # fmt: skip


def test_a_scratch_space_that_fills_during_a_run_is_an_internal_error_and_an_exit_code_alone_is_not(tmp_path):
    """The run's inputs fit, then the scratch space fills (another program, not the run) before the run writes its
    results: not a grade, but the grader-side line. A run that only exits with the code a run uses to say so,
    while there is room, gets the plain verdict of a run that ended its own process."""
    notebook = write_submission(tmp_path / "nb.ipynb", ex1="import time\ntime.sleep(3)\n" + solution_region("ex1"))
    claims = write_submission(tmp_path / "claims.ipynb", ex2="import os\nos._exit(75)")
    with tmpfs(Path(tempfile.mkdtemp(prefix="bn-scratch-")), "size=64m") as scratch:

        def fill_once_a_job_runs():
            deadline = time.monotonic() + 120
            while not list(scratch.glob("backprop-ninja-*/job-*/job.json")) and time.monotonic() < deadline:
                time.sleep(0.01)
            fill(scratch)

        filler = threading.Thread(target=fill_once_a_job_runs)
        filler.start()
        full = cli("check", notebook, "--timeout", "40", env={"TMPDIR": str(scratch)}, program=BACKPROP_NINJA)
        filler.join()
        assert full.returncode == 2 and full.stdout == "", full.stdout + full.stderr
        assert full.stderr.strip().splitlines() == [
            f"backprop-ninja: the grader could not write its scratch files in {scratch} (No space left on device): "
            "free space there, or point TMPDIR at a folder with room, and run it again"], full.stderr  # fmt: skip
    exited = cli("check", claims, "--json", "--timeout", "40", program=BACKPROP_NINJA)
    ex2 = json.loads(exited.stdout)["exercises"][1]
    assert exited.returncode == 1 and ex2["score"] == 0 and "ended its own process (exit code 75)" in ex2["message"]


def test_scratch_space_inside_the_runtime_is_refused_in_one_line(tmp_path):
    """Every run sees the runtime (Python, its packages, this package) read-only: a TMPDIR inside it would show
    one run another's job folder. `check` refuses it in one line, before any run, and leaves nothing behind."""
    scratch = Path(tempfile.mkdtemp(prefix="scratch-", dir=sys.prefix))  # inside the venv every run sees
    try:
        run = subprocess.run([str(BACKPROP_NINJA), "check", str(all_right(tmp_path / "nb.ipynb"))], cwd=tmp_path,
                             env={**os.environ, "TMPDIR": str(scratch)}, capture_output=True, text=True, timeout=300)  # fmt: skip
        assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr
        assert run.stderr == (f"backprop-ninja: the grader's scratch folder {scratch} lies inside "
                              f"{os.path.realpath(sys.prefix)}, which every graded run sees: point TMPDIR at a folder "
                              "outside it and run it again\n")  # fmt: skip
        assert list(scratch.iterdir()) == []
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
