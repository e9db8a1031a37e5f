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
from ...vjp import vjp
from . import PUBLIC_SEED, lecture

OP_CASES = 4  # cases per op in Exercises 4 and 6
GRAPHS = 4  # random expression graphs in Exercise 4, beside the lecture's neuron
ARITHMETIC_GRAPHS = 2  # and random graphs without tanh or exp, for a class that has neither
SOFTMAX_ROWS = 3  # rows of hidden logits in Exercise 6 (the public run has the notebook's own row)
ESTIMATE_KIND = {"numerical_grad": "one-sided", "numerical_grad2": "symmetric"}
EPS = float(np.finfo(np.float64).eps)


@dataclass
class Problem:
    """What one seed gives: each exercise's inputs (arrays) and autograd's answer to each check (float64)."""

    seed: int
    inputs: dict = field(default_factory=dict)  # exercise id -> {name: array}
    truth: dict = field(default_factory=dict)  # exercise id -> {check name: array}
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
    # The estimates' own truth is the estimate of their kind at the steps the run took (estimate_comparison).
    problem.truth["ex3"] = {"gradf": gradient, "numerical_grad": gradient, "numerical_grad2": gradient}
    problem.inputs["ex4"], problem.truth["ex4"] = _value_class_problem(rng)
    problem.inputs["ex6"], problem.truth["ex6"] = _softmax_problem(rng, public)
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


# Each op a case can put through the learner's class: on torch tensors here, on Values in the run (run.py).
OPS = {
    "add": lambda x, y: x + y, "mul": lambda x, y: x * y, "div": lambda x, y: x / y,
    "pow": lambda x, p: x ** p, "radd": lambda x, c: c + x, "neg": lambda x: -x,
    "tanh": torch.tanh, "exp": torch.exp, "log": torch.log,
}  # fmt: skip


def op_cases(rng: random.Random, names: tuple) -> tuple[dict, dict]:
    """Each op's cases (its operands, a gradient already in them, and an out.grad that is not 1) as rows
    [a, b, prior a, prior b, out.grad] for ops on two Values, [a, constant, prior, out.grad] for pow and radd,
    [a, prior, out.grad] for the rest; and autograd's gradients of the operands after the op's backward pass."""
    def nonzero():
        return round(rng.uniform(0.5, 2.0) * rng.choice((-1, 1)), 3)

    powers = (2, 3, -1, 0.5)
    inputs, truth = {}, {}
    for name in names:
        rows = []
        for k in range(OP_CASES):
            if name in ("add", "mul", "div"):
                rows.append([nonzero() for _ in range(5)])
            elif name == "pow":
                rows.append([abs(nonzero()), powers[k % len(powers)], nonzero(), nonzero()])
            elif name == "radd":
                rows.append([nonzero(), k, nonzero(), nonzero()])  # 0 + x first: what sum() does
            else:
                rows.append([abs(nonzero()) if name == "log" else nonzero(), nonzero(), nonzero()])
        grads = []
        for row in rows:
            binary, constant = name in ("add", "mul", "div"), name in ("pow", "radd")
            operands = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in row[:2 if binary else 1]]
            out = OPS[name](*operands, *([row[1]] if constant else []))
            got = vjp(out, operands, torch.tensor(row[-1], dtype=torch.float64))
            priors = row[2:4] if binary else [row[-2]]
            grads += [prior + float(g) for prior, g in zip(priors, got)]
        inputs[name], truth[name] = np.array(rows, dtype=np.float64), np.array(grads)
    return inputs, truth


def graphs_used(arrays: dict) -> list[int] | None:
    """The graphs a run built with the student's class (run.py), None when it did not say."""
    used = arrays.get("graphs_used")
    return [int(k) for k in used] if isinstance(used, np.ndarray) and used.ndim == 1 else None


def graph_truth(truth: np.ndarray, sizes: np.ndarray, used: list[int] | None) -> np.ndarray:
    """Autograd's gradients of the graphs a run built, out of every graph's."""
    if used is None:
        return truth
    bounds = np.concatenate([[0], np.cumsum(sizes)])
    kept = [truth[bounds[k]:bounds[k + 1]] for k in used if 0 <= k < len(sizes)]
    return np.concatenate(kept) if kept else np.zeros(0)


@dataclass
class Estimate:
    """What Exercise 3's estimate `name` is held to: for each variable, the steps h at which the run evaluated f
    around the lecture's point, the one-sided and the symmetric difference at each, and which of them the
    student's number is (within the rounding of f's values divided by h)."""

    name: str
    mine: np.ndarray | None
    gradient: np.ndarray  # the true gradient at the run's point
    one_sided: list  # per variable: {h: estimate}, h < 0 for (f(x) - f(x - |h|)) / |h|
    symmetric: list  # per variable: {h > 0: estimate}
    rounding: np.ndarray  # per variable, times 1/|h|: how far f's rounding moves a difference quotient

    def candidates(self, kind: str, i: int) -> dict:
        return (self.one_sided if kind == "one-sided" else self.symmetric)[i]

    def tolerance(self, h: float, value: float) -> float:
        # f's values round at eps of its terms (divided by h), and a step written as x + h is h only to eps of x
        return 8 * EPS * float(self.rounding.max()) / abs(h) + 8 * EPS * abs(value) * 4.0 / abs(h) + 1e-12 * abs(value)

    def matching(self, kind: str, i: int) -> float | None:
        """The step h whose estimate of `kind` the student's number for variable i is, else None."""
        if self.mine is None or self.mine.shape != (3,):
            return None
        for h, value in self.candidates(kind, i).items():
            if abs(self.mine[i] - value) <= self.tolerance(h, value):
                return h
        return None

    @property
    def kind(self) -> str:
        return ESTIMATE_KIND[self.name]

    @property
    def missing(self) -> str:
        """The variables along which the run never evaluated f where an estimate of this kind needs it."""
        return ", ".join("abc"[i] for i in range(3) if not self.candidates(self.kind, i))

    @property
    def expected(self) -> tuple[np.ndarray, np.ndarray]:
        """(truth, atol) per variable: the estimate of its kind nearest the student's number (at the step it
        took), or, where f was never evaluated for that, the true gradient (and the comparison fails: missing)."""
        truth, atol = self.gradient.copy(), np.zeros(3)
        for i in range(3):
            options = self.candidates(self.kind, i)
            if not options:
                continue
            mine = self.mine[i] if self.mine is not None and self.mine.shape == (3,) else self.gradient[i]
            h = min(options, key=lambda h: abs(options[h] - mine))
            truth[i], atol[i] = options[h], self.tolerance(h, options[h])
        return truth, atol


def estimate(name: str, arrays: dict, problem: Problem) -> Estimate:
    """Exercise 3's estimate `name` of a run: every step it evaluated f at, around the lecture's point along one
    variable, and the difference quotients of each kind there, with the run's own f (run.moved_f)."""
    from .run import moved_f  # plain Python: the grader computes f's values exactly as the run did

    point = problem.inputs["ex3"]["point"]
    f = moved_f(point)
    calls = arrays.get("f_calls")
    calls = calls.reshape(-1, 3) if isinstance(calls, np.ndarray) and calls.size % 3 == 0 else np.zeros((0, 3))
    base = np.array(lecture.POINT)
    at_base = bool(len(calls)) and bool((calls == base).all(axis=1).any())
    one_sided, symmetric = [], []
    for i in range(3):
        others = np.delete(np.arange(3), i)
        along = calls[(calls[:, others] == base[others]).all(axis=1) & (calls[:, i] != base[i])]
        steps = sorted({float(x) - base[i] for x in along[:, i]}, key=abs)[:50]

        def at(h):
            x = list(lecture.POINT)
            x[i] = lecture.POINT[i] + h
            return f(*x)

        f0 = f(*lecture.POINT)
        one_sided.append({h: (at(h) - f0) / h for h in steps} if at_base else {})
        # x + h and x - h round apart (the floats below x are closer together): a pair is -h within 1e-6 of h
        pairs = {h: next((g for g in steps if abs(g + h) <= 1e-6 * h), None) for h in steps if h > 0}
        symmetric.append({h: (at(h) - at(g)) / (h - g) for h, g in pairs.items() if g is not None})
    a, b, c = (float(x) for x in point)
    rounding = np.full(3, abs(a**3) + 1.0 + abs(1.0 / c) + abs(b**2.5) + abs(a**0.5))  # f's terms
    mine = arrays.get(name)
    mine = mine.astype(np.float64) if isinstance(mine, np.ndarray) else None
    return Estimate(name, mine, problem.truth["ex3"]["gradf"], one_sided, symmetric, rounding)


def _value_class_problem(rng: random.Random) -> tuple[dict, dict]:
    """Exercise 4's op cases and its expression graphs (the lecture's neuron, then random ones), and autograd's
    gradients for each."""
    inputs, truth = op_cases(rng, ("add", "mul", "pow", "tanh", "exp"))
    graphs = [_neuron_graph()] + [lecture.random_graph(rng, leaves=3, ops=6 + k) for k in range(GRAPHS)]
    graphs += [lecture.random_graph(rng, leaves=3, ops=7 + k, kinds=lecture.ARITHMETIC) for k in range(ARITHMETIC_GRAPHS)]
    inputs["graphs"] = np.array([row for rows in graphs for row in rows], dtype=np.float64)
    inputs["graph_sizes"] = np.array([len(rows) for rows in graphs], dtype=np.int64)
    inputs["graph_data"], inputs["graph_locals"] = map(np.concatenate, zip(*map(local_derivatives, graphs)))
    truth["graphs"] = truth["backward"] = np.concatenate([graph_gradients(rows) for rows in graphs])
    return inputs, truth


def _softmax_problem(rng: random.Random, public: bool) -> tuple[dict, dict]:
    """Exercise 6's op cases, and the notebook's softmax loss: at its own logits and label on the public run, at
    hidden ones otherwise; autograd's gradients of the logits."""
    inputs, truth = op_cases(rng, ("exp", "log", "div", "neg", "radd", "mul", "pow"))
    if public:
        logits, labels = [lecture.SOFTMAX_LOGITS], [lecture.SOFTMAX_LABEL]
    else:
        logits = [[round(rng.uniform(-3, 3), 3) for _ in range(4)] for _ in range(SOFTMAX_ROWS)]
        labels = [rng.randrange(4) for _ in range(SOFTMAX_ROWS)]
    inputs["logits"] = np.array(logits, dtype=np.float64)
    inputs["labels"] = np.array(labels, dtype=np.int64)
    grads = []
    for row, label in zip(logits, labels):
        nodes = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in row]
        grads += [float(g) for g in torch.autograd.grad(lecture.nll_loss(nodes, label), nodes)]
    truth["softmax"] = np.array(grads)
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


def mlp_gradients(params: np.ndarray, xs: np.ndarray, ys: np.ndarray, activation=torch.tanh) -> np.ndarray:
    """The loss's gradient for every parameter of MLP(3, [4, 4, 1]), in the lecture's order (layer by layer,
    neuron by neuron, its weights then its bias), at `params`, by autograd in float64. Its neurons' activation is
    tanh, as the lecture's; a hint asks what another one would give."""
    p = torch.tensor(params, dtype=torch.float64, requires_grad=True)
    loss = _mlp_loss(p, xs, ys, activation)
    return torch.autograd.grad(loss, p)[0].numpy()


def _mlp_loss(p: torch.Tensor, xs, ys, activation) -> torch.Tensor:
    sizes, k = lecture.MLP_SIZES, 0
    layers = []
    for n_in, n_out in zip(sizes, sizes[1:]):
        rows = p[k:k + (n_in + 1) * n_out].reshape(n_out, n_in + 1)
        layers.append((rows[:, :n_in], rows[:, n_in]))
        k += (n_in + 1) * n_out
    loss = torch.zeros((), dtype=torch.float64)
    for x, y in zip(torch.tensor(xs, dtype=torch.float64), torch.tensor(ys, dtype=torch.float64)):
        for w, b in layers:
            x = activation(w @ x + b)
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
        if ex.id == "ex3":  # and where f was evaluated, and the learner's h (the estimates are judged from them)
            return super().value_names(ex) | {"f_calls", "h"}
        if ex.id == "ex4":  # and which graphs the class's ops could build
            return super().value_names(ex) | {"graphs_used"}
        return super().value_names(ex)

    def comparisons(self, ex: Exercise, runs: dict, problems: dict) -> tuple[dict, object]:
        if ex.id == "ex5":
            return self._training_comparisons(ex, runs, problems), None
        comparisons = {}
        for check in ex.checks:
            comparisons[check.name] = {}
            for label, run in runs.items():
                truth, held = problems[label].truth[ex.id][check.name], check
                if check.name == "graphs":  # the graphs the class's own ops could build
                    truth = graph_truth(truth, problems[label].inputs["ex4"]["graph_sizes"], graphs_used(run.arrays))
                if check.name in ESTIMATE_KIND:  # the estimate of its kind at the run's steps, within rounding
                    est = estimate(check.name, run.arrays, problems[label])
                    truth, atol = est.expected
                    held = replace(check, rtol=0.0, atol=atol)
                comparison = compare(held, run.result["values"].get(check.variable), run.arrays.get(check.variable),
                                     truth, truth)  # fmt: skip
                if check.name in ESTIMATE_KIND and comparison.assigned and (missing := est.missing):
                    comparison = replace(comparison, problem=f"{check.variable} is not a {est.kind} difference "
                                         f"along {missing}: your code never evaluates f where one needs it")
                comparisons[check.name][label] = comparison
        return comparisons, None

    def diagnose(self, ex: Exercise, cell, checks: list, runs: dict, problems: dict, context, credit: str) -> str:
        from .hints import diagnose

        diagnose(ex, checks, runs, problems, cell.source if cell else "")  # the notebook's check(): no source
        return ""

    def finish(self, ex: Exercise, result, runs: dict, problems: dict, context, root: str):
        from .hints import HIDDEN_WRONG, OP_NAMES, consumers

        result.localised = ex.step_by_step  # Exercises 1-2; in 3-6 each failing check is a mistake of its own
        if ex.step_by_step:  # a gradient follows only from the gradients of the nodes computed from it
            result.upstream = consumers(ex.id)
        elif ex.id == "ex4":  # or those the graphs are built of (hints.py)
            result.upstream = {"graphs": [*OP_NAMES[ex.id], "backward"]}
        result.notes += exercise_notes(ex, runs[PUBLIC], problems[PUBLIC])
        for check in result.checks:  # the engine's words are for tensors and sizes
            if check.message == HIDDEN_FAILURE and check.locally_correct:  # its expression is right: no guess
                check.message = HIDDEN_WRONG
            elif check.message == HIDDEN_FAILURE:
                check.message = f"{HIDDEN_WRONG}: a number worked out, not an expression?"

    def unset_message(self, ex: Exercise, public) -> str | None:
        return NO_BACKWARD if no_step_recorded(ex, public) else None

    def explain(self, ex: Exercise, cell, result, public) -> tuple[str, str] | None:
        return ("loss.backward() never called", NO_BACKWARD) if no_step_recorded(ex, public) else None

    def hidden_message(self, ex: Exercise, cell, result) -> str | None:
        return "right on the values you see but not on the hidden ones: " + HIDDEN_ADVICE[ex.id]

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


# Exercise 5 with no step to grade (each is read at its loss.backward(), run.TrainingRecorder): the exercise's one
# sentence, and every check's.
NO_BACKWARD = ("no loss.backward() ran, so no step has gradients to grade: call it at each step, after computing the "
               "loss, on the notebook's Value")

def no_step_recorded(ex: Exercise, public) -> bool:
    """Exercise 5's loop ran to its end and no step was recorded: each is read at its loss.backward()
    (run.TrainingRecorder), so none ran."""
    values = public.result["values"]
    return (ex.id == "ex5" and not public.result["error"]
            and not any(f"step{k}" in values for k in range(1, ex.steps + 1)))  # fmt: skip


# What a right answer at the values the learner sees and a wrong one at others needs, in each exercise's terms.
HIDDEN_ADVICE = {
    "ex1": "write each gradient as an expression of the values you are given (da = b * de, not da = 6.0), so it "
           "holds at any values",
    "ex2": "write each gradient as an expression of the neuron's values (dw1 = x1 * dx1w1, not dw1 = 1.0), so it "
           "holds at any values",
    "ex3": "gradf's derivatives must be expressions of a, b and c, and the estimates made from f's values, so they "
           "hold at any point",
    "ex4": "each op's _backward must compute from its Values' data and grad, not from numbers that hold for some cases",
    "ex5": "each step's gradients must come from the network's own forward and backward pass, at any data and weights",
    "ex6": "each op's _backward must compute from its Values' data and grad, not from numbers that hold for some cases",
}

# The exercise notebook's own check: each number within 1e-5 of its expected answer, at its own values.
LECTURE_CHECK = 1e-5


def exercise_notes(ex: Exercise, public, problem: Problem) -> list[str]:
    """What the lecture's exercise notebook would have printed for the same answers (its OK / WRONG! per number,
    at the values it shows), beside our verdicts; and, when both estimates hold, how far each is from the true
    gradient (for the same h the symmetric one is better, as the notebook asks the learner to confirm)."""
    if ex.id == "ex4":
        return _graph_notes(public.arrays, problem)
    if ex.id not in ("ex3", "ex6"):
        return []
    checks = ("gradf", *ESTIMATE_KIND) if ex.id == "ex3" else ("softmax",)
    said = []
    for name in checks:
        mine, truth = public.arrays.get(name), problem.truth[ex.id][name]
        if public.result["values"].get(name, {}).get("kind") != "tensor" or mine.shape != truth.shape:
            continue
        words = ["OK" if abs(m - t) < LECTURE_CHECK else "WRONG!" for m, t in zip(mine, truth)]
        said.append(f"{'logits grads' if name == 'softmax' else name} {' '.join(words)}")
    notes = [f"The lecture notebook's own checks would say: {'; '.join(said)}."] if said else []
    if ex.id == "ex3":
        one, two = (estimate(name, public.arrays, problem) for name in ESTIMATE_KIND)
        if one.mine is not None and two.mine is not None and one.mine.shape == two.mine.shape == (3,):
            errors = [float(np.abs(e.mine - e.gradient).max()) for e in (one, two)]
            steps = [{e.matching(e.kind, i) for i in range(3)} for e in (one, two)]
            if steps[0] == steps[1] and None not in steps[0]:
                notes.append(f"With the same h, the one-sided estimate is off by {errors[0]:.1g} and the symmetric one "
                             f"by {errors[1]:.1g}" + (": the symmetric one is better." if errors[1] < errors[0] else "."))
    return notes


def _graph_notes(arrays: dict, problem: Problem) -> list[str]:
    """Which graphs the student's class could build, when not all: the ops it lacks, by name."""
    used, inputs = graphs_used(arrays), problem.inputs["ex4"]
    graphs = lecture.split_graphs(inputs["graphs"], inputs["graph_sizes"])
    if used is None or len(used) == len(graphs):
        return []
    ops = [{op for op, *_ in rows if op != lecture.LEAF} for rows in graphs]
    had = set().union(*(ops[k] for k in used))
    lacking = sorted({lecture.OP_NAME[op] for op in set().union(*ops) - had})
    return [f"The graphs check used the {len(used)} of {len(graphs)} graphs made only of ops your class has (it has "
            f"no {', '.join(lacking)}): {', '.join(sorted({lecture.OP_NAME[op] for op in had}))}."]


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
        return Comparison(problem="no step of your loop could be followed (see the steps' rows)",
                          assigned=bool(values))  # fmt: skip
    move, grad = np.concatenate(moves), np.concatenate(grads)
    lr = -float(move @ grad) / float(grad @ grad) if grad.any() else 0.0
    if not lr > 0:
        return Comparison(shape_ok=True, dtype_ok=True, problem="your loop moves the parameters up the gradient "
                          "(or not at all)")  # fmt: skip
    expected = -lr * grad
    return compare(replace(check, rtol=1e-6, atol=1e-9), {"kind": "tensor", "dtype": check.dtype,
                   "shape": list(move.shape)}, move, expected, expected)  # fmt: skip
