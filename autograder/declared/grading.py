"""A declared assignment's side of a Grader, derived from its declaration alone: the problems on the public and
the hidden seed and sizes, what a run starts from, the comparison with autograd, and the hard-coded size a hidden
failure points at."""
import ast

from .. import array_file
from ..assignment import Grading
from ..checks import HIDDEN, PUBLIC, Exercise
from ..compare import compare
from ..results import hard_coded_message
from ..static_checks import hard_coded_size
from .diagnose import diagnose
from .forward import read_forward
from .problems import make_problem


class DeclaredGrading(Grading):
    def __init__(self, assignment, hidden_seed: int, **_):
        super().__init__(assignment, hidden_seed)
        self.declaration = assignment.declaration
        self.problems = {PUBLIC: make_problem(self.declaration, assignment.public_seed, self.declaration.sizes),
                         HIDDEN: make_problem(self.declaration, hidden_seed, self.declaration.hidden_sizes)}  # fmt: skip
        self._encoded: dict = {}

    def problems_for(self, cell) -> dict:
        return self.problems

    def inputs(self, ex: Exercise, problem) -> bytes:
        """Every tensor the notebook holds when the answer cell runs: the inputs, the forward pass's atoms, and the
        gradients the exercise hands over (d<name>, autograd's). Encoded once per Grader."""
        key = (ex.id, problem.seed)
        if key not in self._encoded:
            mine = problem.exercises[ex.id]
            arrays = {name: v.detach().numpy() for name, v in mine.values.items() if hasattr(v, "detach")}
            arrays.update({f"d{name}": mine.grads[name] for name in ex.given})
            self._encoded[key] = array_file.encode(arrays)
        return self._encoded[key]

    def constants(self, ex: Exercise, problem) -> dict:
        """The sizes, and the forward pass's constants that are numbers (a tensor's shape read into a name)."""
        mine = problem.exercises[ex.id]
        numbers = {name: v for name, v in mine.values.items() if type(v) in (int, float)}
        return {**problem.sizes, **numbers}

    def variables(self, ex: Exercise) -> list[str]:
        return super().variables(ex) + [f"d{name}" for name in self.declaration.task(ex.id).reads]

    def value_names(self, ex: Exercise) -> set[str]:
        return set(self.variables(ex))

    def comparisons(self, ex: Exercise, runs: dict, problems: dict) -> tuple[dict, None]:
        return {
            check.name: {label: compare(check, run.result["values"].get(check.variable), run.arrays.get(check.variable),
                                        problems[label].exercises[ex.id].grads[check.name],
                                        problems[label].exercises[ex.id].truth[check.name])
                         for label, run in runs.items()}
            for check in ex.checks
        }, None  # fmt: skip

    def diagnose(self, ex: Exercise, cell, checks: list, runs: dict, problems: dict, context, credit: str) -> str:
        forward = problems[PUBLIC].exercises[ex.id].forward
        task = self.declaration.task(ex.id)
        return diagnose(forward, ex, checks, runs, problems, task.slips, task.reads)

    def hidden_message(self, ex: Exercise, cell, result) -> str | None:
        """A check right on the sizes the student sees and wrong on the hidden ones: the source says why when it
        holds one of those sizes as a number."""
        names = size_names(self.declaration.task(ex.id), self.declaration.sizes)
        return hard_coded_message(result, cell, hard_coded_size(cell.source, names))


def size_names(task, sizes: dict) -> dict[int, str]:
    """What each size, and each expression of sizes the exercise itself writes (C // NH, B * T, 4 * C: in its
    forward pass and its inputs' shapes), is worth on the sizes the student sees: value -> how to write it."""
    said = [ast.unparse(node) for line in read_forward(task.forward).lines for node in ast.walk(ast.parse(line))
            if isinstance(node, ast.BinOp) and _of_sizes(node, sizes)]  # fmt: skip
    said += [d for spec in task.inputs for d in spec.shape if isinstance(d, str) and d not in sizes]
    # then the products of two sizes, the rows of a (B, T, C) tensor flattened (B * T)
    products = [f"{a} * {b}" for i, a in enumerate(sizes) for b in list(sizes)[i + 1 :]]
    names: dict[int, list[str]] = {}
    for expression in [*sizes, *said, *products]:
        value = int(eval(expression, {"__builtins__": {}}, dict(sizes)))
        if value > 1:
            names.setdefault(value, []).append(expression)
    return {value: " or ".join(dict.fromkeys(exprs)) for value, exprs in names.items()}


def _of_sizes(node, sizes: dict) -> bool:
    """An expression of sizes and whole numbers alone, with at least one size."""
    leaves = [n for n in ast.walk(node) if not isinstance(n, (ast.BinOp, ast.operator, ast.expr_context))]
    return all(isinstance(n, ast.Name) and n.id in sizes or isinstance(n, ast.Constant) and type(n.value) is int
               for n in leaves) and any(isinstance(n, ast.Name) for n in leaves)  # fmt: skip
