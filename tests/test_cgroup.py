"""The kernel's limits on a sandbox (cgroup.py): memory and processes capped for a whole process tree."""
import subprocess
import sys
import time

import pytest

from autograder.cgroup import JobCgroup
from autograder.sandbox import Limits, Sandbox, bwrap_works, start_warm_server

MiB = 2**20


@pytest.fixture
def group():
    made = JobCgroup.create()
    if made is None:
        pytest.skip("this process may not create a cgroup here (not root, or no writable cgroup controllers)")
    yield made
    made.remove()


def test_memory_over_the_limit_is_killed_by_the_kernel(group):
    group.limit(100 * MiB, 8)
    hog = subprocess.run(group.enter([sys.executable, "-c", "x = bytearray(400 * 2**20)"]))
    assert hog.returncode == -9 and group.oom_kills() == 1


def test_processes_over_the_limit_cannot_be_made(group):
    group.limit(500 * MiB, 4)
    forks = ("import os, time\nmade = 0\nfor _ in range(20):\n    try:\n        if os.fork() == 0:\n"
             "            time.sleep(2)\n            os._exit(0)\n        made += 1\n    except OSError:\n        pass\n"
             "print(made)")  # fmt: skip
    run = subprocess.run(group.enter([sys.executable, "-c", forks]), capture_output=True, text=True)
    assert run.returncode == 0 and int(run.stdout) == 3  # four processes: the first and three children


def test_removed_with_whatever_was_left_inside(group):
    sleeper = subprocess.Popen(group.enter(["sleep", "60"]))
    procs = group.dirs["pids"] / "cgroup.procs"
    for _ in range(500):
        if str(sleeper.pid) in procs.read_text().split():
            break
        time.sleep(0.01)
    group.remove()
    assert sleeper.wait(timeout=10) == -9
    assert not any(folder.exists() for folder in group.dirs.values())


@pytest.mark.parametrize("kind", ["warm", "bubblewrap"])
def test_each_sandbox_runs_inside_its_own(group, kind):
    """Bubblewrap's zygote is started inside it; the warm server's enters it before it is forked (and before its
    cgroup namespace is made, so that this cgroup is its root)."""
    server = start_warm_server() if kind == "warm" else None
    if kind == "warm" and server is None:
        pytest.skip("the kernel refuses the namespaces here")
    try:
        with Sandbox(Limits(), server) as sandbox:
            if sandbox.cgroup is None:
                pytest.skip("no cgroup for the sandbox")
            sandbox.wait_until_ready()
            assert sandbox.isolation == ("warm" if server else "bubblewrap" if bwrap_works() else "process")
            inside = (sandbox.cgroup.dirs["pids"] / "cgroup.procs").read_text().split()
            assert str(sandbox.process.pid) in inside  # the zygote (and, for bubblewrap, bubblewrap itself)
            assert len(inside) == (1 if server else 2) or not bwrap_works()
    finally:
        if server:
            server.close()
