"""The only place student code runs: a child forked by the zygote (zygote.py), in the sandbox.

The child reads its own job (the zygote never does), applies the per-process limits, becomes one task under the
syscall allowlist (syscall_filter.py) with the grader's package closed to the cell, runs one exercise's student
code on one seed's inputs and writes the student's tensors as plain arrays of numbers (array_file.py), what it printed,
and a small JSON result. A job holds one seed's inputs only, so a run on the public seed (whose output the student
sees) never sees the hidden seed's inputs.

Nothing written here is trusted by the grader: it reads back only arrays of numbers and fields of a closed schema
(run_result.py).
"""
import errno
import importlib
import json
import os
import resource
import signal
import sys
import traceback
from pathlib import Path

import numpy as np
import torch

from . import array_file, assignments, autograd_guard, syscall_filter
from .grader_side import DISK_FULL, RESULTS_UNWRITABLE
from .sandbox import MAX_ELEMENTS
from .static_checks import GRADER_PACKAGE, GRADER_PACKAGE_CALL

INPUTS_FILE = "inputs.arrays"
OUTPUT_FILE = "output.txt"
RESULT_FILE = "result.json"
ARRAYS_FILE = "tensors.arrays"
# No file the child writes needs more; the cap keeps a submission from filling the disk one file at a time.
MAX_FILE_BYTES = 256 * 2**20


# ---------------------------------------------------------------- in the forked child


class CappedOutput:
    """stdout/stderr for student code: keeps the first `cap` characters, drops the rest (a 50 MB print is noise)."""

    def __init__(self, cap):
        self.cap, self.parts, self.size, self.truncated = cap, [], 0, False

    def write(self, text):
        text = str(text)
        room = self.cap - self.size
        if len(text) > room:
            self.truncated = True
            text = text[: max(room, 0)]
        self.parts.append(text)
        self.size += len(text)
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return False

    def text(self):
        return "".join(self.parts) + ("\n[output truncated]\n" if self.truncated else "")


class NotComputed:
    """A check's value that a run side's harness could not compute, because the student's code raised while it
    called it (Exercise 4 of micrograd calls the student's Value class): the row says how, and where."""

    def __init__(self, why: str, unanswered: bool = False):
        self.why, self.unanswered = why, unanswered  # unanswered: it raised the stub's NotImplementedError


def describe(value):
    """A student's value as (metadata, array or None). The array is float32 or float64 numbers, nothing else."""
    if isinstance(value, NotComputed):
        return {"kind": "failed", "why": value.why, "unanswered": value.unanswered}, None
    if not isinstance(value, torch.Tensor):
        return {"kind": "other", "type": type(value).__name__}, None
    try:
        if torch.Tensor.numel(value) > MAX_ELEMENTS:
            return {"kind": "other", "type": "tensor too large to be a gradient here"}, None
        meta = {"kind": "tensor", "dtype": str(value.dtype), "shape": list(value.shape),
                "has_graph": bool(value.requires_grad or value.grad_fn is not None)}  # fmt: skip
        plain = torch.Tensor.detach(value).cpu()
        if plain.is_complex() or not plain.is_floating_point():
            plain = plain.double() if not plain.is_complex() else plain.real.double()
        elif plain.dtype not in (torch.float32, torch.float64):
            plain = plain.float()
        return meta, np.array(plain.numpy(), copy=True)
    except Exception as e:  # a tensor subclass that misbehaves on conversion
        return {"kind": "other", "type": f"{type(value).__name__} ({type(e).__name__})"}, None


def outside_the_grader(source: str, **names):
    """A function defined by `source` (a lambda) whose globals hold `names` only: what a run's namespace hands
    the student's code, so that no function there leads through its __globals__ to the grader's modules (a run
    side's, which hold the lecture's complete Value, or this one's)."""
    return eval(source, {"__builtins__": {}, **names})


# Self-check calls left in a solution cell (check("ex2"), cmp(...)) must not break the graded run.
DOES_NOTHING = outside_the_grader("lambda *args, **kwargs: None")
# IPython's display(), which a notebook has without importing it: in a run, each object's text goes to the printout.
display = outside_the_grader("lambda *objects, **options: None if [print(repr(o)) for o in objects] else None",
                             print=print, repr=repr)


def error_record(e: BaseException, filename: str | None) -> dict:
    """How the student's code stopped, as a run reports it: its type, its last line, the line of `filename`
    (the cell's code) it stopped at, and whether memory ran out. The notebook's check() reads the kernel's so."""
    tb = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == filename]
    return {"type": type(e).__name__, "message": (traceback.format_exception_only(e)[-1]).strip(),
            "line": tb[-1].lineno if tb else getattr(e, "lineno", None),
            "memory": isinstance(e, MemoryError) or "can't allocate memory" in str(e)}  # fmt: skip


def run_student_code(job: dict, jobdir: Path):
    filename = f"<{job['exercise']}>"
    me = os.getpid()
    side = importlib.import_module(job["run_side"])  # the assignment's, named by the grader
    arrays = array_file.decode((jobdir / INPUTS_FILE).read_bytes(), MAX_ELEMENTS)
    ns = side.namespace(job, arrays)
    ns.setdefault("display", display)
    out = CappedOutput(job["output_cap"])
    sys.stdout = sys.stderr = out
    values, losses, error = {}, [], None
    autograd_guard.begin(filename)
    tried = enter_one_task(filename)
    try:
        side.execute(compile(job["code"], filename, "exec"), ns, job, arrays, values, losses)
    except BaseException as e:  # SystemExit and KeyboardInterrupt too: they end only this exercise
        refused = refused_call(e, tried)  # first: formatting the error makes audited calls of its own
        error = error_record(e, filename)
        if refused:
            error["message"] += f" (a graded run may not {refused})"
    finally:
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    if os.getpid() != me:  # a process the student's code forked: only the run itself reports
        os._exit(0)
    side.collect(job, ns, values)
    meta, saved = {}, {}
    for name, value in values.items():
        meta[name], array = describe(value)
        if array is not None:
            saved[name] = array
    pairs = aliases(values)
    # Last: reading the values can run the student's code once more (a tensor subclass's __torch_function__), so
    # the canary looks after that, and what it asked for is reported with the rest.
    calls = autograd_guard.end()
    result = {"values": meta, "losses": losses, "error": error, "autograd_calls": calls, "aliases": pairs}
    try:
        (jobdir / ARRAYS_FILE).write_bytes(array_file.encode(saved))
        (jobdir / OUTPUT_FILE).write_text(out.text())
        (jobdir / RESULT_FILE).write_text(json.dumps(result))
    except OSError as e:
        if e.errno in DISK_FULL:  # the grader's scratch space, not the student's code: said by the exit code
            os._exit(RESULTS_UNWRITABLE)
        raise


# The policy, compiled once by warm_up() before any zygote is forked (it holds nothing of any submission); None
# where libseccomp or the kernel's seccomp cannot be had, and doctor says so.
_policy: "syscall_filter.Filter | None" = None


def enter_one_task(filename: str) -> list:
    """From here on the run is one task under the syscall allowlist, and the grader's package is closed to the code
    compiled as `filename`. Returns where the last call the run is likely to have been refused is noted (Python's
    audit events), to name it for the student if their code stops on it."""
    tried = [syscall_filter.SOMETHING_ELSE]
    names, something_else = syscall_filter.REFUSED, syscall_filter.SOMETHING_ELSE

    def note(event, args):  # the call that fails is the one just audited (Python audits before it calls)
        tried[0] = names.get(event, something_else)
        if event == "open" and _in_the_package(args[0]) and _asked_by(filename):
            # Its source read to run it would be an import by another name: the file is not the cell's to open. Not
            # flagged: a traceback the cell prints through the lecture's Value reads its lines so too.
            raise PermissionError(errno.EACCES, "the grader's package is not readable from a graded cell")

    sys.addaudithook(note)
    close_the_grader_package()
    if _policy is not None:
        _policy.load()
    return tried


class _GraderPackageClosed:
    """First on sys.meta_path while a run's code runs: the grader's package (its references, the lecture's complete
    Value) is not the student's to import, by any name or computed string. Its modules this process already holds
    are taken out of sys.modules first, so an import reaches this finder instead of the cache; the run side keeps
    its own references to them."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name == GRADER_PACKAGE or name.startswith(GRADER_PACKAGE + "."):
            autograd_guard._refuse(GRADER_PACKAGE_CALL)  # recorded with the cell's line, then raised
        return None


def _in_the_package(path) -> bool:
    if not isinstance(path, (str, bytes, os.PathLike)):
        return False  # a descriptor already open
    try:
        return os.path.realpath(os.fsdecode(path)).startswith(PACKAGE_FOLDER)
    except (OSError, ValueError):
        return False


def _asked_by(filename: str) -> bool:
    """Whether the student's cell, not the grader's own code it called (a traceback's source lines), is what opens:
    the nearer of the two on the stack."""
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_filename == filename:
            return True
        if frame.f_code.co_filename.startswith(PACKAGE_FOLDER):
            return False
        frame = frame.f_back
    return False


PACKAGE_FOLDER = os.path.dirname(os.path.realpath(__file__)) + os.sep


def _grader_modules() -> list[str]:
    return [name for name in sys.modules if name == GRADER_PACKAGE or name.startswith(GRADER_PACKAGE + ".")]


# Listed once in the zygote (lock_down), with how many modules there were then: a walk over torch's thousands of
# modules in every run touches each name's reference count, a copy-on-write page fault each, 2 ms a run. Only a
# run whose process imported more since walks them again.
_grader_modules_held: tuple[list[str], int] = ([], -1)


def close_the_grader_package():
    names, count = _grader_modules_held
    for name in names if len(sys.modules) == count else _grader_modules():
        del sys.modules[name]
    sys.meta_path.insert(0, _GraderPackageClosed)


def refused_call(error: BaseException, tried: list) -> str | None:
    """What the run tried that the allowlist refused, if that is how its code stopped."""
    if isinstance(error, RuntimeError) and "can't start new thread" in str(error):
        return syscall_filter.REFUSED["thread"]
    if _policy is not None and isinstance(error, OSError) and error.errno == errno.EPERM:
        return tried[0]
    return None


def aliases(values: dict) -> list[list[str]]:
    """Pairs of names bound to one tensor (the same memory seen the same way): `dhprebn = dbndiff` without
    .clone(), after which an in-place `dhprebn += ...` silently changes dbndiff too. Names only, never values."""
    seen, pairs = {}, []
    for name, value in values.items():
        try:
            if not isinstance(value, torch.Tensor) or torch.Tensor.numel(value) == 0:
                continue
            key = (torch.Tensor.data_ptr(value), tuple(torch.Tensor.size(value)), tuple(torch.Tensor.stride(value)))
        except Exception:  # a tensor subclass may refuse anything; it is simply not compared
            continue
        if key in seen:
            pairs.append([seen[key], name])
        else:
            seen[key] = name
    return pairs


def prepare():
    """In bubblewrap's zygote, once: both steps below in one process."""
    warm_up()
    lock_down()


def warm_up():
    """Once, in the process every zygote is forked from: warm up each assignment's run side (torch's lazily
    initialised parts), so each fork starts ready, and compile the syscall filter. Nothing here holds a
    submission's data or switches anything off: the warm server also forks the class's grading workers, which make
    references with autograd (warm_server.py)."""
    global _policy
    for run_side in dict.fromkeys(assignments.get(a).run_module for a in assignments.all_ids()):
        importlib.import_module(run_side).warm_up()
    _policy = syscall_filter.Filter() if syscall_filter.probe() is None else None


def lock_down():
    """In each zygote, before it answers: seed torch and switch autograd off for every run it will fork."""
    global _grader_modules_held
    # torch seeds its default generator at random in each process: a cell that draws from it unseeded would get
    # other numbers each time it is graded. Every run starts from this one state instead.
    torch.manual_seed(0)
    autograd_guard.install()
    _grader_modules_held = (_grader_modules(), len(sys.modules))


def remove_ipc_objects():
    """Remove every System V shared memory segment, semaphore set and message queue this uid can (they outlive
    the processes that made them, within the sandbox's IPC namespace). Only their ids are read, never contents."""
    from .zygote import libc

    IPC_RMID = 0
    for kind, remove in (("shm", lambda i: libc.shmctl(i, IPC_RMID, None)),
                         ("sem", lambda i: libc.semctl(i, 0, IPC_RMID)),
                         ("msg", lambda i: libc.msgctl(i, IPC_RMID, None))):  # fmt: skip
        try:
            rows = Path(f"/proc/sysvipc/{kind}").read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            remove(int(row.split()[1]))


def signal_dispositions_of_a_fresh_python():
    """Signals as a notebook's kernel has them, whatever the grader inherited: a grader started in the background
    by a shell, or under nohup, ignores SIGINT or SIGHUP, and the zygote and this child would too, so a student's
    own SIGINT would do nothing here where their kernel raises KeyboardInterrupt."""
    signal.pthread_sigmask(signal.SIG_SETMASK, [])
    for sig in signal.valid_signals():
        if sig not in (signal.SIGKILL, signal.SIGSTOP, signal.SIGPIPE) and signal.getsignal(sig) == signal.SIG_IGN:
            signal.signal(sig, signal.SIG_DFL)  # SIGPIPE stays ignored, as Python itself sets it
    signal.signal(signal.SIGINT, signal.default_int_handler)


def run_job(jobdir: Path, memory_bytes: int, max_tasks: int):
    """In the forked child: limits, then the student's code on the job's seed. Never returns."""
    from .zygote import PR_SET_PDEATHSIG, prctl

    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # if the zygote goes, so does its running child
    os.setsid()
    # Nothing of the zygote's is the student's: not its request pipe (its stdin, which /proc/self/fd/0 would
    # reopen for writing), nor any other descriptor.
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    os.closerange(3, resource.getrlimit(resource.RLIMIT_NOFILE)[0])
    job = json.loads((jobdir / "job.json").read_text())  # read here, after the fork: the zygote never holds it
    os.chdir(jobdir)  # what the student's code writes stays in this job's folder, deleted after the run
    os.environ["TMPDIR"] = os.environ["HOME"] = str(jobdir)  # /tmp and the job root are read-only to a run
    remove_ipc_objects()  # what an earlier run left in the sandbox's IPC namespace is not this run's to read
    # Student code may leave the computation half-way; spread over many threads it would also fight the other
    # workers for the cores. One thread keeps per-run cost predictable.
    torch.set_num_threads(1)
    vm_now = int(Path("/proc/self/statm").read_text().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    limit = vm_now + memory_bytes  # per process; the zygote holds the whole tree to memory_bytes
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    signal_dispositions_of_a_fresh_python()
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the cap fails with an error instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_FILE_BYTES, MAX_FILE_BYTES))
    if os.getuid() != 0:  # root is not held to RLIMIT_NPROC; under bubblewrap no run is root
        resource.setrlimit(resource.RLIMIT_NPROC, (max_tasks, max_tasks))
    resource.setrlimit(resource.RLIMIT_MSGQUEUE, (0, 0))  # no POSIX message queue can outlive the run
    run_student_code(job, jobdir)
    os._exit(0)
