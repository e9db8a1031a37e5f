"""The warm server: one process that imports torch and every assignment's run side once, then forks each sandbox's
zygote, which enters its own namespaces (namespaces.py) and gives up its privileges before it answers anything,
and a class run's grading workers (worker_pool.py), which then import only the grader's side.

A zygote started by bubblewrap is a fresh Python that imports torch: about two CPU-seconds, four times in a class
run of two workers. Forked from here it costs a fork. What makes that safe is what this process never holds:
every zygote, and every run it forks, inherits this process's memory, so nothing secret may ever enter it.
- It is started by exec with an argument list and environment of its own (`_server_env`), not forked from the
  grader: nothing of the grader's memory, its command line (the --hidden-seed) or environment
  (BACKPROP_NINJA_HIDDEN_SEED) comes along. (multiprocessing's fork server, by contrast, is handed the parent's
  sys.argv.)
- A request names only what the grader chose for a sandbox: its job root, its uid, its cgroup. Never a seed,
  a reference, an input or a submission; those reach a run through its job folder, after the fork. A worker's
  request names nothing at all: the run's settings (the seed) and its submissions reach the worker on its own
  connection, after the fork, and nothing is ever forked from a worker.
- Autograd is switched off in each zygote (student_process.lock_down), not here: a worker makes the references
  with it.
- It listens on a socket in a folder only its user can open; a run is in another mount namespace and may open no
  socket at all (syscall_filter.py).

`backprop-ninja serve` keeps one such server across runs (`served_warm_server`): a run then forks from it and
imports no torch of its own. The rules above hold for it unchanged, and three more:
- It serves one grader only: its socket is named by the grader's version (settings.grader_version, a hash of the
  code), so a run of other code never finds it; and before each fork it hashes the code on disk again, and
  refuses and ends if that changed since it started (an upgrade in place), so no worker or zygote ever mixes the
  code it inherited with newer code it imports.
- Its socket lies in a folder of this user's alone (`own_folder`), and it answers only a peer of its own uid.
- A worker of a run ends when that run does, even mid-task, by a lifeline of the run's (the server outlives it).

The zygote's pipes are the grader's: the grader makes them and hands their ends over with the request, so the
zygote talks to the sandbox that asked for it and to nothing else, and sees the grader go when its request pipe
closes (zygote.py). The grader gets a pidfd to kill it by.
"""
import json
import os
import select
import signal
import socket
import subprocess
import stat
import struct
import sys
import tempfile
from multiprocessing.connection import Connection
from pathlib import Path

from .namespaces import WorldRefused
from .zygote import PR_SET_PDEATHSIG, prctl

REQUEST_BYTES = 4096
STARTUP_SECONDS = 120  # importing torch on a loaded machine


def _server_env() -> dict:
    """Only what a Python that imports torch needs: nothing of the grader's environment."""
    from .sandbox import PACKAGE_DIR

    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(PACKAGE_DIR.parent),
            "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1", "HOME": "/"}  # fmt: skip


class WarmServer:
    """The grader's handle on a warm server: started at once, it imports torch while the grader goes on."""

    def __init__(self, served: str | None = None):
        """`served`: the grader version `backprop-ninja serve` keeps this server for, at that version's address in
        the serve folder (made by the caller); else a server of this run's own, in a folder of its own."""
        self.served = served
        self.folder = str(served_folder()) if served else tempfile.mkdtemp(prefix="backprop-ninja-warm-")  # 0700
        self.address = served_address(served) if served else os.path.join(self.folder, "socket")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.address)
        listener.listen(64)
        # A lifeline: the server ends when this process does (however it ends), as the read end sees the write end
        # close. Only its number (and a served one's grader version) is on the server's command line.
        lifeline, self.lifeline = os.pipe()
        self.process = subprocess.Popen([sys.executable, "-P", "-m", "autograder.warm_server", str(lifeline),
                                         *([served] if served else [])],
                                        stdin=listener, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        env=_server_env(), cwd="/", pass_fds=(lifeline,))  # fmt: skip
        listener.close()
        os.close(lifeline)

    def close(self):
        if self.lifeline is not None:
            os.close(self.lifeline)
            self.lifeline = None
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        try:
            os.unlink(self.address)
            os.rmdir(self.folder)  # a served one's folder, only once no other version's socket is in it
        except OSError:
            pass


# --------------------------------------------------------------------------- kept across runs (backprop-ninja serve)


def served_folder() -> Path:
    """Where `backprop-ninja serve` keeps its socket: this user's folder in the scratch space, which no run sees
    (a run's /tmp is empty, and a scratch space inside the runtime is refused: sandbox.runtime_holding)."""
    return Path(tempfile.gettempdir()) / f"backprop-ninja-serve-{os.getuid()}"


def served_address(version: str) -> str:
    return str(served_folder() / f"warm-{version}.socket")


def own_folder(folder: Path, make: bool = False) -> bool:
    """Whether `folder` is a folder of this user's that no one else may open (made so first, with `make`). One
    that another user made, or made open to others, or a link, is never used: whoever can reach a server's socket
    can ask it for a worker."""
    if make:
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            pass
    try:
        st = os.lstat(folder)
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and st.st_mode & 0o077 == 0


class ServedWarmServer:
    """A run's handle on the server `backprop-ninja serve` keeps: the run forks from it and leaves it running."""

    def __init__(self, address: str, pid: int):
        self.address, self.pid, self.served = address, pid, True

    def close(self):
        pass


def served_warm_server() -> ServedWarmServer | None:
    """The server `backprop-ninja serve` keeps for this grader, if one is up and answers; else None."""
    from .settings import grader_version

    address = served_address(grader_version())
    if not own_folder(served_folder()) or not os.path.exists(address):
        return None
    answer = ping(address)
    if answer is None or answer.get("version") != grader_version():
        return None
    return ServedWarmServer(address, answer["pid"])


def other_graders_served() -> list[str]:
    """The versions of other graders a `backprop-ninja serve` of this user's serves now: a run of this one cannot
    use them."""
    from .settings import grader_version

    folder = served_folder()
    if not own_folder(folder):
        return []
    versions = []
    for path in sorted(folder.glob("warm-*.socket")):
        version = path.name[len("warm-"):-len(".socket")]
        if version != grader_version() and (ping(str(path), seconds=2) or {}).get("version") == version:
            versions.append(version)
    return versions


def ping(address: str, seconds: float = 30) -> dict | None:
    """A server's version and pid, once it has warmed up (it answers nothing before), or None."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(seconds)
            connection.connect(address)
            socket.send_fds(connection, [json.dumps({"ping": True}).encode()], [])
            message, fds, _, _ = socket.recv_fds(connection, REQUEST_BYTES, 1)
        for fd in fds:
            os.close(fd)
        answer = json.loads(message or b"{}")
    except (OSError, ValueError):
        return None
    return answer if isinstance(answer, dict) and type(answer.get("pid")) is int else None


class _ForkedProcess:
    """A process the warm server forked, known by its pidfd (it is the server's child, not ours): poll, wait, kill."""

    def __init__(self, pid: int, pidfd: int):
        self.pid, self.pidfd = pid, pidfd
        self.returncode = None

    def poll(self):
        if self.returncode is None and select.select([self.pidfd], [], [], 0)[0]:
            self._ended()
        return self.returncode

    def wait(self, timeout: float | None = None):
        if self.returncode is None and select.select([self.pidfd], [], [], timeout)[0]:
            self._ended()
        return self.returncode

    def _ended(self):
        self.returncode = -1  # not this process's child: how it ended is not ours to read, only that it did
        self._close_ends()
        os.close(self.pidfd)

    def _close_ends(self):
        """Close this process's end of what connects it to the grader."""

    def kill(self):
        if self.returncode is None:
            try:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass


class ForkedZygote(_ForkedProcess):
    """A zygote forked by the warm server, with what sandbox.py uses of a subprocess: its pipes, poll, kill, wait."""

    def __init__(self, pid: int, pidfd: int, stdin, stdout):
        super().__init__(pid, pidfd)
        self.stdin, self.stdout = stdin, stdout

    def _close_ends(self):
        for f in (self.stdin, self.stdout):
            try:
                f.close()
            except OSError:
                pass


class ForkedWorker(_ForkedProcess):
    """A class run's grading worker forked by the warm server (worker_pool.py), and the connection it is given its
    tasks on."""

    def __init__(self, pid: int, pidfd: int, connection: Connection):
        super().__init__(pid, pidfd)
        self.connection = connection

    def _close_ends(self):
        self.connection.close()


class _Request:
    """A request sent to the warm server at once, with the descriptors the forked process is to have; `_reply`
    waits for the answer (the server may still be importing torch while the grader goes on)."""

    def __init__(self, address: str, request: dict, fds: list[int]):
        self.connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.connection.connect(address)
            socket.send_fds(self.connection, [json.dumps(request).encode()], fds)
        except OSError as e:
            self.connection.close()
            raise WorldRefused(e.errno, f"the warm server is not there ({e.strerror})") from e

    def _reply(self) -> tuple[int, int]:
        """The forked process's pid and pidfd."""
        try:
            self.connection.settimeout(STARTUP_SECONDS)
            message, fds, _, _ = socket.recv_fds(self.connection, REQUEST_BYTES, 1)
            _not_inherited(fds)
            reply = json.loads(message or b"{}")
        except (OSError, ValueError) as e:
            self.connection.close()
            raise WorldRefused(0, f"the warm server did not answer ({e})") from e
        self.connection.close()
        if "pid" not in reply or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            raise WorldRefused(0, reply.get("refused", "the warm server did not answer"))
        return reply["pid"], fds[0]


class ZygoteRequest(_Request):
    """A sandbox's request for a zygote; `answer` waits for it."""

    def __init__(self, address: str, job_root: Path, uid: int | None, cgroup_procs: list[str]):
        requests_read, self.requests_write = os.pipe()
        self.replies_read, replies_write = os.pipe()
        request = {"job_root": str(job_root), "uid": uid, "cgroup_procs": cgroup_procs}
        try:
            super().__init__(address, request, [requests_read, replies_write])
        except WorldRefused:
            self.close()
            raise
        finally:
            os.close(requests_read)
            os.close(replies_write)

    def answer(self) -> ForkedZygote:
        try:
            pid, pidfd = self._reply()
        except WorldRefused:
            self.close()
            raise
        return ForkedZygote(pid, pidfd, os.fdopen(self.requests_write, "wb"), os.fdopen(self.replies_read, "rb"))

    def close(self):
        self.connection.close()
        for fd in (self.requests_write, self.replies_read):
            try:
                os.close(fd)
            except OSError:
                pass


class WorkerRequest(_Request):
    """A class run's request for a grading worker; `answer` waits for it."""

    def __init__(self, address: str, lifeline: int):
        """`lifeline`: the read end of a pipe whose write end the run holds: the worker ends when the run does."""
        ours, theirs = socket.socketpair()
        with theirs:
            try:
                super().__init__(address, {"worker": True}, [theirs.fileno(), lifeline])
            except WorldRefused:
                ours.close()
                raise
        self.ours = ours

    def answer(self) -> ForkedWorker:
        try:
            pid, pidfd = self._reply()
        except WorldRefused:
            self.ours.close()
            raise
        return ForkedWorker(pid, pidfd, Connection(self.ours.detach()))


# --------------------------------------------------------------------------- in the server


def serve(listener: socket.socket, lifeline: int, served: str | None = None):
    """Answer requests until the lifeline closes. `served`: the grader version `backprop-ninja serve` keeps this
    server for, which the code on disk must still be at each fork."""
    from . import student_process
    from .zygote import PR_SET_CHILD_SUBREAPER, reap

    prctl(PR_SET_CHILD_SUBREAPER, 1)  # zygotes, orphaned by the process that forked them, are reaped here
    student_process.warm_up()  # torch, the run sides, the syscall filters: what every zygote and worker inherits
    if served and _code_on_disk() != served:  # changed while this server imported it
        return
    while True:
        reap()
        ready, _, _ = select.select([listener, lifeline], [], [], 0.2)
        if lifeline in ready:  # the grader that started this server is gone; its zygotes see their own pipes close
            return
        if not ready:
            continue
        connection, _ = listener.accept()
        with connection:
            try:
                if _peer_uid(connection) != os.getuid():  # the folder already keeps others out
                    raise PermissionError("a request from another user")
                message, fds, _, _ = socket.recv_fds(connection, REQUEST_BYTES, 2)
                _not_inherited(fds)
                request = json.loads(message)
                if request.get("ping"):
                    reply, pidfd = {"version": served, "pid": os.getpid()}, None
                elif served and _code_on_disk() != served:
                    for fd in fds:
                        os.close(fd)
                    _reply(connection, {"refused": "the grader's code changed since `backprop-ninja serve` started: "
                                                   "start it again"}, None)  # fmt: skip
                    return
                else:
                    reply, pidfd = _fork_worker(fds) if request.get("worker") else _fork(request, fds)
            except (OSError, ValueError) as e:
                reply, pidfd = {"refused": f"{type(e).__name__}: {e}"}, None
            _reply(connection, reply, pidfd)


def _reply(connection: socket.socket, reply: dict, pidfd: int | None):
    try:
        socket.send_fds(connection, [json.dumps(reply).encode()], [pidfd] if pidfd is not None else [])
    except OSError:
        pass
    if pidfd is not None:
        os.close(pidfd)


def _peer_uid(connection: socket.socket) -> int:
    _, uid, _ = struct.unpack("3i", connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i")))
    return uid


def _code_on_disk() -> str:
    """The grader's version as its files are now (settings.grader_version, computed afresh: that one is cached)."""
    from .settings import grader_version

    return grader_version.__wrapped__()


def _not_inherited(fds: list[int]):
    """Descriptors received over a socket come inheritable (Python's recv_fds sets no close-on-exec): none may pass
    to a program a process here or in the grader starts (a worker's connection carries the seed)."""
    for fd in fds:
        os.set_inheritable(fd, False)


def _fork_worker(fds: list[int]) -> tuple[dict, int | None]:
    """Fork a grading worker with the connection and the lifeline it was sent (class_worker.serve_parent). It
    inherits torch and the run sides from here, and nothing secret, for there is nothing secret here: the seed and
    the submissions reach it on that connection, after the fork, and no zygote is ever forked from it."""
    if len(fds) != 2:
        for fd in fds:
            os.close(fd)
        return {"refused": "a worker request without its connection and lifeline"}, None
    server = os.getpid()
    child = os.fork()
    if child == 0:
        try:
            # It ends with the server, and with the run (its lifeline, which a kept server outlives), even mid-task:
            # its zygotes then see their pipes close and end too.
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != server:
                os._exit(0)
            _only_these_descriptors(fds)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            from . import class_worker

            class_worker.serve_parent(*fds)
        finally:
            os._exit(0)
    for fd in fds:
        os.close(fd)
    return {"pid": child}, os.pidfd_open(child)


def _only_these_descriptors(fds: list[int]):
    """Close the listener, the lifeline and other requests' connections: the forked process keeps its own
    descriptors and /dev/null as its stdin (the server's fd 0 is its listener)."""
    for fd in map(int, os.listdir("/proc/self/fd")):
        if fd > 2 and fd not in fds:
            try:
                os.close(fd)
            except OSError:
                pass
    os.dup2(os.open(os.devnull, os.O_RDWR), 0)


def _fork(request: dict, fds: list[int]) -> tuple[dict, int | None]:
    """Fork the process that makes the new namespaces (it must have one thread, which a fork has), which forks
    the zygote as their pid 1 and hands back its pidfd."""
    if len(fds) != 2:
        for fd in fds:
            os.close(fd)
        return {"refused": "a request without its two pipes"}, None
    back, there = socket.socketpair()
    child = os.fork()
    if child == 0:
        try:
            _make_world(request, fds, there)
        finally:
            os._exit(70)
    for fd in fds:
        os.close(fd)
    there.close()
    with back:
        message, pidfds, _, _ = socket.recv_fds(back, REQUEST_BYTES, 1)
    os.waitpid(child, 0)
    reply = json.loads(message or b"{}") or {"refused": "the zygote's world could not be made"}
    return reply, (pidfds[0] if pidfds else None)


def _make_world(request: dict, fds: list[int], back: socket.socket):
    from . import namespaces
    from .sandbox import JOB_MOUNT, _runtime_paths

    requests, replies = fds
    _only_these_descriptors([requests, replies, back.fileno()])
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    as_root = request["uid"] is not None
    mounts = namespaces.world_mounts(_runtime_paths(), request["job_root"], JOB_MOUNT)
    try:
        for procs in request["cgroup_procs"]:  # before the cgroup namespace: its root is then the sandbox's own
            Path(procs).write_text(str(os.getpid()))
        namespaces.unshare(as_root)
    except OSError as e:
        socket.send_fds(back, [json.dumps({"refused": str(e)}).encode()], [])
        return
    zygote = os.fork()
    if zygote == 0:
        back.close()
        from . import zygote as zygote_module

        zygote_module.serve_in_world(requests, replies, mounts, request["uid"])
    socket.send_fds(back, [json.dumps({"pid": zygote}).encode()], [os.pidfd_open(zygote)])


if __name__ == "__main__":
    # As the package's module, not __main__: what the zygotes import of it is then this one.
    from autograder import warm_server

    warm_server.serve(socket.socket(fileno=0), int(sys.argv[1]), *sys.argv[2:3])
