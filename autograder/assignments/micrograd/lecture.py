"""The first lecture, "The spelled-out intro to neural networks and backpropagation: building micrograd", as the
exercises use it: its expression graph, its neuron, its function of three variables, its Value class and its MLP.

Plain Python (math and random), as in the lecture: the sandbox's run side imports it, and so does the notebook.
"""
import math
import random

# Exercise 1: a = 2.0, b = -3.0, c = 10.0, e = a*b, d = e + c, f = -2.0, L = d*f. Each node as the lecture builds
# it, in the order the forward pass computes it; the leaves are the exercise's inputs.
GRAPH_LEAVES = ("a", "b", "c", "f")
GRAPH = (("e", "a * b"), ("d", "e + c"), ("L", "d * f"))
GRAPH_VALUES = {"a": 2.0, "b": -3.0, "c": 10.0, "f": -2.0}

# Exercise 2: one neuron, o = tanh(x1*w1 + x2*w2 + b), with the lecture's values (b makes n come out at 0.8814).
NEURON_LEAVES = ("x1", "x2", "w1", "w2", "b")
NEURON = (("x1w1", "x1 * w1"), ("x2w2", "x2 * w2"), ("x1w1x2w2", "x1w1 + x2w2"), ("n", "x1w1x2w2 + b"),
          ("o", "tanh(n)"))  # fmt: skip
NEURON_VALUES = {"x1": 2.0, "x2": 0.0, "w1": -3.0, "w2": 1.0, "b": 6.8813735870195432}

# Exercise 3: the exercise notebook's function and its point. The numerical estimates' step h is the learner's.
POINT = (2.0, 3.0, 4.0)


def f(a, b, c):
    return -a**3 + math.sin(3*b) - 1.0/c + b**2.5 - a**0.5


# Exercise 6: the exercise notebook's softmax and negative log likelihood, its logits and its label.
SOFTMAX_LOGITS = (0.0, 3.0, -2.0, 1.0)
SOFTMAX_LABEL = 3


def softmax(logits):
    counts = [logit.exp() for logit in logits]
    denominator = sum(counts)
    out = [c / denominator for c in counts]
    return out


def nll_loss(logits: list, label: int):
    """The notebook's loss: the negative log of the softmax's probability of the label."""
    probs = softmax(logits)
    return -probs[label].log()


def forward(graph: tuple, leaves: dict) -> dict:
    """Every node's value, the leaves' and the computed ones', as the lecture's forward pass gives them."""
    values = dict(leaves)
    for name, expression in graph:
        values[name] = eval(expression, {"tanh": math.tanh}, values)
    return values


# Exercise 5: the lecture's four examples and its network.
XS = ((2.0, 3.0, -1.0), (3.0, -1.0, 0.5), (0.5, 1.0, 1.0), (1.0, 1.0, -1.0))
YS = (1.0, -1.0, -1.0, 1.0)
MLP_SIZES = (3, 4, 4, 1)  # MLP(3, [4, 4, 1])


def mlp_parameter_count(sizes=MLP_SIZES) -> int:
    return sum((n_in + 1) * n_out for n_in, n_out in zip(sizes, sizes[1:]))


class Value:
    """The lecture's Value, complete: Exercise 5 trains with it, so a slip in Exercise 4 costs nothing there."""

    def __init__(self, data, _children=(), _op='', label=''):
        self.data = data
        self.grad = 0.0
        self._backward = lambda: None
        self._prev = set(_children)
        self._op = _op
        self.label = label

    def __repr__(self):
        return f"Value(data={self.data})"

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), '+')

        def _backward():
            self.grad += 1.0 * out.grad
            other.grad += 1.0 * out.grad
        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), '*')

        def _backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad
        out._backward = _backward
        return out

    def __pow__(self, other):
        assert isinstance(other, (int, float)), "only supporting int/float powers for now"
        out = Value(self.data**other, (self,), f'**{other}')

        def _backward():
            self.grad += other * (self.data ** (other - 1)) * out.grad
        out._backward = _backward
        return out

    def __rmul__(self, other):  # other * self
        return self * other

    def __truediv__(self, other):  # self / other
        return self * other**-1

    def __neg__(self):  # -self
        return self * -1

    def __sub__(self, other):  # self - other
        return self + (-other)

    def __radd__(self, other):  # other + self
        return self + other

    def __rsub__(self, other):  # other - self
        return other + (-self)

    def tanh(self):
        x = self.data
        t = (math.exp(2*x) - 1)/(math.exp(2*x) + 1)
        out = Value(t, (self,), 'tanh')

        def _backward():
            self.grad += (1 - t**2) * out.grad
        out._backward = _backward
        return out

    def exp(self):
        x = self.data
        out = Value(math.exp(x), (self,), 'exp')

        def _backward():
            self.grad += out.data * out.grad
        out._backward = _backward
        return out

    def backward(self):
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
            node._backward()


# Expression graphs for Exercise 4, as rows (op, i, j, constant) over earlier rows: a leaf holds its value in
# `constant`; ops on one node use i only; a constant operand (x + 2.0, 3.0 * x, x**p) sits in `constant`.
LEAF, ADD, MUL, POW, TANH, EXP, SUB, DIV, NEG, ADD_CONSTANT, CONSTANT_MUL = range(11)
UNARY = (POW, TANH, EXP, NEG, ADD_CONSTANT, CONSTANT_MUL)


def apply(op: int, x, y, constant: float, tanh, exp):
    """Row `op` applied to operands x (and y): Value objects, or torch tensors with tanh and exp given."""
    if op == ADD:
        return x + y
    if op == MUL:
        return x * y
    if op == POW:
        return x ** constant
    if op == TANH:
        return tanh(x)
    if op == EXP:
        return exp(x)
    if op == SUB:
        return x - y
    if op == DIV:
        return x / y
    if op == NEG:
        return -x
    if op == ADD_CONSTANT:
        return x + constant
    if op == CONSTANT_MUL:
        return constant * x
    raise ValueError(f"no op {op}")


# The method of the Value class each row's op calls: a class without it cannot build a graph with that op.
METHOD = {ADD: "__add__", MUL: "__mul__", POW: "__pow__", TANH: "tanh", EXP: "exp", SUB: "__sub__",
          DIV: "__truediv__", NEG: "__neg__", ADD_CONSTANT: "__add__", CONSTANT_MUL: "__rmul__"}
# How a message names each op.
OP_NAME = {ADD: "+", MUL: "*", POW: "**", TANH: "tanh", EXP: "exp", SUB: "-", DIV: "/", NEG: "unary -",
           ADD_CONSTANT: "+ with a number", CONSTANT_MUL: "number * Value (__rmul__)"}
EVERY_OP = (ADD, MUL, POW, TANH, EXP, SUB, DIV, NEG, ADD_CONSTANT, CONSTANT_MUL, ADD, MUL)
ARITHMETIC = tuple(op for op in EVERY_OP if op not in (TANH, EXP))  # what a Value class without tanh or exp has


def random_graph(rng: random.Random, leaves: int, ops: int, kinds: tuple = EVERY_OP) -> list[tuple]:
    """A random expression graph whose every node reaches the last: the leaves, then `ops` rows over earlier
    nodes, some used twice (x + x, the lecture's bug: gradients must accumulate), through every kind of op in
    `kinds` (and no other: a divisor is kept from zero by exp, or without exp by x*x + 1)."""
    rows = [(LEAF, 0, 0, round(rng.uniform(0.3, 1.5) * rng.choice((-1, 1)), 3)) for _ in range(leaves)]
    unused = set(range(leaves))
    for k in range(ops):
        op = rng.choice(kinds)
        # Prefer a node nothing uses yet, so every one reaches the output; sometimes the same node twice.
        i = min(unused) if unused and rng.random() < 0.7 else rng.randrange(len(rows))
        j = i if rng.random() < 0.2 else (max(unused - {i}) if len(unused) > 1 else rng.randrange(len(rows)))
        constant = 0.0
        if op == POW and k % 3 == 0:  # a fractional power needs a positive base: (x*x + 1) ** 0.5
            rows.append((MUL, i, i, 0.0))
            rows.append((ADD_CONSTANT, len(rows) - 1, 0, 1.0))
            i, constant = len(rows) - 1, 0.5
        elif op == POW:
            constant = float(rng.choice((2, 3)))
        elif op == DIV and EXP in kinds:
            rows.append((EXP, j, 0, 0.0))  # a divisor away from zero
            j = len(rows) - 1
        elif op == DIV:
            rows.append((MUL, j, j, 0.0))
            rows.append((ADD_CONSTANT, len(rows) - 1, 0, 1.0))  # x*x + 1: a divisor away from zero
            j = len(rows) - 1
        elif op in (ADD_CONSTANT, CONSTANT_MUL):
            constant = round(rng.uniform(-2, 2), 2)
        elif op == EXP:
            rows.append((TANH, i, 0, 0.0))  # keep exp's argument small
            i = len(rows) - 1
        unused.discard(i)
        if op not in UNARY:
            unused.discard(j)
        rows.append((op, i, j if op not in UNARY else 0, constant))
        unused.add(len(rows) - 1)
    while len(unused) > 1:  # join what no op used into the output
        i, j = sorted(unused)[:2]
        rows.append((ADD, i, j, 0.0))
        unused -= {i, j}
        unused.add(len(rows) - 1)
    return rows



def split_graphs(rows, sizes) -> list[list[tuple]]:
    """The graphs a run's inputs hold one after another, as rows (op, i, j, constant) with Python numbers."""
    graphs, start = [], 0
    for size in sizes:
        graphs.append([(int(op), int(i), int(j), float(c)) for op, i, j, c in rows[start:start + int(size)]])
        start += int(size)
    return graphs
