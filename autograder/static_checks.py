"""Autograd is not the student's to use: find it in the source of a solution cell.

This is the static half of the rule; the run-time half (student_process.forbid_autograd) blocks what the source
hides. Aliases count: `import torch as T; T.autograd.grad(...)` and `from torch import autograd as ag` are found.
"""
import ast
import functools
import math
import re

# Attribute names that only mean autograd, on any object: x.backward(), x.grad, x.requires_grad_() ...
AUTOGRAD_ATTRIBUTES = {
    "backward", "grad", "grad_fn", "retain_grad", "retain_graph", "requires_grad_", "autograd", "enable_grad",
    "set_grad_enabled", "vjp", "jvp", "jacobian", "hessian", "functorch", "_C", "_set_grad_enabled",
}  # fmt: skip
AUTOGRAD_MODULES = ("torch.autograd", "functorch", "torch._C")
# torch.func's transforms that differentiate; vmap and functional_call are honest torch (the run-time guard agrees).
FUNC_TRANSFORMS = {"grad", "grad_and_value", "vjp", "jvp", "jacrev", "jacfwd", "hessian", "linearize"}
# The grader's own package holds what computes answers (references, the lecture's complete Value); importing it in
# a graded cell is asking the grader for the answer, in every assignment. student_process refuses it at run time.
GRADER_PACKAGE = "autograder"
GRADER_PACKAGE_CALL = "the grader's package"  # how a run names its refused import (run_result accepts it)


@functools.lru_cache(maxsize=8)
def source_nodes(source: str) -> tuple | None:
    """Every node of the cell's syntax tree, parsed once for all the checks that read a cell (a grade reads each
    cell's source seven times); None when it does not parse (the run reports the syntax error itself)."""
    try:
        return tuple(ast.walk(ast.parse(source)))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def hard_coded_size(source: str, names: dict[int, str]) -> tuple[int, int, str] | None:
    """The first whole number in the cell that is one of `names` (value -> how to write it instead: the sizes the
    student sees, and what an assignment makes of them), as (line, value, name); None when there is none."""
    nodes = source_nodes(source)
    if nodes is None:
        return None
    found = [(node.lineno, node.value) for node in nodes
             if isinstance(node, ast.Constant) and type(node.value) is int and node.value in names]  # fmt: skip
    if not found:
        return None
    line, value = min(found)
    return line, value, names[value]


def autograd_uses(source: str) -> list[dict]:
    """Each use of autograd as {"flag": "autograd", "line": N, "code": "..."}; empty for honest code."""
    nodes = source_nodes(source)
    if nodes is None:
        return []
    lines = source.splitlines()
    torch_names = {"torch"}
    uses = []

    def flag(node, what):
        code = lines[node.lineno - 1].strip() if 0 < node.lineno <= len(lines) else ""
        uses.append({"flag": "autograd", "line": node.lineno, "code": code, "what": what})

    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(AUTOGRAD_MODULES):
                    flag(node, f"import {alias.name}")
                elif alias.name == "torch":
                    torch_names.add(alias.asname or "torch")
        elif isinstance(node, ast.ImportFrom) and node.module:
            full = [f"{node.module}.{a.name}" for a in node.names]
            if node.module == "torch.func" and any(a.name in FUNC_TRANSFORMS | {"*"} for a in node.names):
                flag(node, f"from {node.module} import ...")
            elif node.module.startswith(AUTOGRAD_MODULES) or any(f.startswith(AUTOGRAD_MODULES) for f in full):
                flag(node, f"from {node.module} import ...")
            elif any(a.name in AUTOGRAD_ATTRIBUTES for a in node.names):
                flag(node, f"from {node.module} import ...")
    # `p.grad = None` (the lecture's loop clears gradients so) asks nothing of autograd: it is not a use.
    clears = {id(target) for node in nodes if isinstance(node, ast.Assign)
              and isinstance(node.value, ast.Constant) and node.value.value is None for target in node.targets}  # fmt: skip
    for node in nodes:
        if isinstance(node, ast.Attribute):
            if node.attr == "grad" and id(node) in clears:
                continue
            if node.attr in AUTOGRAD_ATTRIBUTES:
                flag(node, f".{node.attr}")
            elif (node.attr in FUNC_TRANSFORMS and isinstance(node.value, ast.Attribute) and node.value.attr == "func"
                  and isinstance(node.value.value, ast.Name) and node.value.value.id in torch_names):  # fmt: skip
                flag(node, f"torch.func.{node.attr}")
            elif node.attr == "requires_grad" and isinstance(node.ctx, ast.Store):
                flag(node, ".requires_grad =")
        elif isinstance(node, ast.keyword) and node.arg == "requires_grad":
            if not (isinstance(node.value, ast.Constant) and node.value.value is False):
                flag(node.value, "requires_grad=True")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in {"getattr", "setattr"}:
            # A computed name (getattr(t, "back" + "ward")) is left to the run-time block.
            name = node.args[1] if len(node.args) > 1 else None
            if isinstance(name, ast.Constant) and name.value in AUTOGRAD_ATTRIBUTES | {"requires_grad"}:
                flag(node, f"{node.func.id} {name.value}")
    return sorted(uses, key=lambda u: u["line"])


# The grader's package as a module path or a file path: a string to import it or read its source by.
GRADER_PATH = re.compile(rf"\b{GRADER_PACKAGE}[./]")


def grader_package_imports(source: str) -> list[dict]:
    """Each import of the grader's package, or string naming one of its modules or files (to import or read it by
    another way), flagged as autograd is (it scores 0): {"flag": "autograd", ...}."""
    nodes = source_nodes(source)
    if nodes is None:
        return []
    lines = source.splitlines()
    uses = []
    for node in nodes:
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
            [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else \
            [GRADER_PACKAGE] if isinstance(node, ast.Constant) and isinstance(node.value, str) \
            and GRADER_PATH.search(node.value) else []  # fmt: skip
        if any(name == GRADER_PACKAGE or name.startswith(GRADER_PACKAGE + ".") for name in names):
            code = lines[node.lineno - 1].strip() if 0 < node.lineno <= len(lines) else ""
            uses.append({"flag": "autograd", "line": node.lineno, "code": code, "what": GRADER_PACKAGE_CALL})
    return uses


# Modules a backward pass never needs, whose only use in a solution cell is to reach outside it: the process, the
# file system, the interpreter's own tables (and through them the originals the run-time guard replaced).
REVIEW_MODULES = ("importlib", "sys", "gc", "ctypes", "inspect", "builtins", "types", "os", "subprocess", "signal",
                  "socket", "multiprocessing", "threading", "_thread", "concurrent", "pickle", "marshal", "mmap",
                  "resource", "operator", "pathlib", "io", "codecs", "runpy", "zipimport")  # fmt: skip
REVIEW_NAMES = {"__import__", "eval", "exec", "compile", "globals", "locals", "vars", "breakpoint", "open",
                "__builtins__"}
REVIEW_PATHS = ("/proc", "/sys/", "/dev/")
# A name, or a dotted path, with a private part: what only reflection reaches.
PRIVATE_NAME = re.compile(r"(?:[A-Za-z0-9_]+\.)*_+[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*")


def review_flags(source: str) -> list[dict]:
    """Constructs that only serve to reach around the grader's guards, each as {"flag": "review", "line": N,
    "code": "...", "what": "..."}. They cost no points: the instructor is shown them to look at."""
    nodes = source_nodes(source)
    if nodes is None:
        return []
    lines = source.splitlines()
    found = {}

    def flag(node, what):
        code = lines[node.lineno - 1].strip() if 0 < node.lineno <= len(lines) else ""
        found.setdefault((node.lineno, what), {"flag": "review", "line": node.lineno, "code": code, "what": what})

    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in REVIEW_MODULES:
                    flag(node, f"import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in REVIEW_MODULES:
            flag(node, f"from {node.module} import ...")
        elif isinstance(node, ast.Name) and node.id in REVIEW_NAMES:
            flag(node, f"{node.id}()" if node.id != "open" else "open() on a file")
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            flag(node, f"the private attribute .{node.attr}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in {"getattr", "setattr",
                                                                                                    "delattr", "hasattr"}:
            name = node.args[1] if len(node.args) > 1 else None
            if not (isinstance(name, ast.Constant) and isinstance(name.value, str)):
                flag(node, f"{node.func.id} with a computed name")
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if any(p in node.value for p in REVIEW_PATHS):
                flag(node, "a path into the system's files")
            if PRIVATE_NAME.fullmatch(node.value):  # getattr(x, "__globals__"), attrgetter("_C._autograd")
                flag(node, f"the private attribute {node.value!r} by name")
            if GRADER_PACKAGE in node.value and not GRADER_PATH.search(node.value):
                flag(node, "the grader's package named in a string")
    return sorted(found.values(), key=lambda f: f["line"])


def placeholder_after_answer(source: str) -> int | None:
    """The line of a placeholder (`dC, dW1, ... = None, ...`, the lecture's) that sets gradients back to None after
    the cell has computed them: the learner wrote the answer above the placeholder instead of in its place."""
    nodes = source_nodes(source)
    if nodes is None:
        return None

    def names(target) -> set[str]:
        return {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}

    def is_none(value) -> bool:
        values = value.elts if isinstance(value, ast.Tuple) else [value]
        return all(isinstance(v, ast.Constant) and v.value is None for v in values)

    assigned: set[str] = set()
    for node in sorted((n for n in nodes if isinstance(n, (ast.Assign, ast.AugAssign))),
                       key=lambda n: n.lineno):  # fmt: skip
        targets = set().union(*map(names, node.targets)) if isinstance(node, ast.Assign) else names(node.target)
        if isinstance(node, ast.Assign) and is_none(node.value):
            if targets & assigned:
                return node.lineno
        else:
            assigned |= {name for name in targets if name.startswith("d")}
    return None


def final_assignments(source: str) -> dict[str, ast.expr]:
    """The expression each plain name was last assigned in the cell's own code (`de = dc = dd`, `da, db = x, y`
    included), in source order, in any statement of the cell (a function's body too); a name last set otherwise
    (+=, a for loop's target) maps to None."""
    nodes = source_nodes(source)
    if nodes is None:
        return {}
    last: dict[str, ast.expr | None] = {}
    for node in sorted((n for n in nodes if isinstance(n, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.For))),
                       key=lambda n: (n.lineno, n.col_offset)):  # fmt: skip
        if isinstance(node, ast.Assign):
            for target in node.targets:
                _pair(target, node.value, last)
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            _pair(node.target, node.value, last)
        else:
            last.update({n.id: None for n in ast.walk(node.target) if isinstance(n, ast.Name)})
    return last


def _pair(target, value, last: dict):
    if isinstance(target, ast.Name):
        last[target.id] = value
    elif isinstance(target, (ast.Tuple, ast.List)):
        values = value.elts if isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts) \
            else [None] * len(target.elts)
        for element, element_value in zip(target.elts, values):
            _pair(element, element_value, last)


def is_typed_number(expr) -> bool:
    """A number written out in digits (-2.0, 0.166667, 1/6, 2*3): no name of the values in it, so it holds only
    at the values its writer saw."""
    if isinstance(expr, ast.Constant):
        return type(expr.value) in (int, float)
    if isinstance(expr, ast.UnaryOp) and isinstance(expr.op, (ast.USub, ast.UAdd)):
        return is_typed_number(expr.operand)
    if isinstance(expr, ast.BinOp):
        return is_typed_number(expr.left) and is_typed_number(expr.right)
    if isinstance(expr, (ast.List, ast.Tuple)):
        return bool(expr.elts) and all(map(is_typed_number, expr.elts))
    return False


def is_difference_quotient(expr) -> bool:
    """Whether an expression holds a difference quotient, (g(x + h) - g(x)) / h or with x - h (times anything): a
    division by a step (h, 2 * h, or a small number typed in: 1e-3, 2 * 1e-3) whose numerator holds a
    difference, one of whose sides moves something by that step. A division by anything else (tanh written out,
    (ep - em) / (ep + em)) is no estimate, whatever its numerator."""
    if expr is None:
        return False
    for node in ast.walk(expr):
        if not (isinstance(node, ast.BinOp) and isinstance(node.op, ast.Div)):
            continue
        steps = _step(node.right)
        if steps is None:
            continue
        differences = [d for d in ast.walk(node.left) if isinstance(d, ast.BinOp) and isinstance(d.op, ast.Sub)]
        if any(_moved_by_a_step(side, steps) for d in differences for side in (d.left, d.right)):
            return True
    return False


def _step(denominator) -> set | None:
    """The names a denominator shaped like a step is made of (h, 2 * h: {"h"}; 1e-3: none); None for any other
    denominator."""
    def small(constants) -> bool:
        return 0 < abs(math.prod(c.value for c in constants)) < 0.1

    if isinstance(denominator, ast.Name):
        return {denominator.id}
    sides = (denominator.left, denominator.right) if isinstance(denominator, ast.BinOp) and isinstance(
        denominator.op, ast.Mult) else (denominator,)  # fmt: skip
    constants = [s for s in sides if isinstance(s, ast.Constant) and type(s.value) in (int, float)]
    names = {s.id for s in sides if isinstance(s, ast.Name)}
    if len(constants) + len(names) < len(sides) or not constants:
        return None
    return names if names else set() if small(constants) else None


def _moved_by_a_step(expr, steps: set) -> bool:
    for moved in ast.walk(expr):
        if isinstance(moved, ast.BinOp) and isinstance(moved.op, (ast.Add, ast.Sub)):
            for operand in (moved.left, moved.right):
                if isinstance(operand, ast.Name) and operand.id in steps:
                    return True
                if isinstance(operand, ast.Constant) and type(operand.value) is float and 0 < abs(operand.value) < 0.1:
                    return True
    return False
