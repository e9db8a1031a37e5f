"""The warm sandbox: zygotes forked from a torch-warm server (warm_server.py) enter their own namespaces
(namespaces.py) instead of bubblewrap starting a fresh Python for each.

The attack suite runs on it (it is what a Grader uses wherever the kernel allows), as root and as a normal user
(test_as_a_normal_user.py runs the tests here whose names hold "public_run_never"). What is new, and tested here:
- the server never holds a secret: a public run's memory, environment and command line hold no encoding of the
  hidden seed, though the grader had it on its command line and in its environment; nor does the server's;
- the world is the one declared (namespaces.world_mounts): nothing of the machine beyond the runtime, read-only,
  and the job folder;
- a zygote, and the server, end with the grader that asked for them;
- where the kernel refuses the namespaces, bubblewrap makes the sandbox, and doctor says which is in force.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from submissions import ROOT, all_right, solution_region, write_submission

from autograder.checks import HIDDEN, PUBLIC
from autograder.grading import Grader
from autograder.sandbox import JOB_MOUNT, Limits, Sandbox, _runtime_paths, bwrap_works, isolation_kind

pytestmark = pytest.mark.skipif(isolation_kind() != "warm", reason="the kernel refuses this user the namespaces")

SEED = 6_302_877_159_114_270_571  # large and unlike any number torch or the dataset holds


def encodings(seed: int) -> dict[str, bytes]:
    """Every form the seed could take in a process's memory, environment or command line."""
    text = str(seed)
    return {"decimal": text.encode(), "UTF-16": text.encode("utf-16-le"), "UTF-32": text.encode("utf-32-le"),
            "hex": f"{seed:x}".encode(), "HEX": f"{seed:X}".encode(), "int64 little-endian": seed.to_bytes(8, "little"),
            "int64 big-endian": seed.to_bytes(8, "big"),
            "Python int digits": b"".join(((seed >> 30 * i) & (2**30 - 1)).to_bytes(4, "little") for i in range(3))}  # fmt: skip


OWN = b"a marker of the run's own source, Kq8Zt3"  # the scan must find this one, or it proves nothing


def scan_code(patterns: dict[str, bytes]) -> str:
    """A cell that searches its own memory, environment and command line for each pattern. Each pattern is given
    as two halves in hex, so that its whole bytes exist in the run only if they were there before the cell."""
    halves = {name: (p[: len(p) // 2].hex(), p[len(p) // 2 :].hex()) for name, p in {**patterns, "own": OWN}.items()}
    own_in_source = OWN.decode()
    return f"""import ctypes
# {own_in_source}
halves = {{name: (bytes.fromhex(a), bytes.fromhex(b)) for name, (a, b) in {halves!r}.items()}}
found = {{name: 0 for name in halves}}
def search(data):
    for name, (a, b) in halves.items():
        i = data.find(a)
        while i != -1:
            found[name] += data[i + len(a): i + len(a) + len(b)] == b
            i = data.find(a, i + 1)
with open('/proc/self/maps') as maps:
    regions = [line.split() for line in maps]
for fields in regions:
    start, end = (int(x, 16) for x in fields[0].split('-'))
    if 'r' not in fields[1] or end - start > 2**30 or (len(fields) > 5 and fields[5].startswith('[v')):
        continue
    search(ctypes.string_at(start, end - start))
for name in ('environ', 'cmdline'):  # not readable by a run (it is not dumpable); they lie on its stack, scanned above
    try:
        search(open('/proc/self/' + name, 'rb').read())
    except OSError:
        pass
print('FOUND', sorted(name for name, n in found.items() if n))
"""


def outside_scan(pid: int, patterns: dict[str, bytes]) -> set[str]:
    """The patterns found in a process's environment, command line and memory, read from outside."""
    found = set()
    data = [open(f"/proc/{pid}/{name}", "rb").read() for name in ("environ", "cmdline")]
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb") as mem:
        for line in maps:
            fields = line.split()
            start, end = (int(x, 16) for x in fields[0].split("-"))
            if "r" not in fields[1] or end - start > 2**30 or (len(fields) > 5 and fields[5].startswith("[v")):
                continue
            try:
                mem.seek(start)
                data.append(mem.read(end - start))
            except OSError:
                continue
    for name, pattern in patterns.items():
        if any(pattern in chunk for chunk in data):
            found.add(name)
    return found


def test_the_public_run_never_holds_the_hidden_seed_in_memory(small_words, tmp_path, monkeypatch):
    """The grader holds the seed on its command line, in its environment and in memory; the warm server every
    zygote forks from, and so every run, holds none of it, in any encoding."""
    monkeypatch.setattr(sys, "argv", [sys.argv[0], "grade", "backprop_ninja", "--hidden-seed", str(SEED)])
    monkeypatch.setenv("BACKPROP_NINJA_HIDDEN_SEED", str(SEED))
    patterns = encodings(SEED)
    with Grader(Limits(timeout=60), hidden_seed=SEED, words=small_words) as grader:
        assert grader.warm is not None and all(s.isolation == "warm" for s in grader.sandboxes.values())
        notebook = write_submission(tmp_path / "nb.ipynb", ex2=scan_code(patterns) + solution_region("ex2"))
        ex2 = grader.grade(notebook).exercises[1]
        assert ex2.status == "passed", ex2.message  # the hidden seed's run was made, and agreed
        assert "FOUND ['own']" in ex2.output, ex2.output  # it found its own marker, and nothing of the seed
        assert outside_scan(grader.warm.process.pid, {**patterns, "own": OWN}) == set()


def test_the_run_sees_only_its_world(grader, tmp_path):
    """The machine's tree is gone: each folder above the runtime holds only the way to it, and nothing else of the
    machine (its home folders, this repository's solutions) is there. Every mount but the job folder (and /proc,
    whose files the kernel guards itself; /proc/sys is read-only) is read-only,
    and the run is in a pid namespace of its own with the zygote as pid 1."""
    runtime = _runtime_paths()
    above = {}  # each folder made to reach the runtime -> what it may hold
    for path in runtime + [JOB_MOUNT, "/proc", "/dev", "/tmp"]:
        parts = path.strip("/").split("/")
        for depth in range(len(parts)):
            folder = "/" + "/".join(parts[:depth])
            if not any(folder == r or folder.startswith(r.rstrip("/") + "/") for r in runtime):
                above.setdefault(folder, set()).add(parts[depth])
    code = (
        "import os\n"
        f"for folder in {sorted(above)!r}:\n"
        "    print('ls', folder, sorted(os.listdir(folder)))\n"
        "print('pids', sorted(int(p) for p in os.listdir('/proc') if p.isdigit()))\n"
        "rw = [l.split()[1] for l in open('/proc/self/mounts') if 'rw' in l.split()[3].split(',')]\n"
        "print('rw', sorted(set(rw)))\n"
        "for path in ('/tmp/x', '/dev/shm/x', '/x', '/usr/x', os.path.dirname(os.__file__) + '/x', '/job/x', os.getcwd() + '/x'):\n"
        "    try:\n"
        "        open(path, 'w').close(); print('wrote', path)\n"
        "    except OSError as e:\n"
        "        print('refused', path, e.errno)\n"
    )
    ex2 = grader.grade(write_submission(tmp_path / "nb.ipynb", ex2=code + solution_region("ex2"))).exercises[1]
    assert ex2.status == "passed", ex2.message
    lines = ex2.output.splitlines()
    listed = {line.split(" ", 2)[1]: set(eval(line.split(" ", 2)[2])) for line in lines if line.startswith("ls ")}
    assert listed == above
    found = dict(line.split(" ", 1) for line in lines if line.split(" ", 1)[0] in ("pids", "rw"))
    assert eval(found["pids"])[0] == 1 and len(eval(found["pids"])) == 2  # the zygote and this run
    assert eval(found["rw"]) == [JOB_MOUNT, "/proc"]  # /proc's own files are the kernel's to allow; /proc/sys is not
    tried = [line.split()[0] for line in lines if line.startswith(("wrote", "refused"))]
    assert tried == ["refused"] * 6 + ["wrote"], lines  # the job folder alone, not the job root above it


LIFELINE = """
import sys, time
sys.path.insert(0, {tests!r})
from submissions import write_submission
from autograder.grading import Grader
from autograder.sandbox import Limits
with Grader(Limits(timeout=120)) as grader:
    for sandbox in grader.sandboxes.values():
        sandbox.wait_until_ready()
    print(grader.warm.process.pid, *[s.process.pid for s in grader.sandboxes.values()], flush=True)
    grader.grade(write_submission({path!r}, ex1='while True:\\n    pass'))
"""


def test_the_zygotes_and_the_server_end_with_their_grader(tmp_path):
    """A grader killed mid-run (SIGKILL: no clean-up of its own) takes its server, its zygotes and the run with it."""
    script = LIFELINE.format(tests=str(ROOT / "tests"), path=str(tmp_path / "nb.ipynb"))
    grader = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    pids = [int(p) for p in grader.stdout.readline().split()]
    assert len(pids) == 3, pids
    time.sleep(1.0)  # the looping run has started
    os.kill(grader.pid, signal.SIGKILL)
    grader.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(os.path.exists(f"/proc/{pid}") and _alive(pid) for pid in pids):
        time.sleep(0.05)
    assert [pid for pid in pids if _alive(pid)] == []


RUNTIME_UNDER_TMP = """
import sys
sys.path.insert(1, {tests!r})
from submissions import all_right
from autograder.grading import Grader
from autograder.sandbox import Limits
with Grader(Limits(timeout=60)) as grader:
    report = grader.grade(all_right({path!r}))
    print(report.score == report.max_score, [s.isolation for s in grader.sandboxes.values()], [s.warm_refused for s in grader.sandboxes.values()])
"""


def test_a_runtime_under_tmp_is_in_the_warm_world(tmp_path):
    """A checkout of the package under /tmp (a venv or a clone there) is bound inside the run's empty /tmp, as
    bubblewrap binds it: the warm sandbox holds instead of falling back to bubblewrap (each of whose zygotes
    imports torch again)."""
    checkout = tmp_path / "checkout"
    shutil.copytree(ROOT / "autograder", checkout / "autograder", ignore=shutil.ignore_patterns("__pycache__"))
    assert str(checkout).startswith("/tmp/"), checkout
    script = RUNTIME_UNDER_TMP.format(tests=str(ROOT / "tests"), path=str(tmp_path / "nb.ipynb"))
    run = subprocess.run([sys.executable, "-c", script], cwd=checkout, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(checkout)})  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.strip() == "True ['warm', 'warm'] [None, None]", run.stdout


def _alive(pid: int) -> bool:
    try:
        state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_where_the_namespaces_are_refused_bubblewrap_makes_the_sandbox(small_words, tmp_path):
    """A warm server that cannot be reached, or that cannot make a world: each sandbox falls back to bubblewrap,
    says why, and grades the same."""
    from autograder.warm_server import WarmServer, ZygoteRequest

    server = WarmServer()
    try:
        refusing = ZygoteRequest(server.address, tmp_path / "no such folder", 2_000_000_123 if os.geteuid() == 0 else None, [])
        zygote = refusing.answer()
        reply = json.loads(zygote.stdout.readline())
        assert reply["status"] == "refused" and "mount /newroot/job" in reply["why"], reply
        zygote.wait()
    finally:
        server.close()
    sandboxes = {label: Sandbox(Limits(timeout=30), warm=str(tmp_path / "no-server")) for label in (PUBLIC, HIDDEN)}
    with Grader(sandboxes=sandboxes, words=small_words) as grader:
        report = grader.grade(all_right(tmp_path / "nb.ipynb"))
        assert report.score == report.max_score
        expected = "bubblewrap" if bwrap_works() else "process"
        assert [s.isolation for s in sandboxes.values()] == [expected, expected]
        assert all("warm server is not there" in s.warm_refused for s in sandboxes.values())


def test_doctor_says_which_sandbox_is_in_force():
    def doctor(**env):
        run = subprocess.run([sys.executable, "-m", "autograder", "doctor"], capture_output=True, text=True,
                             env={**os.environ, **env}, cwd=ROOT, timeout=300)  # fmt: skip
        return run.stdout.splitlines()[0]

    assert doctor().startswith("Isolation: sandbox of namespaces")
    if bwrap_works():
        assert doctor(BACKPROP_NINJA_SANDBOX="bubblewrap").startswith("Isolation: bubblewrap sandbox")
