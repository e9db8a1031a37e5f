"""The micrograd assignment's run side, in the sandbox's child: the notebook's namespace at an exercise's cell,
the cell run, and the numbers it gives, as float64 tensors for the engine (Python floats in the notebook).

Exercises 3-5 define functions and classes rather than numbers: after the cell, the harness here calls them on
the run's inputs (Exercise 3's point, Exercise 4's op cases and random expression graphs, built with the
student's own Value class) and records what came out. Each check is computed on its own, so a Value whose pow
raises still has its add, mul, tanh and exp graded; one that raises says where in its row (NotComputed).
"""
import math
import random
import traceback
import types

import numpy as np
import torch

from ...student_process import DOES_NOTHING, NotComputed
from . import lecture

OP_CASES = ("add", "mul", "pow", "tanh", "exp")


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
        # The lecture's f as the notebook defines it, its globals math alone (not the lecture module's Value).
        ns.update(f=types.FunctionType(lecture.f.__code__, {"math": math, "__builtins__": {}}), h=lecture.H)
    elif ex == "ex5":
        random.seed(int(arrays["init_seed"]))  # the network's initial weights, drawn with random.uniform
        ns.update(Value=lecture.Value, random=random, steps=job["steps"],
                  xs=[list(map(float, x)) for x in arrays["xs"]], ys=[float(y) for y in arrays["ys"]])
    return ns


def execute(code, ns: dict, job: dict, arrays: dict, values: dict, losses: list):
    if job["exercise"] == "ex5":
        TrainingRecorder(ns, job["steps"], values, losses).install()
    exec(code, ns)
    after_cell(job, ns, arrays, values, where=f"<{job['exercise']}>")


def after_cell(job: dict, ns: dict, arrays: dict, values: dict, where: str = ""):
    """What Exercises 3-5 give once their cell has run: its functions called at the point, its Value class put
    through the op cases and graphs, its loop's last parameters. `where`: the cell's file name in tracebacks, for
    the line a failure names. The notebook's own check() calls this on the kernel's namespace too."""
    ex = job["exercise"]
    if ex == "ex3":
        point = tuple(float(x) for x in arrays["point"])
        for name in job["variables"]:
            values[name] = _computed(where, lambda name=name: _call(ns, name, point))
    elif ex == "ex4":
        _value_class_checks(ns, arrays, where, values)
    elif ex == "ex5":
        _final_parameters(ns, job["steps"], values)


def collect(job: dict, ns: dict, values: dict):
    if job["exercise"] in ("ex1", "ex2"):
        values.update({v: as_numbers(ns[v]) for v in job["variables"] if v in ns})


def warm_up():
    """Nothing to warm: this assignment's runs are plain Python."""


def _computed(where: str, compute):
    """compute() as numbers, or NotComputed saying how the student's code raised (and at which of its lines)."""
    try:
        return as_numbers(compute())
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


# ---------------------------------------------------------------- Exercise 4: the student's Value class


def _value_class_checks(ns: dict, cases: dict, where: str, values: dict):
    Value = ns.get("Value")
    if not isinstance(Value, type):
        raise NameError("the cell must define the class Value")
    for name in OP_CASES:
        values[name] = _computed(where, lambda name=name: _op_case_grads(Value, name, cases[name]))
    graphs = lecture.split_graphs(cases["graphs"], cases["graph_sizes"])
    locals_ = cases["graph_locals"].tolist()
    values["backward"] = _computed(where, lambda: _backward_alone(Value, graphs, cases["graph_data"].tolist(), locals_))
    values["graphs"] = _computed(where, lambda: _graph_grads(Value, graphs))
    if all(isinstance(values[name], NotComputed) and values[name].unanswered for name in values):
        values.clear()  # the notebook's stub, untouched: not answered, as an exercise that raised at once
        raise NotImplementedError("the Value class's backward is not written yet")


def _op_case_grads(Value, name: str, rows) -> list:
    """Each case of one op, alone: the operands' grads after one call of the result's _backward, where the
    operands already hold a gradient (it must be added to, not replaced) and out.grad is not 1 (it must be
    multiplied by)."""
    grads = []
    for row in rows:
        if name in ("add", "mul"):
            a, b, ra, rb, g = map(float, row)
            x, y = Value(a), Value(b)
            out = x + y if name == "add" else x * y
            x.grad, y.grad, out.grad = ra, rb, g
            out._backward()
            grads += [x.grad, y.grad]
        else:
            if name == "pow":
                a, p, ra, g = map(float, row)
                x = Value(a)
                out = x ** (int(p) if p.is_integer() else p)
            else:
                a, ra, g = map(float, row)
                x = Value(a)
                out = x.tanh() if name == "tanh" else x.exp()
            x.grad, out.grad = ra, g
            out._backward()
            grads.append(x.grad)
    return grads


def _graph_grads(Value, graphs: list) -> list:
    """Every node's grad after the output's backward(), graph after graph, each built with the student's own ops."""
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
