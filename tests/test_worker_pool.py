"""A class run's workers on this machine, forked from the warm server (worker_pool.py), which forks the zygotes too.

- The workers hold the hidden seed and the submissions, the server never does: a public run's memory holds no
  encoding of the seed, nor does the server's, while a worker's does (the scan's own proof that it can see it);
  no descriptor of a worker would pass to a program it starts.
- A worker that dies loses only the submission it held; the others are graded on.
- A class run killed mid-run (SIGKILL: no clean-up of its own) takes its server, workers and zygotes with it.
"""
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from submissions import ROOT, all_right, solution_region, write_submission
from test_warm_sandbox import OWN, SEED, _alive, encodings, outside_scan, scan_code

from autograder.assignments.backprop_ninja import MAX_SCORE
from autograder.class_grading import Workers
from autograder.class_worker import Task
from autograder.sandbox import Limits, isolation_kind
from autograder.settings import GradingSettings
from autograder.worker_pool import WorkerLost

ASSIGNMENT = "backprop_ninja"


def task(student: str, notebook, settings: GradingSettings) -> Task:
    return Task(student, ASSIGNMENT, f"submitted/{student}/{ASSIGNMENT}.ipynb", notebook.read_bytes(), None, settings)


@pytest.mark.skipif(isolation_kind() != "warm", reason="the kernel refuses this user the namespaces")
def test_a_class_runs_public_runs_never_hold_the_seed_its_workers_hold(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "argv", [sys.argv[0], "grade", ASSIGNMENT, "--hidden-seed", str(SEED)])
    monkeypatch.setenv("BACKPROP_NINJA_HIDDEN_SEED", str(SEED))
    patterns = encodings(SEED)
    settings = GradingSettings.resolve(SEED, Limits(timeout=60))
    notebook = write_submission(tmp_path / "nb.ipynb", ex2=scan_code(patterns) + solution_region("ex2"))
    with Workers(settings, jobs=2) as workers:
        outcomes = [outcome for _, outcome in workers.grade([task(s, notebook, settings) for s in ("ann", "ben")])]
        for outcome in outcomes:
            ex2 = outcome["report"]["exercises"][1]
            assert ex2["status"] == "passed", ex2["message"]  # the hidden seed's run was made, and agreed
            assert "FOUND ['own']" in ex2["output"], ex2["output"]  # its own marker, and nothing of the seed
        assert outside_scan(workers.warm.process.pid, {**patterns, "own": OWN}) == set()
        for pid in {outcome["worker"]["pid"] for outcome in outcomes}:
            assert outside_scan(pid, patterns) != set()  # the workers grade with it, and the scan sees it there
            # and no program a worker starts would hold its connection (the seed), a pidfd or a zygote's pipe
            assert inherited_descriptors(pid) == []


def inherited_descriptors(pid: int) -> list[str]:
    """The descriptors above stderr that a program the process started would inherit (no close-on-exec)."""
    open_ = [fd for fd in os.listdir(f"/proc/{pid}/fd") if int(fd) > 2]
    flags = {fd: int(re.search(r"flags:\s+(\d+)", Path(f"/proc/{pid}/fdinfo/{fd}").read_text()).group(1), 8)
             for fd in open_}  # fmt: skip
    return [f"{fd} -> {os.readlink(f'/proc/{pid}/fd/{fd}')}" for fd in open_ if not flags[fd] & os.O_CLOEXEC]


def test_a_worker_that_dies_loses_only_the_submission_it_held(tmp_path):
    settings = GradingSettings.resolve(SEED, Limits(timeout=60))
    slow = write_submission(tmp_path / "slow.ipynb", ex1="import time\ntime.sleep(600)\n" + solution_region("ex1"))
    right = all_right(tmp_path / "right.ipynb")
    tasks = [task("slow", slow, settings)] + [task(f"right-{i}", right, settings) for i in range(3)]
    outcomes = {}
    with Workers(settings, jobs=2) as workers:
        for graded, outcome in workers.grade(tasks):
            if not outcomes:  # the first to finish is a right one: the other worker is still in the slow one
                holder = [w for w in workers.pool.workers if w.pid != outcome["worker"]["pid"]]
                holder[0].kill()
            outcomes[graded.student] = outcome
    assert isinstance(outcomes.pop("slow"), WorkerLost)
    assert {student: outcome["score"] for student, outcome in outcomes.items()} == \
        {f"right-{i}": MAX_SCORE for i in range(3)}  # fmt: skip


KILLED_MID_RUN = """
import sys, threading, time
sys.path.insert(0, {tests!r})
import psutil
from pathlib import Path
from autograder.class_grading import Workers
from autograder.class_worker import Task
from autograder.sandbox import Limits
from autograder.settings import GradingSettings
settings = GradingSettings.resolve(4242, Limits(timeout=60))
task = Task("slow", "backprop_ninja", "slow.ipynb", Path({path!r}).read_bytes(), None, settings)
workers = Workers(settings, jobs=2)
threading.Thread(target=lambda: list(workers.grade([task])), daemon=True).start()
time.sleep(4)  # the workers have started their zygotes, and one is in the looping run
tree = psutil.Process(workers.warm.process.pid).children(recursive=True)
print(workers.warm.process.pid, *[p.pid for p in tree], flush=True)
time.sleep(600)
"""


def test_a_class_run_killed_mid_run_takes_its_server_workers_and_zygotes_with_it(tmp_path):
    slow = write_submission(tmp_path / "slow.ipynb", ex1="while True:\n    pass\n" + solution_region("ex1"))
    script = KILLED_MID_RUN.format(tests=str(ROOT / "tests"), path=str(slow))
    run = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    pids = [int(p) for p in run.stdout.readline().split()]
    # the server, two workers, and each worker's two zygotes (with, in the warm sandbox, the looping run)
    assert len(pids) >= 7, pids
    os.kill(run.pid, signal.SIGKILL)
    run.wait()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.05)
    assert [pid for pid in pids if _alive(pid)] == []
