"""Answers learners write for gpt2_block (assignments/gpt2_block), each with the verdict float64 autograd gives it
and the hint the grader owes it: right ones written differently, and the mistakes people make.

Each entry: (exercise, what it is, the answer's code, what it must get). What it must get: "right" (every check
passes), or {gradient: hint} for the root causes (not passing, not right given the student's own upstream), the hint
a phrase the hint must contain ("" where no kind fits and the root is named alone), beside {gradient: "follows"}
for the wrong ones that are right given the student's upstream, and "hidden: N" for an exercise that fails only on
the hidden sizes because of the hard-coded N, "stops: Error" for an answer that raises before it sets any gradient,
or {"": phrase} for an exercise whose first wrong step is a gradient it computes on the way (not graded: the
exercise's line names it), every graded check then following. Every check not named passes.
"""
from autograder.assignments.gpt2_block import ATTENTION, BLOCK, GELU, LAYERNORM, MATMUL


def edit(code: str, *pairs: tuple[str, str]) -> str:
    for old, new in pairs:
        assert old in code, old
        code = code.replace(old, new)
    return code


DX = "dx = rstd * (dnorm - dnorm.mean(-1, keepdim=True) - norm * (dnorm * norm).mean(-1, keepdim=True))"
LAYERNORM_BY_STEPS = """dnorm = dout * weight
dbias = dout.sum(dim=(0, 1))
dweight = (dout * norm).sum(dim=(0, 1))
dxshift = dnorm * rstd
drstd = (dnorm * xshift).sum(-1, keepdim=True)
dvar = -0.5 * (var + 1e-5) ** -1.5 * drstd
dxshift = dxshift + 2 * xshift * dvar / C
dmean = -dxshift.sum(-1, keepdim=True)
dx = dxshift + dmean / C"""

CORPUS = [
    # ---- Exercise 1: layernorm
    ("ex1", "llm.c's formula", LAYERNORM, "right"),
    ("ex1", "step by step through rstd, var and the mean", LAYERNORM_BY_STEPS, "right"),
    ("ex1", "sums by einsum and reshape", edit(LAYERNORM, ("dout.sum((0, 1))", "dout.reshape(-1, C).sum(0)"),
                                              ("(dout * norm).sum((0, 1))", 'torch.einsum("btc,btc->c", dout, norm)')), "right"),
    ("ex1", "the mean recomputed from x", edit(LAYERNORM, (DX, "xhat = (x - x.mean(-1, keepdim=True)) * rstd\n"
                                                          "dx = rstd * (dnorm - dnorm.mean(-1, keepdim=True) - xhat * (dnorm * xhat).mean(-1, keepdim=True))")),
     "right"),
    ("ex1", "the mean's term forgotten", edit(LAYERNORM, (" - dnorm.mean(-1, keepdim=True)", "")),
     {"x": "the mean's own term is missing"}),
    ("ex1", "the unbiased variance", edit(LAYERNORM, ("norm * (dnorm * norm).mean(-1, keepdim=True)",
                                                      "norm * (dnorm * norm).sum(-1, keepdim=True) / (C - 1)")),
     {"x": "the variance divides by C here, not C - 1"}),
    ("ex1", "dweight not summed over the batch", edit(LAYERNORM, ("(dout * norm).sum((0, 1))", "dout * norm")),
     {"weight": "summed over the batch it would be right: the shape is [4, 8, 32], not [32]"}),
    ("ex1", "dbias summed with keepdim", edit(LAYERNORM, ("dout.sum((0, 1))", "dout.sum((0, 1), keepdim=True)")),
     {"bias": "the values are right but the shape is [1, 1, 32], not [32]"}),
    ("ex1", "dbias averaged", edit(LAYERNORM, ("dout.sum((0, 1))", "dout.mean((0, 1))")),
     {"bias": "1/(B*T) times: a 1/(B*T) too many"}),
    ("ex1", "dx's sign flipped", edit(LAYERNORM, ("dx = rstd * (", "dx = -rstd * (")), {"x": "the sign is flipped"}),
    ("ex1", "dweight through xshift, not norm", edit(LAYERNORM, ("(dout * norm)", "(dout * xshift)")), {"weight": ""}),
    ("ex1", "C hard-coded", edit(LAYERNORM_BY_STEPS, ("dvar / C", "dvar / 32"), ("dmean / C", "dmean / 32")), "hidden: 32"),
    # ---- Exercise 2: a linear layer
    ("ex2", "flattened products", MATMUL, "right"),
    ("ex2", "einsum", edit(MATMUL, ("dout.flatten(0, 1).T @ x.flatten(0, 1)", 'torch.einsum("bto,btc->oc", dout, x)')),
     "right"),
    ("ex2", "batched products summed", edit(MATMUL, ("dout.flatten(0, 1).T @ x.flatten(0, 1)",
                                                     "(dout.transpose(1, 2) @ x).sum(0)")), "right"),
    ("ex2", "dweight's product the wrong way round", edit(MATMUL, ("dout.flatten(0, 1).T @ x.flatten(0, 1)",
                                                                   "x.flatten(0, 1).T @ dout.flatten(0, 1)")),
     {"weight": "the values are right but transposed"}),
    ("ex2", "dbias summed over the batch only", edit(MATMUL, ("dout.sum((0, 1))", "dout.sum(0)")),
     {"bias": "summed over the batch it would be right"}),
    ("ex2", "dweight averaged over the rows", edit(MATMUL, ("dout.flatten(0, 1).T @ x.flatten(0, 1)",
                                                            "dout.flatten(0, 1).T @ x.flatten(0, 1) / (B * T)")),
     {"weight": "1/(B*T) times"}),
    ("ex2", "dx through weight.T", edit(MATMUL, ("dx = dout @ weight", "dx = (weight.T @ dout.transpose(1, 2)).transpose(1, 2).T")),
     {"x": ""}),
    # ---- Exercise 3: GELU
    ("ex3", "the solution", GELU, "right"),
    ("ex3", "sech squared by cosh", edit(GELU, ("dtanh = 1 - tanh_inner**2", "dtanh = 1 / torch.cosh(inner) ** 2")), "right"),
    ("ex3", "tanh's derivative at its input", edit(GELU, ("1 - tanh_inner**2", "1 - inner**2")),
     {"x": "tanh's derivative taken at its input"}),
    ("ex3", "the cube's 3 forgotten", edit(GELU, ("3 * 0.044715", "0.044715")), {"x": "the 3 is missing"}),
    ("ex3", "dout left out", edit(GELU, ("dx = dout * (", "dx = (")), {"x": ""}),
    ("ex3", "half of it", edit(GELU, ("dx = dout * (0.5 * (1 + tanh_inner) + 0.5 * x", "dx = dout * (0.5 * (1 + tanh_inner) + 0.25 * 2 * x")),
     "right"),
    # ---- Exercise 4: causal self-attention
    ("ex4", "the solution", ATTENTION, "right"),
    ("ex4", "the mask left off dpreatt (att is 0 there, so is dmasked)", edit(ATTENTION, (
        "dpreatt = dmasked.masked_fill(torch.ones(T, T).tril() == 0, 0.0)", "dpreatt = dmasked")), "right"),
    ("ex4", "softmax's backward without the row sum", edit(ATTENTION, (
        "dmasked = att * (datt - (att * datt).sum(-1, keepdim=True))", "dmasked = att * datt")),
     {"masked": "softmax's backward without the row sum", "preatt": "follows", "q": "follows", "k": "follows",
      "qkv": "follows"}),
    ("ex4", "the 1/sqrt(d) forgotten", edit(ATTENTION, ("dq = dpreatt @ k / math.sqrt(C // NH)", "dq = dpreatt @ k"),
                                             ("dk = dpreatt.transpose(-2, -1) @ q / math.sqrt(C // NH)",
                                              "dk = dpreatt.transpose(-2, -1) @ q")),
     {"q": "sqrt(C/NH) = 2.828 times too large", "k": "sqrt(C/NH) = 2.828 times too large", "qkv": "follows"}),
    ("ex4", "dk transposed on the wrong side", edit(ATTENTION, ("dk = dpreatt.transpose(-2, -1) @ q", "dk = dpreatt @ q")),
     {"k": "transposed on the wrong side", "qkv": "follows"}),
    ("ex4", "the heads split in the wrong order", edit(ATTENTION, ("dy = dout.view(B, T, NH, C // NH).transpose(1, 2)",
                                                                    "dy = dout.view(B, NH, T, C // NH)")),
     {"y": "the right numbers in the wrong places", "att": "follows", "masked": "follows", "preatt": "follows",
      "q": "follows", "k": "follows", "v": "follows", "qkv": "follows"}),
    ("ex4", "the head size hard-coded", edit(ATTENTION, ("math.sqrt(C // NH)", "math.sqrt(8)")), "hidden: 8"),
]

LLMC_GELU = """cube = 0.044715 * x**3
tanh_arg = math.sqrt(2 / math.pi) * (x + cube)
tanh_out = torch.tanh(tanh_arg)
coshf_out = torch.cosh(tanh_arg)
sech_out = 1.0 / (coshf_out * coshf_out)
local_grad = 0.5 * (1.0 + tanh_out) + x * 0.5 * sech_out * math.sqrt(2 / math.pi) * (1.0 + 3.0 * 0.044715 * x * x)
dx = local_grad * dout"""
PARAMETERS = ("wte", "lnfw", "lnfb", "fcprojw", "fcprojb", "fcw", "fcb", "ln2w", "ln2b", "projw", "projb", "attnw",
              "attnb", "ln1w", "ln1b", "x")
ALL_FOLLOW = {name: "follows" for name in PARAMETERS}

CORPUS += [
    ("ex2", "dx by einsum", edit(MATMUL, ("dx = dout @ weight", 'dx = torch.einsum("bto,oc->btc", dout, weight)')), "right"),
    ("ex2", "dbias by reshape", edit(MATMUL, ("dbias = dout.sum((0, 1))", "dbias = dout.reshape(-1, dout.shape[-1]).sum(0)")),
     "right"),
    ("ex2", "dweight summed over the batch in a loop", edit(MATMUL, ("dweight = dout.flatten(0, 1).T @ x.flatten(0, 1)",
                                                                     "dweight = sum(dout[b].T @ x[b] for b in range(B))")), "right"),
    ("ex2", "dx through weight.T", edit(MATMUL, ("dx = dout @ weight", "dx = dout @ weight.T")), "stops: RuntimeError"),
    ("ex2", "dbias summed over the wrong dimension", edit(MATMUL, ("dbias = dout.sum((0, 1))", "dbias = dout.sum(-1)")),
     {"bias": ""}),
    ("ex3", "llm.c's gelu_backward", LLMC_GELU, "right"),
    ("ex3", "the product rule's second term left out", edit(GELU, (
        "dx = dout * (0.5 * (1 + tanh_inner) + 0.5 * x * dtanh * math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * x**2))",
        "dx = dout * 0.5 * (1 + tanh_inner)")), {"x": "only the first term of the product rule"}),
    ("ex3", "the exact (erf) GELU's derivative", "dx = dout * (0.5 * (1 + torch.erf(x / math.sqrt(2))) + x * torch.exp(-x**2 / 2) / math.sqrt(2 * math.pi))",
     {"x": ""}),
    ("ex3", "sqrt(2/pi) left out of the chain", edit(GELU, ("dtanh * math.sqrt(2 / math.pi) *", "dtanh *")), {"x": ""}),
    ("ex5", "the solution", BLOCK, "right"),
    ("ex5", "the cross-entropy's mean over B only", edit(BLOCK, ("dlogits /= B * T", "dlogits /= B")),
     {"": "first goes wrong at dlogits, which it computes on the way (not graded itself): T = 8 times too large", **ALL_FOLLOW}),
    ("ex5", "softmax without the one-hot", edit(BLOCK, ("dlogits[torch.arange(B)[:, None], torch.arange(T), targets] -= 1\n", "")),
     {"": "first goes wrong at dlogits", **ALL_FOLLOW}),
    ("ex5", "wte's gradient transposed", edit(BLOCK, ("dwte = dlogits.flatten(0, 1).T @ lnf.flatten(0, 1)",
                                                      "dwte = lnf.flatten(0, 1).T @ dlogits.flatten(0, 1)")),
     {"wte": "the values are right but transposed"}),
    ("ex5", "the residual's gradient not added", edit(BLOCK, ("dres1 = dres2 + dres1_ln2", "dres1 = dres1_ln2")),
     {"": "first goes wrong at dres1", **{n: "follows" for n in PARAMETERS[9:]}}),
    ("ex5", "GELU's tanh derivative at its input", edit(BLOCK, ("(1 - tanh_inner**2)", "(1 - (math.sqrt(2 / math.pi) * (fch + 0.044715 * fch**3))**2)")),
     {"": "first goes wrong at dfch", **{n: "follows" for n in PARAMETERS[5:]}}),
]
