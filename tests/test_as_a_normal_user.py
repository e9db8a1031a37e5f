"""The attack suite as a normal user, the usual instructor grading on a laptop: the same verdicts as root.

As a normal user the sandbox has no uid of its own: a run has the grader's uid, in a user namespace, and no cgroup
may be made. What holds it then is the syscall filter (one task), the read-only job root and the zygote's own
limits. Run as root (CI is), this test switches to uid 65534 and runs the attacks that concern the sandbox in a
pytest of their own. CI gives other uids search permission on the folders above the Python runtime and the clone
(.ci/run); where that is missing here, the test says so and is skipped, but never in CI.
"""
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from submissions import ROOT

NOBODY = 65534
# The attacks whose guarantees differ by who grades: a class of every attack, what one run leaves for the next, forged
# requests and replies on descriptors, the job root, the second assignment; and in the warm sandbox, which makes a
# user namespace of its own here, the seed nowhere in a public run's memory and the world a run sees; and a warm
# server kept across runs (backprop-ninja serve), which a normal user's laptop is where it is run.
ATTACKS = ("class_of_every_attack or nothing_one_run or forged_replies or public_run_never or second_assignment "
           "or sees_only_its_world or runtime_under_tmp or kept_server_serves")  # fmt: skip


def _reachable_by_others(path: str) -> bool:
    path = Path(path).resolve()
    return all(os.stat(folder).st_mode & 0o001 for folder in path.parents)


def _why_not() -> str | None:
    if os.geteuid() != 0:
        return "needs root to switch to another uid (run as a normal user, the whole suite already is this test)"
    if not all(map(_reachable_by_others, (sys.base_prefix, sys.prefix, str(ROOT)))):
        return "other users cannot reach the Python runtime or the repository here (.ci/run gives them search permission)"
    return None


@pytest.mark.skipif(_why_not() is not None and os.environ.get("BACKPROP_NINJA_REQUIRE_BWRAP") != "1",
                    reason=str(_why_not()))  # fmt: skip
def test_the_attacks_hold_as_a_normal_user():
    assert _why_not() is None, _why_not()  # CI (BACKPROP_NINJA_REQUIRE_BWRAP=1) fails here instead of skipping
    home = Path(tempfile.mkdtemp(prefix="backprop-ninja-user-"))  # pytest's own folders are root's only
    shutil.chown(home, NOBODY, NOBODY)
    env = {**os.environ, "HOME": str(home), "TMPDIR": str(home)}
    as_nobody = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", sys.executable]
    try:
        doctor = subprocess.run(as_nobody + ["-m", "autograder", "doctor"], cwd=ROOT, env=env, capture_output=True,
                                text=True, timeout=300)  # fmt: skip
        # two workers: this is the suite's longest test, and alone on one worker it would end the suite last
        run = subprocess.run(as_nobody + ["-m", "pytest", "-q", "-n", "2", "-p", "no:cacheprovider", f"--basetemp={home / 'pytest'}",
                                          "tests/test_attacks.py", "tests/test_warm_sandbox.py", "tests/test_isolation.py",
                                          "tests/test_serve.py",
                                          "-k", ATTACKS],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)  # fmt: skip
    finally:
        shutil.rmtree(home, ignore_errors=True)
    # What holds a run as a normal user, said where an instructor looks: one task, and no cgroup.
    assert "System calls: one task under a seccomp allowlist" in doctor.stdout, doctor.stdout + doctor.stderr
    assert "no cgroup can be made here" in doctor.stdout, doctor.stdout
    summary = run.stdout.strip().splitlines()[-1] if run.stdout.strip() else run.stderr[-2000:]
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    assert " passed" in summary and "skipped" not in summary and "failed" not in summary, summary
