"""The zygote: the one long-lived process in a sandbox, which forks and watches one run per job.

Started by sandbox.py as `python -m autograder.zygote serve`, under bubblewrap as the sandbox's pid 1 (so no
process in the sandbox can kill or stop it) and not dumpable (none can read its memory or open its pipes). It gives
up its privileges first (as root: a uid of its own and no capabilities), imports torch once, then for each request
line from the grader forks the child that runs the student's code (student_process.py).

Isolation between submissions rests on one rule: nothing a submission wrote ever enters the zygote, whose heap
every later fork inherits. A request holds only what the grader chose (the job folder, the limits); the child reads
its own job after the fork; what the zygote learns of a run is numbers the kernel gives (its exit status, its
memory, its process ids), never a byte the run chose. The run has no scratch space to leave anything in: /tmp and
/dev/shm are read-only (its temporary files go to its job folder, which the grader deletes), and the child removes
any System V IPC object an earlier run left before the student's code starts.

Limits hold for the job's whole process tree: wall time; memory summed over every process of the tree (checked
every POLL_SECONDS, with RLIMIT_AS on each process as a backstop between checks); and a cap on processes and
threads (RLIMIT_NPROC, which counts per uid: under bubblewrap the sandbox's uid is its own). Where the syscall filter
is in force the tree is one process: these stand behind it, and alone where it cannot be had.
"""
import ctypes
import json
import os
import select
import signal
import sys
import time
from pathlib import Path

PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_CHILD_SUBREAPER, PR_SET_NO_NEW_PRIVS = 1, 4, 24, 36, 38
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
POLL_SECONDS = 0.02
# Processes and threads one job may add: honest code needs one; torch may start a few threads.
MAX_TASKS = 32
PAGE = os.sysconf("SC_PAGE_SIZE")
# The statuses the zygote may answer: the grader refuses anything else.
STATUSES = ("ready", "finished", "timeout", "memory", "died")

libc = ctypes.CDLL(None, use_errno=True)


def prctl(option: int, value: int) -> int:
    return libc.prctl(option, value, 0, 0, 0)


# ---------------------------------------------------------------- privileges


def drop_privileges(uid: int, gid: int):
    """As root inside bubblewrap: become `uid`, with no capabilities in any set, before any student code exists.

    bubblewrap run by root keeps root's uid, so it is told to keep only what this needs (setuid, setgid, setpcap).
    Giving up uid 0 clears the permitted and effective sets; the bounding and inheritable sets go explicitly.
    """
    for cap in range(64):
        prctl(PR_CAPBSET_DROP, cap)
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    _no_capabilities()


def drop_capabilities():
    """In a user namespace of its own (a normal user's sandbox): every capability it has there, in every set."""
    for cap in range(64):
        prctl(PR_CAPBSET_DROP, cap)
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)
    _no_capabilities()


def _no_capabilities():
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    data = (ctypes.c_uint32 * 6)()  # effective, permitted, inheritable, twice (64 capabilities): all empty
    if libc.capset(header, data) != 0:
        raise OSError(ctypes.get_errno(), "capset")


def privileges() -> dict:
    """This process's uid and capability sets, as doctor reports them."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    caps = {name: int(status[name].strip(), 16) for name in ("CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd")}
    return {"uid": os.getuid(), "no_new_privs": status.get("NoNewPrivs", "").strip() == "1", **caps}


# ---------------------------------------------------------------- the job's process tree


def own_pid_namespace() -> bool:
    return os.environ.get("BACKPROP_NINJA_OWN_PID_NAMESPACE") == "1"


def _parent_of(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_bytes().rsplit(b")", 1)[1].split()[1])
    except (OSError, IndexError, ValueError):
        return None


def job_tree(zygote: int) -> list[int]:
    """Every process of the job: in its own pid namespace, all but the zygote (pid 1); elsewhere the zygote's
    descendants (orphans come back to it, a child subreaper)."""
    pids = [int(p) for p in os.listdir("/proc") if p.isdigit()]
    if own_pid_namespace():
        return [p for p in pids if p not in (1, zygote)]
    parents = {p: _parent_of(p) for p in pids}
    tree, frontier = [], [zygote]
    while frontier:
        children = [p for p, parent in parents.items() if parent in frontier]
        tree += children
        frontier = children
    return tree


def anon_pages(pid: int) -> int:
    """Resident pages that are not file-backed: what a process allocated (and what it shares copy-on-write)."""
    try:
        fields = Path(f"/proc/{pid}/statm").read_bytes().split()
        return int(fields[1]) - int(fields[2])
    except (OSError, IndexError, ValueError):
        return 0


def tree_memory(pids: list[int], baseline: int) -> int:
    """Bytes the job's processes allocated: each one's anonymous memory beyond what it shares with the zygote
    from the fork (a forked process starts with the zygote's torch heap, which costs nothing new)."""
    return sum(max(0, anon_pages(pid) - baseline) for pid in pids) * PAGE


def kill_tree(zygote: int):
    """Kill and reap every process of the job, a fork bomb included, until none is left."""
    while pids := job_tree(zygote):
        if own_pid_namespace():
            try:
                os.kill(-1, signal.SIGKILL)  # every process of the namespace but pid 1 and the caller
            except ProcessLookupError:
                pass
        else:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        reap()
        time.sleep(0.001)  # a killed process takes a moment to become a zombie that can be reaped


def reap():
    """Collect every child that has ended (killed ones, and orphans handed to this subreaper)."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def limits_mechanism() -> str:
    """How the limits are enforced, for doctor."""
    return (f"per exercise, over its whole process tree: wall time; memory summed over every process (checked "
            f"every {POLL_SECONDS * 1000:g} ms, with RLIMIT_AS on each process between checks); at most {MAX_TASKS} "
            "more processes and threads (RLIMIT_NPROC, counted on the sandbox's own uid)")


def task_count() -> int:
    """Processes and threads of this uid now: where RLIMIT_NPROC starts counting for the job."""
    uid, count = os.getuid(), 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if os.stat(f"/proc/{pid}").st_uid == uid:
                    count += len(os.listdir(f"/proc/{pid}/task"))
            except OSError:
                pass
    return count


# ---------------------------------------------------------------- one job


def run(request: dict, requests: int, protocol: int, tasks: int) -> dict:
    """Fork the job's child, hold its tree to the limits, kill what is left of it; the reply for the grader.
    `tasks`: the RLIMIT_NPROC the child gets."""
    me = os.getpid()
    baseline = anon_pages(me)
    child = os.fork()
    if child == 0:
        try:
            os.close(protocol)  # the grader's reply pipe is not the student's to write on
            from .student_process import run_job

            run_job(Path(request["job"]), request["memory_bytes"], tasks)
        finally:
            os._exit(70)
    try:
        return watch(child, me, requests, request["timeout"], request["memory_bytes"], baseline)
    finally:
        kill_tree(me)


def watch(child: int, me: int, requests: int, timeout: float, memory_bytes: int, baseline: int) -> dict:
    """Wait for the child within the time limit, summing the tree's memory as it runs. The request pipe, on which
    the grader writes nothing while a job runs, becomes readable only when the grader is gone: then so is the
    sandbox, the job with it."""
    deadline = time.monotonic() + timeout
    pidfd = os.pidfd_open(child)
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return {"status": "timeout"}
            ended = select.select([pidfd, requests], [], [], min(POLL_SECONDS, left))[0]
            if requests in ended:
                kill_tree(me)
                os._exit(0)
            if ended:
                break
            if tree_memory(job_tree(me), baseline) > memory_bytes:
                return {"status": "memory"}
    finally:
        os.close(pidfd)
    _, status, usage = os.wait4(child, 0)
    if os.WIFSIGNALED(status):
        # A process at its memory limit often dies of a signal (C code meeting a failed allocation) rather than
        # raising: memory in use near the limit says which it was.
        if usage.ru_maxrss * 1024 - baseline * PAGE >= 0.75 * memory_bytes:
            return {"status": "memory"}
        return {"status": "died", "signal": signal.Signals(os.WTERMSIG(status)).name}
    code = os.WEXITSTATUS(status)
    return {"status": "finished"} if code == 0 else {"status": "died", "exit_code": code}


# ---------------------------------------------------------------- the zygote


def serve():
    """The zygote bubblewrap starts: a fresh Python, which gives up root and imports torch itself."""
    run_as = os.environ.get("BACKPROP_NINJA_RUN_AS")
    if run_as:
        drop_privileges(*map(int, run_as.split(":")))
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the grader is gone: nothing left to answer
    from . import student_process  # torch, imported once here and shared by every fork

    student_process.prepare()
    _serve(0, os.dup(1))


def serve_in_world(requests: int, protocol: int, mounts: list, uid: int | None):
    """The zygote the warm server forks (warm_server.py): pid 1 of its new namespaces and still privileged in them,
    with torch imported. It enters its world and gives up every privilege before it answers. Never returns."""
    from . import namespaces
    from .sandbox import JOB_MOUNT

    try:
        os.setsid()
        os.umask(0o022)
        namespaces.enter(mounts)
        if uid is not None:
            drop_privileges(uid, uid)
        else:  # a normal user's, in the user namespace it made: its capabilities there go too
            drop_capabilities()
        if prctl(PR_SET_NO_NEW_PRIVS, 1) != 0:
            raise OSError(ctypes.get_errno(), "no_new_privs")
        os.environ.update(HOME=JOB_MOUNT, BACKPROP_NINJA_OWN_PID_NAMESPACE="1")
        from .student_process import lock_down

        lock_down()
    except Exception as e:  # the grader falls back to bubblewrap
        os.write(protocol, (json.dumps({"status": "refused", "why": f"{type(e).__name__}: {e}"}) + "\n").encode())
        os._exit(0)
    _serve(requests, protocol)
    os._exit(0)


def _serve(requests: int, protocol: int):
    """Answer the grader's requests, one job each, until it closes the request pipe."""
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    # Not dumpable: no process of a job can ptrace this one or open its /proc files (memory, descriptors).
    prctl(PR_SET_DUMPABLE, 0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # the request pipe stays open as its own descriptor; children get /dev/null
        if fd != requests:
            os.dup2(devnull, fd)
    ready = {"status": "ready", **privileges(), "pid_namespace": own_pid_namespace()}
    os.write(protocol, (json.dumps(ready) + "\n").encode())
    tasks = task_count() + MAX_TASKS  # the same before every job: each ends with all of its processes killed
    for line in os.fdopen(requests, "rb"):
        request = json.loads(line)  # from the grader: the job's folder and limits, never a submission's data
        reply = run(request, requests, protocol, tasks)
        os.write(protocol, (json.dumps({**reply, "job": Path(request["job"]).name}) + "\n").encode())


def probe():
    """What doctor shows: the privileges a run has inside the sandbox."""
    run_as = os.environ.get("BACKPROP_NINJA_RUN_AS")
    if run_as:
        drop_privileges(*map(int, run_as.split(":")))
    from .syscall_filter import probe as filter_refused

    print(json.dumps({**privileges(), "pid_namespace": own_pid_namespace(),
                      "writable": os.access(os.environ.get("HOME", "."), os.W_OK),
                      "syscall_filter_refused": filter_refused()}))  # fmt: skip


if __name__ == "__main__":
    # Run as the package's module, not as __main__: the child's own `from .zygote import ...` then finds it
    # imported, where it would otherwise compile and run this file again in every run (12 ms each).
    from autograder import zygote

    {"serve": zygote.serve, "probe": zygote.probe}[sys.argv[1]]()
