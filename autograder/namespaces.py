"""The run's world entered without bubblewrap: the same namespaces, mounts and privileges, made by a process forked
from the warm server (warm_server.py), so that a zygote starts with torch already imported instead of a fresh
Python importing it (two CPU-seconds for each of a class run's zygotes).

What the world is (`world_mounts`) is declared here, in bubblewrap's order (sandbox.bwrap_command builds the same
world for bubblewrap): the runtime read-only, one job folder read-write, a fresh /proc, a /dev of
a few harmless devices, read-only empty /tmp and /dev/shm, and a read-only root; its own mount, pid, network,
IPC, UTS and cgroup namespaces (as a normal user, a user namespace too). The order is bubblewrap's own: mounts
are made under a tmpfs while the old root is still reachable at /oldroot, then the old root is detached and the
new one pivoted into, so nothing of the machine's own tree is left below the run.

Every step is checked: a step the kernel refuses raises WorldRefused, and the caller falls back to bubblewrap.
"""
import ctypes
import functools
import os
import platform
from pathlib import Path

libc = ctypes.CDLL(None, use_errno=True)

CLONE_NEWNS, CLONE_NEWCGROUP, CLONE_NEWUTS, CLONE_NEWIPC = 0x20000, 0x2000000, 0x4000000, 0x8000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT = 1, 2, 4, 8, 32
MS_NOATIME, MS_NODIRATIME, MS_BIND, MS_REC, MS_PRIVATE = 1024, 2048, 4096, 16384, 1 << 18
MS_RELATIME, MS_STRICTATIME = 1 << 21, 1 << 24
MNT_DETACH = 2
PIVOT_ROOT = {"x86_64": 155, "aarch64": 41}.get(platform.machine())

# Devices a run may open, bound from the machine's /dev (as bubblewrap's --dev does): nothing that reaches hardware.
DEVICES = ("null", "zero", "full", "random", "urandom")
# Parts of /proc through which a process with privileges could change the machine: read-only, as bubblewrap has them.
PROC_READ_ONLY = ("sys", "sysrq-trigger", "irq", "bus")


class WorldRefused(OSError):
    """The kernel refused a step of entering the run's world (no user namespaces for this user, say)."""


def _check(result: int, what: str):
    if result != 0:
        err = ctypes.get_errno()
        raise WorldRefused(err, f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None):
    enc = lambda s: s.encode() if s is not None else None  # noqa: E731
    _check(libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)), f"mount {target}")


def _readonly(target: str, below: bool = True):
    """Remount `target` (and with `below`, every mount below it) read-only, keeping the flags the kernel locks in a user namespace
    (nosuid, nodev, noexec, the atime ones): a remount that dropped one of them would be refused."""
    inside = [p for p in _mount_points() if below and p.startswith(target.rstrip("/") + "/")]
    for point in dict.fromkeys([target] + inside):
        flags = os.statvfs(point).f_flag
        kept = sum(ms for st, ms in ((os.ST_NOSUID, MS_NOSUID), (os.ST_NODEV, MS_NODEV), (os.ST_NOEXEC, MS_NOEXEC),
                                     (os.ST_NOATIME, MS_NOATIME), (os.ST_NODIRATIME, MS_NODIRATIME),
                                     (os.ST_RELATIME, MS_RELATIME)) if flags & st)  # fmt: skip
        _mount(None, point, None, MS_REMOUNT | MS_BIND | MS_RDONLY | kept)


def _mount_points() -> list[str]:
    """This mount namespace's mount points, as this process sees them: while the new root is built, the machine's
    /proc is the one under /oldroot."""
    for mountinfo in ("/proc/self/mountinfo", "/oldroot/proc/self/mountinfo"):
        if os.path.exists(mountinfo):
            return [line.split()[4] for line in Path(mountinfo).read_text().splitlines()]
    raise WorldRefused(0, "no /proc/self/mountinfo to read the mounts from")


def world_mounts(runtime: list[str], job_root: str, job_mount: str) -> list[tuple]:
    """The run's file system, in order: ("ro", source, target) binds read-only, ("rw", ...) read-write, ("proc",
    target), ("dev", target), ("empty", target) a read-only empty tmpfs. Sources are the machine's real paths
    (symbolic links resolved outside: inside, an absolute link would point into the new root)."""
    # /tmp first, as bubblewrap's --tmpfs: a runtime (or a checkout of this package) may live under /tmp, and its
    # bind is then made inside the empty tmpfs, not hidden by it. Each empty tmpfs is made read-only last.
    mounts = [("proc", "/proc"), ("dev", "/dev"), ("empty", "/tmp")]
    mounts += [("ro", os.path.realpath(path), path) for path in runtime]
    mounts += [("rw", os.path.realpath(job_root), job_mount), ("empty", "/dev/shm")]
    return mounts


def unshare(as_root: bool):
    """In a process forked for it (it must have one thread): new namespaces, a user namespace too as a normal user,
    mapping only the grader's own uid and gid. The caller then forks the zygote, pid 1 of the new pid namespace."""
    uid, gid = os.getuid(), os.getgid()
    flags = CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP
    _check(libc.unshare(flags | (0 if as_root else CLONE_NEWUSER)), "unshare")
    if not as_root:
        try:
            Path("/proc/self/setgroups").write_text("deny")
            Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
            Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
        except OSError as e:
            raise WorldRefused(e.errno, f"user namespace maps: {e.strerror}") from e


def enter(mounts: list[tuple]):
    """In the zygote (pid 1 of its namespaces, still privileged there): build the new root from `mounts` and pivot
    into it. Afterwards the machine's tree is unreachable; the caller then gives up its privileges."""
    if PIVOT_ROOT is None:
        raise WorldRefused(0, f"pivot_root's number is not known on {platform.machine()}")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)  # nothing mounted here propagates back to the machine
    _mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
    os.chdir("/tmp")
    os.mkdir("newroot", 0o755)
    _mount("newroot", "newroot", None, MS_BIND | MS_REC)
    os.mkdir("oldroot", 0o755)
    _check(libc.syscall(PIVOT_ROOT, b"/tmp", b"oldroot"), "pivot_root")
    os.chdir("/")
    for kind, *where in mounts:
        target = "/newroot" + where[-1]
        if kind in ("ro", "rw"):
            source = "/oldroot" + where[0]
            _make(target, directory=os.path.isdir(source))
            _mount(source, target, None, MS_BIND | MS_REC | (MS_NOSUID | MS_NODEV if kind == "rw" else 0))
            if kind == "ro":
                _readonly(target)
        elif kind == "proc":
            _make(target)
            _mount("proc", target, "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
            for part in PROC_READ_ONLY:
                if os.path.exists(f"{target}/{part}"):
                    _mount(f"{target}/{part}", f"{target}/{part}", None, MS_BIND | MS_REC)
                    _readonly(f"{target}/{part}")
        elif kind == "dev":
            _make(target)
            _mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
            for device in DEVICES:
                _make(f"{target}/{device}", directory=False)
                _mount(f"/oldroot/dev/{device}", f"{target}/{device}", None, MS_BIND)
            for name, link in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                               ("stderr", "/proc/self/fd/2")):  # fmt: skip
                os.symlink(link, f"{target}/{name}")
        elif kind == "empty":
            _make(target)
            _mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755")
    for kind, *where in reversed(mounts):  # an empty tmpfs or /dev read-only once what is mounted in it is made
        if kind in ("dev", "empty"):
            _readonly("/newroot" + where[-1])
    _check(libc.umount2(b"/oldroot", MNT_DETACH), "umount /oldroot")
    os.chdir("/newroot")
    _check(libc.syscall(PIVOT_ROOT, b".", b"."), "pivot_root")
    _check(libc.umount2(b".", MNT_DETACH), "umount the old root")
    os.chdir("/")
    _readonly("/", below=False)  # the job folder below it stays writable


def _make(target: str, directory: bool = True):
    """A mount point in the new root, with the folders above it reachable by any uid (0755)."""
    parent = os.path.dirname(target)
    os.makedirs(parent, mode=0o755, exist_ok=True)
    if directory:
        os.makedirs(target, mode=0o755, exist_ok=True)
    elif not os.path.exists(target):
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))


@functools.cache
def available() -> str | None:
    """None when this process may make the run's namespaces (tried in a forked child, a few milliseconds), else
    why not: the grader then starts no warm server and bubblewrap makes each sandbox."""
    if PIVOT_ROOT is None:
        return f"pivot_root's number is not known on {platform.machine()}"
    read, write = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(read)
        try:
            unshare(os.geteuid() == 0)
            os.write(write, b"ok")
        except BaseException as e:
            os.write(write, str(e).encode()[:500])
        finally:
            os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        said = f.read().decode(errors="replace")
    os.waitpid(child, 0)
    return None if said == "ok" else (said or "the probe ended without a word")
