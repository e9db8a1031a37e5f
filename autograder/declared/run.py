"""Every declared assignment's run side, in the sandbox's child: the notebook's namespace at the answer cell
(the tensors the grader computed, the sizes), the cell run once, and the gradients it set. It knows nothing of
any assignment: what a run needs comes in its inputs and constants."""
import math

import torch
import torch.nn.functional as F

from ..student_process import DOES_NOTHING


def namespace(job: dict, arrays: dict) -> dict:
    ns = {"torch": torch, "F": F, "math": math, "cmp": DOES_NOTHING, "check": DOES_NOTHING}
    ns.update({name: value for name, value in (job.get("constants") or {}).items() if type(value) in (int, float)})
    ns.update({name: torch.from_numpy(array) for name, array in arrays.items()})
    return ns


def execute(code, ns: dict, job: dict, arrays: dict, values: dict, losses: list):
    exec(code, ns)


def collect(job: dict, ns: dict, values: dict):
    values.update({v: ns[v] for v in job["variables"] if v in ns})


def warm_up():
    """torch's lazily initialised parts a transformer's backward meets, run once in the zygote."""
    x = torch.randn(2, 3, 4)
    w = torch.randn(4, 4)
    att = (x @ w @ x.transpose(-2, -1)).masked_fill(torch.ones(3, 3).tril() == 0, float("-inf")).softmax(-1)
    (att @ x).mean(-1, keepdim=True).pow(2).rsqrt().tanh()
    F.cross_entropy(torch.randn(4, 5), torch.tensor([0, 1, 2, 3]))
