"""`backprop-ninja serve`: a warm server kept across runs (warm_server.py), which grade and check fork from.

- grade and check use it (and say so), with the grades a run's own server gives, and leave it as they found it:
  no worker or zygote of theirs outlives them, and it never holds the hidden seed they graded with;
- a run killed mid-run takes its workers and zygotes with it, not the kept server;
- it serves one grader only: a run of other code starts its own and says why, and a server whose code changes on
  disk refuses the next request and ends, so no process ever mixes two versions of the grader;
- its socket is in a folder of this user's alone: a folder another user made, or one open to others, is refused.

Each test runs serve with a scratch folder (TMPDIR) of its own, so no other test's run finds it.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pytest
from courses import ASSIGNMENT, SAMPLES, cli, gradebook_scores, make_course, submit
from submissions import ROOT, solution_region, write_submission
from test_warm_sandbox import OWN, SEED, encodings, outside_scan, scan_code

from autograder.assignments.backprop_ninja import EXERCISES, MAX_SCORE
from autograder.sandbox import isolation_kind
from autograder.settings import grader_version
from autograder.warm_server import WorkerRequest, WorldRefused

pytestmark = pytest.mark.skipif(isolation_kind() == "process", reason="no sandbox here at all")

READY = re.compile(r"Keeping a warm server for grader (\S+) \(pid (\d+), (\d+) MiB\)")


def start_serve(scratch: Path, package_parent: Path = ROOT) -> tuple[subprocess.Popen, dict, re.Match]:
    """`backprop-ninja serve` of the grader in `package_parent`, with `scratch` as its TMPDIR, once it is ready."""
    env = {**os.environ, "TMPDIR": str(scratch), "PYTHONPATH": str(package_parent)}
    serve = subprocess.Popen([sys.executable, "-m", "autograder", "serve"], cwd=package_parent, env=env, text=True,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    line = serve.stdout.readline()
    ready = READY.search(line)
    assert ready, line + serve.stderr.read() if serve.poll() is not None else line
    return serve, env, ready


def stop(serve: subprocess.Popen) -> tuple[int, str]:
    """SIGTERM, which stops it as Ctrl-C does (a test worker's children ignore SIGINT, as a shell's background
    jobs do)."""
    if serve.poll() is None:
        serve.send_signal(signal.SIGTERM)
    try:
        serve.wait(30)
    except subprocess.TimeoutExpired:
        serve.kill()
        serve.wait()
    return serve.returncode, serve.stderr.read()


def children(pid: int) -> list[int]:
    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE]
    except psutil.NoSuchProcess:
        return []


def until(condition, seconds=15):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not condition():
        time.sleep(0.05)
    return condition()


def short_scratch() -> Path:
    """A scratch folder of a test's own, with a short path: a socket's address holds at most 107 bytes."""
    return Path(tempfile.mkdtemp(prefix="bn-serve-"))


@pytest.fixture
def scratch():
    folder = short_scratch()
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def served():
    scratch = short_scratch()
    serve, env, ready = start_serve(scratch)
    yield env, int(ready.group(2))
    code, stderr = stop(serve)
    assert code == 0, stderr
    assert not (scratch / f"backprop-ninja-serve-{os.getuid()}").exists()  # its socket and folder, cleaned up
    shutil.rmtree(scratch, ignore_errors=True)


def test_a_kept_server_serves_grade_and_check_and_keeps_nothing_of_them(served, tmp_path):
    env, server = served
    assert psutil.Process(server).memory_info().rss > 100 * 2**20  # torch, imported once for every run
    doctor = cli("doctor", env=env)
    assert f"Warm server: the one backprop-ninja serve keeps (pid {server})" in doctor.stdout, doctor.stdout
    course = make_course(tmp_path)
    for student in ("alice", "bob", "dave"):
        submit(course, student)
    # the scan looks for the hidden seed in the public run's memory: never there, as with a run's own server
    submit(course, "scanner", write_submission(tmp_path / "scan.ipynb",
                                               ex2=scan_code(encodings(SEED)) + solution_region("ex2")))  # fmt: skip
    run = cli("grade", ASSIGNMENT, "--jobs", "2", "--hidden-seed", SEED, cwd=course, env=env)
    assert run.returncode == 0, run.stderr
    assert f"Warm server: the one backprop-ninja serve keeps (pid {server})." in run.stdout, run.stdout
    scores = gradebook_scores(course)
    assert scores["alice"] == {f"{ex.id}_check": ex.max_score for ex in EXERCISES}
    assert sum(scores["dave"].values()) == 0 and 0 < sum(scores["bob"].values()) < MAX_SCORE
    scanned = json.loads((course / "results" / ASSIGNMENT / "scanner.json").read_text())["report"]["exercises"][1]
    assert scanned["status"] == "passed" and "FOUND ['own']" in scanned["output"], scanned["output"]
    # The run's workers and zygotes are gone with it; the server holds nothing of the seed they graded with.
    assert until(lambda: children(server) == []), children(server)
    assert outside_scan(server, {**encodings(SEED), "own": OWN}) == set()
    # check forks from it too, and grades as grade did
    checked = cli("check", SAMPLES / "bob" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", "--json", env=env)
    assert scores["bob"] == {f"{e['id']}_check": e["score"] for e in json.loads(checked.stdout)["exercises"]}
    verbose = cli("check", SAMPLES / "alice" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", "--verbose", env=env)
    assert verbose.returncode == 0, verbose.stderr
    assert f"Warm server: the one backprop-ninja serve keeps (pid {server})" in verbose.stdout, verbose.stdout
    assert until(lambda: children(server) == []), children(server)


KILLED_MID_RUN = """
import sys, threading, time
from pathlib import Path
from autograder.class_grading import Workers
from autograder.class_worker import Task
from autograder.sandbox import Limits
from autograder.settings import GradingSettings
settings = GradingSettings.resolve(4242, Limits(timeout=60))
task = Task("slow", "backprop_ninja", "slow.ipynb", Path({path!r}).read_bytes(), None, settings)
workers = Workers(settings, jobs=2)
assert workers.warm.served
threading.Thread(target=lambda: list(workers.grade([task])), daemon=True).start()
time.sleep(4)  # the workers have started their zygotes, and one is in the looping run
print(flush=True)
time.sleep(600)
"""


def test_a_run_killed_mid_run_takes_its_workers_and_zygotes_with_it_not_the_kept_server(served, tmp_path):
    env, server = served
    slow = write_submission(tmp_path / "slow.ipynb", ex1="while True:\n    pass\n" + solution_region("ex1"))
    run = subprocess.Popen([sys.executable, "-c", KILLED_MID_RUN.format(path=str(slow))], stdout=subprocess.PIPE,
                           text=True, cwd=ROOT, env=env)  # fmt: skip
    run.stdout.readline()
    theirs = children(server)
    assert len(theirs) >= 6, theirs  # two workers, and each worker's two zygotes (and the looping run)
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    assert until(lambda: children(server) == []), children(server)
    assert psutil.Process(server).is_running()


def _another_grader(tmp_path: Path) -> Path:
    """A copy of this grader with one line of its code changed: another version (settings.grader_version)."""
    shutil.copytree(ROOT / "autograder", tmp_path / "other" / "autograder",
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    with open(tmp_path / "other" / "autograder" / "naming.py", "a") as code:
        code.write("# another grader\n")
    return tmp_path / "other"


def test_a_run_of_other_code_starts_its_own_and_says_why(tmp_path, scratch):
    other = _another_grader(tmp_path)
    serve, env, ready = start_serve(scratch, other)
    try:
        assert ready.group(1) != grader_version()
        doctor = cli("doctor", env={**env, "PYTHONPATH": str(ROOT)})
        assert (f"Warm server: each run starts its own: backprop-ninja serve runs grader {ready.group(1)}, not this one "
                f"({grader_version()}); start it again to use it") in doctor.stdout, doctor.stdout  # fmt: skip
    finally:
        stop(serve)


def test_a_kept_server_whose_code_changes_refuses_and_ends(tmp_path, scratch):
    other = _another_grader(tmp_path)
    serve, env, ready = start_serve(scratch, other)
    address = str(scratch / f"backprop-ninja-serve-{os.getuid()}" / f"warm-{ready.group(1)}.socket")
    with open(other / "autograder" / "naming.py", "a") as code:  # an upgrade in place while it serves
        code.write("# upgraded\n")
    lifeline, keep = os.pipe()
    try:
        with pytest.raises(WorldRefused, match="the grader's code changed since `backprop-ninja serve` started"):
            WorkerRequest(address, lifeline).answer()
    finally:
        os.close(lifeline)
        os.close(keep)
    assert serve.wait(30) == 2
    assert serve.stderr.read().strip() == ("backprop-ninja: the grader's code changed since the server started (an "
                                           "upgrade?): start `backprop-ninja serve` again")  # fmt: skip
    assert not os.path.exists(address)


@pytest.mark.parametrize("whose", ["open to others"] + (["another user's"] if os.geteuid() == 0 else []))
def test_serve_refuses_a_folder_not_of_this_user_alone(scratch, whose):
    folder = scratch / f"backprop-ninja-serve-{os.getuid()}"
    folder.mkdir(parents=True)
    os.chmod(folder, 0o755 if whose == "open to others" else 0o700)
    if whose == "another user's":
        os.chown(folder, 65534, 65534)
    env = {"TMPDIR": str(scratch)}
    run = cli("serve", env=env)
    assert run.returncode == 2
    assert run.stderr == (f"backprop-ninja: {folder} is not a folder of yours alone (another user's, open to others, "
                          "or a link): remove it, or set TMPDIR to a scratch folder of your own\n")  # fmt: skip
    assert "Warm server: each run starts its own (backprop-ninja serve would keep one" in cli("doctor", env=env).stdout



def test_a_kept_server_killed_is_said_as_such_not_as_an_upgrade(scratch):
    serve, env, ready = start_serve(scratch)
    os.kill(int(ready.group(2)), signal.SIGKILL)
    assert serve.wait(30) == 2
    assert serve.stderr.read().strip() == ("backprop-ninja: the warm server ended on its own (killed?): run "
                                           "`backprop-ninja doctor`, then start `backprop-ninja serve` again")  # fmt: skip
