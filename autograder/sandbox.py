"""Where student code is sent to run: a zygote process, under bubblewrap when the OS allows it.

Under bubblewrap the zygote sees the Python runtime and the autograder package read-only, one job folder
read-write, a private /tmp, no network and its own process tree: it cannot read solutions/, the gradebook or
another student's submission. Without bubblewrap it is still a separate process with the same limits.
The parent (this module) trusts nothing from it but plain arrays and small JSON files; see outcome.py.
"""
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PACKAGE_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Limits:
    timeout: float = 60.0  # seconds of wall time per exercise run (all seeds)
    memory_gib: float = 4.0
    output_cap: int = 20_000  # characters of the student's printed output kept per seed

    @property
    def memory_bytes(self) -> int:
        return int(self.memory_gib * 2**30)


def _runtime_paths() -> list[str]:
    """What Python, torch and this package need to run, and nothing of the course's files."""
    paths = {sys.base_prefix, sys.prefix, sys.exec_prefix, str(PACKAGE_DIR)}
    paths |= {p for p in ("/usr", "/lib", "/lib64", "/bin", "/etc/ld.so.cache", "/etc/alternatives") if os.path.exists(p)}
    # A venv's python is often a symlink into a pyenv or system prefix.
    paths.add(str(Path(os.path.realpath(sys.executable)).parent.parent))
    return sorted(paths)


def bwrap_command(job_root: Path) -> list[str]:
    cmd = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session",
           "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]  # fmt: skip
    for path in _runtime_paths():
        cmd += ["--ro-bind", path, path]
    cmd += ["--bind", str(job_root), str(job_root), "--chdir", str(job_root)]
    return cmd


@functools.cache
def bwrap_works() -> bool:
    if shutil.which("bwrap") is None:
        return False
    with tempfile.TemporaryDirectory() as tmp:
        probe = bwrap_command(Path(tmp)) + [sys.executable, "-c", "import os; open('probe', 'w')"]
        try:
            ok = subprocess.run(probe, capture_output=True, timeout=30).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False
        return ok and (Path(tmp) / "probe").exists()


def isolation_in_force() -> str:
    if bwrap_works():
        return ("bubblewrap sandbox: student code sees only the Python runtime (read-only) and its own job folder, "
                "with no network and its own process tree")  # fmt: skip
    return ("separate process only (bubblewrap is not available here): student code cannot change the grader's "
            "reference or comparison, but it can read files this user can read")  # fmt: skip


class Sandbox:
    """One zygote and its private job folder. Runs one exercise at a time; use several for parallel grading."""

    def __init__(self, limits: Limits = Limits()):
        self.limits = limits
        self.job_root = Path(tempfile.mkdtemp(prefix="backprop-ninja-"))
        self.process = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self._stop()
        shutil.rmtree(self.job_root, ignore_errors=True)

    def _stop(self):
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def _start(self):
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.job_root),
               "PYTHONPATH": str(PACKAGE_DIR.parent), "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}  # fmt: skip
        cmd = [sys.executable, "-m", "autograder.student_process", "serve"]
        if bwrap_works():
            cmd = bwrap_command(self.job_root) + ["--clearenv"] + [a for k, v in env.items() for a in ("--setenv", k, v)] + cmd
        self.process = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                        text=True, env=env, cwd=self.job_root)  # fmt: skip
        if self._reply() != {"status": "ready"}:
            raise RuntimeError("the student-code sandbox did not start; run `backprop-ninja doctor`")

    def _reply(self):
        line = self.process.stdout.readline()
        try:
            return json.loads(line)
        except json.JSONDecodeError:
            return None

    def run(self, exercise_id: str, code: str, inputs: dict[int, dict], variables: list[str], steps: int) -> "RawRun":
        """Run one exercise's code on each seed's inputs. Returns the job folder's contents, unvalidated."""
        jobdir = self.job_root / "job"
        shutil.rmtree(jobdir, ignore_errors=True)
        jobdir.mkdir()
        for seed, arrays in inputs.items():
            np.savez(jobdir / f"inputs_{seed}.npz", **arrays)
        job = dict(exercise=exercise_id, code=code, seeds=list(inputs), variables=variables, steps=steps,
                   timeout=self.limits.timeout, memory_bytes=self.limits.memory_bytes,
                   output_cap=self.limits.output_cap)  # fmt: skip
        (jobdir / "job.json").write_text(json.dumps(job))
        if self.process is None or self.process.poll() is not None:
            self._start()
        try:
            self.process.stdin.write(str(jobdir) + "\n")
            self.process.stdin.flush()
            reply = self._reply()
        except (BrokenPipeError, OSError):
            reply = None
        if reply is None:  # the submission killed the zygote itself; start a fresh one for the next job
            self._stop()
            reply = {"status": "died", "detail": "the grading process was killed"}
        raw = RawRun(reply, jobdir, list(inputs))
        raw.load()
        shutil.rmtree(jobdir, ignore_errors=True)
        return raw


@dataclass
class RawRun:
    """What came back from one run: the zygote's reply and, per seed, the files the child wrote (if any)."""

    reply: dict
    jobdir: Path
    seeds: list

    def load(self):
        from .student_process import ARRAYS_FILE, OUTPUT_FILE, RESULT_FILE

        self.results, self.arrays, self.outputs = {}, {}, {}
        for seed in self.seeds:
            self.results[seed] = _read_json(self.jobdir / RESULT_FILE.format(seed=seed))
            self.arrays[seed] = _read_arrays(self.jobdir / ARRAYS_FILE.format(seed=seed))
            path = self.jobdir / OUTPUT_FILE.format(seed=seed)
            self.outputs[seed] = path.read_text(errors="replace")[:100_000] if path.is_file() else ""


def _read_json(path: Path):
    try:
        if path.stat().st_size > 1_000_000:
            return None
        value = json.loads(path.read_text())
        return value if isinstance(value, dict) else None
    except (OSError, ValueError):
        return None


def _read_arrays(path: Path) -> dict:
    """Only numeric arrays: allow_pickle=False refuses objects, and anything not float/int is dropped."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k.replace("__", "/"): data[k] for k in data.files}
    except Exception:
        return {}
    return {k: a for k, a in arrays.items() if a.dtype.kind in "fiu" and a.size < 10_000_000}
