"""Realistic answers to Exercises 1-3, right ones written as learners write them and the mistakes they make, with
the verdict autograd gives in float64 as the judge (float64_verdicts).

Each answer is the right one with edits, as a learner's cell differs from the lecture's by a few lines. The
float64 verdict runs the answer on float64 inputs and compares every gradient with autograd's float64 gradient by
the check's own allclose: float32 rounding plays no part in it, so it says which gradients are right in exact
arithmetic (up to the check's tolerance) and which are mistakes.
"""
import numpy as np
import torch
from submissions import SOLUTIONS, _cells, answer, solution_region

from autograder.assignments.backprop_ninja import EXERCISE_BY_ID, lecture
from autograder.assignments.backprop_ninja.reference import autograd_gradients, loop_batches
from autograder.assignments.backprop_ninja.run import namespace_for

LOOP = _cells(SOLUTIONS)["ex4"]  # Exercise 4's whole cell: the loop around the answer

DC_LOOP = "dC = torch.zeros_like(C)\nfor k in range(Xb.shape[0]):\n  for j in range(Xb.shape[1]):\n    ix = Xb[k,j]\n    dC[ix] += demb[k,j]"
BRANCH = "dlogits += F.one_hot(logits.max(1).indices, num_classes=logits.shape[1]) * dlogit_maxes"
EX3 = "dhprebn = bngain*bnvar_inv/n * (n*dhpreact - dhpreact.sum(0) - n/(n-1)*bnraw*(dhpreact*bnraw).sum(0))"

# (exercise, edits to its right answer): every answer here is right in exact arithmetic.
RIGHT = {
    "ex1: the lecture's answer": ("ex1", ()),
    "ex1: dC with index_add": ("ex1", ((DC_LOOP, "dC = torch.zeros_like(C).index_add_(0, Xb.view(-1), demb.view(-1, demb.shape[2]))"),)),
    "ex1: dC with one_hot": ("ex1", ((DC_LOOP, "dC = F.one_hot(Xb.view(-1), num_classes=C.shape[0]).float().T @ demb.view(-1, demb.shape[2])"),)),
    "ex1: dC with .item() indices": ("ex1", (("ix = Xb[k,j]", "ix = Xb[k,j].item()"),)),
    "ex1: dW1, dW2 with einsum": ("ex1", (("dW1 = embcat.T @ dhprebn", "dW1 = torch.einsum('bi,bj->ij', embcat, dhprebn)"),
                                          ("dW2 = h.T @ dlogits", "dW2 = torch.einsum('bi,bj->ij', h, dlogits)"))),
    "ex1: the logit_maxes branch left out (exactly zero)": ("ex1", ((BRANCH, ""),)),
    # dlogit_maxes is exactly zero (softmax does not change when every logit shifts): its sign cannot matter.
    "ex1: the sign of dlogit_maxes flipped": ("ex1", (("dlogit_maxes = (-dnorm_logits)", "dlogit_maxes = (dnorm_logits)"),)),
    "ex1: the logit_maxes branch by argmax": ("ex1", ((BRANCH, "dlogits[range(n), logits.argmax(1)] += dlogit_maxes.view(-1)"),)),
    "ex1: dlogprobs by one_hot": ("ex1", (("dlogprobs = torch.zeros_like(logprobs)\ndlogprobs[range(n), Yb] = -1.0/n",
                                           "dlogprobs = -F.one_hot(Yb, num_classes=logprobs.shape[1]).float() / n"),)),
    "ex1: dprobs divided": ("ex1", (("dprobs = (1.0 / probs) * dlogprobs", "dprobs = dlogprobs / probs"),)),
    "ex1: keepdims spelled the numpy way": ("ex1", (("dcounts_sum_inv = (counts * dprobs).sum(1, keepdim=True)",
                                                     "dcounts_sum_inv = (counts * dprobs).sum(1, keepdims=True)"),)),
    "ex1: dcounts_sum with a power": ("ex1", (("dcounts_sum = (-counts_sum**-2) * dcounts_sum_inv",
                                               "dcounts_sum = -1.0 / counts_sum**2 * dcounts_sum_inv"),)),
    "ex1: dnorm_logits from exp": ("ex1", (("dnorm_logits = counts * dcounts", "dnorm_logits = norm_logits.exp() * dcounts"),)),
    "ex1: tanh's derivative as h*h": ("ex1", (("dhpreact = (1.0 - h**2) * dh", "dhpreact = (1.0 - h*h) * dh"),)),
    "ex1: tanh's derivative recomputed": ("ex1", (("dhpreact = (1.0 - h**2) * dh", "dhpreact = (1 - torch.tanh(hpreact)**2) * dh"),)),
    "ex1: dbnvar through bnvar_inv cubed": ("ex1", (("dbnvar = (-0.5*(bnvar + 1e-5)**-1.5) * dbnvar_inv",
                                                     "dbnvar = -0.5 * bnvar_inv**3 * dbnvar_inv"),)),
    "ex1: dbndiff2 divided after": ("ex1", (("dbndiff2 = (1.0/(n-1))*torch.ones_like(bndiff2) * dbnvar",
                                             "dbndiff2 = torch.ones_like(bndiff2) * dbnvar / (n-1)"),)),
    "ex1: dhprebn by broadcasting": ("ex1", (("dhprebn = dbndiff.clone()", "dhprebn = dbndiff + dbndiff.sum(0, keepdim=True) * 0"),
                                             ("dhprebn += 1.0/n * (torch.ones_like(hprebn) * dbnmeani)", "dhprebn = dhprebn + dbnmeani / n"))),
    "ex1: .t() for .T": ("ex1", (("dembcat = dhprebn @ W1.T", "dembcat = dhprebn @ W1.t()"), ("dh = dlogits @ W2.T", "dh = dlogits @ W2.t()"))),
    "ex1: demb by reshape": ("ex1", (("demb = dembcat.view(emb.shape)", "demb = dembcat.reshape(emb.shape)"),)),
    "ex2: the lecture's answer": ("ex2", ()),
    "ex2: softmax minus one_hot": ("ex2", ((solution_region("ex2"), "dlogits = (F.softmax(logits, 1) - F.one_hot(Yb, num_classes=logits.shape[1])) / n"),)),
    "ex2: softmax by hand": ("ex2", (("dlogits = F.softmax(logits, 1)", "counts_ = (logits - logits.max(1, keepdim=True).values).exp()\ndlogits = counts_ / counts_.sum(1, keepdim=True)"),)),
    "ex2: arange and a division": ("ex2", (("dlogits[range(n), Yb] -= 1\ndlogits /= n", "dlogits[torch.arange(n), Yb] -= 1\ndlogits = dlogits / n"),)),
    "ex3: the lecture's answer": ("ex3", ()),
    "ex3: sums kept as [1, 64]": ("ex3", ((EX3, "dhprebn = bngain*bnvar_inv/n * (n*dhpreact - dhpreact.sum(0, keepdim=True) - n/(n-1)*bnraw*(dhpreact*bnraw).sum(0, keepdim=True))"),)),
    "ex3: through bndiff": ("ex3", ((EX3, "dhprebn = bngain*bnvar_inv/n * (n*dhpreact - dhpreact.sum(0) - n/(n-1) * bndiff * bnvar_inv**2 * (dhpreact*bndiff).sum(0))"),)),
    "ex3: in two lines": ("ex3", ((EX3, "dbnraw_ = bngain * dhpreact\ndhprebn = bnvar_inv/n * (n*dbnraw_ - dbnraw_.sum(0) - n/(n-1)*bnraw*(dbnraw_*bnraw).sum(0))"),)),
}  # fmt: skip

# (exercise, edits): each is a mistake learners make; which gradients it gets wrong is the float64 verdict's to say.
WRONG = {
    "ex1: the 1/n of the mean forgotten": ("ex1", (("dlogprobs[range(n), Yb] = -1.0/n", "dlogprobs[range(n), Yb] = -1.0"),)),
    "ex1: dprobs multiplied by probs": ("ex1", (("dprobs = (1.0 / probs) * dlogprobs", "dprobs = probs * dlogprobs"),)),
    "ex1: d(1/x) without its minus": ("ex1", (("dcounts_sum = (-counts_sum**-2)", "dcounts_sum = (counts_sum**-2)"),)),
    "ex1: the second branch of dcounts left out": ("ex1", (("dcounts += torch.ones_like(counts) * dcounts_sum\n", ""),)),
    "ex1: a bias gradient not summed": ("ex1", (("db2 = dlogits.sum(0)", "db2 = dlogits"),)),
    "ex1: db1 with keepdim": ("ex1", (("db1 = dhprebn.sum(0)", "db1 = dhprebn.sum(0, keepdim=True)"),)),
    "ex1: dcounts_sum_inv without keepdim": ("ex1", (("dcounts_sum_inv = (counts * dprobs).sum(1, keepdim=True)",
                                                      "dcounts_sum_inv = (counts * dprobs).sum(1)"),)),
    "ex1: dbngain not summed over the batch": ("ex1", (("dbngain = (bnraw * dhpreact).sum(0, keepdim=True)", "dbngain = bnraw * dhpreact"),)),
    "ex1: tanh's derivative at the pre-activation": ("ex1", (("dhpreact = (1.0 - h**2) * dh", "dhpreact = (1.0 - hpreact**2) * dh"),)),
    "ex1: the variance's power off by one": ("ex1", (("dbnvar = (-0.5*(bnvar + 1e-5)**-1.5)", "dbnvar = (-0.5*(bnvar + 1e-5)**-0.5)"),)),
    "ex1: 1/n for 1/(n-1) in the variance": ("ex1", (("dbndiff2 = (1.0/(n-1))", "dbndiff2 = (1.0/n)"),)),
    "ex1: the 2 of the square left out": ("ex1", (("dbndiff += (2*bndiff) * dbndiff2", "dbndiff += bndiff * dbndiff2"),)),
    "ex1: bnvar's epsilon left out": ("ex1", (("dbnvar = (-0.5*(bnvar + 1e-5)**-1.5)", "dbnvar = (-0.5*bnvar**-1.5)"),)),
    "ex1: the mean's minus left out": ("ex1", (("dbnmeani = (-dbndiff).sum(0, keepdim=True)", "dbnmeani = dbndiff.sum(0, keepdim=True)"),)),
    "ex1: the mean's 1/n left out": ("ex1", (("dhprebn += 1.0/n * (torch.ones_like(hprebn) * dbnmeani)",
                                              "dhprebn += torch.ones_like(hprebn) * dbnmeani"),)),
    "ex1: dhprebn aliasing dbndiff": ("ex1", (("dhprebn = dbndiff.clone()", "dhprebn = dbndiff"),)),
    "ex1: a [64] for a [1, 64] gradient": ("ex1", (("dbnmeani = (-dbndiff).sum(0, keepdim=True)", "dbnmeani = (-dbndiff).sum(0)"),)),
    "ex1: embedding rows overwritten": ("ex1", (("dC[ix] += demb[k,j]", "dC[ix] = demb[k,j]"),)),
    "ex1: dbnraw times bnraw": ("ex1", (("dbnraw = bngain * dhpreact", "dbnraw = bnraw * dhpreact"),)),
    "ex1: dbnbias without keepdim": ("ex1", (("dbnbias = dhpreact.sum(0, keepdim=True)", "dbnbias = dhpreact.sum(0)"),)),
    "ex2: the 1/n left out": ("ex2", (("dlogits /= n", ""),)),
    "ex2: the one not subtracted": ("ex2", (("dlogits[range(n), Yb] -= 1\n", ""),)),
    "ex2: softmax over the batch": ("ex2", (("F.softmax(logits, 1)", "F.softmax(logits, 0)"),)),
    "ex2: the sign flipped": ("ex2", (("dlogits /= n", "dlogits /= -n"),)),
    "ex2: divided by n twice": ("ex2", (("dlogits /= n", "dlogits /= n*n"),)),
    "ex3: Bessel's correction left out": ("ex3", (("n/(n-1)", "1"),)),
    "ex3: bngain left out": ("ex3", (("dhprebn = bngain*bnvar_inv/n", "dhprebn = bnvar_inv/n"),)),
    "ex3: the mean term's sign": ("ex3", (("n*dhpreact - dhpreact.sum(0)", "n*dhpreact + dhpreact.sum(0)"),)),
    "ex3: the 1/n left out": ("ex3", (("dhprebn = bngain*bnvar_inv/n", "dhprebn = bngain*bnvar_inv"),)),
    # Right at the sizes the notebook shows (32, 64), wrong at the hidden run's.
    "ex1: range(32) in the embedding loop": ("ex1", (("for k in range(Xb.shape[0]):", "for k in range(32):"),)),
    "ex1: the batch size written out": ("ex1", (("dlogprobs[range(n), Yb] = -1.0/n", "dlogprobs[range(32), Yb] = -1.0/32"),)),
    "ex1: demb by a hard-coded view": ("ex1", (("demb = dembcat.view(emb.shape)", "demb = dembcat.view(32, 3, 10)"),)),
    "ex2: torch.zeros((32, 27))": ("ex2", ((solution_region("ex2"), "dlogits = torch.zeros((32, 27))\ndlogits += F.softmax(logits, 1)\ndlogits[range(n), Yb] -= 1\ndlogits /= n"),)),
    "ex3: the hidden width written out": ("ex3", (("dhpreact.sum(0)", "dhpreact.sum(0).view(1, 64)"),)),
}  # fmt: skip

# Exercise 4: the whole loop cell with edits, right and wrong.
LOOP_RIGHT = {
    "ex4: the lecture's loop": (),
    "ex4: the lecture's p.grad = None left in": (("    grads = [dC", "    for p in parameters:\n      p.grad = None\n    grads = [dC"),),
    "ex4: dC with index_add": (("    dC = torch.zeros_like(C)\n    for k in range(Xb.shape[0]):\n      for j in range(Xb.shape[1]):\n"
                                "        ix = Xb[k,j]\n        dC[ix] += demb[k,j]",
                                "    dC = torch.zeros_like(C).index_add_(0, Xb.view(-1), demb.view(-1, demb.shape[2]))"),),
    "ex4: dlogits by one_hot": (("    dlogits = F.softmax(logits, 1)\n    dlogits[range(n), Yb] -= 1\n    dlogits /= n",
                                 "    dlogits = (F.softmax(logits, 1) - F.one_hot(Yb, num_classes=logits.shape[1])) / n"),),
}  # fmt: skip
LOOP_WRONG = {
    "ex4: Bessel's correction left out": (("n/(n-1)*bnraw", "1*bnraw"),),
    "ex4: tanh's derivative at the pre-activation": (("(1.0 - h**2)", "(1.0 - hpreact**2)"),),
    "ex4: dW2 twice": (("dW2 = h.T @ dlogits", "dW2 = 2 * h.T @ dlogits"),),
    "ex4: db1 not summed": (("db1 = dhprebn.sum(0)", "db1 = dhprebn"),),
    "ex4: dbnbias without keepdim": (("dbnbias = dhpreact.sum(0, keepdim=True)", "dbnbias = dhpreact.sum(0)"),),
    "ex4: the 1/n left out of dlogits": (("    dlogits /= n\n", ""),),
    "ex4: the batch size written out": (("    dlogits /= n\n", "    dlogits /= 32\n"),),
}  # fmt: skip


def loop_answer(*edits: tuple[str, str]) -> str:
    code = LOOP
    for old, new in edits:
        assert old in code, f"{old!r} is not in the loop"
        code = code.replace(old, new)
    return code


RIGHT.update({name: ("ex4", edits) for name, edits in LOOP_RIGHT.items()})
WRONG.update({name: ("ex4", edits) for name, edits in LOOP_WRONG.items()})
ANSWERS = {name: (ex, loop_answer(*edits) if ex == "ex4" else answer(ex, *edits))
           for name, (ex, edits) in {**RIGHT, **WRONG}.items()}  # fmt: skip


def run_answer(exercise_id: str, code: str, problem, Xtr, Ytr, float64: bool) -> dict:
    """The answer's gradients (check name -> tensor or None), run here on the problem's inputs.

    In float64 every float input is float64 and `.float()` keeps float64, so the answer computes in float64 end
    to end. Only the test's own corpus runs here, never a submission.
    """
    ex = EXERCISE_BY_ID[exercise_id]
    arrays = problem.inputs(ex, Xtr, Ytr)
    if float64:
        arrays = {k: v.astype(np.float64) if v.dtype == np.float32 else v for k, v in arrays.items()}
        arrays.update({"d" + name: problem.truth[name] for name in ex.given})
    ns = namespace_for(False, arrays, problem.constants())
    as_float = torch.Tensor.float
    if float64:
        torch.Tensor.float = torch.Tensor.double
    try:
        exec(code, ns)
    except Exception:  # as in a graded run: what was assigned before the error is judged
        pass
    finally:
        torch.Tensor.float = as_float
    return {c.name: ns.get(c.variable) for c in ex.checks}


def share(check, value, truth: np.ndarray) -> float:
    """The value's worst entry's error against the float64 truth, as a share of the check's allclose tolerance;
    infinity for a missing or misshapen gradient."""
    if not isinstance(value, torch.Tensor) or tuple(value.shape) != truth.shape:
        return float("inf")
    error = np.abs(value.double().numpy() - truth) / (check.atol + check.rtol * np.abs(truth))
    return float(np.nan_to_num(error, nan=np.inf).max(initial=0.0))


def float64_shares(exercise_id: str, code: str, problem, Xtr, Ytr) -> dict[str, float]:
    """Each check's error by autograd in float64, as a share of allclose's tolerance (its worst entry): right at
    1 or less. Exercise 4: the worst over the steps the loop gets through, each against autograd at the
    parameters the loop (in float64) has reached."""
    ex = EXERCISE_BY_ID[exercise_id]
    if ex.trains:
        return _loop_shares(ex, code, problem, Xtr, Ytr)
    values = run_answer(exercise_id, code, problem, Xtr, Ytr, float64=True)
    return {check.name: share(check, values[check.name], problem.truth[check.name]) for check in ex.checks}


def _loop_shares(ex, code: str, problem, Xtr, Ytr) -> dict[str, float]:
    arrays = {k: v.astype(np.float64) if v.dtype == np.float32 else v for k, v in problem.inputs(ex, Xtr, Ytr).items()}
    ns = namespace_for(True, arrays, problem.constants())
    shares = dict.fromkeys((c.name for c in ex.checks), 0.0)
    as_float, torch.Tensor.float = torch.Tensor.float, torch.Tensor.double
    try:
        for step, (Xb, Yb) in enumerate(loop_batches(problem, Xtr, Ytr, ex.steps)):
            params = {name: ns[name].clone() for name in lecture.PARAMETER_NAMES}
            ns.pop("grads", None)
            stopped = False
            try:
                exec(code, ns)
            except Exception:  # as a graded run: this step's gradients are judged, the loop goes no further
                stopped = True
            grads = ns.get("grads")
            if not isinstance(grads, list) or len(grads) != len(lecture.PARAMETER_NAMES):
                return dict.fromkeys(shares, float("inf"))
            truth = autograd_gradients(params, Xb, Yb)
            given = dict(zip(lecture.PARAMETER_NAMES, grads))
            for check in ex.checks:
                shares[check.name] = max(shares[check.name], share(check, given[check.name], truth[check.name]))
            if stopped:
                break
    finally:
        torch.Tensor.float = as_float
    return shares


def float64_verdicts(exercise_id: str, code: str, problem, Xtr, Ytr) -> dict[str, bool]:
    """Each check's verdict by autograd in float64: the right shape, and allclose to the float64 gradient."""
    return {name: share <= 1 for name, share in float64_shares(exercise_id, code, problem, Xtr, Ytr).items()}


def borderline(share: float) -> bool:
    """An error within a factor 3 of the tolerance itself (bnvar's 1e-5 left out, seen far downstream): float32
    rounding on top of it can tip either way, so no float32 verdict can promise float64's there."""
    return 1 / 3 < share < 3
