"""The warm server: one process that imports torch and every assignment's run side once, then forks each sandbox's
zygote, which enters its own namespaces (namespaces.py) and gives up its privileges before it answers anything.

A zygote started by bubblewrap is a fresh Python that imports torch: about two CPU-seconds, four times in a class
run of two workers. Forked from here it costs a fork. What makes that safe is what this process never holds:
every zygote, and every run it forks, inherits this process's memory, so nothing secret may ever enter it.
- It is started by exec with an argument list and environment of its own (`_server_env`), not forked from the
  grader: nothing of the grader's memory, its command line (the --hidden-seed) or environment
  (BACKPROP_NINJA_HIDDEN_SEED) comes along. (multiprocessing's fork server, by contrast, is handed the parent's
  sys.argv.)
- A request names only what the grader chose for a sandbox: its job root, its uid, its cgroup. Never a seed,
  a reference, an input or a submission; those reach a run through its job folder, after the fork.
- It listens on a socket in a folder only its user can open; a run is in another mount namespace and may open no
  socket at all (syscall_filter.py).

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
import sys
import tempfile
from pathlib import Path

from .namespaces import WorldRefused

REQUEST_BYTES = 4096
STARTUP_SECONDS = 120  # importing torch on a loaded machine


def _server_env() -> dict:
    """Only what a Python that imports torch needs: nothing of the grader's environment."""
    from .sandbox import PACKAGE_DIR

    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(PACKAGE_DIR.parent),
            "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1", "HOME": "/"}  # fmt: skip


class WarmServer:
    """The grader's handle on a warm server: started at once, it imports torch while the grader goes on."""

    def __init__(self):
        self.folder = tempfile.mkdtemp(prefix="backprop-ninja-warm-")  # 0700: this user alone can connect
        self.address = os.path.join(self.folder, "socket")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        listener.bind(self.address)
        listener.listen(64)
        # A lifeline: the server ends when this process does (however it ends), as the read end sees the write end
        # close. Only its number is on the server's command line.
        lifeline, self.lifeline = os.pipe()
        self.process = subprocess.Popen([sys.executable, "-P", "-m", "autograder.warm_server", str(lifeline)],
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
            os.rmdir(self.folder)
        except OSError:
            pass


class ForkedZygote:
    """A zygote forked by the warm server, with what sandbox.py uses of a subprocess: its pipes, poll, kill, wait."""

    def __init__(self, pid: int, pidfd: int, stdin, stdout):
        self.pid, self.pidfd, self.stdin, self.stdout = pid, pidfd, stdin, stdout
        self.returncode = None

    def poll(self):
        if self.returncode is None and select.select([self.pidfd], [], [], 0)[0]:
            self._ended()
        return self.returncode

    def wait(self):
        if self.returncode is None:
            select.select([self.pidfd], [], [])
            self._ended()
        return self.returncode

    def _ended(self):
        self.returncode = -1  # not this process's child: how it ended is not ours to read, only that it did
        for f in (self.stdin, self.stdout):
            try:
                f.close()
            except OSError:
                pass
        os.close(self.pidfd)

    def kill(self):
        if self.returncode is None:
            try:
                signal.pidfd_send_signal(self.pidfd, signal.SIGKILL)
            except ProcessLookupError:
                pass


class ZygoteRequest:
    """A sandbox's request for a zygote, sent at once; `answer` waits for the zygote (the server may still be
    importing torch, while the grader computes its references)."""

    def __init__(self, address: str, job_root: Path, uid: int | None, cgroup_procs: list[str]):
        requests_read, self.requests_write = os.pipe()
        self.replies_read, replies_write = os.pipe()
        self.connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self.connection.connect(address)
            request = {"job_root": str(job_root), "uid": uid, "cgroup_procs": cgroup_procs}
            socket.send_fds(self.connection, [json.dumps(request).encode()], [requests_read, replies_write])
        except OSError as e:
            self.close()
            raise WorldRefused(e.errno, f"the warm server is not there ({e.strerror})") from e
        finally:
            os.close(requests_read)
            os.close(replies_write)

    def answer(self) -> ForkedZygote:
        try:
            self.connection.settimeout(STARTUP_SECONDS)
            message, fds, _, _ = socket.recv_fds(self.connection, REQUEST_BYTES, 1)
            reply = json.loads(message or b"{}")
        except (OSError, ValueError) as e:
            self.close()
            raise WorldRefused(0, f"the warm server did not answer ({e})") from e
        if "pid" not in reply or len(fds) != 1:
            for fd in fds:
                os.close(fd)
            self.close()
            raise WorldRefused(0, reply.get("refused", "the warm server did not answer"))
        self.connection.close()
        return ForkedZygote(reply["pid"], fds[0], os.fdopen(self.requests_write, "wb"),
                            os.fdopen(self.replies_read, "rb"))  # fmt: skip

    def close(self):
        self.connection.close()
        for fd in (self.requests_write, self.replies_read):
            try:
                os.close(fd)
            except OSError:
                pass


# --------------------------------------------------------------------------- in the server


def serve(listener: socket.socket, lifeline: int):
    from . import student_process
    from .zygote import PR_SET_CHILD_SUBREAPER, prctl, reap

    prctl(PR_SET_CHILD_SUBREAPER, 1)  # zygotes, orphaned by the process that forked them, are reaped here
    student_process.prepare()  # torch, the run sides, the syscall filter: what every zygote inherits
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
                message, fds, _, _ = socket.recv_fds(connection, REQUEST_BYTES, 2)
                reply, pidfd = _fork(json.loads(message), fds)
            except (OSError, ValueError) as e:
                reply, pidfd = {"refused": f"{type(e).__name__}: {e}"}, None
            try:
                socket.send_fds(connection, [json.dumps(reply).encode()], [pidfd] if pidfd is not None else [])
            except OSError:
                pass
            if pidfd is not None:
                os.close(pidfd)


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
    for fd in map(int, os.listdir("/proc/self/fd")):  # the listener, other sandboxes' connections: not the zygote's
        if fd > 2 and fd not in (requests, replies, back.fileno()):
            try:
                os.close(fd)
            except OSError:
                pass
    os.dup2(os.open(os.devnull, os.O_RDWR), 0)  # the server's fd 0 is its listener
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

    warm_server.serve(socket.socket(fileno=0), int(sys.argv[1]))
