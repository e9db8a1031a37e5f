"""The run's world as one declared policy of system calls: an allowlist, installed just before the student's first line.

A graded run is one task: one process with one thread, which computes and reads and writes its own job folder.
Everything else a kernel offers (threads and processes, sockets, pipes, keyrings, memfd and IPC memory, locks that
another run could see, ptrace, mounts, bpf, io_uring ...) fails with EPERM. An allowlist rather than a list of
calls found dangerous so far: a channel nobody thought of is closed because nobody allowed it.

Installed with libseccomp (the C library every Linux distribution ships, used by systemd, Docker and bubblewrap),
through ctypes: five calls, no compiled extension, and so the same in the grader's venv, the student's wheel and a
normal user's laptop. The filter is built once in the zygote (it holds nothing of any submission) and loaded in
each forked child after the runtime's own setup: the zygote must still fork, the child must still set its limits,
and torch must have finished its lazy start-up. bubblewrap's own `--seccomp FD` would install a filter before Python
starts, which would leave the zygote unable to fork. A filter outlives execve and cannot be removed or widened.
"""
import ctypes
import errno
import functools
import os

# Each allowed call, with why honest code needs it. Anything not here fails with EPERM.
ALLOWED = {
    # memory
    "brk": "the allocator", "mmap": "the allocator and loading modules", "munmap": "the allocator",
    "mremap": "the allocator", "mprotect": "loading modules", "madvise": "the allocator",
    # files (the sandbox's mounts decide which files: the runtime read-only, the job folder read-write)
    "read": "", "write": "", "readv": "", "writev": "", "pread64": "", "pwrite64": "", "lseek": "", "close": "",
    "open": "", "openat": "", "stat": "", "fstat": "", "lstat": "", "newfstatat": "", "statx": "",
    "statfs": "", "fstatfs": "", "access": "", "faccessat": "", "faccessat2": "", "readlink": "",
    "readlinkat": "", "getdents64": "", "getcwd": "", "chdir": "", "fchdir": "", "mkdir": "", "mkdirat": "",
    "unlink": "", "unlinkat": "", "rmdir": "", "rename": "", "renameat": "", "renameat2": "", "ftruncate": "",
    "umask": "",
    "fsync": "", "fdatasync": "", "fadvise64": "", "dup": "", "dup2": "", "dup3": "", "close_range": "",
    "sendfile": "shutil's copies", "copy_file_range": "shutil's copies",
    # the process's own state, read
    "getpid": "", "getppid": "", "gettid": "", "getuid": "", "geteuid": "", "getgid": "", "getegid": "",
    "getgroups": "", "getresuid": "", "getresgid": "", "getpgrp": "", "getpgid": "", "getsid": "", "uname": "",
    "sysinfo": "", "getrusage": "", "times": "", "getrlimit": "",
    "sched_getaffinity": "os.cpu_count, torch's thread count", "sched_yield": "", "getcpu": "",
    "get_mempolicy": "torch's allocator", "capget": "",
    # time
    "clock_gettime": "", "clock_getres": "", "gettimeofday": "", "time": "", "nanosleep": "time.sleep",
    "clock_nanosleep": "time.sleep",
    # signals to itself (under bubblewrap the only other process it can name is pid 1, which ignores them)
    "rt_sigaction": "", "rt_sigprocmask": "", "rt_sigreturn": "", "sigaltstack": "",
    # waiting on nothing but time
    "futex": "locks of the one thread", "poll": "", "ppoll": "", "select": "", "pselect6": "",
    "restart_syscall": "", "rseq": "", "set_robust_list": "", "getrandom": "random, hash seeds",
    "exit": "", "exit_group": "",
}  # fmt: skip

# Calls allowed only with some arguments: (argument index, allowed values). fcntl's file locks would be seen by every
# other run of the machine that opens the same runtime file; ioctl reaches terminals and devices.
F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC = 0, 1, 2, 3, 4, 1030
TCGETS, TIOCGWINSZ, FIONBIO, FIOCLEX, FIONCLEX = 0x5401, 0x5413, 0x5421, 0x5451, 0x5450
PR_SET_NAME, PR_GET_NAME, PR_GET_DUMPABLE = 15, 16, 3
SELF = "self"  # the loading process's own pid, or 0 (which means itself, or its own process group of one)
ALLOWED_WITH = {
    "fcntl": (1, (F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC)),
    "ioctl": (1, (TCGETS, TIOCGWINSZ, FIONBIO, FIOCLEX, FIONCLEX)),  # isatty(), and nothing of a device
    "prctl": (0, (PR_SET_NAME, PR_GET_NAME, PR_GET_DUMPABLE)),
    # Signals and limits to itself only: as a normal user the zygote has the run's uid, and lowering its limits
    # or stopping it would fail the next student's runs.
    "kill": (0, (SELF,)), "tgkill": (0, (SELF,)), "tkill": (0, (SELF,)), "prlimit64": (0, (SELF,)),
}

# What a refused call most often was, named for the student by the last Python audit event before it (the calls
# honest code makes by habit: a thread pool, a subprocess, a socket, a link). Anything else is named plainly.
REFUSED = {
    "thread": "start a thread", "os.fork": "start a process", "os.forkpty": "start a process",
    "os.posix_spawn": "start a process", "os.exec": "run a program", "os.system": "run a program",
    "subprocess.Popen": "run a program", "socket.__new__": "open a socket", "mmap.__new__": "map shared memory",
    "os.symlink": "make a link", "os.link": "make a link", "os.chmod": "change a file's permissions",
    "os.chown": "change a file's owner", "os.utime": "change a file's times", "os.lockf": "lock a file",
    "fcntl.flock": "lock a file", "fcntl.lockf": "lock a file", "fcntl.fcntl": "lock a file",
    "fcntl.ioctl": "control a device",
}
SOMETHING_ELSE = "make this system call"

SCMP_ACT_ALLOW = 0x7FFF0000
SCMP_ACT_ERRNO = 0x00050000
SCMP_CMP_EQ = 4
SCMP_FLTATR_CTL_TSYNC = 4  # every thread of the process, should a runtime have started one


class _ArgCmp(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]  # fmt: skip


@functools.cache
def _libseccomp():
    try:  # by its soname: ctypes.util.find_library would run ldconfig and want a temporary folder
        lib = ctypes.CDLL("libseccomp.so.2", use_errno=True)
    except OSError:
        return None
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_rule_add_array.argtypes = [ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
                                           ctypes.POINTER(_ArgCmp)]  # fmt: skip
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_attr_set.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]
    return lib


class Filter:
    """The policy compiled for this machine's architecture, ready to load in a child (built once, in the zygote)."""

    def __init__(self):
        lib = _libseccomp()
        if lib is None:
            raise OSError(errno.ENOENT, "libseccomp is not installed")
        self.lib, self.context = lib, lib.seccomp_init(SCMP_ACT_ERRNO | errno.EPERM)
        if not self.context:
            raise OSError(errno.EINVAL, "seccomp_init failed")
        lib.seccomp_attr_set(self.context, SCMP_FLTATR_CTL_TSYNC, 1)
        for name in ALLOWED:
            self._allow(name)
        for name, (arg, values) in ALLOWED_WITH.items():
            for value in values:
                if value != SELF:
                    self._allow(name, _ArgCmp(arg, SCMP_CMP_EQ, value, 0))

    def _allow(self, name: str, *conditions: _ArgCmp):
        number = self.lib.seccomp_syscall_resolve_name(name.encode())
        if number < 0:
            return  # not a call of this architecture (aarch64 has no open, stat, poll ...)
        array = (_ArgCmp * len(conditions))(*conditions) if conditions else None
        if self.lib.seccomp_rule_add_array(self.context, SCMP_ACT_ALLOW, number, len(conditions), array) != 0:
            raise OSError(errno.EINVAL, f"seccomp rule for {name}")

    def load(self):
        """From now on this process may make only the allowed calls (libseccomp sets no_new_privs first, as the
        kernel requires of an unprivileged filter). Called in the forked child, whose pid the self-only rules take."""
        for name, (arg, values) in ALLOWED_WITH.items():
            if SELF in values:
                for pid in (os.getpid(), 0):
                    self._allow(name, _ArgCmp(arg, SCMP_CMP_EQ, pid, 0))
        result = self.lib.seccomp_load(self.context)
        if result != 0:
            raise OSError(-result, "seccomp_load failed")


@functools.cache
def probe() -> str | None:
    """Why no filter can be had here, or None when one can (loaded in a throwaway child, never in this process)."""
    try:
        policy = Filter()
    except OSError as e:
        return e.strerror or str(e)
    child = os.fork()
    if child == 0:
        try:
            policy.load()
            try:
                os.fork()
            except PermissionError:
                os._exit(0)  # refused as it must be
            os._exit(3)
        except BaseException:
            os._exit(4)
    _, status = os.waitpid(child, 0)
    code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
    return None if code == 0 else {3: "the filter did not refuse a fork", 4: "the kernel refused the filter"}.get(
        code, "the test process died")


def describe(refused: str | None) -> str:
    """What doctor says of the filter, given why it cannot be had in the sandbox (None: it is in force)."""
    if refused:
        return f"no syscall filter ({refused}): a run may start processes and threads, held by RLIMIT_NPROC only"
    return (f"one task under a seccomp allowlist of {len(ALLOWED) + len(ALLOWED_WITH)} calls, loaded before the "
            "student's first line: no threads, processes, programs, sockets, pipes, keyrings, memfd or IPC memory, "
            "file locks, links, ptrace, mounts or bpf (each fails with EPERM, and the run's verdict names it)")
