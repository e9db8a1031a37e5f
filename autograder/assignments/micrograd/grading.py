"""The micrograd assignment's side of a Grader: its problems, torch autograd's answers in float64, the comparison
of a run's numbers with them, and the hints for the mistakes this lecture is about."""
import random
from dataclasses import dataclass, field, replace

import numpy as np
import torch

from ... import array_file
from ...assignment import Grading
from ...checks import HIDDEN, PUBLIC, Exercise
from ...compare import Comparison, compare
from ...results import HIDDEN_FAILURE
from . import PUBLIC_SEED, lecture

OP_CASES = 4  # cases per op in Exercise 4
GRAPHS = 4  # random expression graphs in Exercise 4, beside the lecture's neuron


@dataclass
class Problem:
    """What one seed gives: each exercise's inputs (arrays) and autograd's answer to each check (float64)."""

    seed: int
    inputs: dict = field(default_factory=dict)  # exercise id -> {name: array}
    truth: dict = field(default_factory=dict)  # exercise id -> {check name: array}
    numerical_tolerance: np.ndarray | None = None  # Exercise 3's estimate: how far its step lets it be, per variable
    partials: dict = field(default_factory=dict)  # Exercises 1-2: (consumer, input) -> local derivative
    values: dict = field(default_factory=dict)  # Exercises 1-2: every node's value


def make_problem(seed: int, public: bool) -> Problem:
    rng = random.Random(seed)
    problem = Problem(seed)

    def uniform(low, high):  # away from zero, of either sign
        return rng.uniform(low, high) * rng.choice((-1, 1))

    graph = lecture.GRAPH_VALUES if public else {name: round(uniform(0.5, 5), 3) for name in lecture.GRAPH_LEAVES}
    neuron = lecture.NEURON_VALUES if public else {"x1": uniform(0.5, 2), "x2": uniform(0.5, 2),
                                                   "w1": uniform(0.3, 1.5), "w2": uniform(0.3, 1.5),
                                                   "b": uniform(0.1, 1)}  # fmt: skip
    for ex, nodes, leaves in (("ex1", lecture.GRAPH, graph), ("ex2", lecture.NEURON, neuron)):
        problem.inputs[ex] = {name: np.array(value, dtype=np.float64) for name, value in leaves.items()}
        problem.truth[ex], problem.partials[ex], problem.values[ex] = _graph_truth(nodes, leaves)
    point = lecture.POINT if public else (rng.uniform(0.5, 3), rng.uniform(0.5, 3), rng.uniform(1, 5))
    problem.inputs["ex3"] = {"point": np.array(point, dtype=np.float64)}
    gradient = _gradient_of_f(point)
    problem.truth["ex3"] = {"gradf": gradient, "numerical_grad": gradient}
    problem.numerical_tolerance = numerical_tolerance(point)
    problem.inputs["ex4"], problem.truth["ex4"] = _value_class_problem(rng)
    xs = lecture.XS if public else [[rng.uniform(-2, 2) for _ in range(3)] for _ in range(4)]
    ys = lecture.YS if public else [rng.choice((-1.0, 1.0)) for _ in range(4)]
    problem.inputs["ex5"] = {"xs": np.array(xs, dtype=np.float64), "ys": np.array(ys, dtype=np.float64),
                             "init_seed": np.array(seed % 2**31, dtype=np.int64)}  # fmt: skip
    return problem


def _graph_truth(nodes: tuple, leaves: dict) -> tuple[dict, dict, dict]:
    """Autograd's gradient of the output for every node; each op's local derivatives; every node's value."""
    values = lecture.forward(nodes, leaves)
    partials = {}
    for name, expression in nodes:  # each op alone, on leaves of its own
        inputs = [n for n in values if n in expression.replace("(", " ").replace(")", " ").split()]
        alone = {n: torch.tensor(values[n], dtype=torch.float64, requires_grad=True) for n in inputs}
        out = eval(expression, {"tanh": torch.tanh}, alone)
        for wrt, local in zip(inputs, torch.autograd.grad(out, list(alone.values()))):
            partials[(name, wrt)] = float(local)
    tensors = {name: torch.tensor(value, dtype=torch.float64, requires_grad=True) for name, value in leaves.items()}
    for name, expression in nodes:
        tensors[name] = eval(expression, {"tanh": torch.tanh}, tensors)
        tensors[name].retain_grad()
    tensors[nodes[-1][0]].backward()
    truth = {name: np.array(float(t.grad) if t.grad is not None else 0.0) for name, t in tensors.items()}
    return truth, partials, values


def _gradient_of_f(point: tuple) -> np.ndarray:
    a, b, c = (torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in point)
    out = -a**3 + torch.sin(3*b) - 1.0/c + b**2.5 - a**0.5
    return np.array([float(g) for g in torch.autograd.grad(out, (a, b, c))])


def numerical_tolerance(point: tuple, h: float = lecture.H) -> np.ndarray:
    """How far a symmetric difference with step h may be from the true gradient, per variable: its truncation
    error h²/6·|f'''| plus the rounding of f's two values (as large as its terms) divided by 2h, each with a margin of 4. A one-sided
    difference is off by h/2·|f''|, hundreds of times more for a and b at every point drawn."""
    x = torch.tensor(point, dtype=torch.float64, requires_grad=True)

    def f(v):
        a, b, c = v
        return -a**3 + torch.sin(3*b) - 1.0/c + b**2.5 - a**0.5

    third = []
    for i in range(3):
        g = torch.autograd.grad(f(x), x, create_graph=True)[0][i]
        g2 = torch.autograd.grad(g, x, create_graph=True)[0][i]
        third.append(abs(float(torch.autograd.grad(g2, x)[0][i])))
    a, b, c = point
    scale = abs(a**3) + 1.0 + abs(1.0/c) + abs(b**2.5) + abs(a**0.5)  # f's terms: its rounding is theirs
    eps = float(np.finfo(np.float64).eps)
    return 4 * (h**2 / 6 * np.array(third) + 2 * eps * scale / (2 * h))


def _value_class_problem(rng: random.Random) -> tuple[dict, dict]:
    """Exercise 4's op cases (each op alone, with a gradient already in its operands and out.grad not 1) and its
    expression graphs (the lecture's neuron, then random ones), and autograd's gradients for each."""
    def nonzero():
        return round(rng.uniform(0.5, 2.0) * rng.choice((-1, 1)), 3)

    inputs, truth = {}, {}
    for name in ("add", "mul"):
        rows = np.array([[nonzero() for _ in range(5)] for _ in range(OP_CASES)])
        inputs[name] = rows
        grads = []
        for a, b, ra, rb, g in rows:
            x, y = (torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in (a, b))
            out = x + y if name == "add" else x * y
            gx, gy = torch.autograd.grad(out, (x, y), torch.tensor(g, dtype=torch.float64))
            grads += [ra + float(gx), rb + float(gy)]
        truth[name] = np.array(grads)
    powers = (2, 3, -1, 0.5)
    rows = np.array([[abs(nonzero()), powers[k % len(powers)], nonzero(), nonzero()] for k in range(OP_CASES)])
    inputs["pow"] = rows
    truth["pow"] = np.array([ra + p * a ** (p - 1) * g for a, p, ra, g in rows])
    for name, derivative in (("tanh", lambda a: 1 - np.tanh(a) ** 2), ("exp", np.exp)):
        rows = np.array([[nonzero(), nonzero(), nonzero()] for _ in range(OP_CASES)])
        inputs[name] = rows
        truth[name] = np.array([ra + float(derivative(a)) * g for a, ra, g in rows])
    graphs = [_neuron_graph()] + [lecture.random_graph(rng, leaves=3, ops=6 + k) for k in range(GRAPHS)]
    inputs["graphs"] = np.array([row for rows in graphs for row in rows], dtype=np.float64)
    inputs["graph_sizes"] = np.array([len(rows) for rows in graphs], dtype=np.int64)
    inputs["graph_data"], inputs["graph_locals"] = map(np.concatenate, zip(*map(local_derivatives, graphs)))
    truth["graphs"] = truth["backward"] = np.concatenate([graph_gradients(rows) for rows in graphs])
    return inputs, truth


def _neuron_graph() -> list[tuple]:
    """The lecture's neuron as graph rows: tanh(x1*w1 + x2*w2 + b), at its values."""
    L = lecture
    leaves = [(L.LEAF, 0, 0, L.NEURON_VALUES[n]) for n in ("x1", "w1", "x2", "w2", "b")]
    return leaves + [(L.MUL, 0, 1, 0.0), (L.MUL, 2, 3, 0.0), (L.ADD, 5, 6, 0.0), (L.ADD, 7, 4, 0.0), (L.TANH, 8, 0, 0.0)]


def graph_gradients(rows: list[tuple]) -> np.ndarray:
    """Every node's gradient of the graph's output (its last row), by autograd in float64."""
    nodes = []
    for op, i, j, constant in rows:
        if op == lecture.LEAF:
            nodes.append(torch.tensor(constant, dtype=torch.float64, requires_grad=True))
        else:
            node = lecture.apply(op, nodes[i], nodes[j], constant, torch.tanh, torch.exp)
            node.retain_grad()
            nodes.append(node)
    nodes[-1].backward()
    return np.array([float(n.grad) if n.grad is not None else 0.0 for n in nodes])


def local_derivatives(rows: list[tuple]) -> tuple[np.ndarray, np.ndarray]:
    """Each node's value, and each op's derivatives with respect to its operands at those values, by autograd on
    that op alone, in float64: numbers with which the run checks backward() alone, so that no rule of any op's
    backward (the answer to the exercise) is in the run. A row's second derivative is 0 for an op on one node."""
    data, locals_ = [], []
    for op, i, j, constant in rows:
        if op == lecture.LEAF:
            data.append(constant)
            locals_.append((0.0, 0.0))
            continue
        x, y = (torch.tensor(data[k], dtype=torch.float64, requires_grad=True) for k in (i, j))
        out = lecture.apply(op, x, y, constant, torch.tanh, torch.exp)
        dx, dy = torch.autograd.grad(out, (x, y), allow_unused=True)
        data.append(float(out.detach()))
        locals_.append((float(dx), float(dy) if dy is not None and op not in lecture.UNARY else 0.0))
    return np.array(data), np.array(locals_)


def mlp_gradients(params: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """The loss's gradient for every parameter of MLP(3, [4, 4, 1]), in the lecture's order (layer by layer,
    neuron by neuron, its weights then its bias), at `params`, by autograd in float64."""
    p = torch.tensor(params, dtype=torch.float64, requires_grad=True)
    loss = _mlp_loss(p, xs, ys)
    return torch.autograd.grad(loss, p)[0].numpy()


def _mlp_loss(p: torch.Tensor, xs, ys) -> torch.Tensor:
    sizes, k = lecture.MLP_SIZES, 0
    layers = []
    for n_in, n_out in zip(sizes, sizes[1:]):
        rows = p[k:k + (n_in + 1) * n_out].reshape(n_out, n_in + 1)
        layers.append((rows[:, :n_in], rows[:, n_in]))
        k += (n_in + 1) * n_out
    loss = torch.zeros((), dtype=torch.float64)
    for x, y in zip(torch.tensor(xs, dtype=torch.float64), torch.tensor(ys, dtype=torch.float64)):
        for w, b in layers:
            x = torch.tanh(w @ x + b)
        loss = loss + (x[0] - y) ** 2
    return loss


class MicrogradGrading(Grading):
    def __init__(self, assignment, hidden_seed: int, **_):
        super().__init__(assignment, hidden_seed)
        self.problems = {PUBLIC: make_problem(PUBLIC_SEED, public=True), HIDDEN: make_problem(hidden_seed, public=False)}
        self._encoded: dict = {}

    def problems_for(self, cell) -> dict:
        return self.problems

    def autograd_flags(self, source: str) -> list[dict]:
        # .grad, .backward() and zero_grad are the lecture's own Value's here, not torch's: only what the run
        # asks of torch's autograd is flagged (the engine's runtime flags).
        return []

    def inputs(self, ex: Exercise, problem) -> bytes:
        key = (ex.id, id(problem))  # the problems live as long as the Grader
        if key not in self._encoded:
            self._encoded[key] = array_file.encode(problem.inputs[ex.id])
        return self._encoded[key]

    def value_names(self, ex: Exercise) -> set[str]:
        if ex.id == "ex5":
            return {f"{kind}{k}" for kind in ("step", "params") for k in range(1, ex.steps + 2)}
        return super().value_names(ex)

    def comparisons(self, ex: Exercise, runs: dict, problems: dict) -> tuple[dict, object]:
        if ex.id == "ex5":
            return self._training_comparisons(ex, runs, problems), None
        comparisons = {}
        for check in ex.checks:
            comparisons[check.name] = {}
            for label, run in runs.items():
                truth = problems[label].truth[ex.id][check.name]
                held = check  # numerical_grad: its own tolerance, from its step at this point
                if check.name == "numerical_grad":
                    held = replace(check, rtol=0.0, atol=problems[label].numerical_tolerance)
                comparisons[check.name][label] = compare(held, run.result["values"].get(check.variable),
                                                         run.arrays.get(check.variable), truth, truth)  # fmt: skip
        return comparisons, None

    def diagnose(self, ex: Exercise, cell, checks: list, runs: dict, problems: dict, context, credit: str) -> str:
        from .hints import diagnose

        diagnose(ex, checks, runs[PUBLIC], problems[PUBLIC])
        return ""

    def finish(self, ex: Exercise, result, runs: dict, problems: dict, context, root: str):
        result.localised = ex.step_by_step  # Exercises 1-2; in 3-5 each failing check is a mistake of its own
        for check in result.checks:
            if check.message == HIDDEN_FAILURE:  # the engine's words are for tensors and sizes
                check.message = "right at the values you see, wrong at others: a number worked out, not an expression?"

    def hidden_message(self, ex: Exercise, cell, result) -> str | None:
        return ("right on the values you see but not on the hidden ones: write each answer as an expression of the "
                "values you are given (da = de * b, not da = 6.0), so it holds at any values")  # fmt: skip

    def _training_comparisons(self, ex: Exercise, runs: dict, problems: dict) -> dict:
        """Each step's gradients against autograd's at the parameters the student's loop had at that step; and
        the update: each step moves every parameter by -lr times its gradient, for one lr > 0."""
        count = lecture.mlp_parameter_count()
        comparisons = {check.name: {} for check in ex.checks}
        for label, run in runs.items():
            values, arrays, inputs = run.result["values"], run.arrays, problems[label].inputs["ex5"]
            for k in range(1, ex.steps + 1):
                check = ex.checks[k - 1]
                params = arrays.get(f"params{k}")
                if params is None or params.shape != (count,):
                    truth = np.zeros(count)  # compare() says what is wrong with the gradient's own shape
                else:
                    truth = mlp_gradients(params, inputs["xs"], inputs["ys"])
                comparisons[check.name][label] = compare(check, values.get(check.variable), arrays.get(check.variable),
                                                         truth, truth)  # fmt: skip
            comparisons["update"][label] = _update_comparison(ex.checks[-1], values, arrays, ex.steps)
        return comparisons


def _update_comparison(check, values: dict, arrays: dict, steps: int) -> Comparison:
    """Whether each step moved the parameters by -lr * grad, with one learning rate lr > 0 over the run."""
    moves, grads = [], []
    for k in range(1, steps + 1):
        before, after, grad = arrays.get(f"params{k}"), arrays.get(f"params{k + 1}"), arrays.get(f"step{k}")
        if before is None or after is None or grad is None or not before.shape == after.shape == grad.shape:
            break
        moves.append(after - before)
        grads.append(grad)
    if not moves:
        return Comparison(problem="update: no step of your loop could be followed (see the steps' rows)",
                          assigned=bool(values))  # fmt: skip
    move, grad = np.concatenate(moves), np.concatenate(grads)
    lr = -float(move @ grad) / float(grad @ grad) if grad.any() else 0.0
    if not lr > 0:
        return Comparison(shape_ok=True, dtype_ok=True, problem="update: your loop moves the parameters up the "
                          "gradient (or not at all): the update is p.data += -learning_rate * p.grad")  # fmt: skip
    expected = -lr * grad
    return compare(replace(check, rtol=1e-6, atol=1e-9), {"kind": "tensor", "dtype": check.dtype,
                   "shape": list(move.shape)}, move, expected, expected)  # fmt: skip
