"""The micrograd assignment's run side, in the sandbox's child: the notebook's namespace at an exercise's cell,
the cell run, and the numbers it gives, as float64 tensors for the engine (Python floats in the notebook).

Exercises 3-6 define functions and classes rather than numbers: after the cell, the harness here calls them on
the run's inputs (Exercise 3's point, the op cases and random expression graphs of Exercises 4 and 6, built with
the student's own Value class) and records what came out. Each check is computed on its own, so a Value whose pow
raises still has its add, mul, tanh and exp graded; one that raises says where in its row (NotComputed).

Exercise 3's estimates are lists the cell computes from f's values, with the learner's own step h, at the
lecture's point (2, 3, 4). The run records where f was evaluated, so the grader can hold each estimate to the
estimate of its kind at those steps. On the hidden run f is the lecture's f moved to a hidden point: the same
cell then estimates the gradient there, and a list of numbers typed in from a printout is wrong.
"""
import math
import random
import traceback
import types

import numpy as np
import torch

from ...student_process import DOES_NOTHING, NotComputed
from . import lecture

OP_CASES = {"ex4": ("add", "mul", "pow", "tanh", "exp"), "ex6": ("exp", "log", "div", "neg", "radd", "mul", "pow")}
ESTIMATES = ("numerical_grad", "numerical_grad2")
# The methods Exercise 6 asks for: a class with none of them is the exercise notebook's starter, not an answer.
SOFTMAX_OPS = {"exp", "log", "__mul__", "__rmul__", "__truediv__", "__neg__", "__radd__", "__pow__"}
MAX_F_CALLS = 10_000  # where f was evaluated, recorded up to this many calls
F_CALLS: list = []  # this run's (the child runs one exercise)


# Exactly these types, never a subclass or an object claiming one through __class__: converting them runs no code
# of the student's (a float subclass's __float__ would, after the run's guards are off).
NUMBER_TYPES = (int, float, np.float64)


def as_numbers(value):
    """A Python number, or a list of them, as a float64 tensor; anything else as it is (describe says what)."""
    if type(value) in NUMBER_TYPES:
        return torch.tensor(float(value), dtype=torch.float64)
    if type(value) in (list, tuple) and value and all(type(v) in NUMBER_TYPES for v in value):
        return torch.tensor([float(v) for v in value], dtype=torch.float64)
    return value


def namespace(job: dict, arrays: dict) -> dict:
    ex = job["exercise"]
    ns = {"math": math, "check": DOES_NOTHING}
    if ex in ("ex1", "ex2"):
        graph = lecture.GRAPH if ex == "ex1" else lecture.NEURON
        leaves = lecture.GRAPH_LEAVES if ex == "ex1" else lecture.NEURON_LEAVES
        ns.update(lecture.forward(graph, {name: float(arrays[name]) for name in leaves}))
    elif ex == "ex3":
        # The notebook's setup: `from math import sin, cos` and f, evaluated at the run's point (recording_f).
        F_CALLS.clear()
        ns.update(sin=math.sin, cos=math.cos, f=recording_f(arrays["point"], F_CALLS))
    elif ex == "ex5":
        random.seed(int(arrays["init_seed"]))  # the network's initial weights, drawn with random.uniform
        ns.update(Value=lecture.Value, random=random, steps=job["steps"],
                  xs=[list(map(float, x)) for x in arrays["xs"]], ys=[float(y) for y in arrays["ys"]])
    return ns


def recording_f(point, calls: list):
    """The notebook's f, recording each point it is evaluated at (in the learner's coordinates), and moved so that
    the lecture's point (2, 3, 4) is the run's `point`: f(2 + h, 3, 4) is the lecture's f at point + (h, 0, 0)."""
    shift = tuple(float(x) - p for x, p in zip(point, lecture.POINT))
    lecture_f = types.FunctionType(lecture.f.__code__, {"math": math, "__builtins__": {}})

    def f(a, b, c):
        if len(calls) < MAX_F_CALLS and all(type(x) in NUMBER_TYPES for x in (a, b, c)):
            calls.append((float(a), float(b), float(c)))
        return lecture_f(*(x + s if s else x for x, s in zip((a, b, c), shift)))
    return f


def moved_f(point):
    """The grader's copy of the run's f (no recording): the same floats for the same calls."""
    return recording_f(point, [None] * MAX_F_CALLS)


def execute(code, ns: dict, job: dict, arrays: dict, values: dict, losses: list):
    if job["exercise"] == "ex5":
        TrainingRecorder(ns, job["steps"], values, losses).install()
    where = f"<{job['exercise']}>"
    try:
        exec(code, ns)
    except BaseException:
        # A line after the answers raised (the notebook's own print of a name it never set): what the cell
        # defined before it is still graded, and the error is still the run's.
        try:
            after_cell(job, ns, arrays, values, where)
        except Exception:
            pass
        raise
    after_cell(job, ns, arrays, values, where)


def after_cell(job: dict, ns: dict, arrays: dict, values: dict, where: str = "", f_calls: list | None = None):
    """What Exercises 3-6 give once their cell has run: its functions called at the point and where f was
    evaluated, its Value class put through the op cases and graphs, its loop's last parameters. `where`: the
    cell's file name in tracebacks, for the line a failure names. The notebook's own check() calls this on the
    kernel's namespace too, with the calls its setup's record_calls saw (`f_calls`)."""
    ex = job["exercise"]
    if ex == "ex3":
        point = tuple(float(x) for x in arrays["point"])
        for name in ESTIMATES:  # a list, as the lecture asks; a function (an older notebook's) at the lecture's point
            if name in ns:
                values[name] = _computed(where, lambda name=name: _estimate(ns, name))
        calls = F_CALLS if f_calls is None else f_calls
        values["f_calls"] = torch.tensor(calls, dtype=torch.float64).reshape(-1, 3)  # the estimates', not gradf's
        values["gradf"] = _computed(where, lambda: _call(ns, "gradf", point))
        if type(ns.get("h")) in NUMBER_TYPES:
            values["h"] = torch.tensor(float(ns["h"]), dtype=torch.float64)
    elif ex in OP_CASES:
        _value_class_checks(ex, ns, arrays, where, values)
    elif ex == "ex5":
        _final_parameters(ns, job["steps"], values)


def collect(job: dict, ns: dict, values: dict):
    if job["exercise"] in ("ex1", "ex2"):
        values.update({v: as_numbers(ns[v]) for v in job["variables"] if v in ns})


def warm_up():
    """Nothing to warm: this assignment's runs are plain Python."""


class Finding(Exception):
    """What the harness found wrong with the student's class, said as it is (not as an error their code raised)."""


def _computed(where: str, compute):
    """compute() as numbers, or NotComputed saying how the student's code raised (and at which of its lines)."""
    try:
        return as_numbers(compute())
    except Finding as e:
        return NotComputed(str(e)[:300])
    except Exception as e:
        frames = [f for f in traceback.extract_tb(e.__traceback__) if f.filename == where]
        at = f" at line {frames[-1].lineno}" if frames else ""
        said = f": {e}" if str(e) else ""
        return NotComputed(f"raised {type(e).__name__}{at}{said}"[:200], unanswered=isinstance(e, NotImplementedError))


def _call(ns: dict, name: str, point: tuple):
    function = ns.get(name)
    if not callable(function):
        raise NameError(f"{name} is not defined as a function")
    return list(function(*point))


def _estimate(ns: dict, name: str):
    value = ns[name]
    return _call(ns, name, lecture.POINT) if callable(value) else value


# ---------------------------------------------------------------- Exercise 4: the student's Value class


def _value_class_checks(ex: str, ns: dict, cases: dict, where: str, values: dict):
    Value = ns.get("Value")
    if not isinstance(Value, type):
        raise NameError("the cell must define the class Value")
    for name in OP_CASES[ex]:
        values[name] = _computed(where, lambda name=name: _op_case_grads(Value, name, cases[name]))
    if ex == "ex4":
        graphs = lecture.split_graphs(cases["graphs"], cases["graph_sizes"])
        locals_ = cases["graph_locals"].tolist()
        values["backward"] = _computed(where, lambda: _backward_alone(Value, graphs, cases["graph_data"].tolist(),
                                                                     locals_))  # fmt: skip
        used = [k for k, rows in enumerate(graphs) if all(op == lecture.LEAF or _has(Value, lecture.METHOD[op])
                                                          for op, *_ in rows)]  # fmt: skip
        values["graphs_used"] = torch.tensor(used, dtype=torch.float64)
        values["graphs"] = _computed(where, lambda: _graph_grads(Value, [graphs[k] for k in used]))
    else:
        values["softmax"] = _computed(where, lambda: _softmax_grads(Value, cases["logits"], cases["labels"]))
    untouched = all(isinstance(values[name], NotComputed) and values[name].unanswered
                    for name in values if name != "graphs_used")  # which graphs were drawn is not an answer
    if untouched or (ex == "ex6" and not set(vars(Value)) & SOFTMAX_OPS):
        values.clear()  # the notebook's stub or starter class, untouched: not answered, as a cell that raised at once
        raise NotImplementedError("the Value class's backward is not written yet" if ex == "ex4"
                                  else "the Value class has none of the softmax's ops yet")


def _op_case_grads(Value, name: str, rows) -> list:
    """Each case of one op, alone: the operands' grads after the op's backward pass, where the operands already
    hold a gradient (it must be added to, not replaced) and out.grad is not 1 (it must be multiplied by). The
    op's backward pass is every _backward between its result and its operands, so an op the class builds from
    others (x / y as x * y**-1, -x as x * -1) is judged as one."""
    grads = []
    for row in rows:
        row = [float(v) for v in row]
        if name in ("add", "mul", "div"):
            a, b, ra, rb, g = row
            x, y = Value(a), Value(b)
            out = x + y if name == "add" else x * y if name == "mul" else x / y
            operands, priors = (x, y), (ra, rb)
        else:
            a, *constant, ra, g = row
            x = Value(a)
            if name == "pow":
                p = constant[0]
                out = x ** (int(p) if p.is_integer() else p)
            elif name == "radd":
                out = int(constant[0]) + x  # sum() starts from 0 + the first Value
            elif name == "neg":
                out = -x
            else:
                out = getattr(x, name)()  # tanh, exp, log
            operands, priors = (x,), (ra,)
        for operand, prior in zip(operands, priors):
            operand.grad = prior
        out.grad = g
        _backward_between(out, operands)
        for operand in operands:
            grads.append(_number_grad(operand, Value, name))
    return grads


def _backward_between(out, operands: tuple):
    """Every node's _backward from `out` down to the operands (not theirs), each once, after every node that uses
    it. Nodes are told apart by identity: a learner's Value may define == and be unhashable."""
    topo, seen = [], set()

    def visit(node):
        if id(node) in seen or any(node is operand for operand in operands):
            return
        seen.add(id(node))
        for child in getattr(node, "_prev", ()):
            visit(child)
        topo.append(node)

    visit(out)
    children = {id(child) for node in topo for child in getattr(node, "_prev", ())}
    if any(id(operand) not in children for operand in operands):
        raise Finding("makes a result whose _prev does not lead back to its operands: backward() never reaches "
                      "them (pass them as the new Value's children)")
    for node in reversed(topo):
        node._backward()


def _number_grad(node, Value, op: str):
    """A node's grad as the number it must be; a Value or other object in it says what went wrong."""
    grad = node.grad
    if isinstance(grad, Value):
        raise Finding("leaves a grad that is a Value, not a number: a local derivative is made of the operands' "
                      ".data (other.data, not other)")
    return grad


def _softmax_grads(Value, logits, labels) -> list:
    """The logits' grads after loss.backward(), for the notebook's softmax and negative log likelihood, built with
    the learner's class, for each row of logits and its label."""
    grads = []
    for row, label in zip(logits, labels):
        nodes = [Value(float(x)) for x in row]
        lecture.nll_loss(nodes, int(label)).backward()
        grads += [_number_grad(node, Value, "softmax") for node in nodes]
    return grads


def _has(Value, method: str) -> bool:
    """Whether the class itself (or a base of its own, not object) defines the method."""
    return any(method in vars(cls) for cls in Value.__mro__ if cls is not object)


def _graph_grads(Value, graphs: list) -> list:
    """Every node's grad after the output's backward(), graph after graph, each built with the student's own ops
    (only graphs made of ops the class has: a class with no tanh is judged on the graphs without one)."""
    if not graphs:
        raise Finding("has none of the ops the graphs are made of (+, *, **, -, /)")
    grads = []
    for rows in graphs:
        nodes = []
        for op, i, j, constant in rows:
            if op == lecture.LEAF:
                nodes.append(Value(constant))
            else:
                nodes.append(lecture.apply(op, nodes[i], nodes[j], constant, lambda v: v.tanh(), lambda v: v.exp()))
        nodes[-1].backward()
        grads += [node.grad for node in nodes]
    return grads


def _backward_alone(Value, graphs: list, data: list, locals_: list) -> list:
    """The same graphs' grads where each node is made by the class's constructor from its value and operands, and
    its _backward is the chain rule with its op's derivatives as numbers (the grader's, from autograd): what is
    graded is backward() alone, its order and its out.grad = 1, whatever the class's ops do or lack (a tanh)."""
    grads, k = [], 0
    for rows in graphs:
        nodes = []
        for op, i, j, _ in rows:
            operands = () if op == lecture.LEAF else (nodes[i],) if op in lecture.UNARY else (nodes[i], nodes[j])
            node = Value(data[k], operands)
            if operands:
                node._backward = _chain_rule(node, operands, locals_[k])
            nodes.append(node)
            k += 1
        nodes[-1].backward()
        grads += [node.grad for node in nodes]
    return grads


def _chain_rule(out, operands: tuple, derivatives: list):
    """out's _backward, knowing nothing of its op: each operand's grad grows by its derivative times out.grad."""
    def backward():
        for operand, derivative in zip(operands, derivatives):
            operand.grad += derivative * out.grad
    return backward


# ---------------------------------------------------------------- Exercise 5: the training loop


def _network(ns: dict):
    """The loop's network: `n`, as in the lecture, else the one MLP the cell made."""
    net = ns.get("n")
    if hasattr(net, "parameters"):
        return net
    mlps = [v for v in ns.values() if type(v).__name__ == "MLP" and hasattr(v, "parameters")]
    return mlps[0] if len(mlps) == 1 else None


def _parameters(ns: dict) -> list | None:
    net = _network(ns)
    return list(net.parameters()) if net is not None else None


# The lecture's backward, as the class has it before any recorder replaces it.
_LECTURE_BACKWARD = lecture.Value.backward


class TrainingRecorder:
    """Each backward() of the loss through the lecture's Value, up to `steps`: the parameters it was computed at
    and the gradients it left; and the parameters one backward later, after the last judged update. A new
    network (the cell run again) starts the recording afresh."""

    def __init__(self, ns: dict, steps: int, values: dict | None = None, losses: list | None = None):
        self.ns, self.steps = ns, steps
        self.values = {} if values is None else values
        self.losses = [] if losses is None else losses
        self.net, self.calls = None, 0

    def install(self) -> "TrainingRecorder":
        recorder = self

        def recording_backward(loss):
            _LECTURE_BACKWARD(loss)
            recorder.record(loss)

        lecture.Value.backward = recording_backward  # in a run, this child's copy of the class only
        return self

    def record(self, loss):
        net = _network(self.ns)
        if net is None:
            return
        if net is not self.net:
            self.net, self.calls = net, 0
            self.values.clear()
            self.losses.clear()
        self.calls += 1
        k = self.calls
        if k > self.steps + 1:
            return
        params = list(net.parameters())
        self.values[f"params{k}"] = as_numbers([p.data for p in params])
        if k <= self.steps:
            self.values[f"step{k}"] = as_numbers([p.grad for p in params])
            self.losses.append(float(loss.data) if type(loss.data) in NUMBER_TYPES else None)


def _final_parameters(ns: dict, steps: int, values: dict):
    """Where the loop left the parameters: the last step's update is judged from them."""
    params = _parameters(ns)
    done = sum(1 for k in range(steps) if f"step{k + 1}" in values)
    if params is not None and done and f"params{done + 1}" not in values:
        values[f"params{done + 1}"] = as_numbers([p.data for p in params])
