"""The only place student code runs: a child process, inside the sandbox when the OS allows one.

`python -m autograder.student_process serve` is a zygote: it imports torch once, then for each job directory
named on its stdin it forks a child that applies the limits, runs one exercise's student code on every seed
and writes the student's tensors as plain .npy arrays (never pickle). The zygote enforces the wall time, kills
whatever the child left behind, and answers one JSON line per job on its stdout.

Nothing written here is trusted by the grader: the parent reads only arrays of numbers and small JSON.
"""
import json
import os
import resource
import select
import signal
import sys
import traceback
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from . import lecture

OUTPUT_FILE = "output_{seed}.txt"
RESULT_FILE = "result_{seed}.json"
ARRAYS_FILE = "arrays_{seed}.npz"
NOT_ANSWERED = "NotImplementedError"


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
    `with torch.no_grad():` (Exercise 4's loop) does exactly that.
    """

    def refuse(what):
        line = next((f.lineno for f in reversed(traceback.extract_stack()) if f.filename == filename), None)
        calls.append({"call": what, "line": line})
        raise AutogradUsed(f"{what} is not available in a graded run: write the backward pass by hand")

    def blocked(what):
        return lambda *args, **kwargs: refuse(what)

    def only_off(what, original):
        def guarded(mode, *args, **kwargs):
            if mode:
                refuse(what)
            return original(mode, *args, **kwargs)

        return guarded

    torch.set_grad_enabled(False)
    for owner, attr in [(torch, "set_grad_enabled"), (torch.autograd, "set_grad_enabled"), (torch._C, "_set_grad_enabled")]:
        setattr(owner, attr, only_off(f"torch.{attr}(True)", getattr(owner, attr)))
    targets = [
        (torch.Tensor, "backward"), (torch.Tensor, "requires_grad_"), (torch.Tensor, "retain_grad"),
        (torch.autograd, "backward"), (torch.autograd, "grad"), (torch, "enable_grad"),
        (torch.autograd, "enable_grad"), (torch.autograd, "functional"), (torch, "func"),
    ]  # fmt: skip
    for owner, attr in targets:
        setattr(owner, attr, blocked(f"{getattr(owner, '__name__', 'torch')}.{attr}"))


def namespace_for(exercise_id: str, arrays: dict) -> dict:
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
    if exercise_id == "ex4":
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


def run_one_seed(job: dict, jobdir: Path, seed: int, calls: list):
    filename = f"<{job['exercise']}>"
    with np.load(jobdir / f"inputs_{seed}.npz", allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    ns = namespace_for(job["exercise"], arrays)
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
                if job["exercise"] == "ex4" and "grads" in ns:
                    record_step(step, ns, values, losses)
    except BaseException as e:  # SystemExit and KeyboardInterrupt too: they end only this exercise
        error = {"type": type(e).__name__, "message": (traceback.format_exception_only(e)[-1]).strip()}
        tb = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == filename]
        error["line"] = tb[-1].lineno if tb else getattr(e, "lineno", None)
        error["memory"] = isinstance(e, MemoryError) or "can't allocate memory" in str(e)
    finally:
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
    if job["exercise"] != "ex4":
        values = {v: ns[v] for v in job["variables"] if v in ns}
    meta, saved = {}, {}
    for name, value in values.items():
        meta[name], array = describe(value)
        if array is not None:
            saved[name.replace("/", "__")] = array
    np.savez(jobdir / ARRAYS_FILE.format(seed=seed), **saved)
    (jobdir / OUTPUT_FILE.format(seed=seed)).write_text(out.text())
    result = {"values": meta, "losses": losses, "error": error, "autograd_calls": list(calls)}
    (jobdir / RESULT_FILE.format(seed=seed)).write_text(json.dumps(result))


def run_job(jobdir: Path):
    """In the forked child: limits, then the student's code on every seed. Never returns."""
    job = json.loads((jobdir / "job.json").read_text())
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):  # the zygote's protocol pipes are not the student's to write on
        os.dup2(devnull, fd)
    # Student code may leave the computation half-way; spread over many threads it would also fight the other
    # workers for the cores. One thread keeps per-run cost predictable.
    torch.set_num_threads(1)
    vm_now = int(Path("/proc/self/statm").read_text().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    limit = vm_now + job["memory_bytes"]
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    calls = []
    forbid_autograd(calls, f"<{job['exercise']}>")
    for seed in job["seeds"]:
        run_one_seed(job, jobdir, seed, calls)
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


def kill_leftovers():
    """Kill every process the last job left: orphans are re-parented to the zygote (a child subreaper)."""
    for pid in children_of(os.getpid()):
        try:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        except (ProcessLookupError, ChildProcessError):
            pass


def supervise(jobdir: Path) -> dict:
    job = json.loads((jobdir / "job.json").read_text())
    pid = os.fork()
    if pid == 0:
        try:
            os.setsid()
            run_job(jobdir)
        finally:
            os._exit(70)
    pidfd = os.pidfd_open(pid)
    ready, _, _ = select.select([pidfd], [], [], job["timeout"])
    os.close(pidfd)
    if not ready:
        os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    kill_leftovers()
    if not ready:
        return {"status": "timeout"}
    if os.WIFSIGNALED(status):
        return {"status": "died", "signal": signal.Signals(os.WTERMSIG(status)).name}
    code = os.WEXITSTATUS(status)
    return {"status": "finished"} if code == 0 else {"status": "died", "exit_code": code}


def serve():
    import ctypes

    PR_SET_CHILD_SUBREAPER = 36
    ctypes.CDLL(None).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    # Warm up torch's lazily initialised parts once, so each forked child starts ready.
    lecture.forward(**lecture.init_parameters(torch.Generator().manual_seed(0)),
                    Xb=torch.zeros(2, lecture.block_size, dtype=torch.long), Yb=torch.zeros(2, dtype=torch.long))
    protocol_out = os.fdopen(os.dup(1), "w")
    print(json.dumps({"status": "ready"}), file=protocol_out, flush=True)
    for line in sys.stdin:
        reply = supervise(Path(line.strip()))
        print(json.dumps(reply), file=protocol_out, flush=True)


if __name__ == "__main__" and sys.argv[1:] == ["serve"]:
    serve()
