"""Where student code is sent to run: a zygote process, under bubblewrap when the OS allows it.

Under bubblewrap the zygote sees the Python runtime and the autograder package read-only, one job folder
read-write, a private /tmp, no network and its own process tree: it cannot read solutions/, the gradebook or
another student's submission. Without bubblewrap it is still a separate process with the same limits.
The parent (this module) trusts nothing from it but plain arrays and small JSON files of the expected form,
and reads them without following links or blocking on pipes the student may have left in their place.
"""
import functools
import io
import json
import os
import select
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

PACKAGE_DIR = Path(__file__).resolve().parent
MAX_ELEMENTS = 10_000_000  # per array; no gradient of this network comes close
MAX_READ_BYTES = 256 * 2**20  # per file read back from a job folder
STARTUP_SECONDS = 120  # importing torch on a loaded machine
REPLY_GRACE_SECONDS = 10  # beyond a job's own timeout, which the zygote enforces


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


# Where the job root appears inside the sandbox: outside /tmp, which the zygote empties after every job.
JOB_MOUNT = "/job"


def bwrap_command(job_root: Path) -> list[str]:
    cmd = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session",
           "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]  # fmt: skip
    for path in _runtime_paths():
        cmd += ["--ro-bind", path, path]
    cmd += ["--bind", str(job_root), JOB_MOUNT, "--chdir", JOB_MOUNT]
    # The zygote empties its scratch space after each job, around these mounts (a venv may live under /tmp).
    cmd += ["--setenv", "BACKPROP_NINJA_MOUNTS", ":".join(_runtime_paths() + [JOB_MOUNT])]
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
        self.inside_root = Path(JOB_MOUNT) if bwrap_works() else self.job_root  # the same folder, as the zygote sees it
        self.process = None
        self.ready = False  # the zygote has said it imported torch and waits for jobs

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

    def start(self):
        """Start the zygote without waiting for it: it imports torch (a second or two) while the caller works."""
        if self.process is not None and self.process.poll() is None:
            return
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.inside_root),
               "PYTHONPATH": str(PACKAGE_DIR.parent), "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}  # fmt: skip
        cmd = [sys.executable, "-m", "autograder.student_process", "serve"]
        if bwrap_works():
            env["BACKPROP_NINJA_OWN_PID_NAMESPACE"] = "1"
            cmd = ["bwrap", "--clearenv"] + bwrap_command(self.job_root)[1:] + [a for k, v in env.items() for a in ("--setenv", k, v)] + cmd
        self.process = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                        text=True, env=env, cwd=self.job_root)  # fmt: skip
        self.ready = False

    def _ready(self):
        """A zygote that has started and said so, (re)starting it if a submission ended the last one."""
        if self.process is None or self.process.poll() is not None:
            self.start()
        if not self.ready:
            if self._reply(STARTUP_SECONDS) != {"status": "ready"}:
                self._stop()
                raise RuntimeError("the student-code sandbox did not start; run `backprop-ninja doctor`")
            self.ready = True

    def _reply(self, seconds: float) -> dict | None:
        """The zygote's next reply line, or None if none comes in time (a submission may have stopped it)."""
        ready, _, _ = select.select([self.process.stdout], [], [], seconds)
        if not ready:
            return None
        try:
            reply = json.loads(self.process.stdout.readline())
        except json.JSONDecodeError:
            return None
        return reply if isinstance(reply, dict) else None

    def run(self, exercise_id: str, code: str, arrays: dict, variables: list[str], steps: int,
            timeout: float) -> "RunOutcome":
        """Run one exercise's code on one seed's inputs, within `timeout` seconds. Never raises for the
        submission's sake: whatever happens comes back as the reply's status."""
        # A fresh, unpredictable folder per job: nothing a student planted in an earlier one is in it.
        jobdir = Path(tempfile.mkdtemp(dir=self.job_root, prefix="job-"))
        dir_fd = os.open(jobdir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        job = dict(exercise=exercise_id, code=code, variables=variables, steps=steps, timeout=max(timeout, 0.0),
                   memory_bytes=self.limits.memory_bytes, output_cap=self.limits.output_cap)  # fmt: skip
        try:
            from .student_process import INPUTS_FILE

            try:
                np.savez(jobdir / INPUTS_FILE, **arrays)
                (jobdir / "job.json").write_text(json.dumps(job))
            except OSError as e:  # a full disk, perhaps filled by an earlier submission: this job fails, not the batch
                return RunOutcome({"status": "died", "detail": f"the grader could not write the job ({e.strerror})"})
            self._ready()
            try:
                self.process.stdin.write(str(self.inside_root / jobdir.name) + "\n")
                self.process.stdin.flush()
                # The zygote enforces the timeout itself; it only fails to answer when the submission stopped it.
                reply = self._reply(job["timeout"] + REPLY_GRACE_SECONDS)
            except (BrokenPipeError, OSError):
                reply = None
            if reply is None or reply.pop("job", None) != jobdir.name:
                # The submission killed or stopped the zygote: start afresh next time.
                self._stop()
                reply = {"status": "died", "detail": "the grading process was killed"}
            return RunOutcome.load(reply, dir_fd)
        finally:
            os.close(dir_fd)
            self._empty_job_root()

    def _empty_job_root(self):
        """Remove everything in the job root, not only the job folder: a run can write beside it."""
        for entry in self.job_root.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)  # does not follow links the student left
            else:
                entry.unlink(missing_ok=True)


@dataclass
class RunOutcome:
    """What came back from one run: the zygote's reply and what the child wrote (None or empty when missing or
    malformed)."""

    reply: dict
    result: dict | None = None
    arrays: dict = field(default_factory=dict)
    output: str = ""

    @classmethod
    def load(cls, reply: dict, dir_fd: int) -> "RunOutcome":
        from .student_process import ARRAYS_FILE, OUTPUT_FILE, RESULT_FILE

        return cls(
            reply,
            _valid_result(_read_json(_read_file(dir_fd, RESULT_FILE))),
            _read_arrays(_read_file(dir_fd, ARRAYS_FILE)),
            (_read_file(dir_fd, OUTPUT_FILE) or b"")[:100_000].decode("utf-8", errors="replace"),
        )


def _read_file(dir_fd: int, name: str) -> bytes | None:
    """A regular file of the job folder, or None: a link, a pipe or a device the student put there is not read."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=dir_fd)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(MAX_READ_BYTES + 1)
        return data if len(data) <= MAX_READ_BYTES else None
    finally:
        os.close(fd)


def _read_json(data: bytes | None):
    try:
        value = json.loads(data) if data and len(data) <= 1_000_000 else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _valid_result(result: dict | None) -> dict | None:
    """The child's result.json if it has the form the child writes, else None (a forged or damaged file)."""
    if result is None:
        return None
    values, losses, error, calls = (result.get(k) for k in ("values", "losses", "error", "autograd_calls"))
    def line_ok(d):
        return d.get("line") is None or type(d.get("line")) is int

    ok = (
        isinstance(values, dict) and all(isinstance(v, dict) for v in values.values())
        and isinstance(losses, list) and all(x is None or type(x) in (int, float) for x in losses)
        and (error is None or (isinstance(error, dict) and isinstance(error.get("type"), str)
                               and isinstance(error.get("message"), str) and line_ok(error)))
        and isinstance(calls, list) and all(isinstance(c, dict) and isinstance(c.get("call"), str) and line_ok(c)
                                            for c in calls)
    )  # fmt: skip
    return result if ok else None


def _read_arrays(data: bytes | None) -> dict:
    """Only numeric arrays of sensible size: allow_pickle=False refuses objects, and anything else is dropped."""
    if not data:
        return {}
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            # Each member's uncompressed size, checked before reading it: a small file may unpack to gigabytes.
            if sum(info.file_size for info in npz.zip.infolist()) > MAX_READ_BYTES:
                return {}
            arrays = {k.replace("__", "/"): npz[k] for k in npz.files}
    except Exception:
        return {}
    return {k: a for k, a in arrays.items() if a.dtype.kind in "fiu" and a.size < MAX_ELEMENTS}
