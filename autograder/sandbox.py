"""Where student code is sent to run: a zygote process (zygote.py), under bubblewrap when the OS allows it.

Under bubblewrap the zygote sees the Python runtime and the autograder package read-only, one job folder
read-write, a private /tmp, no network and its own process tree, of which it is pid 1: it cannot read solutions/,
the gradebook or another student's submission. It runs with no capabilities: as a normal user in a user namespace
of its own, and, when the grader is root, as a uid of its own that nothing else on the machine has (a root-mapped
user namespace would still write root-owned files and sysctls). Without bubblewrap it is a separate process only.
The parent (this module) trusts nothing from it but replies of the expected form, plain arrays and small JSON
files, and reads them without following links or blocking on pipes the student may have left in their place.
"""
import errno
import functools
import json
import os
import secrets
import select
import shutil
import stat
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING


from .cgroup import JobCgroup
from .grader_side import RESULTS_UNWRITABLE, scratch_full, scratch_seen_by_runs, scratch_unwritable

if TYPE_CHECKING:
    from .warm_server import ServedWarmServer, WarmServer

PACKAGE_DIR = Path(__file__).resolve().parent
MAX_ELEMENTS = 10_000_000  # per array; no gradient of this network comes close
MAX_READ_BYTES = 256 * 2**20  # per file read back from a job folder
STARTUP_SECONDS = 120  # importing torch on a loaded machine
REPLY_GRACE_SECONDS = 10  # beyond a job's own timeout, which the zygote enforces
REPLY_BYTES = 4096  # a reply is one short JSON line; a longer one is not a reply


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


def runtime_holding(path: Path) -> str | None:
    """The runtime path (bound into every run's world) that `path` lies in, if any."""
    real = os.path.realpath(path)
    for runtime in map(os.path.realpath, _runtime_paths()):
        if real == runtime or real.startswith(runtime.rstrip("/") + "/"):
            return runtime
    return None


# Where the job root appears inside the sandbox: outside /tmp, which is emptied after every job.
JOB_MOUNT = "/job"


def _run_as_root() -> bool:
    return os.geteuid() == 0


def bwrap_command(job_root: Path, uid: int | None) -> list[str]:
    """The bubblewrap command line around the zygote. `uid`: as root, the unprivileged uid the zygote becomes.

    As root, bubblewrap makes no user namespace (its uid map would map the sandbox to root outside) and keeps
    only the capabilities the zygote needs to give up root itself (zygote.drop_privileges). As a normal user it
    makes a user namespace in which nothing has a capability, and forbids nested ones.
    """
    if uid is not None:
        cmd = ["bwrap", "--unshare-ipc", "--unshare-pid", "--unshare-net", "--unshare-uts", "--unshare-cgroup-try",
               "--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--cap-add", "CAP_SETPCAP"]
    else:
        cmd = ["bwrap", "--unshare-all", "--unshare-user", "--cap-drop", "ALL", "--disable-userns"]
    cmd += ["--as-pid-1", "--die-with-parent", "--new-session", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    bound, made = _runtime_paths(), set()
    for path in bound:
        # bubblewrap makes missing parent folders 0700: a uid other than root could not reach the runtime.
        for parent in reversed(Path(path).parents[:-1]):
            if str(parent) not in made and not any(str(parent).startswith(b + "/") or str(parent) == b for b in bound):
                cmd += ["--perms", "0755", "--dir", str(parent)]
                made.add(str(parent))
        cmd += ["--ro-bind", path, path]
    cmd += ["--bind", str(job_root), JOB_MOUNT, "--chdir", "/"]  # the zygote, once it is not root, can enter it
    # No scratch space shared by the jobs of one sandbox: a run writes only in its job folder, which the grader
    # empties. (Read-only only now, after the binds: a runtime may live under /tmp.)
    cmd += ["--remount-ro", "/tmp", "--tmpfs", "/dev/shm", "--remount-ro", "/dev/shm"]
    # The root bubblewrap builds, the folders it made on it and /dev are tmpfs that live as long as the sandbox: as
    # a normal user they are the run's own to write, and a file left there would outlive the job (code another
    # student's run imports, memory no job is charged for). Read-only, all of them; the job folder is a mount of
    # its own and stays writable.
    cmd += ["--remount-ro", "/dev", "--remount-ro", "/"]
    return cmd


def _sandbox_uid() -> int | None:
    """As root, a uid (and gid) for one sandbox that no user and no other sandbox has: a run can reach nothing
    owned by another, and per-user limits (processes, keyrings) count this sandbox alone."""
    return 2_000_000_000 + secrets.randbelow(2**24) if _run_as_root() else None


def _zygote_env(job_root_inside: Path, uid: int | None, sandboxed: bool) -> dict:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(job_root_inside),
           "PYTHONPATH": str(PACKAGE_DIR.parent), "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"}  # fmt: skip
    if sandboxed:
        env["BACKPROP_NINJA_OWN_PID_NAMESPACE"] = "1"
        if uid is not None:
            env["BACKPROP_NINJA_RUN_AS"] = f"{uid}:{uid}"
    return env


def _give_job_folder(folder: Path, uid: int | None):
    """As root, a job folder belongs to the sandbox's uid: the run, no longer root, must write there."""
    if uid is not None:
        os.chown(folder, uid, uid)


def _job_root_writable(root: Path, writable: bool):
    """The job root (where each job's folder is made) is the grader's: a run must not rename its own folder, nor
    leave anything beside it. As root the run's uid is another, which may only pass through it; as a normal user
    the run has the grader's uid, so while a job runs the folder is one its owner too may only pass through (and
    the run may not chmod it back: syscall_filter)."""
    os.chmod(root, 0o711 if writable else 0o111)


def _command(job_root: Path, uid: int | None, sandboxed: bool, *args: str) -> tuple[list[str], dict]:
    inside = Path(JOB_MOUNT) if sandboxed else job_root
    env = _zygote_env(inside, uid, sandboxed)
    # -P: the working folder is not on sys.path, so nothing a run can name there is ever imported.
    cmd = [sys.executable, "-P", "-m", "autograder.zygote", *args]
    if sandboxed:
        cmd = ["bwrap", "--clearenv"] + bwrap_command(job_root, uid)[1:] + \
            [a for k, v in env.items() for a in ("--setenv", k, v)] + cmd
    return cmd, env


@functools.cache
def sandbox_probe() -> dict | None:
    """What a run gets inside bubblewrap here (uid, capabilities, ...), or None when bubblewrap cannot run."""
    if shutil.which("bwrap") is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        uid = _sandbox_uid()
        _give_job_folder(Path(tmp), uid)
        cmd, env = _command(Path(tmp), uid, True, "probe")
        try:
            run = subprocess.run(cmd, capture_output=True, timeout=60, env=env, cwd=tmp)
            found = json.loads(run.stdout) if run.returncode == 0 else None
        except (OSError, subprocess.TimeoutExpired, ValueError):
            return None
    return found if isinstance(found, dict) and found.get("writable") else None


def uid_outside() -> str:
    """Who a sandboxed run is on this machine, outside its namespaces (what it could reach if it got out)."""
    if _run_as_root():
        return "a uid of its own, which no user and no other sandbox has"
    return f"your own uid ({os.getuid()}), in a user namespace of its own"


def bwrap_works() -> bool:
    return sandbox_probe() is not None


def isolation_kind() -> str:
    """Which sandbox a run gets here: "warm" (zygotes forked from the warm server enter their namespaces),
    "bubblewrap" (where the kernel refuses the grader the namespaces itself), or "process" (neither)."""
    from . import namespaces

    if os.environ.get("BACKPROP_NINJA_SANDBOX") != "bubblewrap" and namespaces.available() is None:
        return "warm"
    return "bubblewrap" if bwrap_works() else "process"


def isolation_in_force(kind: str | None = None) -> str:
    """What isolates a run, in a sentence: of `kind` (a sandbox's own `isolation`), else of what is in force here."""
    world = ("student code sees only the Python runtime (read-only) and its own job folder, with no network, its "
             "own process tree, no capabilities and "
             + (uid_outside() if _run_as_root() else "a user namespace of its own"))  # fmt: skip
    kind = kind or isolation_kind()
    if kind == "warm":
        return f"sandbox of namespaces, each forked warm from a server that never holds a secret: {world}"
    if kind == "bubblewrap":
        return f"bubblewrap sandbox: {world}"
    return ("separate process only (bubblewrap is not available here): student code cannot change the grader's "
            "reference or comparison, but it can read files this user can read")  # fmt: skip


def run_privileges() -> dict | None:
    """What a run gets inside the sandbox in force here (uid, capabilities, ...), as doctor shows it; None when
    there is no sandbox."""
    kind = isolation_kind()
    if kind == "warm":
        from .syscall_filter import probe

        server = start_warm_server()
        try:
            with Sandbox(warm=server) as sandbox:
                sandbox.wait_until_ready()
                if sandbox.warm:
                    return {**sandbox.privileges, "syscall_filter_refused": probe()}
        finally:
            server.close()
    return sandbox_probe() if kind != "process" else None


def start_warm_server() -> "WarmServer | ServedWarmServer | None":
    """A warm server for sandboxes to fork their zygotes from: the one `backprop-ninja serve` keeps for this grader,
    else one started now; None where the kernel refuses this user the namespaces (each sandbox is then
    bubblewrap's). BACKPROP_NINJA_SANDBOX=bubblewrap asks for bubblewrap's."""
    from .warm_server import WarmServer, served_warm_server

    return (served_warm_server() or WarmServer()) if isolation_kind() == "warm" else None


class Sandbox:
    """One zygote and its private job folder. Runs one exercise at a time; use several for parallel grading."""

    def __init__(self, limits: Limits = Limits(), warm: "WarmServer | str | None" = None):
        """`warm`: a warm server (or its address) to fork the zygote from; else bubblewrap starts a fresh one."""
        self.limits = limits
        self.job_root = Path(tempfile.mkdtemp(prefix="backprop-ninja-"))
        runtime = runtime_holding(self.job_root)
        if runtime:  # every sandbox shows the runtime to its runs: the job roots must lie outside it
            shutil.rmtree(self.job_root, ignore_errors=True)
            raise scratch_seen_by_runs(self.job_root.parent, runtime)
        _job_root_writable(self.job_root, True)
        self.warm = getattr(warm, "address", warm)
        self.warm_refused = None  # why the warm server could not make this sandbox's world, if it could not
        self._choose_isolation()
        self.cgroup = JobCgroup.create()  # the kernel's limits too, where this process may make a cgroup
        self.process = None
        self.pending = None  # a zygote asked of the warm server, not yet answered
        self.ready = False  # the zygote has said it imported torch and waits for jobs

    def _choose_isolation(self):
        self.sandboxed = self.warm is not None or bwrap_works()
        self.uid = _sandbox_uid() if self.sandboxed else None
        self.inside_root = Path(JOB_MOUNT) if self.sandboxed else self.job_root  # the same folder, as the zygote sees it

    def _without_warm_server(self, why: str):
        """The kernel refused what the warm server's zygote needs (no user namespaces here, say): bubblewrap's."""
        self._stop()
        self.warm, self.warm_refused = None, why
        self._choose_isolation()

    @property
    def isolation(self) -> str:
        """Which mechanism isolates this sandbox's runs, for doctor and the tests."""
        if self.warm:
            return "warm"
        return "bubblewrap" if self.sandboxed else "process"

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self._stop()
        if self.cgroup:
            self.cgroup.remove()
        shutil.rmtree(self.job_root, ignore_errors=True)

    def _stop(self):
        if self.pending is not None:
            self.pending.close()
            self.pending = None
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def start(self):
        """Start the zygote without waiting for it: it imports torch (a second or two), or the warm server forks
        it, while the caller works."""
        if self.pending is not None or (self.process is not None and self.process.poll() is None):
            return
        self.ready = False
        if self.warm:
            from .warm_server import WorldRefused, ZygoteRequest

            try:
                self.pending = ZygoteRequest(self.warm, self.job_root, self.uid,
                                             self.cgroup.procs_files() if self.cgroup else [])  # fmt: skip
                return
            except WorldRefused as e:
                self._without_warm_server(str(e))
        cmd, env = _command(self.job_root, self.uid, self.sandboxed, "serve")
        if self.cgroup:
            cmd = self.cgroup.enter(cmd)
        self.process = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                        env=env, cwd=self.job_root)  # fmt: skip

    def wait_until_ready(self):
        """A zygote that has started and said so, (re)starting it if a submission ended the last one."""
        if self.pending is None and (self.process is None or self.process.poll() is not None):
            self.start()
        if self.pending is not None:
            from .warm_server import WorldRefused

            pending, self.pending = self.pending, None
            try:
                self.process = pending.answer()
            except WorldRefused as e:
                self._without_warm_server(str(e))
                return self.wait_until_ready()
        if not self.ready:
            reply = self._reply(STARTUP_SECONDS)
            if reply is not None and reply.get("status") == "refused" and self.warm:
                self._without_warm_server(str(reply.get("why"))[:500])
                return self.wait_until_ready()
            if reply is None or reply.get("status") != "ready":
                self._stop()
                raise RuntimeError("the student-code sandbox did not start; run `backprop-ninja doctor`")
            self.ready = True
            self.privileges = reply

    def _reply(self, seconds: float) -> dict | None:
        """The zygote's next reply line, or None if none comes in time or it is not a reply's form."""
        ready, _, _ = select.select([self.process.stdout], [], [], seconds)
        if not ready:
            return None
        line = self.process.stdout.readline(REPLY_BYTES)
        try:
            reply = json.loads(line) if line.endswith(b"\n") else None
        except ValueError:
            return None
        return reply if isinstance(reply, dict) else None

    def run(self, run_side: str, exercise: dict, inputs: bytes, timeout: float) -> "RunOutcome":
        """Run one exercise's code on one seed's inputs (array_file.encode), as a job of its own, within `timeout`
        seconds, by the assignment's `run_side` (Assignment.run_module, imported in the child). `exercise`:
        {exercise, code, variables, steps, constants}. Never raises for the submission's sake:
        whatever happens comes back as the reply's status."""
        from .student_process import INPUTS_FILE

        self.wait_until_ready()  # first: the sandbox it starts in decides the job folder's owner
        # A fresh, unpredictable folder per job: nothing a student planted in an earlier one is in it.
        jobdir = Path(tempfile.mkdtemp(dir=self.job_root, prefix="job-"))
        _give_job_folder(jobdir, self.uid)
        dir_fd = os.open(jobdir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        timeout = max(timeout, 0.0)
        job = dict(run_side=run_side, output_cap=self.limits.output_cap, **exercise)
        # What the zygote reads: the grader's own choices only, never a submission's data.
        request = dict(job=str(self.inside_root / jobdir.name), timeout=timeout,
                       memory_bytes=self.limits.memory_bytes)  # fmt: skip
        try:
            try:
                (jobdir / INPUTS_FILE).write_bytes(inputs)
                (jobdir / "job.json").write_text(json.dumps(job))
            except OSError as e:  # a full disk, perhaps filled by an earlier submission: the grader's failure, no grade
                raise scratch_unwritable(self.job_root.parent, e) from e
            _job_root_writable(self.job_root, False)
            oom_kills = self._limit_cgroup()
            try:
                self.process.stdin.write((json.dumps(request) + "\n").encode())
                self.process.stdin.flush()
                # The zygote enforces the timeout; no answer in time means something stopped it.
                reply = valid_reply(self._reply(timeout + REPLY_GRACE_SECONDS), jobdir.name)
            except (BrokenPipeError, OSError):
                reply = None
            if reply is None:
                # Killed or stopped, or a reply that is not for this job: start afresh next time.
                self._stop()
                reply = {"status": "died", "detail": "the grading process was killed"}
            if self.cgroup and self.cgroup.oom_kills() > oom_kills:
                # The kernel stopped a process of the job (or the zygote with it) at the tree's limit. Even when the
                # run itself finished (the process killed was one it forked), the tree went over: that is the verdict.
                reply = {"status": "memory"}
            outcome = RunOutcome.load(reply, dir_fd)
        finally:
            os.close(dir_fd)
            _job_root_writable(self.job_root, True)
            self._empty_job_root()
        if outcome.reply.get("exit_code") == RESULTS_UNWRITABLE and scratch_full(self.job_root):
            raise scratch_unwritable(self.job_root.parent, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
        return outcome

    def _limit_cgroup(self) -> int:
        """Reset the cgroup's limits for the next job; how many memory kills it has seen so far."""
        if not self.cgroup:
            return 0
        from .zygote import MAX_TASKS

        try:
            self.cgroup.limit(self.limits.memory_bytes + cgroup_headroom(self.limits.memory_bytes), MAX_TASKS)
        except OSError:
            pass  # the zygote's own checks still hold the job to its limits
        return self.cgroup.oom_kills()

    def _empty_job_root(self):
        """Remove everything in the job root. Should anything resist (a folder a run made unwritable where no syscall
        filter stopped it), this sandbox is retired with its job root: nothing of a job may outlive it."""
        for entry in self.job_root.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, onerror=_writable_and_again)  # does not follow links the student left
            else:
                entry.unlink(missing_ok=True)
        if any(self.job_root.iterdir()):
            self._stop()
            old, self.job_root = self.job_root, Path(tempfile.mkdtemp(prefix="backprop-ninja-"))
            _job_root_writable(self.job_root, True)
            shutil.rmtree(old, ignore_errors=True)


def _writable_and_again(function, path, _):
    """rmtree's second try at `path`: its folder made the owner's to change (a run of the grader's uid can have
    made it read-only), then the same removal; what still resists is left for _empty_job_root to see."""
    try:
        os.chmod(os.path.dirname(path), 0o700)
        if os.path.isdir(path) and not os.path.islink(path):
            os.chmod(path, 0o700)
            shutil.rmtree(path, ignore_errors=True)
        else:
            function(path)
    except OSError:
        pass


def cgroup_headroom(memory_bytes: int) -> int:
    """How far above the job's memory limit the kernel's cap sits. The zygote's own check (every POLL_SECONDS) ends
    a job that allocates step by step; the cgroup is the backstop for one that allocates faster than that. Set at
    the limit itself, the cgroup was always met first (it also counts the pages the child copies from the zygote),
    and a run stopped by the kernel's OOM killer under a loaded machine could take longer than its time limit."""
    return max(256 * 2**20, memory_bytes // 4)


def valid_reply(reply: dict | None, job: str) -> dict | None:
    """The zygote's reply for `job` in its closed form, or None: nothing else in it is read."""
    from .zygote import STATUSES

    if reply is None or reply.get("job") != job or reply.get("status") not in STATUSES[1:]:
        return None
    clean = {"status": reply["status"]}
    if reply["status"] == "died":
        if type(reply.get("exit_code")) is int and 0 < reply["exit_code"] < 256:
            clean["exit_code"] = reply["exit_code"]
        elif isinstance(reply.get("signal"), str) and reply["signal"].isalnum() and len(reply["signal"]) < 12:
            clean["signal"] = reply["signal"]
    return clean


@dataclass
class RunOutcome:
    """What came back from one run: the zygote's reply (already in its closed form) and what the child wrote
    (None or empty when missing or malformed). `result` is the child's JSON as written: run_result.py reads it."""

    reply: dict
    result: dict | None = None
    arrays: dict = field(default_factory=dict)
    output: str = ""

    @classmethod
    def load(cls, reply: dict, dir_fd: int) -> "RunOutcome":
        from .student_process import ARRAYS_FILE, OUTPUT_FILE, RESULT_FILE

        return cls(
            reply,
            _read_json(_read_file(dir_fd, RESULT_FILE)),
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
    except (ValueError, RecursionError):  # [[[[...]]]] nested past the interpreter's depth
        return None
    return value if isinstance(value, dict) else None


def _read_arrays(data: bytes | None) -> dict:
    """The run's arrays, only if the whole file is of the closed form array_file.py checks; else none."""
    from . import array_file

    try:
        return array_file.decode(data, MAX_ELEMENTS) if data else {}
    except array_file.NotAnArrayFile:
        return {}
