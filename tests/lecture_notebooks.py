"""Lecture-format notebooks as learners leave them, made here for the tests (no learner's notebook is copied).

`lecture_notebook(...)` lays out the lecture's makemore_part4_backprop.ipynb cell by cell as its exercise version
has it: the setup cells, the forward pass with its retain_grad() and loss.backward(), then each exercise under
the lecture's heading, with its markers and placeholders ("# YOUR CODE HERE :)", "dlogits = None # TODO", the
loop's "# manual backprop!" between "# -----------------"). Each answer argument replaces an exercise's
placeholder the way learners do; `solved=True` gives the repository's solved layout instead (the loop inside
`with torch.no_grad():`, the update applying `grad`).
"""
import json
from pathlib import Path

from submissions import solution_region

CMP_LINES = "\n".join(f"# cmp('{name}', d{name}, {name})" for name in (
    "logprobs probs counts_sum_inv counts_sum counts norm_logits logit_maxes logits h W2 b2 hpreact bngain bnbias "
    "bnraw bnvar_inv bnvar bndiff2 bndiff bnmeani hprebn embcat W1 b1 emb C").split())  # fmt: skip

SETUP = [
    "import torch\nimport torch.nn.functional as F\nimport matplotlib.pyplot as plt # for making figures\n%matplotlib inline",
    "# download the names.txt file\n!wget https://example.invalid/names.txt",
    "words = open('names.txt', 'r').read().splitlines()\nchars = sorted(list(set(''.join(words))))\n"
    "stoi = {s:i+1 for i,s in enumerate(chars)}\nstoi['.'] = 0\nitos = {i:s for s,i in stoi.items()}\n"
    "vocab_size = len(itos)\nblock_size = 3",
    "def cmp(s, dt, t):\n  ex = torch.all(dt == t.grad).item()\n  app = torch.allclose(dt, t.grad)\n"
    "  maxdiff = (dt - t.grad).abs().max().item()\n  print(f'{s:15s} | exact: {str(ex):5s} | approximate: {str(app):5s} | maxdiff: {maxdiff}')",
    "n_embd = 10\nn_hidden = 64\ng = torch.Generator().manual_seed(2147483647)\n"
    "C = torch.randn((vocab_size, n_embd), generator=g)\n# ... the other parameters ...\n"
    "parameters = [C, W1, b1, W2, b2, bngain, bnbias]\nfor p in parameters:\n  p.requires_grad = True",
    "batch_size = 32\nn = batch_size\nix = torch.randint(0, Xtr.shape[0], (batch_size,), generator=g)\nXb, Yb = Xtr[ix], Ytr[ix]",
    "# forward pass, \"chunkated\" into smaller steps that are possible to backward one at a time\n"
    "emb = C[Xb]\n# ... every atom down to ...\ncounts_sum_inv = counts_sum**-1\nprobs = counts * counts_sum_inv\n"
    "logprobs = probs.log()\nloss = -logprobs[range(n), Yb].mean()\n\n# PyTorch backward pass\n"
    "for p in parameters:\n  p.grad = None\nfor t in [logprobs, probs, counts, bnvar_inv, emb]:\n  t.retain_grad()\n"
    "loss.backward()\nloss",
]

EX1_HEADING = ("# Exercise 1: backprop through the whole thing manually,\n"
               "# backpropagating through exactly all of the variables\n"
               "# as they are defined in the forward pass above, one by one\n\n")  # fmt: skip
EX2_FORWARD = ("# Exercise 2: backprop through cross_entropy but all in one go\n# forward pass\n\n"
               "loss_fast = F.cross_entropy(logits, Yb)\nprint(loss_fast.item(), 'diff:', (loss_fast - loss).item())")
EX2_STUB = "dlogits = None # TODO. my solution is 3 lines"
EX3_FORWARD = ("# Exercise 3: backprop through batchnorm but all in one go\n\n"
               "hpreact_fast = bngain * (hprebn - hprebn.mean(0, keepdim=True)) / torch.sqrt(hprebn.var(0, "
               "keepdim=True, unbiased=True) + 1e-5) + bnbias\nprint('max diff:', (hpreact_fast - hpreact).abs().max())")
EX3_STUB = "dhprebn = None # TODO. my solution is 1 (long) line"
EX4_STUB = ("dC, dW1, db1, dW2, db2, dbngain, dbnbias = None, None, None, None, None, None, None\n"
            "grads = [dC, dW1, db1, dW2, db2, dbngain, dbnbias]")


def placeholder_cell(code: str) -> str:
    return f"# backward pass\n\n# -----------------\n# YOUR CODE HERE :)\n{code}\n# -----------------\n"


def loop_cell(answer: str | None, solved: bool, markers: bool | str = True,
              backprop_heading: str = "# manual backprop! #swole_doge_meme") -> str:
    """The lecture's Exercise 4 cell: init (n_hidden = 200), the loop, its manual backprop between markers.
    markers="opening": the dashes above the answer only, as learners who deleted the closing ones leave it."""
    indent = "    " if solved else "  "
    body = (answer if answer is not None else EX4_STUB).split("\n")
    region = "\n".join(indent + line if line.strip() else "" for line in body)
    top = ["# -----------------", "# YOUR CODE HERE :)"] if not solved else ["# -----------------"]
    opening = "\n".join(indent + line for line in top) if markers else ""
    closing = indent + "# -----------------" if markers is True else ""
    loop = [
        "for i in range(max_steps):", "",
        "  # minibatch construct", "  ix = torch.randint(0, Xtr.shape[0], (batch_size,), generator=g)",
        "  Xb, Yb = Xtr[ix], Ytr[ix] # batch X,Y", "",
        "  # forward pass", "  emb = C[Xb]", "  embcat = emb.view(emb.shape[0], -1)", "  hprebn = embcat @ W1 + b1",
        "  # BatchNorm layer", "  # -------------------------------------------------------------",
        "  bnmean = hprebn.mean(0, keepdim=True)", "  bnvar = hprebn.var(0, keepdim=True, unbiased=True)",
        "  bnvar_inv = (bnvar + 1e-5)**-0.5", "  bnraw = (hprebn - bnmean) * bnvar_inv",
        "  hpreact = bngain * bnraw + bnbias", "  # -------------------------------------------------------------",
        "  h = torch.tanh(hpreact)", "  logits = h @ W2 + b2", "  loss = F.cross_entropy(logits, Yb)", "",
        "  # backward pass", "  for p in parameters:", "    p.grad = None",
        "  #loss.backward() # use this for correctness comparisons, delete it later!" if solved else
        "  loss.backward() # use this for correctness comparisons, delete it later!", "",
        "  " + backprop_heading,
    ]  # fmt: skip
    after = [
        "", "  # update", "  lr = 0.1 if i < 100000 else 0.01 # step learning rate decay",
        "  for p, grad in zip(parameters, grads):",
        "    p.data += -lr * grad # new way of swole doge" if solved or answer is not None else
        "    p.data += -lr * p.grad # old way of cheems doge (using PyTorch grad from .backward())",
        "", "  lossi.append(loss.log10().item())",
    ]  # fmt: skip
    if solved:  # the loop one level deeper, inside torch.no_grad()
        loop = ["with torch.no_grad():", *("  " + line if line else "" for line in loop)]
        after = ["  " + line if line else "" for line in after]
    init = ("# Exercise 4: putting it all together!\n# Train the MLP neural net with your own backward pass\n\n"
            "# init\nn_embd = 10\nn_hidden = 200 # the number of neurons in the hidden layer of the MLP\n"
            "g = torch.Generator().manual_seed(2147483647) # for reproducibility\n# ... the parameters ...\n"
            "max_steps = 200000\nbatch_size = 32\nn = batch_size # convenience\nlossi = []\n\n")  # fmt: skip
    parts = [*loop, *filter(None, [opening]), region, *filter(None, [closing]), *after]
    return init + "\n".join(parts)


def lecture_notebook(path, ex1=None, ex2=None, ex3=None, ex4=None, solved=False, loop_markers=True,
                     ex1_cells=None, ex2_extra=(), drop=(), counts=None, notes=False, headings=True,
                     backprop_heading="# manual backprop! #swole_doge_meme") -> Path:
    """A lecture notebook at `path`. ex1..ex4: an exercise's answer (None: its placeholder left as it is).
    ex1_cells: Exercise 1 spread over several cells (each a string), under a markdown heading. ex2_extra: cells
    after Exercise 2's answer (exploration). drop: exercise numbers whose heading and cells are missing.
    counts: execution counts for the code cells, in notebook order (default: in order). notes: the learner's
    own plan of the exercises, with their headings, in a markdown cell before the setup. headings=False: the
    learner renamed every '# Exercise N' heading ('# Part N: ...'). backprop_heading: the loop's line above the
    answer."""
    cells = [("markdown", "## makemore: becoming a backprop ninja\n\nswole doge style")]
    if notes:
        cells += [("markdown", "My plan:\n### Exercise 1: every atom\n### Exercise 2: cross entropy\n"
                               "### Exercise 3: batchnorm\n### Exercise 4: the loop")]
    cells += [("code", source) for source in SETUP]
    if 1 not in drop:
        if ex1_cells:
            cells += [("markdown", "## Exercise 1: backprop through the whole thing manually")]
            cells += [("code", source) for source in ex1_cells]
        else:
            code = ex1 if ex1 is not None else ("# -----------------\n# YOUR CODE HERE :)\n# -----------------")
            cells += [("code", EX1_HEADING + code + "\n\n" + (CMP_LINES.replace("# cmp", "cmp") if ex1 else CMP_LINES))]
    if 2 not in drop:
        cells += [("code", EX2_FORWARD),
                  ("code", placeholder_cell(ex2 if ex2 is not None else EX2_STUB) + "\n#cmp('logits', dlogits, logits)")]
        cells += [("code", source) for source in ex2_extra]
    if 3 not in drop:
        cells += [("code", EX3_FORWARD),
                  ("code", placeholder_cell(ex3 if ex3 is not None else EX3_STUB) + "\ncmp('hprebn', dhprebn, hprebn)")]
    if 4 not in drop:
        cells += [("code", loop_cell(ex4, solved, loop_markers, backprop_heading)),
                  ("code", "# useful for checking your gradients\n# for p,g in zip(parameters, grads):\n#   cmp(str(tuple(p.shape)), g, p)")]
    cells += [("code", "# calibrate the batch norm at the end of training\nwith torch.no_grad():\n  emb = C[Xtr]")]
    if not headings:
        cells = [(kind, source.replace("Exercise ", "Part ")) for kind, source in cells]
    code_count = sum(kind == "code" for kind, _ in cells)
    counts = iter(counts or range(1, code_count + 1))
    nb = {"cells": [], "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3"}},
          "nbformat": 4, "nbformat_minor": 4}  # fmt: skip
    for kind, source in cells:
        cell = {"cell_type": kind, "metadata": {}, "source": source.splitlines(keepends=True)}
        if kind == "code":
            cell.update(execution_count=next(counts), outputs=[])
        nb["cells"].append(cell)
    path = Path(path)
    path.write_text(json.dumps(nb, indent=1))
    return path


def right(exercise: str) -> str:
    """Our solutions notebook's answer to an exercise (Exercise 4: the backward pass inside the loop only)."""
    return solution_region(exercise)


# ---------------------------------------------------------------- the first lecture's exercise notebook
# micrograd_exercises.ipynb as its Colab has it, cell by cell: section 1 (f, gradf, the two estimates, each with
# the notebook's own OK / WRONG! loop against its `ans` list), section 2 (the starter Value with __add__ and
# backward, the softmax cell, the torch cell). Each argument replaces a placeholder the way learners do.

COLAB_ANS = "ans = [-12.353553390593273, 10.25699027111255, 0.0625]"
COLAB_CHECK = ("for dim in range(3):\n  ok = 'OK' if abs({name}[dim] - ans[dim]) < 1e-5 else 'WRONG!'\n"
               "  print(f\"{{ok}} for dim {{dim}}: expected {{ans[dim]}}, yours returns {{{name}[dim]}}\")")
COLAB_GRADF = "def gradf(a, b, c):\n  return [0, 0, 0] # todo, return [df/da, df/db, df/dc]"
COLAB_STARTER = '''# Value class starter code, with many functions taken out
from math import exp, log

class Value:

  def __init__(self, data, _children=(), _op='', label=''):
    self.data = data
    self.grad = 0.0
    self._backward = lambda: None
    self._prev = set(_children)
    self._op = _op
    self.label = label

  def __repr__(self):
    return f"Value(data={self.data})"

  def __add__(self, other): # exactly as in the video
    other = other if isinstance(other, Value) else Value(other)
    out = Value(self.data + other.data, (self, other), '+')

    def _backward():
      self.grad += 1.0 * out.grad
      other.grad += 1.0 * out.grad
    out._backward = _backward

    return out

{ops}
  def backward(self): # exactly as in video
    topo = []
    visited = set()
    def build_topo(v):
      if v not in visited:
        visited.add(v)
        for child in v._prev:
          build_topo(child)
        topo.append(v)
    build_topo(self)

    self.grad = 1.0
    for node in reversed(topo):
      node._backward()'''
COLAB_OPS_PLACEHOLDER = "  # ------\n  # re-implement all the other functions needed below\n  # TODO\n  # ------\n"
COLAB_SOFTMAX = '''# make this cell work: the softmax, and the negative log likelihood loss
def softmax(logits):
  counts = [logit.exp() for logit in logits]
  denominator = sum(counts)
  out = [c / denominator for c in counts]
  return out

logits = [Value(0.0), Value(3.0), Value(-2.0), Value(1.0)]
probs = softmax(logits)
loss = -probs[3].log() # dim 3 acts as the label for this input example
loss.backward()
print(loss.data)

ans = [0.041772570515350445, 0.8390245074625319, 0.005653302662216329, -0.8864503806400986]
for dim in range(4):
  ok = 'OK' if abs(logits[dim].grad - ans[dim]) < 1e-5 else 'WRONG!'
  print(f"{ok} for dim {dim}: expected {ans[dim]}, yours returns {logits[dim].grad}")'''


def exercises_notebook(path, gradf=None, numerical=None, numerical2=None, ops=None, own_f=None, extra=(),
                       merged=False, torch_cell="# verify the gradient using the torch library\nimport torch") -> Path:
    """The exercise notebook at `path`. gradf: the body of gradf's cell before the notebook's check (None: its
    placeholder); numerical, numerical2: the code between the estimate cells' dashes (None: `[0, 0, 0] # TODO`);
    ops: the Value methods in place of the starter's TODO, at its two-space indentation (None: the TODO).
    own_f: the f cell's code instead of the notebook's. extra: more code cells after the torch cell. merged:
    section 1's answers in one cell."""
    f_cell = own_f or ("# a mathematical expression of 3 inputs and one output\nfrom math import sin, cos\n\n"
                       "def f(a, b, c):\n  return -a**3 + sin(3*b) - 1.0/c + b**2.5 - a**0.5\n\nprint(f(2, 3, 4))")
    gradf_cell = (gradf or COLAB_GRADF) + "\n\n# the expected answer\n" + COLAB_ANS + "\nyours = gradf(2, 3, 4)\n" + \
        COLAB_CHECK.format(name="yours")
    estimates = []
    for name, code, note in (("numerical_grad", numerical, "estimate it numerically, as in the video"),
                             ("numerical_grad2", numerical2, "the symmetric derivative: confirm it is better")):
        body = code if code is not None else f"{name} = [0, 0, 0] # TODO"
        estimates.append(f"# {note}\n\n# -----------\n{body}\n# -----------\n\n" + COLAB_CHECK.format(name=name))
    section1 = ["\n\n".join([gradf_cell, *estimates])] if merged else [gradf_cell, *estimates]
    cells = [("markdown", "<a href=\"https://colab.research.google.com/\">Open In Colab</a>"),
             ("markdown", "# micrograd exercises\n\n1. watch the video\n2. do these exercises"),
             ("markdown", "## section 1: derivatives"), ("code", f_cell), *[("code", c) for c in section1],
             ("markdown", "## section 2: support for softmax"),
             ("code", COLAB_STARTER.replace("{ops}", ops if ops is not None else COLAB_OPS_PLACEHOLDER)),
             ("code", COLAB_SOFTMAX), *([("code", torch_cell)] if torch_cell else []), *[("code", c) for c in extra]]
    nb = {"cells": [], "nbformat": 4, "nbformat_minor": 0,
          "metadata": {"colab": {"provenance": []}, "kernelspec": {"name": "python3", "display_name": "Python 3"}}}
    for k, (kind, source) in enumerate(cells):
        cell = {"cell_type": kind, "metadata": {"id": f"cell{k}"}, "source": source.splitlines(keepends=True)}
        if kind == "code":
            cell.update(execution_count=None, outputs=[])
        nb["cells"].append(cell)
    path = Path(path)
    path.write_text(json.dumps(nb, indent=1))
    return path
