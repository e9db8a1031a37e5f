"""The third assignment, declared (declared/): a GPT-2 block's backward pass by hand, after karpathy/llm.c's
train_gpt2.c, whose layers' backward passes it asks for one by one, then the whole block.

This file is the whole assignment: each exercise's forward pass in torch atoms, its inputs, the gradients it
asks for and its solution, and the sizes. Everything else (notebook, references, runs, localisation, hints, the
hidden sizes' checks) is derived by the engine.
"""
from ...declared import Declaration, Input, Task, declare


def layernorm(x, weight, bias, dout):
    mean = x.sum(-1, keepdim=True) / C
    xshift = x - mean
    var = (xshift**2).sum(-1, keepdim=True) / C
    rstd = (var + 1e-5) ** -0.5
    norm = xshift * rstd
    out = norm * weight + bias
    loss = (out * dout).sum()


def matmul(x, weight, bias, dout):
    out = x @ weight.T + bias
    loss = (out * dout).sum()


def gelu(x, dout):
    cube = 0.044715 * x**3
    inner = math.sqrt(2 / math.pi) * (x + cube)
    tanh_inner = torch.tanh(inner)
    out = 0.5 * x * (1 + tanh_inner)
    loss = (out * dout).sum()


def attention(qkv, dout):
    q = qkv[:, :, :C].view(B, T, NH, C // NH).transpose(1, 2)
    k = qkv[:, :, C : 2 * C].view(B, T, NH, C // NH).transpose(1, 2)
    v = qkv[:, :, 2 * C :].view(B, T, NH, C // NH).transpose(1, 2)
    preatt = q @ k.transpose(-2, -1) / math.sqrt(C // NH)
    masked = preatt.masked_fill(torch.ones(T, T).tril() == 0, float("-inf"))
    att = torch.softmax(masked, -1)
    y = att @ v
    out = y.transpose(1, 2).reshape(B, T, C)
    loss = (out * dout).sum()


def block(x, ln1w, ln1b, attnw, attnb, projw, projb, ln2w, ln2b, fcw, fcb, fcprojw, fcprojb, lnfw, lnfb, wte, targets):
    ln1_xshift = x - x.mean(-1, keepdim=True)
    ln1_rstd = ((ln1_xshift**2).mean(-1, keepdim=True) + 1e-5) ** -0.5
    ln1 = ln1_xshift * ln1_rstd * ln1w + ln1b
    qkv = ln1 @ attnw.T + attnb
    q = qkv[:, :, :C].view(B, T, NH, C // NH).transpose(1, 2)
    k = qkv[:, :, C : 2 * C].view(B, T, NH, C // NH).transpose(1, 2)
    v = qkv[:, :, 2 * C :].view(B, T, NH, C // NH).transpose(1, 2)
    preatt = q @ k.transpose(-2, -1) / math.sqrt(C // NH)
    att = torch.softmax(preatt.masked_fill(torch.ones(T, T).tril() == 0, float("-inf")), -1)
    atty = (att @ v).transpose(1, 2).reshape(B, T, C)
    attproj = atty @ projw.T + projb
    res1 = x + attproj
    ln2_xshift = res1 - res1.mean(-1, keepdim=True)
    ln2_rstd = ((ln2_xshift**2).mean(-1, keepdim=True) + 1e-5) ** -0.5
    ln2 = ln2_xshift * ln2_rstd * ln2w + ln2b
    fch = ln2 @ fcw.T + fcb
    fch_gelu = 0.5 * fch * (1 + torch.tanh(math.sqrt(2 / math.pi) * (fch + 0.044715 * fch**3)))
    fcproj = fch_gelu @ fcprojw.T + fcprojb
    res2 = res1 + fcproj
    lnf_xshift = res2 - res2.mean(-1, keepdim=True)
    lnf_rstd = ((lnf_xshift**2).mean(-1, keepdim=True) + 1e-5) ** -0.5
    lnf = lnf_xshift * lnf_rstd * lnfw + lnfb
    logits = lnf @ wte.T
    loss = F.cross_entropy(logits.view(B * T, V), targets.view(B * T))


def _weights(*names_and_shapes, scale=0.2):
    """Larger than GPT-2's 0.02, on purpose: activations of order 1 (fch's about 1 at C = 32) make every slip show,
    where near-zero ones would hide GELU's or tanh's (1 - tanh(u)**2 and 1 - u**2 agree for a small u)."""
    return tuple(Input(name, shape, scale=scale) for name, shape in names_and_shapes)


def _norm(prefix):  # a layernorm's weight near 1 and bias near 0, as trained ones are
    return (Input(f"{prefix}w", ("C",), scale=0.1, shift=1.0), Input(f"{prefix}b", ("C",), scale=0.1))


LAYERNORM = '''dnorm = dout * weight
dbias = dout.sum((0, 1))
dweight = (dout * norm).sum((0, 1))
dx = rstd * (dnorm - dnorm.mean(-1, keepdim=True) - norm * (dnorm * norm).mean(-1, keepdim=True))'''

MATMUL = '''dx = dout @ weight
dweight = dout.flatten(0, 1).T @ x.flatten(0, 1)
dbias = dout.sum((0, 1))'''

GELU = '''dtanh = 1 - tanh_inner**2
dx = dout * (0.5 * (1 + tanh_inner) + 0.5 * x * dtanh * math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * x**2))'''

ATTENTION = '''dy = dout.view(B, T, NH, C // NH).transpose(1, 2)
datt = dy @ v.transpose(-2, -1)
dv = att.transpose(-2, -1) @ dy
dmasked = att * (datt - (att * datt).sum(-1, keepdim=True))
dpreatt = dmasked.masked_fill(torch.ones(T, T).tril() == 0, 0.0)
dq = dpreatt @ k / math.sqrt(C // NH)
dk = dpreatt.transpose(-2, -1) @ q / math.sqrt(C // NH)
dqkv = torch.cat([d.transpose(1, 2).reshape(B, T, C) for d in (dq, dk, dv)], -1)'''

BLOCK = '''def layernorm_backward(dout, xshift, rstd, w):
    norm = xshift * rstd
    dnorm = dout * w
    dx = rstd * (dnorm - dnorm.mean(-1, keepdim=True) - norm * (dnorm * norm).mean(-1, keepdim=True))
    return dx, (dout * norm).sum((0, 1)), dout.sum((0, 1))

def linear_backward(dout, x, w):
    return dout @ w, dout.flatten(0, 1).T @ x.flatten(0, 1), dout.sum((0, 1))

dlogits = torch.softmax(logits, -1)
dlogits[torch.arange(B)[:, None], torch.arange(T), targets] -= 1
dlogits /= B * T
dlnf = dlogits @ wte
dwte = dlogits.flatten(0, 1).T @ lnf.flatten(0, 1)
dres2, dlnfw, dlnfb = layernorm_backward(dlnf, lnf_xshift, lnf_rstd, lnfw)
dfch_gelu, dfcprojw, dfcprojb = linear_backward(dres2, fch_gelu, fcprojw)
tanh_inner = torch.tanh(math.sqrt(2 / math.pi) * (fch + 0.044715 * fch**3))
dfch = dfch_gelu * (0.5 * (1 + tanh_inner) + 0.5 * fch * (1 - tanh_inner**2) * math.sqrt(2 / math.pi) * (1 + 3 * 0.044715 * fch**2))
dln2, dfcw, dfcb = linear_backward(dfch, ln2, fcw)
dres1_ln2, dln2w, dln2b = layernorm_backward(dln2, ln2_xshift, ln2_rstd, ln2w)
dres1 = dres2 + dres1_ln2
datty, dprojw, dprojb = linear_backward(dres1, atty, projw)
dy = datty.view(B, T, NH, C // NH).transpose(1, 2)
datt = dy @ v.transpose(-2, -1)
dv = att.transpose(-2, -1) @ dy
dpreatt = (att * (datt - (att * datt).sum(-1, keepdim=True))).masked_fill(torch.ones(T, T).tril() == 0, 0.0)
dq = dpreatt @ k / math.sqrt(C // NH)
dk = dpreatt.transpose(-2, -1) @ q / math.sqrt(C // NH)
dqkv = torch.cat([d.transpose(1, 2).reshape(B, T, C) for d in (dq, dk, dv)], -1)
dln1, dattnw, dattnb = linear_backward(dqkv, ln1, attnw)
dx_ln1, dln1w, dln1b = layernorm_backward(dln1, ln1_xshift, ln1_rstd, ln1w)
dx = dres1 + dx_ln1'''

INTRO = """# A GPT-2 block, backward by hand

The layers of GPT-2 as [llm.c](https://github.com/karpathy/llm.c)'s `train_gpt2.c` writes them, each forward pass
given one operation per line; you write each backward pass by hand, and a check cell compares every gradient with
PyTorch autograd's. Exercises 1-4 backpropagate a random upstream gradient `dout` (the loss is
`(out * dout).sum()`, as llm.c's layernorm tutorial does); Exercise 5 puts them together into one block, a final
layernorm, the logits and the cross-entropy. Write your code only in the cells marked `# YOUR CODE HERE`. The
grader also runs your code on other sizes: use `B`, `T`, `C`, `NH`, `V` and the tensors' shapes, never the numbers."""

ASSIGNMENT = declare(Declaration(
    id="gpt2_block",
    title="A GPT-2 block, backward by hand",
    intro=INTRO,
    sizes={"B": 4, "T": 8, "C": 32, "NH": 4, "V": 64},
    hidden_sizes={"B": 3, "T": 5, "C": 24, "NH": 2, "V": 40},  # the head size too: 8, then 12
    public_seed=20240527,
    tasks=(
        Task("ex1", "Exercise 1: layernorm", layernorm,
             (Input("x", ("B", "T", "C")), Input("weight", ("C",), scale=0.1, shift=1.0), Input("bias", ("C",), scale=0.1),
              Input("dout", ("B", "T", "C"))),
             asks=("x", "weight", "bias"), points=2, solution=LAYERNORM,
             prose="Compute `dx`, `dweight` and `dbias` through the mean and `rstd`: each has its tensor's shape.",
             slips={"x": (
                 ("rstd * (dnorm - norm * (dnorm * norm).mean(-1, keepdim=True))",
                  "the mean's own term is missing: x reaches the loss through the mean too, which subtracts the mean "
                  "of dnorm"),
                 ("rstd * (dnorm - dnorm.mean(-1, keepdim=True) - norm * (dnorm * norm).sum(-1, keepdim=True) / (C - 1))",
                  "the variance divides by C here, not C - 1: layernorm's variance is the biased one"),
                 ("rstd * (dout - dout.mean(-1, keepdim=True) - norm * (dout * norm).mean(-1, keepdim=True))",
                  "dnorm is dout * weight: the weight's factor is missing"),
             )}),
        Task("ex2", "Exercise 2: a linear layer on (B, T, C)", matmul,
             (Input("x", ("B", "T", "C")), Input("weight", ("4 * C", "C"), scale=0.02), Input("bias", ("4 * C",), scale=0.02),
              Input("dout", ("B", "T", "4 * C"))),
             asks=("x", "weight", "bias"), points=2, solution=MATMUL,
             prose="`weight` is `(4C, C)`, as llm.c stores it (out = x @ weight.T + bias). Compute `dx`, `dweight` "
                   "and `dbias`."),
        Task("ex3", "Exercise 3: GELU, the tanh approximation", gelu,
             (Input("x", ("B", "T", "4 * C")), Input("dout", ("B", "T", "4 * C"))),
             asks=("x",), points=3, solution=GELU, prose="Compute `dx`.",
             slips={"x": (
                 ("dout * (0.5 * (1 + tanh_inner) + 0.5 * x * (1 - inner**2) * math.sqrt(2 / math.pi)"
                  " * (1 + 3 * 0.044715 * x**2))",
                  "tanh's derivative taken at its input: it is 1 - tanh(inner)**2, not 1 - inner**2"),
                 ("dout * (0.5 * (1 + tanh_inner) + 0.5 * x * (1 - tanh_inner**2) * math.sqrt(2 / math.pi)"
                  " * (1 + 0.044715 * x**2))",
                  "the derivative of 0.044715 * x**3 is 3 * 0.044715 * x**2: the 3 is missing"),
                 ("dout * 0.5 * (1 + tanh_inner)",
                  "only the first term of the product rule: in 0.5 * x * (1 + tanh(inner)), tanh(inner) changes with "
                  "x too"),
                 ("dout * (0.5 * (1 + tanh_inner) + 0.5 * x * (1 - tanh_inner) * math.sqrt(2 / math.pi)"
                  " * (1 + 3 * 0.044715 * x**2))",
                  "tanh's derivative is 1 - tanh(u)**2, not 1 - tanh(u)"),
                 ("dout * (0.5 * (1 + tanh_inner) + 0.5 * x * (1 - tanh_inner**2) * math.sqrt(2 / math.pi)"
                  " * (3 * 0.044715 * x**2))",
                  "the derivative of x + 0.044715 * x**3 is 1 + 3 * 0.044715 * x**2: the 1 is missing"),
             )}),
        Task("ex4", "Exercise 4: causal self-attention", attention,
             (Input("qkv", ("B", "T", "3 * C")), Input("dout", ("B", "T", "C"))),
             asks=("y", "att", "masked", "preatt", "q", "k", "v", "qkv"), solution=ATTENTION,
             slips={"masked": (("att * datt", "softmax's backward without the row sum: each row's att * datt "
                                              "also loses att times the sum of att * datt over the row"),
                               ("att * (datt - datt.sum(-1, keepdim=True))",
                                "the row sum is of att * datt, not of datt: each att_j * datt_j enters it"),
                               ("datt * att * (1 - att)",
                                "only the diagonal of softmax's Jacobian: every att_j of the row depends on every score, "
                                "so subtract att times the row sum of att * datt")),
                    "att": (("dy @ v", "transposed on the wrong side: y = att @ v, so datt = dy @ v^T"),),
                    "k": (("dpreatt @ q / math.sqrt(C // NH)", "transposed on the wrong side: preatt = q @ k^T, so dk "
                                                               "= dpreatt^T @ q"),),
                    "v": (("att @ dy", "transposed on the wrong side: y = att @ v, so dv = att^T @ dy"),)},
             prose="Backpropagate through the heads, the weighted sum, the softmax, the mask, the scaled scores and "
                   "the split, one step at a time: `dy`, `datt`, `dmasked`, `dpreatt`, `dq`, `dk`, `dv`, `dqkv`."),
        Task("ex5", "Exercise 5: the whole block", block,
             (Input("x", ("B", "T", "C")), *_norm("ln1"),
              *_weights(("attnw", ("3 * C", "C")), ("attnb", ("3 * C",)), ("projw", ("C", "C")), ("projb", ("C",))),
              *_norm("ln2"),
              *_weights(("fcw", ("4 * C", "C")), ("fcb", ("4 * C",)), ("fcprojw", ("C", "4 * C")), ("fcprojb", ("C",))),
              *_norm("lnf"), Input("wte", ("V", "C"), scale=0.5), Input("targets", ("B", "T"), draw="index", high="V")),
             # in the backward pass's order, from the loss
             asks=("wte", "lnfw", "lnfb", "fcprojw", "fcprojb", "fcw", "fcb", "ln2w", "ln2b", "projw", "projb", "attnw",
                   "attnb", "ln1w", "ln1b", "x"),
             reads=("logits", "lnf", "lnf_rstd", "lnf_xshift", "res2", "fcproj", "fch_gelu", "fch", "ln2", "ln2_rstd",
                    "ln2_xshift", "res1", "attproj", "atty", "att", "preatt", "v", "k", "q", "qkv", "ln1", "ln1_rstd",
                    "ln1_xshift"),
             solution=BLOCK,
             prose="Pre-norm, as GPT-2: `ln1`, attention, the residual, `ln2`, the MLP with GELU, the residual; then "
                   "the final layernorm, the logits (tied to `wte`) and the cross-entropy. Compute the gradient of "
                   "every parameter and of `x`."),
    ),
), release="autograder.assignments.gpt2_block:gpt2_block.ipynb")
