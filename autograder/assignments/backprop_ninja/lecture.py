"""The lecture's network: dataset, parameters and the forward pass broken into atoms.

This is the grader's trusted copy of the notebook's provided cells: a graded run never executes the
student's copy of them, so editing them changes nothing. tests/test_notebooks.py checks that the notebook's
cells compute exactly what this module computes.

Two deliberate departures from the lecture:
- every random draw comes from one seeded generator (the lecture draws bngain and bnbias unseeded, so its loss
  differs from run to run);
- nothing here sets requires_grad: the reference turns autograd on for itself (reference.py), and student code
  receives tensors that carry no graph.
"""
import random
from types import SimpleNamespace

import torch

block_size = 3  # context length: how many characters we take to predict the next one
n_embd = 10  # the dimensionality of the character embedding vectors
n_hidden = 64  # the number of neurons in the hidden layer of the MLP
batch_size = 32
n = batch_size  # a shorter variable also, for convenience

PARAMETER_NAMES = ("C", "W1", "b1", "W2", "b2", "bngain", "bnbias")
# Exercise 4's loop computes its backward pass in fused steps, as the lecture's last section does: each step's
# output gradient and the tensors whose gradients it gives, in the order backprop meets them.
LOOP_BACKWARD = (
    ("logits", ("h", "W2", "b2")),
    ("h", ("hpreact",)),
    ("hpreact", ("bngain", "bnbias", "hprebn")),
    ("hprebn", ("embcat", "W1", "b1")),
    ("embcat", ("emb",)),
    ("emb", ("C",)),
)
# The gradients the loop computes on the way that are not parameters' (dlogits, dh, ...): read when present.
LOOP_INTERMEDIATES = ("logits", "h", "hpreact", "hprebn", "embcat", "emb")

chars = list(".abcdefghijklmnopqrstuvwxyz")
stoi = {s: i for i, s in enumerate(chars)}
vocab_size = len(chars)


def build_dataset(words):
    X, Y = [], []
    for w in words:
        context = [0] * block_size
        for ch in w + ".":
            ix = stoi[ch]
            X.append(context)
            Y.append(ix)
            context = context[1:] + [ix]  # crop and append
    return torch.tensor(X), torch.tensor(Y)


def split_dataset(words):
    """The lecture's 80/10/10 split, shuffled with random.seed(42) as in the lecture."""
    words = list(words)
    random.Random(42).shuffle(words)
    n1 = int(0.8 * len(words))
    n2 = int(0.9 * len(words))
    return build_dataset(words[:n1]), build_dataset(words[n1:n2]), build_dataset(words[n2:])


def init_parameters(g, n_hidden=n_hidden):
    # Layer 1
    C = torch.randn((vocab_size, n_embd), generator=g)
    W1 = torch.randn((n_embd * block_size, n_hidden), generator=g) * (5 / 3) / ((n_embd * block_size) ** 0.5)
    b1 = torch.randn(n_hidden, generator=g) * 0.1  # using b1 just for fun, it's useless because of BN
    # Layer 2
    W2 = torch.randn((n_hidden, vocab_size), generator=g) * 0.1
    b2 = torch.randn(vocab_size, generator=g) * 0.1
    # BatchNorm parameters
    bngain = torch.randn((1, n_hidden), generator=g) * 0.1 + 1.0
    bnbias = torch.randn((1, n_hidden), generator=g) * 0.1
    # Note: the parameters are initialised in non-standard ways on purpose: all zeros could mask an incorrect
    # implementation of the backward pass.
    return dict(C=C, W1=W1, b1=b1, W2=W2, b2=b2, bngain=bngain, bnbias=bnbias)


def sample_batch(Xtr, Ytr, g, batch_size=batch_size):
    ix = torch.randint(0, Xtr.shape[0], (batch_size,), generator=g)
    return Xtr[ix], Ytr[ix]


def forward(C, W1, b1, W2, b2, bngain, bnbias, Xb, Yb):
    """The forward pass "chunkated" into atoms that can be backpropagated one at a time.

    Returns every atom by its lecture name. Autograd records the graph when the parameters require grad.
    """
    n = Xb.shape[0]
    emb = C[Xb]  # embed the characters into vectors
    embcat = emb.view(emb.shape[0], -1)  # concatenate the vectors
    # Linear layer 1
    hprebn = embcat @ W1 + b1  # hidden layer pre-activation
    # BatchNorm layer
    bnmeani = 1 / n * hprebn.sum(0, keepdim=True)
    bndiff = hprebn - bnmeani
    bndiff2 = bndiff**2
    bnvar = 1 / (n - 1) * (bndiff2).sum(0, keepdim=True)  # note: Bessel's correction (dividing by n-1, not n)
    bnvar_inv = (bnvar + 1e-5) ** -0.5
    bnraw = bndiff * bnvar_inv
    hpreact = bngain * bnraw + bnbias
    # Non-linearity
    h = torch.tanh(hpreact)  # hidden layer
    # Linear layer 2
    logits = h @ W2 + b2  # output layer
    # cross entropy loss (same as F.cross_entropy(logits, Yb))
    logit_maxes = logits.max(1, keepdim=True).values
    norm_logits = logits - logit_maxes  # subtract max for numerical stability
    counts = norm_logits.exp()
    counts_sum = counts.sum(1, keepdims=True)
    counts_sum_inv = counts_sum**-1  # if I use (1.0 / counts_sum) instead then I can't get backprop to be bit exact...
    probs = counts * counts_sum_inv
    logprobs = probs.log()
    loss = -logprobs[range(n), Yb].mean()
    return SimpleNamespace(
        emb=emb, embcat=embcat, hprebn=hprebn, bnmeani=bnmeani, bndiff=bndiff, bndiff2=bndiff2, bnvar=bnvar,
        bnvar_inv=bnvar_inv, bnraw=bnraw, hpreact=hpreact, h=h, logits=logits, logit_maxes=logit_maxes,
        norm_logits=norm_logits, counts=counts, counts_sum=counts_sum, counts_sum_inv=counts_sum_inv,
        probs=probs, logprobs=logprobs, loss=loss,
    )  # fmt: skip


def sgd_step(params, grads, lr=0.1):
    """Exercise 4's update, `p.data += -lr * grad`, written the same way so the replay is bit for bit."""
    for name, grad in grads.items():
        params[name] += -lr * grad
