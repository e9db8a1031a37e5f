"""The only place student code runs: a child process, inside the sandbox when the OS allows one.

`python -m autograder.student_process serve` is a zygote: it imports torch once, then for each job directory
named on its stdin it forks a child that applies the limits, runs one exercise's student code on one seed and
writes the student's tensors as plain .npy arrays (never pickle). The zygote enforces the wall time, kills
whatever the child left behind, and answers one JSON line per job on its stdout. A job holds one seed's inputs
only, so a run on the public seed (whose output the student sees) never sees the hidden seed's inputs.

Nothing written here is trusted by the grader: the parent reads only arrays of numbers and small JSON.
"""
import json
import os
import resource
import select
import shutil
import signal
import sys
import traceback
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import lecture
from .sandbox import MAX_ELEMENTS

INPUTS_FILE = "inputs.npz"
OUTPUT_FILE = "output.txt"
RESULT_FILE = "result.json"
ARRAYS_FILE = "arrays.npz"
# No file the child writes needs more; the cap keeps a submission from filling the disk one file at a time.
MAX_FILE_BYTES = 256 * 2**20
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_CHILD_SUBREAPER = 1, 4, 36


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


class AutogradUsed(RuntimeError):
    pass


def forbid_autograd(calls: list, filename: str):
    """Replace torch's autograd entry points: student tensors carry no graph, and asking for one is recorded.

    This is the run-time half of the autograd rule (static_checks.py is the other half): it catches what the
    source does not show, such as getattr(t, "back" + "ward"). Turning grad mode off stays allowed, since
    `with torch.no_grad():` (Exercise 4's loop) does exactly that. Grad mode and forward-mode AD are switched off
    for good, so the replacements of their switches keep no reference to the originals, and a saved-tensors hook
    refuses to record any graph, however grad mode was turned on. A determined attacker inside the process can
    still dig the originals out of torch's own tables; the README says so.
    """

    def refuse(what):
        line = next((f.lineno for f in reversed(traceback.extract_stack()) if f.filename == filename), None)
        calls.append({"call": what, "line": line})
        raise AutogradUsed(f"{what} is not available in a graded run: write the backward pass by hand")

    def blocked(what):
        return lambda *args, **kwargs: refuse(what)

    def only_off(what, off):
        def guarded(mode, *args, **kwargs):
            return refuse(what) if mode else off()

        return guarded

    import torch._functorch.predispatch as predispatch  # holds its own reference to the dual-level entry

    # Forward-mode AD (dual tensors) has its own switch; off, it computes no tangents.
    torch._C._set_fwd_grad_enabled(False)
    torch.set_grad_enabled(False)
    no_grad = torch.no_grad  # works as a context manager and a decorator, like set_grad_enabled(False)
    switches = [(torch, "set_grad_enabled"), (torch.autograd, "set_grad_enabled"), (torch._C, "_set_grad_enabled"),
                (torch.autograd.grad_mode, "set_grad_enabled")]  # fmt: skip
    for owner, attr in switches:
        setattr(owner, attr, only_off(f"torch.{attr.lstrip('_')}(True)", no_grad))
    torch._C._set_fwd_grad_enabled = only_off("forward-mode AD", lambda: None)
    targets = [
        (torch.Tensor, "backward"), (torch.Tensor, "requires_grad_"), (torch.Tensor, "retain_grad"),
        (torch.autograd, "backward"), (torch.autograd, "grad"), (torch, "enable_grad"),
        (torch.autograd, "enable_grad"), (torch.autograd.grad_mode, "enable_grad"), (torch.autograd, "functional"),
        (torch, "func"), (torch.autograd, "forward_ad"), (torch._C, "_enter_dual_level"),
        (predispatch, "_enter_dual_level_impl"), (torch, "_make_dual"),
    ]  # fmt: skip
    for owner, attr in targets:
        setattr(owner, attr, blocked(f"{getattr(owner, '__name__', 'torch')}.{attr}"))
    # Recording a graph saves tensors for the backward pass; refusing to save them refuses the graph.
    torch._C._autograd._push_saved_tensors_default_hooks(lambda tensor: refuse("an autograd graph"), lambda packed: packed)


def namespace_for(trains: bool, arrays: dict) -> dict:
    """What the notebook has defined when the exercise's cell runs, rebuilt from the grader's arrays."""
    tensors = {name: torch.from_numpy(a) for name, a in arrays.items() if name != "generator_state"}
    params = {name: tensors[name] for name in lecture.PARAMETER_NAMES}
    ns = {
        "torch": torch, "F": F, "block_size": lecture.block_size, "n_embd": lecture.n_embd,
        "n_hidden": lecture.n_hidden, "vocab_size": lecture.vocab_size, "batch_size": lecture.batch_size,
        "n": lecture.batch_size, "parameters": list(params.values()),
        # Self-check calls left in a solution cell must not break the graded run.
        "cmp": lambda *a, **k: None, "check": lambda *a, **k: None,
    }  # fmt: skip
    ns.update(tensors)
    if trains:
        g = torch.Generator()
        g.set_state(torch.from_numpy(arrays["generator_state"]))
        ns.update(g=g, max_steps=1, lossi=[])
    else:
        ns.update(vars(lecture.forward(**params, Xb=tensors["Xb"], Yb=tensors["Yb"])))
    return ns


def describe(value):
    """A student's value as (metadata, array or None). The array is float32 or float64 numbers, nothing else."""
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


def record_step(step: int, ns: dict, values: dict, losses: list):
    grads = ns["grads"]
    if not isinstance(grads, (list, tuple)) or len(grads) != len(lecture.PARAMETER_NAMES):
        raise ValueError("grads must be the list [dC, dW1, db1, dW2, db2, dbngain, dbnbias]")
    for name, grad in zip(lecture.PARAMETER_NAMES, grads):
        values[f"{step}/d{name}"] = grad.clone() if isinstance(grad, torch.Tensor) else grad
    loss = ns.get("loss")
    losses.append(float(loss) if isinstance(loss, torch.Tensor) and loss.numel() == 1 else None)


def run_student_code(job: dict, jobdir: Path, calls: list):
    filename = f"<{job['exercise']}>"
    with np.load(jobdir / INPUTS_FILE, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    ns = namespace_for(job["steps"] > 0, arrays)
    out = CappedOutput(job["output_cap"])
    sys.stdout = sys.stderr = out
    values, losses, error = {}, [], None
    try:
        code = compile(job["code"], filename, "exec")
        for step in range(job["steps"] or 1):
            ns.pop("grads", None)
            try:
                exec(code, ns)
            finally:
                # Exercise 4: keep this step's gradients even when the loop's own update then fails (a wrong
                # shape does that), so each gradient is still judged on its own.
                if job["steps"] and "grads" in ns:
                    record_step(step, ns, values, losses)
    except BaseException as e:  # SystemExit and KeyboardInterrupt too: they end only this exercise
        error = {"type": type(e).__name__, "message": (traceback.format_exception_only(e)[-1]).strip()}
        tb = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == filename]
        error["line"] = tb[-1].lineno if tb else getattr(e, "lineno", None)
        error["memory"] = isinstance(e, MemoryError) or "can't allocate memory" in str(e)
    finally:
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    if torch.is_grad_enabled() or torch._C._is_fwd_grad_enabled():  # a route the replacements did not cover
        calls.append({"call": "grad mode left on", "line": None})
    if not job["steps"]:
        values = {v: ns[v] for v in job["variables"] if v in ns}
    meta, saved = {}, {}
    for name, value in values.items():
        meta[name], array = describe(value)
        if array is not None:
            saved[name.replace("/", "__")] = array
    np.savez(jobdir / ARRAYS_FILE, **saved)
    (jobdir / OUTPUT_FILE).write_text(out.text())
    result = {"values": meta, "losses": losses, "error": error, "autograd_calls": list(calls)}
    (jobdir / RESULT_FILE).write_text(json.dumps(result))


def prctl(option: int, value: int):
    import ctypes

    ctypes.CDLL(None).prctl(option, value, 0, 0, 0)


def run_job(jobdir: Path, protocol_fd: int):
    """In the forked child: limits, then the student's code on the job's seed. Never returns."""
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # if the zygote goes, so does its running child
    job = json.loads((jobdir / "job.json").read_text())
    os.chdir(jobdir)  # what the student's code writes stays in this job's folder, deleted after the run
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # the zygote's protocol pipes are not the student's to write on
        os.dup2(devnull, fd)
    os.close(protocol_fd)  # nor its copy of the reply pipe: a forged reply would put later jobs out of step
    # Student code may leave the computation half-way; spread over many threads it would also fight the other
    # workers for the cores. One thread keeps per-run cost predictable.
    torch.set_num_threads(1)
    vm_now = int(Path("/proc/self/statm").read_text().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    limit = vm_now + job["memory_bytes"]
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the cap fails with an error instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (MAX_FILE_BYTES, MAX_FILE_BYTES))
    calls = []
    forbid_autograd(calls, f"<{job['exercise']}>")
    run_student_code(job, jobdir, calls)
    os._exit(0)


# ---------------------------------------------------------------- in the zygote


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def kill_leftovers(own_pid_namespace: bool):
    """Kill every process the last job left.

    In its own pid namespace (bubblewrap) the zygote is alone with the student's processes, so kill(-1) ends them
    all at once, a fork bomb included. Everywhere, orphans are re-parented to the zygote (a child subreaper):
    kill and reap its children until none are left.
    """
    if own_pid_namespace:
        try:
            os.kill(-1, signal.SIGKILL)  # never the caller itself, nor the namespace's init
        except ProcessLookupError:
            pass
    for _ in range(10_000):
        pids = children_of(os.getpid())
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass


def wipe_scratch(directory: Path, mounts: set[str]):
    """Empty the sandbox's own scratch space after a job, so nothing a run leaves there reaches the next one.

    Bound folders (the runtime, the job root) are left alone, and what sits beside them is removed too.
    """
    for entry in directory.iterdir():
        path = str(entry)
        if path in mounts:
            continue
        if any(m.startswith(path + "/") for m in mounts):
            wipe_scratch(entry, mounts)
        elif entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def supervise(jobdir: Path, own_pid_namespace: bool, protocol_fd: int) -> dict:
    job = json.loads((jobdir / "job.json").read_text())
    rss_before = int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            run_job(jobdir, protocol_fd)
        finally:
            os._exit(70)
    pidfd = os.pidfd_open(pid)
    ready, _, _ = select.select([pidfd], [], [], job["timeout"])
    os.close(pidfd)
    if not ready:
        os.kill(pid, signal.SIGKILL)
    _, status, usage = os.wait4(pid, 0)
    kill_leftovers(own_pid_namespace)
    if own_pid_namespace:  # under bubblewrap /tmp and /dev/shm are the sandbox's own; elsewhere they are the host's
        mounts = set(os.environ.get("BACKPROP_NINJA_MOUNTS", "").split(":"))
        for scratch in ("/tmp", "/dev/shm"):
            if os.path.isdir(scratch):
                wipe_scratch(Path(scratch), mounts)
    if not ready:
        return {"status": "timeout"}
    if os.WIFSIGNALED(status):
        # A process at its memory limit often dies of a signal (C code that meets a failed allocation, or the
        # kernel's OOM killer) rather than raising: memory in use near the limit says which it was.
        near_limit = usage.ru_maxrss * 1024 - rss_before >= 0.75 * job["memory_bytes"]
        return {"status": "died", "signal": signal.Signals(os.WTERMSIG(status)).name, "memory": near_limit}
    code = os.WEXITSTATUS(status)
    return {"status": "finished"} if code == 0 else {"status": "died", "exit_code": code}


def serve():
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # the grader is gone: nothing left to answer
    # Not dumpable: a student's child cannot ptrace the zygote (which serves every later submission) or read
    # its memory, even where the kernel allows ptrace between processes of one user.
    prctl(PR_SET_DUMPABLE, 0)
    own_pid_namespace = os.environ.get("BACKPROP_NINJA_OWN_PID_NAMESPACE") == "1"
    # Warm up torch's lazily initialised parts once, so each forked child starts ready.
    lecture.forward(**lecture.init_parameters(torch.Generator().manual_seed(0)),
                    Xb=torch.zeros(2, lecture.block_size, dtype=torch.long), Yb=torch.zeros(2, dtype=torch.long))
    protocol_out = os.fdopen(os.dup(1), "w")
    print(json.dumps({"status": "ready"}), file=protocol_out, flush=True)
    for line in sys.stdin:
        jobdir = Path(line.strip())
        reply = supervise(jobdir, own_pid_namespace, protocol_out.fileno())
        # The job's name in the reply lets the grader refuse a reply that is not for the job it asked about.
        print(json.dumps({**reply, "job": jobdir.name}), file=protocol_out, flush=True)


if __name__ == "__main__" and sys.argv[1:] == ["serve"]:
    serve()
