"""The first assignment's run side, in the sandbox's child: the notebook's namespace at an exercise's cell, the
cell run once (or once per step of Exercise 4's loop), and the gradients it set."""
import torch
import torch.nn.functional as F

from ...student_process import DOES_NOTHING
from . import lecture


def namespace_for(trains: bool, arrays: dict, constants: dict | None = None) -> dict:
    """What the notebook has defined when the exercise's cell runs, rebuilt from the grader's arrays and the
    sizes the run is drawn at (`constants`: n, batch_size, n_hidden; the lecture's by default)."""
    tensors = {name: torch.from_numpy(a) for name, a in arrays.items() if name != "generator_state"}
    params = {name: tensors[name] for name in lecture.PARAMETER_NAMES}
    ns = {
        "torch": torch, "F": F, "block_size": lecture.block_size, "n_embd": lecture.n_embd,
        "n_hidden": lecture.n_hidden, "vocab_size": lecture.vocab_size, "batch_size": lecture.batch_size,
        "n": lecture.batch_size, "parameters": list(params.values()),
        "cmp": DOES_NOTHING, "check": DOES_NOTHING,
    }  # fmt: skip
    ns.update({name: int(value) for name, value in (constants or {}).items() if name in ("n", "batch_size", "n_hidden")})
    ns.update(tensors)
    if trains:
        g = torch.Generator()
        g.set_state(torch.from_numpy(arrays["generator_state"]))
        ns.update(g=g, max_steps=1, lossi=[])
    else:
        ns.update(vars(lecture.forward(**params, Xb=tensors["Xb"], Yb=tensors["Yb"])))
    return ns


def namespace(job: dict, arrays: dict) -> dict:
    return namespace_for(job["steps"] > 0, arrays, job.get("constants"))


def record_step(step: int, ns: dict, values: dict, losses: list):
    grads = ns["grads"]
    if not isinstance(grads, (list, tuple)) or len(grads) != len(lecture.PARAMETER_NAMES):
        raise ValueError("grads must be the list [dC, dW1, db1, dW2, db2, dbngain, dbnbias]")
    for name, grad in zip(lecture.PARAMETER_NAMES, grads):
        values[f"{step}/d{name}"] = grad.clone() if isinstance(grad, torch.Tensor) else grad
    for name in lecture.LOOP_INTERMEDIATES:  # dlogits, dh, ...: where the loop's own backward went wrong
        if isinstance(ns.get(f"d{name}"), torch.Tensor):
            values[f"{step}/d{name}"] = ns[f"d{name}"].clone()
    loss = ns.get("loss")
    losses.append(float(loss) if isinstance(loss, torch.Tensor) and loss.numel() == 1 else None)


def execute(code, ns: dict, job: dict, arrays: dict, values: dict, losses: list):
    for step in range(job["steps"] or 1):
        ns.pop("grads", None)
        try:
            exec(code, ns)
        finally:
            # Exercise 4: keep this step's gradients even when the loop's own update then fails (a wrong
            # shape does that), so each gradient is still judged on its own.
            if job["steps"] and "grads" in ns:
                record_step(step, ns, values, losses)


def collect(job: dict, ns: dict, values: dict):
    """The gradients the cell set, read after it ran (or stopped): Exercise 4's were recorded step by step."""
    if not job["steps"]:
        values.update({v: ns[v] for v in job["variables"] if v in ns})


def warm_up():
    """torch's lazily initialised parts, run once in the zygote so that each fork starts ready."""
    lecture.forward(**lecture.init_parameters(torch.Generator().manual_seed(0)),
                    Xb=torch.zeros(2, lecture.block_size, dtype=torch.long), Yb=torch.zeros(2, dtype=torch.long))
