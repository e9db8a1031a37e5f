"""Answers learners write for gpt2_block (assignments/gpt2_block), each with the verdict float64 autograd gives it
and the hint the grader owes it: right ones written differently, and the mistakes people make.

Each entry: (exercise, what it is, the answer's code, what it must get). What it must get: "right" (every check
passes), or {gradient: hint} for the root causes (not passing, not right given the student's own upstream), the hint
a phrase the hint must contain ("" where no kind fits and the root is named alone), beside {gradient: "follows"}
for the wrong ones that are right given the student's upstream, and "hidden: N" for an exercise that fails only on
the hidden sizes because of the hard-coded N, "stops: Error" for an answer that raises before it sets every gradient,
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

CORPUS += [
    ("ex1", "rstd recomputed from var", edit(LAYERNORM, (DX, "dx = (dnorm - dnorm.mean(-1, keepdim=True) - norm * (dnorm * norm)"
                                                            ".mean(-1, keepdim=True)) / (var + 1e-5).sqrt()")), "right"),
    ("ex1", "sums over C written out", edit(LAYERNORM, (DX, "dx = rstd / C * (C * dnorm - dnorm.sum(-1, keepdim=True) - norm * "
                                                           "(dnorm * norm).sum(-1, keepdim=True))")), "right"),
    ("ex1", "dweight through xshift and rstd", edit(LAYERNORM, ("(dout * norm)", "(dout * xshift * rstd)")), "right"),
    ("ex1", "dbias summed one dimension at a time", edit(LAYERNORM, ("dout.sum((0, 1))", "dout.sum(0).sum(0)")), "right"),
    ("ex1", "the weight left out of dnorm", edit(LAYERNORM, ("dnorm = dout * weight", "dnorm = dout")),
     {"x": "dnorm is dout * weight"}),
    ("ex1", "dbias summed over the batch only", edit(LAYERNORM, ("dout.sum((0, 1))", "dout.sum(0)")),
     {"bias": "summed over the batch it would be right"}),
    ("ex1", "the rows hard-coded", edit(LAYERNORM, ("dout.sum((0, 1))", "dout.reshape(32, C).sum(0)")), "hidden: 32"),
    ("ex2", "matmul by name", edit(MATMUL, ("dx = dout @ weight", "dx = dout.matmul(weight)")), "right"),
    ("ex2", "tensordot", edit(MATMUL, ("dout.flatten(0, 1).T @ x.flatten(0, 1)", "torch.tensordot(dout, x, dims=([0, 1], [0, 1]))")),
     "right"),
    ("ex2", "dbias kept its dimensions", edit(MATMUL, ("dout.sum((0, 1))", "dout.sum((0, 1), keepdim=True)")),
     {"bias": "the values are right but the shape is [1, 1, 128], not [128]"}),
    ("ex2", "dx's sign flipped", edit(MATMUL, ("dx = dout @ weight", "dx = -dout @ weight")), {"x": "the sign is flipped"}),
    ("ex2", "the width hard-coded", edit(MATMUL, ("dout.flatten(0, 1).T", "dout.reshape(-1, 128).T")), "hidden: 128"),
    ("ex3", "the chain's factors distributed", edit(GELU, ("math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * x**2)",
                                                           "(math.sqrt(2 / math.pi) + 3 * 0.044715 * math.sqrt(2 / math.pi) * x**2)")),
     "right"),
    ("ex3", "sech squared from exp", edit(GELU, ("dtanh = 1 - tanh_inner**2",
                                                 "dtanh = 4 / (torch.exp(inner) + torch.exp(-inner)) ** 2")), "right"),
    ("ex3", "the first term's 0.5 forgotten", edit(GELU, ("dx = dout * (0.5 * (1 + tanh_inner)", "dx = dout * ((1 + tanh_inner)")),
     {"x": ""}),
    ("ex4", "the scale applied twice", edit(ATTENTION, ("dq = dpreatt @ k / math.sqrt(C // NH)", "dq = dpreatt @ k / (C // NH)"),
                                            ("dk = dpreatt.transpose(-2, -1) @ q / math.sqrt(C // NH)",
                                             "dk = dpreatt.transpose(-2, -1) @ q / (C // NH)")),
     {"q": "1/sqrt(C/NH) times", "k": "1/sqrt(C/NH) times", "qkv": "follows"}),
    ("ex4", "dv without att's transpose", edit(ATTENTION, ("dv = att.transpose(-2, -1) @ dy", "dv = att @ dy")),
     {"v": "transposed on the wrong side", "qkv": "follows"}),
    ("ex4", "q, k, v concatenated in another order", edit(ATTENTION, ("for d in (dq, dk, dv)", "for d in (dk, dq, dv)")),
     {"qkv": "the right numbers in the wrong places"}),
    ("ex4", "einsum throughout", """dy = dout.view(B, T, NH, C // NH).transpose(1, 2)
datt = torch.einsum("bhtd,bhsd->bhts", dy, v)
dv = torch.einsum("bhts,bhtd->bhsd", att, dy)
dmasked = att * (datt - torch.einsum("bhts,bhts->bht", att, datt)[..., None])
dpreatt = dmasked * torch.ones(T, T).tril()
scale = 1 / math.sqrt(C // NH)
dq = torch.einsum("bhts,bhsd->bhtd", dpreatt, k) * scale
dk = torch.einsum("bhts,bhtd->bhsd", dpreatt, q) * scale
dqkv = torch.cat([dq.transpose(1, 2).reshape(B, T, C), dk.transpose(1, 2).reshape(B, T, C), dv.transpose(1, 2).reshape(B, T, C)], dim=2)""",
     "right"),
    ("ex5", "lnf's mean term forgotten", edit(BLOCK, ("dres2, dlnfw, dlnfb = layernorm_backward(dlnf, lnf_xshift, lnf_rstd, lnfw)",
                                                      "dres2, dlnfw, dlnfb = layernorm_backward(dlnf, lnf_xshift, lnf_rstd, lnfw)\n"
                                                      "dres2 = dres2 + lnf_rstd * (dlnf * lnfw).mean(-1, keepdim=True)")),
     {"": "first goes wrong at dres2", **{n: "follows" for n in PARAMETERS[3:]}}),
    ("ex5", "softmax's row sum forgotten in the block", edit(BLOCK, ("(att * (datt - (att * datt).sum(-1, keepdim=True)))", "(att * datt)")),
     {"": "first goes wrong at dpreatt", **{n: "follows" for n in PARAMETERS[11:]}}),
]

K = "math.sqrt(2 / math.pi)"
CORPUS += [
    ("ex3", "3 * 0.044715 folded", edit(GELU, ("3 * 0.044715", "0.134145")), "right"),
    ("ex3", "recomputed from x alone", f"""k = {K}
u = k * (x + 0.044715 * x**3)
t = torch.tanh(u)
dx = dout * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x))""", "right"),
    ("ex3", "the two terms multiplied out", f"dx = dout * 0.5 * (1 + tanh_inner) + dout * 0.5 * x * (1 - tanh_inner**2) * {K}"
                                            " * (1 + 3 * 0.044715 * x**2)", "right"),
    ("ex3", "backward through each atom", f"""dtanh_inner = dout * 0.5 * x
dinner = dtanh_inner * (1 - tanh_inner**2)
dcube = dinner * {K}
dx = dout * 0.5 * (1 + tanh_inner) + dinner * {K} + dcube * 3 * 0.044715 * x**2""", "right"),
    ("ex3", "cosh to the power -2", edit(GELU, ("dtanh = 1 - tanh_inner**2", "dtanh = torch.cosh(inner) ** -2")), "right"),
    ("ex3", "the second term alone", edit(GELU, ("dx = dout * (0.5 * (1 + tanh_inner) + ", "dx = dout * (")), {"x": ""}),
    ("ex3", "tanh's derivative as 1 - tanh", edit(GELU, ("dtanh = 1 - tanh_inner**2", "dtanh = 1 - tanh_inner")),
     {"x": "1 - tanh(u)**2, not 1 - tanh(u)"}),
    ("ex3", "the inner derivative's 1 forgotten", edit(GELU, ("(1 + 3 * 0.044715 * x**2)", "(3 * 0.044715 * x**2)")),
     {"x": "the 1 is missing"}),
    ("ex3", "sqrt(2 pi) for sqrt(2 / pi)", edit(GELU, ("math.sqrt(2 / math.pi)", "math.sqrt(2 * math.pi)")), {"x": ""}),
    ("ex3", "computed in float64", edit(GELU, ("dx = dout * (", "dx = dout.double() * (")),
     {"x": "its values are right, but it is torch.float64"}),
    ("ex3", "the first term's sign flipped", edit(GELU, ("0.5 * (1 + tanh_inner)", "0.5 * (1 - tanh_inner)")), {"x": ""}),
    ("ex3", "handed back as numpy", edit(GELU, ("math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * x**2))",
                                                "math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * x**2))\ndx = dx.numpy()")), {"x": ""}),
]

CORPUS += [
    ("ex4", "softmax's backward multiplied out", edit(ATTENTION, ("dmasked = att * (datt - (att * datt).sum(-1, keepdim=True))",
                                                                  "dmasked = att * datt - att * (att * datt).sum(-1, keepdim=True)")),
     "right"),
    ("ex4", "the mask by torch.where", edit(ATTENTION, ("dmasked.masked_fill(torch.ones(T, T).tril() == 0, 0.0)",
                                                        "torch.where(torch.ones(T, T).tril() == 1, dmasked, torch.zeros_like(dmasked))")),
     "right"),
    ("ex4", "heads merged with contiguous().view", edit(ATTENTION, ("d.transpose(1, 2).reshape(B, T, C) for d in (dq, dk, dv)], -1)",
                                                                    "t.transpose(1, 2).contiguous().view(B, T, C) for t in (dq, dk, dv)], dim=-1)")),
     "right"),
    ("ex4", "heads split by permute", edit(ATTENTION, ("dy = dout.view(B, T, NH, C // NH).transpose(1, 2)",
                                                       "dy = dout.reshape(B, T, NH, -1).permute(0, 2, 1, 3)")), "right"),
    ("ex4", "the scale as a power", edit(ATTENTION, ("dq = dpreatt @ k / math.sqrt(C // NH)", "dq = dpreatt @ k * (C // NH) ** -0.5"),
                                         ("dk = dpreatt.transpose(-2, -1) @ q / math.sqrt(C // NH)",
                                          "dk = dpreatt.transpose(-2, -1) @ q * (C // NH) ** -0.5")), "right"),
    ("ex4", "dqkv filled in slices", edit(ATTENTION, ("dqkv = torch.cat([d.transpose(1, 2).reshape(B, T, C) for d in (dq, dk, dv)], -1)",
                                                      "dqkv = torch.zeros_like(qkv)\n"
                                                      "dqkv[:, :, :C] = dq.transpose(1, 2).reshape(B, T, C)\n"
                                                      "dqkv[:, :, C:2 * C] = dk.transpose(1, 2).reshape(B, T, C)\n"
                                                      "dqkv[:, :, 2 * C:] = dv.transpose(1, 2).reshape(B, T, C)")), "right"),
    # runs at the sizes the student sees (T = C/NH = 8) and stops at the hidden ones: v fails there alone
    ("ex4", "datt without v's transpose", edit(ATTENTION, ("datt = dy @ v.transpose(-2, -1)", "datt = dy @ v")),
     {"att": "transposed on the wrong side: y = att @ v, so datt = dy @ v^T", "masked": "follows", "preatt": "follows",
      "q": "follows", "k": "follows", "v": "follows", "qkv": "follows"}),
    ("ex4", "the scale left off dq only", edit(ATTENTION, ("dq = dpreatt @ k / math.sqrt(C // NH)", "dq = dpreatt @ k")),
     {"q": "sqrt(C/NH) = 2.828 times too large", "qkv": "follows"}),
    ("ex4", "the heads merged without their transpose", edit(ATTENTION, ("d.transpose(1, 2).reshape(B, T, C) for d", "d.reshape(B, T, C) for d")),
     {"qkv": "the right numbers in the wrong places"}),
    ("ex4", "the row sum of datt alone", edit(ATTENTION, ("(att * datt).sum(-1, keepdim=True)", "datt.sum(-1, keepdim=True)")),
     {"masked": "the row sum is of att * datt", "preatt": "follows", "q": "follows", "k": "follows", "qkv": "follows"}),
    ("ex4", "softmax's Jacobian's diagonal only", edit(ATTENTION, ("dmasked = att * (datt - (att * datt).sum(-1, keepdim=True))",
                                                                  "dmasked = datt * att * (1 - att)")),
     {"masked": "only the diagonal of softmax's Jacobian", "preatt": "follows", "q": "follows", "k": "follows",
      "qkv": "follows"}),
    ("ex4", "the mask's other triangle", edit(ATTENTION, ("dmasked.masked_fill(torch.ones(T, T).tril() == 0, 0.0)",
                                                          "dmasked.masked_fill(torch.ones(T, T).triu() == 0, 0.0)")),
     {"preatt": "", "q": "follows", "k": "follows", "qkv": "follows"}),
    ("ex4", "the number of heads hard-coded", edit(ATTENTION, ("dy = dout.view(B, T, NH, C // NH)", "dy = dout.view(B, T, 4, C // 4)")),
     "hidden: 4"),
    ("ex4", "dk from k", edit(ATTENTION, ("dk = dpreatt.transpose(-2, -1) @ q", "dk = dpreatt.transpose(-2, -1) @ k")),
     {"k": "", "qkv": "follows"}),
]

CORPUS += [
    ("ex1", "through var, not norm", edit(LAYERNORM, (DX, "dx = (dnorm - dnorm.mean(-1, keepdim=True) - xshift * (dnorm * xshift)"
                                                         ".mean(-1, keepdim=True) / (var + 1e-5)) * rstd")), "right"),
    ("ex1", "torch.sum over both dimensions", edit(LAYERNORM, ("dbias = dout.sum((0, 1))", "dbias = torch.sum(dout, dim=(0, 1))")),
     "right"),
    ("ex1", "the variance term's sign flipped", edit(LAYERNORM, ("- norm * (dnorm * norm)", "+ norm * (dnorm * norm)")), {"x": ""}),
    ("ex1", "rstd left out of dx", edit(LAYERNORM, ("dx = rstd * (", "dx = (")), {"x": ""}),
    ("ex1", "dweight without norm", edit(LAYERNORM, ("dweight = (dout * norm).sum((0, 1))", "dweight = dout.sum((0, 1))")),
     {"weight": ""}),
    ("ex1", "norm recomputed without the mean", edit(LAYERNORM, (DX, "xhat = x * rstd\n"
                                                                  "dx = rstd * (dnorm - dnorm.mean(-1, keepdim=True) - xhat * (dnorm * xhat).mean(-1, keepdim=True))")),
     {"x": ""}),
    ("ex2", "view and mm", edit(MATMUL, ("dout.flatten(0, 1).T @ x.flatten(0, 1)", "dout.view(-1, dout.size(-1)).T.mm(x.view(-1, x.size(-1)))")),
     "right"),
    ("ex2", "dbias summed twice over dim 0", edit(MATMUL, ("dbias = dout.sum((0, 1))", "dbias = dout.sum(dim=0).sum(dim=0)")), "right"),
    ("ex2", "dx as a transposed product", edit(MATMUL, ("dx = dout @ weight", "dx = (weight.T @ dout.transpose(-2, -1)).transpose(-2, -1)")),
     "right"),
    ("ex2", "dbias averaged", edit(MATMUL, ("dout.sum((0, 1))", "dout.mean((0, 1))")), {"bias": "1/(B*T) times"}),
    ("ex2", "dweight's transpose on the wrong factor", edit(MATMUL, ("dout.flatten(0, 1).T @ x.flatten(0, 1)",
                                                                    "dout.flatten(0, 1) @ x.flatten(0, 1).T")), "stops: RuntimeError"),
    ("ex2", "dx through a slice of weight", edit(MATMUL, ("dx = dout @ weight", "dx = dout @ weight[:C]")), "stops: RuntimeError"),
    ("ex2", "dweight per batch element", edit(MATMUL, ("dout.flatten(0, 1).T @ x.flatten(0, 1)", "dout.transpose(1, 2) @ x")),
     {"weight": "summed over the batch it would be right"}),
    ("ex2", "dbias over the rows of one sequence", edit(MATMUL, ("dbias = dout.sum((0, 1))", "dbias = dout[0].sum(0)")), {"bias": ""}),
    ("ex5", "the one-hot by F.one_hot", edit(BLOCK, ("dlogits = torch.softmax(logits, -1)\n"
                                                      "dlogits[torch.arange(B)[:, None], torch.arange(T), targets] -= 1\n"
                                                      "dlogits /= B * T",
                                                      "dlogits = (torch.softmax(logits, -1) - F.one_hot(targets, V)) / (B * T)")), "right"),
    ("ex5", "linear layers by einsum", edit(BLOCK, ("    return dout @ w, dout.flatten(0, 1).T @ x.flatten(0, 1), dout.sum((0, 1))",
                                                    '    return dout @ w, torch.einsum("bto,btc->oc", dout, x), dout.sum((0, 1))')), "right"),
    ("ex5", "the cross-entropy's mean left out", edit(BLOCK, ("dlogits /= B * T\n", "")),
     {"": "first goes wrong at dlogits, which it computes on the way (not graded itself): B*T = 32 times too large", **ALL_FOLLOW}),
    ("ex5", "the residual left out of dx", edit(BLOCK, ("dx = dres1 + dx_ln1", "dx = dx_ln1")), {"x": ""}),
    ("ex5", "dln2w kept its dimensions", edit(BLOCK, ("    return dx, (dout * norm).sum((0, 1)), dout.sum((0, 1))",
                                                      "    return dx, (dout * norm).sum((0, 1), keepdim=True), dout.sum((0, 1))")),
     {n: "the values are right but the shape is [1, 1, 32], not [32]" for n in ("lnfw", "ln2w", "ln1w")}),
    ("ex5", "the attention scale forgotten", edit(BLOCK, ("dq = dpreatt @ k / math.sqrt(C // NH)", "dq = dpreatt @ k"),
                                                  ("dk = dpreatt.transpose(-2, -1) @ q / math.sqrt(C // NH)", "dk = dpreatt.transpose(-2, -1) @ q")),
     {"": "first goes wrong at dk, which it computes on the way (not graded itself): sqrt(C/NH) = 2.828 times too large",
      **{n: "follows" for n in PARAMETERS[11:]}}),
    ("ex5", "q, k, v in another order", edit(BLOCK, ("for d in (dq, dk, dv)", "for d in (dk, dq, dv)")),
     {"": "first goes wrong at dqkv, which it computes on the way (not graded itself): the right numbers in the wrong places",
      **{n: "follows" for n in PARAMETERS[11:]}}),
    ("ex5", "dlnf through wte.T", edit(BLOCK, ("dlnf = dlogits @ wte", "dlnf = dlogits @ wte.T")), "stops: RuntimeError"),
]

CORPUS += [
    ("ex5", "dwte by einsum", edit(BLOCK, ("dwte = dlogits.flatten(0, 1).T @ lnf.flatten(0, 1)", 'dwte = torch.einsum("btv,btc->vc", dlogits, lnf)')),
     "right"),
    ("ex5", "layernorm's backward through var", edit(BLOCK, (
        "    dx = rstd * (dnorm - dnorm.mean(-1, keepdim=True) - norm * (dnorm * norm).mean(-1, keepdim=True))",
        "    dx = (dnorm - dnorm.mean(-1, keepdim=True) - xshift * (dnorm * xshift).mean(-1, keepdim=True) * rstd**2) * rstd")),
     "right"),
    ("ex5", "the residual's gradients added in place", edit(BLOCK, ("dres1 = dres2 + dres1_ln2", "dres1 = dres1_ln2.clone()\ndres1 += dres2")),
     "right"),
    ("ex5", "dlogits from a fresh softmax's exp", edit(BLOCK, ("dlogits = torch.softmax(logits, -1)",
                                                              "dlogits = logits.exp() / logits.exp().sum(-1, keepdim=True)")), "right"),
    ("ex5", "dwte averaged again", edit(BLOCK, ("dwte = dlogits.flatten(0, 1).T @ lnf.flatten(0, 1)",
                                               "dwte = dlogits.flatten(0, 1).T @ lnf.flatten(0, 1) / (B * T)")),
     {"wte": "1/(B*T) times"}),
    ("ex5", "attnb summed over the batch only", edit(BLOCK, ("dln1, dattnw, dattnb = linear_backward(dqkv, ln1, attnw)",
                                                            "dln1, dattnw, dattnb = linear_backward(dqkv, ln1, attnw)\ndattnb = dqkv.sum(0)")),
     {"attnb": "summed over the batch it would be right"}),
    ("ex5", "fcprojw's product the wrong way round", edit(BLOCK, ("dfch_gelu, dfcprojw, dfcprojb = linear_backward(dres2, fch_gelu, fcprojw)",
                                                                  "dfch_gelu, dfcprojw, dfcprojb = linear_backward(dres2, fch_gelu, fcprojw)\n"
                                                                  "dfcprojw = fch_gelu.flatten(0, 1).T @ dres2.flatten(0, 1)")),
     {"fcprojw": "the values are right but transposed"}),
    ("ex5", "the softmax's row sum over the wrong dimension", edit(BLOCK, ("(att * datt).sum(-1, keepdim=True)", "(att * datt).sum(-2, keepdim=True)")),
     {"": "first goes wrong at dpreatt", **{n: "follows" for n in PARAMETERS[11:]}}),
    ("ex5", "dlnfw with dlnf, not the upstream", edit(BLOCK, ("dres2, dlnfw, dlnfb = layernorm_backward(dlnf, lnf_xshift, lnf_rstd, lnfw)",
                                                              "dres2, dlnfw, dlnfb = layernorm_backward(dlnf, lnf_xshift, lnf_rstd, lnfw)\n"
                                                              "dlnfw = (dlnf * lnf).sum((0, 1))")), {"lnfw": ""}),
]
