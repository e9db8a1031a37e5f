"""What a wrong answer in the micrograd assignment looks like, for the mistakes the lecture is about: the chain
rule's upstream factor left out, tanh's derivative taken at its input, the power rule's exponent, `=` where `+=`
accumulates, a wrong topological order, the forgotten zero_grad. Each hint is said only when the student's numbers
are exactly what that mistake computes; and in Exercises 1 and 2 a gradient that is right given the student's own
upstream gradients is marked as following from the first one that is not (the root cause)."""
import ast
import math

import numpy as np

from . import ATOL, RTOL, lecture
from ...checks import HIDDEN, PUBLIC
from ...results import HIDDEN_FAILURE
from ...static_checks import final_assignments, is_difference_quotient, is_typed_number, source_nodes
from .grading import ESTIMATE_KIND, NO_BACKWARD, estimate, mlp_gradients, no_step_recorded

NUMERICAL_ESTIMATE = ("close to autograd's but not equal to it, as a numerical estimate is: write the derivative "
                      "as an expression of the values (it must hold at other values too)")


def close(student, expected) -> bool:
    """Equal within the checks' own tolerance: what a hint says the student computed, they computed."""
    student, expected = np.asarray(student, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    return student.shape == expected.shape and bool(np.allclose(student, expected, rtol=RTOL, atol=ATOL))


def nearly(student, expected) -> bool:
    """Within what a difference quotient gets: right in its first five digits, not in the last ones."""
    student, expected = np.asarray(student, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    return student.shape == expected.shape and bool(np.allclose(student, expected, rtol=1e-5, atol=1e-8))


def diagnose(ex, checks: list, runs: dict, problems: dict, source: str):
    public, problem = runs[PUBLIC], problems[PUBLIC]
    values, arrays = public.result["values"], public.arrays

    def student(check):
        return arrays.get(check.variable) if values.get(check.variable, {}).get("kind") == "tensor" else None

    by_name = {check.name: (check, verdict) for check, verdict in zip(ex.checks, checks)}
    if ex.id in ("ex1", "ex2"):
        _graph_hints(ex, by_name, runs, problems, source)
    elif ex.id == "ex3":
        _derivative_hints(by_name, student, problem, source)
        _estimate_hints(by_name, public, problem)
    elif ex.id in ("ex4", "ex6"):
        _value_class_hints(ex, by_name, student, problem)
    elif ex.id == "ex5":
        _training_hints(ex, by_name, student, public, problem)


def consumers(ex_id: str) -> dict[str, list[str]]:
    """Exercises 1-2: for each node, the nodes computed from it (whose gradients its own is made of)."""
    graph = lecture.GRAPH if ex_id == "ex1" else lecture.NEURON
    used_by = {}
    for name, expression in graph:
        for operand in expression.replace("(", " ").replace(")", " ").split():
            if operand in used_by or any(operand == n for n, _ in graph) or operand in (
                    lecture.GRAPH_LEAVES if ex_id == "ex1" else lecture.NEURON_LEAVES):  # fmt: skip
                used_by.setdefault(operand, []).append(name)
    return used_by


TYPED = "{variable} is a number typed for these values: write it as an expression of them, so it holds at any values"
ROUNDED = ("{variable} is a number typed for these values, and rounded: write it as an expression of them, so it is "
           "exact and holds at any values")  # fmt: skip
DIFFERENCE_QUOTIENT = ("a difference quotient, close to autograd's as a numerical estimate is: write the derivative "
                       "itself, the local derivative times the upstream gradient")  # fmt: skip


def _graph_hints(ex, by_name: dict, runs: dict, problems: dict, source: str):
    """Exercises 1-2, from the output back: each gradient against what the student's own upstream gradients
    make of it (the sum, over the ops that use the node, of d<op's output> times the op's local derivative), on
    each seed it is wrong on. A gradient right on the values the student sees and wrong on hidden ones is judged
    on the hidden run the same way: right there given an upstream that was typed in, it only follows from it."""
    output, used_by = ex.checks[0].name, consumers(ex.id)
    graph = dict(lecture.GRAPH if ex.id == "ex1" else lecture.NEURON)
    assigned = final_assignments(source)
    typed = {check.name for check in ex.checks if is_typed_number(assigned.get(check.variable))}
    roots = {}  # each failing gradient that follows from none above it: why it is wrong, for its followers
    for check in ex.checks:
        _, verdict = by_name[check.name]
        hidden_only = verdict.message == HIDDEN_FAILURE
        if verdict.passed or not verdict.assigned:
            continue
        seed = HIDDEN if hidden_only else PUBLIC
        if seed not in runs:
            continue
        problem, student = problems[seed], _student_values(by_name, runs[seed])
        if check.name not in student:
            continue
        mine, truth = student[check.name], float(problem.truth[ex.id][check.name])
        uses = [(consumer, d) for (consumer, wrt), d in problem.partials[ex.id].items() if wrt == check.name]

        def upstream(consumer):
            return student.get(consumer, float(problem.truth[ex.id][consumer]))

        local = sum(upstream(c) * d for c, d in uses)
        # At other values two typed numbers can still agree with each other (de = -2.0 beside dd = -2.0): each
        # holds only where it was typed, so each is a mistake of its own there.
        if check.name != output and not (hidden_only and check.name in typed) and close(mine, local):
            verdict.locally_correct = True  # right given its upstream: it follows from an earlier mistake
            continue
        expression = assigned.get(check.variable)
        as_typed = (ROUNDED if nearly(mine, truth) else TYPED).format(variable=check.variable)
        # the gradients it could have been computed from by mistake: none of those computed from its own
        others = {n: g for n, g in student.items() if not _computed_from(n, check.name, used_by)}
        hint = (_node_hint(check.name, mine, uses, upstream, problem.values[ex.id], output, graph, others)
                or _zero_hint(check, mine, truth, used_by)
                or (as_typed if check.name in typed
                    else DIFFERENCE_QUOTIENT if is_difference_quotient(expression)
                    else NUMERICAL_ESTIMATE if nearly(mine, truth) else None))  # fmt: skip
        if hidden_only:  # judged where it is wrong, said in words that hold at any values
            roots[check.name] = "is a number typed for these values" if check.name in typed else (
                "is wrong at other values")
            hint = TYPED.format(variable=check.variable) if check.name in typed else hint
            if hint:
                verdict.message = HIDDEN_WRONG
        else:
            roots[check.name] = "is wrong"
        verdict.hint = hint
    for check in ex.checks:  # what each hidden-only follower follows from, by name
        _, verdict = by_name[check.name]
        if verdict.message != HIDDEN_FAILURE or not verdict.locally_correct:
            continue
        up = used_by[check.name][0]
        root = up
        while root not in roots and root in used_by:
            root = used_by[root][0]
        if root not in roots:
            continue
        why = f"{label(by_name, root)} {roots[root]}"
        verdict.message = HIDDEN_WRONG
        verdict.hint = (f"right given {label(by_name, up)}; {why}" if up == root
                        else f"right given {label(by_name, up)}, which follows from {label(by_name, root)}; {why}")


HIDDEN_WRONG = "right at the values you see, wrong at others"


def label(by_name: dict, name: str) -> str:
    check, _ = by_name[name]
    return check.variable or f"d{name}"


def _student_values(by_name: dict, run) -> dict[str, float]:
    """The student's number for every gradient the run set, by node."""
    values, arrays, numbers = run.result["values"], run.arrays, {}
    for name, (check, _) in by_name.items():
        if values.get(check.variable, {}).get("kind") == "tensor" and check.variable in arrays:
            numbers[name] = float(arrays[check.variable])
    return numbers


def _zero_hint(check, mine: float, truth: float, used_by: dict) -> str | None:
    if mine == 0 and truth != 0 and check.name in used_by:
        return (f"{check.variable} is 0, as if {check.name} did not change the output: it does, through "
                f"{' and '.join(used_by[check.name])}")  # fmt: skip
    return None


def _computed_from(node: str, name: str, used_by: dict) -> bool:
    """Whether `node`'s gradient is computed from `name`'s (name is above it in the graph), or is name's own."""
    while node != name and node in used_by:
        node = used_by[node][0]
    return node == name


def _node_hint(name: str, mine: float, uses: list, upstream, values: dict, output: str, graph: dict,
               others: dict) -> str | None:
    """The chain rule's slips at one node: `uses` are the ops that use it, with their local derivatives; `others`
    the gradients the student set that are not computed from this one, by node."""
    products = {n for n, expression in graph.items() if "*" in expression}
    if name == output:
        return f"the output's own gradient, d{output}/d{output}, is 1.0" if not close(mine, 1.0) else None
    if uses and close(mine, sum(d for _, d in uses)) and not all(close(upstream(c), 1.0) for c, _ in uses):
        consumer = uses[0][0]
        return (f"the chain rule's upstream factor is missing: multiply the local derivative by d{consumer} (the "
                "gradient flowing into the op that uses it)")  # fmt: skip
    for consumer, _ in uses:
        if consumer == "o":  # o = tanh(n)
            if close(mine, (1 - values["n"] ** 2) * upstream("o")):
                return "tanh's derivative is 1 - o**2, taken at its output o = tanh(n), not at its input n"
            if close(mine, (1 - math.tanh(values["n"])) * upstream("o")):
                return "tanh's derivative is 1 - o**2 (the square of the output), not 1 - o"
            if close(mine, (1 - math.tanh(values["n"])) ** 2 * upstream("o")):
                return "tanh's derivative is 1 - o**2 (one minus the output's square), not (1 - o)**2"
    if uses and close(mine, -sum(upstream(c) * d for c, d in uses)):
        return "the sign is flipped"
    if (len(uses) == 1 and uses[0][0] in products and not close(values[name], uses[0][1])
            and close(mine, upstream(uses[0][0]) * values[name])):  # fmt: skip
        return (f"that is d{uses[0][0]} times {name}'s own value: a factor's gradient is the other factor's value "
                f"times the upstream gradient")  # fmt: skip
    if len(uses) == 1 and uses[0][0] not in products:  # a sum, taken for a product
        consumer = uses[0][0]
        other = next((o for o in graph[consumer].split(" + ") if o != name), None)
        if other in values and not close(values[other], 1.0) and close(mine, upstream(consumer) * values[other]):
            return (f"{consumer} = {graph[consumer]} is a sum: each term's local derivative is 1, so d{name} is "
                    f"d{consumer} itself, not d{consumer} times {other}")  # fmt: skip
    if len(uses) == 1:  # the right local derivative times another node's gradient
        consumer, local = uses[0]
        for node, gradient in others.items():
            if node != consumer and not close(gradient, upstream(consumer)) and close(
                    mine, local * gradient) and not close(local * gradient, 0.0):  # fmt: skip
                return (f"that is the local derivative times d{node}: the upstream gradient is d{consumer}, the "
                        f"gradient of {consumer} = {graph[consumer]}, the op that uses {name}")  # fmt: skip
    if len(uses) == 1 and not close(uses[0][1], 1.0) and close(mine, upstream(uses[0][0])):
        return (f"that is d{uses[0][0]} itself: multiply it by the local derivative (for a product, the other "
                "factor's value)")  # fmt: skip
    return None


GRADF_TYPED = "gradf returns numbers typed for (2, 3, 4){}: write each derivative as an expression of a, b and c"


def _derivative_hints(by_name: dict, student, problem, source: str):
    point = tuple(float(x) for x in problem.inputs["ex3"]["point"])
    truth = problem.truth["ex3"]["gradf"]
    _placeholders(by_name, source)
    check, verdict = by_name["gradf"]
    mine = student(check)
    typed = _returns_typed_numbers(source, "gradf")
    if verdict.message == HIDDEN_FAILURE and typed:
        verdict.message, verdict.hint = HIDDEN_WRONG, GRADF_TYPED.format("")
    elif not verdict.passed and mine is not None and mine.shape == truth.shape:
        wrong = [name for name, m, t in zip("abc", mine, truth) if not close(m, t)]
        a, b, _ = point
        if wrong and typed:
            verdict.hint = GRADF_TYPED.format(", and rounded" if nearly(mine, truth) else "")
        elif wrong and nearly(mine, truth):
            verdict.hint = NUMERICAL_ESTIMATE
        elif wrong:
            verdict.hint = f"wrong in df/d{', df/d'.join(wrong)}; the other {'one is' if len(wrong) == 2 else 'ones are'} right"
            if wrong == ["a"] and close(mine[0], -3 * a**2 - 0.5 * a**0.5):
                verdict.hint = "df/da: the power rule gives d/da a**0.5 = 0.5 * a**-0.5 (the exponent goes down by one)"
            elif wrong == ["b"] and close(mine[1], 3 * math.cos(3 * b) + 2.5 * b**2.5):
                verdict.hint = "df/db: the power rule gives d/db b**2.5 = 2.5 * b**1.5 (the exponent goes down by one)"
            elif wrong == ["b"] and close(mine[1], math.cos(3 * b) + 2.5 * b**1.5):
                verdict.hint = ("df/db: the chain rule gives d/db sin(3*b) = 3 * cos(3*b): the inner function's "
                                "derivative multiplies")  # fmt: skip


def _placeholders(by_name: dict, source: str):
    """Exercise 3's answers still the notebook's placeholder, [0, 0, 0] (`return [0, 0, 0]` in gradf): not
    answered yet, rather than wrong."""
    assigned = final_assignments(source)
    for name in ("gradf", *ESTIMATE_KIND):
        check, verdict = by_name[name]
        expressions = _returns(source, name) if name == "gradf" else [assigned.get(name)]
        if not verdict.passed and verdict.assigned and expressions and all(map(_is_zeros, expressions)):
            verdict.assigned = False
            verdict.message = f"{check.variable} is still the notebook's placeholder, [0, 0, 0]: not answered yet"


def _is_zeros(expr) -> bool:
    return isinstance(expr, ast.List) and is_typed_number(expr) and all(
        isinstance(e, ast.Constant) and e.value == 0 for e in expr.elts)


def _returns(source: str, function: str) -> list:
    """What the cell's function `function` returns, at each of its return statements."""
    nodes = source_nodes(source) or ()
    return [node.value for f in nodes if isinstance(f, ast.FunctionDef) and f.name == function
            for node in ast.walk(f) if isinstance(node, ast.Return)]  # fmt: skip


def _returns_typed_numbers(source: str, function: str) -> bool:
    """Whether the cell's function `function` returns a list of numbers typed in (and nothing else)."""
    returns = _returns(source, function)
    return bool(returns) and all(is_typed_number(value) for value in returns)


FORMULA = {"one-sided": "(f(x + h) - f(x)) / h", "symmetric": "(f(x + h) - f(x - h)) / (2 * h)"}


def _estimate_hints(by_name: dict, public, problem):
    """Each estimate against the estimates of both kinds at the steps where the run evaluated f."""
    for name, kind in ESTIMATE_KIND.items():
        check, verdict = by_name[name]
        if verdict.passed or not verdict.assigned:
            continue
        est = estimate(name, public.arrays, problem)
        if est.mine is None or est.mine.shape != (3,):
            continue
        other = "symmetric" if kind == "one-sided" else "one-sided"
        wrong = [i for i in range(3) if est.matching(kind, i) is None]
        variables = ", ".join("abc"[i] for i in wrong)
        wrong = wrong or [i for i in range(3) if not est.candidates(kind, i)]
        variables = ", ".join("abc"[i] for i in wrong)
        if wrong and all(not est.candidates(kind, i) for i in wrong) and close(est.mine[wrong], est.gradient[wrong]):
            verdict.hint = (f"that is the exact derivative, not an estimate: compute {name} from values of f alone, "
                            f"{FORMULA[kind]} (not from gradf)")  # fmt: skip
        elif wrong and all(not est.candidates(kind, i) and not est.candidates(other, i) for i in wrong):
            verdict.hint = (f"f is never evaluated next to (2, 3, 4) along {variables}: an estimate is made from "
                            f"f's values, {FORMULA[kind]}")  # fmt: skip
        elif wrong and all(est.matching(other, i) is not None for i in wrong):
            mine_is = f"{name} is the {other} difference {FORMULA[other]}"
            verdict.hint = f"{mine_is}: this one asks for the {kind} one, {FORMULA[kind]}" + (
                " (the symmetric one is numerical_grad2)" if kind == "one-sided" else "")
        elif kind == "symmetric" and wrong and all(
                any(abs(est.mine[i] - 2 * v) <= est.tolerance(h, 2 * v) for h, v in est.candidates(kind, i).items())
                for i in wrong):  # fmt: skip
            verdict.hint = "twice the derivative: f(x + h) - f(x - h) spans 2 * h, so divide by 2 * h"
        elif wrong and any(not est.candidates(kind, i) for i in wrong):
            need = "f(x + h) and f(x)" if kind == "one-sided" else "f(x + h) and f(x - h)"
            verdict.hint = (f"along {variables} f is not evaluated where a {kind} difference needs it ({need}, "
                            "the other variables at 2, 3, 4)")  # fmt: skip
        elif wrong:
            verdict.hint = (f"wrong in df/d{', df/d'.join('abc'[i] for i in wrong)}: not the {kind} difference "
                            f"{FORMULA[kind]} at any step where your code evaluated f")  # fmt: skip


# ---------------------------------------------------------------- Exercise 4


def _value_class_hints(ex, by_name: dict, student, problem):
    inputs, failed = problem.inputs[ex.id], []
    for name in OP_NAMES[ex.id]:
        check, verdict = by_name[name]
        if verdict.passed:
            continue
        failed.append(name)
        mine = student(check)
        if mine is not None:
            verdict.hint = _op_hint(name, mine, inputs[name])
    if ex.id == "ex6":
        check, verdict = by_name["softmax"]
        # Not said to follow from them: it also runs the class's backward(), which nothing here checks alone.
        if not verdict.passed and verdict.assigned and failed:
            verdict.hint = (f"the softmax's loss uses {', '.join(failed)}, which failed above: fix "
                            f"{'it' if len(failed) == 1 else 'them'} first, then see whether it still fails")  # fmt: skip
        return
    check, verdict = by_name["backward"]
    if not verdict.passed:
        failed.append("backward")
        mine = student(check)
        if mine is not None and mine.shape == problem.truth["ex4"]["backward"].shape:
            verdict.hint = _backward_hint(mine, inputs["graph_sizes"])
    check, verdict = by_name["graphs"]
    # Its parts are each checked above (the ops, and backward() alone): with one of them failing it follows.
    if not verdict.passed and verdict.assigned and failed:
        verdict.locally_correct = True
        verdict.hint = f"these graphs use {', '.join(failed)}, which failed above: fix {'it' if len(failed) == 1 else 'them'} first"


OP_NAMES = {"ex4": ("add", "mul", "pow", "tanh", "exp"), "ex6": ("exp", "log", "div", "neg", "radd", "mul", "pow")}
# What each op on one Value does to its operand's gradient: its local derivative, given a case's row.
LOCAL = {"pow": lambda r: r[:, 1] * r[:, 0] ** (r[:, 1] - 1), "tanh": lambda r: 1 - np.tanh(r[:, 0]) ** 2,
         "exp": lambda r: np.exp(r[:, 0]), "log": lambda r: 1 / r[:, 0], "neg": lambda r: -np.ones(len(r)),
         "radd": lambda r: np.ones(len(r))}  # fmt: skip


def _backward_hint(mine: np.ndarray, graph_sizes: np.ndarray) -> str:
    outputs = np.zeros(len(mine), dtype=bool)
    outputs[np.cumsum(graph_sizes) - 1] = True
    if not mine.any():
        return "every gradient is 0: backward() must start with self.grad = 1.0"
    if close(mine[outputs], np.ones(outputs.sum())) and not mine[~outputs].any():
        return ("only the output's gradient is set: set self.grad = 1.0 before the loop over the nodes, whose first "
                "_backward reads it")  # fmt: skip
    # Whether a node's _backward ran twice or before a node that uses it, the numbers alone cannot always tell.
    return ("each node's _backward must run exactly once, after those of every node that uses it: build topo by a "
            "depth-first search that visits each node once (a visited set) and appends it after its children, then "
            "call _backward on reversed(topo)")


def _op_hint(name: str, mine: np.ndarray, rows: np.ndarray) -> str | None:
    """The op's mistake, when every wrong number is what it computes, from the case's rows (prior grads, out.grad,
    local derivatives). Only the wrong numbers are held to a mistake, so one operand's overwritten gradient beside
    a right one is named."""
    binary = name in ("add", "mul", "div")
    if mine.shape != (len(rows) * (2 if binary else 1),):
        return None
    a = rows[:, 0]
    if binary:
        b, prior, g = rows[:, 1], rows[:, 2:4].reshape(-1), np.repeat(rows[:, 4], 2)
        pairs = {"add": (np.ones_like(a), np.ones_like(a)), "mul": (b, a), "div": (1 / b, -a / b**2)}
        local = np.stack(pairs[name], 1).reshape(-1)
    else:
        prior, g, local = rows[:, -2], rows[:, -1], LOCAL[name](rows)
    wrong = ~np.isclose(mine, prior + local * g, rtol=RTOL, atol=ATOL)

    def computes(expected) -> bool:  # the wrong numbers, and only those, are `expected`
        expected = np.broadcast_to(np.asarray(expected, dtype=np.float64), mine.shape)
        return bool(wrong.any()) and bool(np.allclose(mine[wrong], expected[wrong], rtol=RTOL, atol=ATOL))

    p = rows[:, 1]
    specific = {
        "pow": lambda: [(prior + p * a**p * g, POWER_RULE), (prior + a ** (p - 1) * g, POWER_RULE),
                        (prior + (p - 1) * a ** (p - 2) * g, POWER_RULE)],
        "tanh": lambda: [(prior + (1 - a**2) * g, "tanh's derivative is 1 - t**2 with t = tanh(x), the output, not "
                                                  "the input x"),
                         (prior + (1 - np.tanh(a)) * g, "tanh's derivative is 1 - t**2 (the square of the output t), "
                                                        "not 1 - t")],
        "exp": lambda: [(prior + a * g, "exp's derivative is exp(x) itself: out.data")],
        "log": lambda: [(prior + g / np.log(np.abs(a)), "log's derivative is 1 / x, with x the input (self.data), "
                                                        "not the output log(x) (out.data)"),
                        (prior + np.log(np.abs(a)) * g, "log's derivative is 1 / x (self.data), not log(x)")],
        "neg": lambda: [(prior + g, "negation's derivative is -1: -x's gradient flows back with its sign flipped")],
        "div": lambda: [(prior + np.stack([1 / b, a / b**2], 1).reshape(-1) * g,
                         "the divisor's gradient: d/dy (x / y) = -x / y**2 (its sign is minus)")],
        "mul": lambda: [(prior + np.stack([a, b], 1).reshape(-1) * g, "each factor's gradient is the other factor's "
                         "value times out.grad (self.grad += other.data * out.grad)")],
    }.get(name, list)()
    general = [
        (local * g, "the gradient is overwritten (=) instead of accumulated (+=): a node used twice, or by two ops, "
                    "must sum what each gives it"),
        (prior + local, "the chain rule's upstream factor is missing: multiply by out.grad"),
        (local, "the gradient is overwritten (=) instead of accumulated (+=), and out.grad is not multiplied in"),
    ]
    return next((hint for expected, hint in specific + general if computes(expected)), None)


POWER_RULE = "the power rule: d/dx x**p = p * x**(p - 1)"


# ---------------------------------------------------------------- Exercise 5


def _training_hints(ex, by_name: dict, student, public, problem):
    inputs, count = problem.inputs["ex5"], lecture.mlp_parameter_count()
    if no_step_recorded(ex, public):  # the steps, never set, say so too (MicrogradGrading.unset_message)
        by_name["update"][1].message = NO_BACKWARD
        return
    arrays = public.arrays
    accumulated, steps = None, []
    for k in (1, 2, 3):
        check, verdict = by_name[f"step{k}"]
        params, mine = arrays.get(f"params{k}"), student(check)
        if params is None or params.shape != (count,) or mine is None:
            if mine is not None and not verdict.passed:
                verdict.hint = (f"MLP(3, [4, 4, 1]) has {count} parameters (4 neurons of 3 weights and a bias, 4 of 4 "
                                "and a bias, 1 of 4 and a bias): n.parameters() must list them all, layer by layer")  # fmt: skip
            accumulated = None
            continue
        steps.append(mine)
        truth = mlp_gradients(params, inputs["xs"], inputs["ys"])
        accumulated = truth if accumulated is None else accumulated + truth
        if not verdict.passed:
            verdict.hint = _step_hint(k, mine, truth, accumulated, params, inputs)
    check, verdict = by_name["update"]
    params = [arrays.get(f"params{k}") for k in (1, 2, 3, 4)]
    if verdict.passed or len(steps) != 3 or not all(p is not None and p.shape == (count,) for p in params):
        return
    moves = [after - before for before, after in zip(params, params[1:])]
    if not any(step.any() for step in steps):
        verdict.hint = "every step's gradient is 0 (see the steps), so the update has nothing to move the parameters by"
    elif not any(move.any() for move in moves):
        verdict.hint = ("the parameters never move: the update, p.data += -learning_rate * p.grad, must come after "
                        "loss.backward() and before the gradients are set back to 0")  # fmt: skip
    elif float(np.concatenate(moves) @ np.concatenate(steps)) > 0:
        verdict.hint = "the update is p.data += -learning_rate * p.grad: down the gradient, which points uphill"


def _step_hint(k: int, mine, truth, accumulated, params, inputs) -> str | None:
    """What one step's gradients are, when they are what a known mistake computes at that step's parameters."""
    if mine.shape != truth.shape:
        return None
    if k > 1 and close(mine, accumulated):
        return ("these are this step's gradients plus every earlier step's: set p.grad = 0.0 for every parameter "
                "before loss.backward() (the lecture's forgotten zero_grad)")  # fmt: skip
    if k > 1:  # some gradients zeroed, the others adding up
        right = np.isclose(mine, truth, rtol=RTOL, atol=ATOL)
        summed = np.isclose(mine, accumulated, rtol=RTOL, atol=ATOL) & ~right
        if summed.any() and (right | summed).all():
            return (f"{summed.sum()} of the {len(mine)} parameters' gradients add up over the steps: set p.grad = "
                    "0.0 for every parameter in n.parameters() before loss.backward()")  # fmt: skip
    if not mine.any() and truth.any():
        return "every gradient is 0: call loss.backward() at each step, after computing the loss"
    if close(mine, truth / len(inputs["ys"])):
        return (f"these are the gradients of the mean of the squared errors, 1/{len(inputs['ys'])} of the lecture's: "
                "its loss is their sum")  # fmt: skip
    if close(mine, mlp_gradients(params, inputs["xs"], inputs["ys"], activation=lambda x: x)):
        return ("these are the gradients of a network without tanh: each Neuron's output is act.tanh(), as in the "
                "lecture")  # fmt: skip
    return None
