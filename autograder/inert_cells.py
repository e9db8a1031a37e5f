"""Which exercise cells may share one process with the exercises after them: those whose code can change nothing
a later cell would see.

A seed's exercises run one after another in one job when they can (a fork of a torch-sized process is most of
what a run costs); where they cannot, each has a job of its own, as before. What a cell could leave behind for the
next one is the state of the process: the modules (torch, numpy, their classes and functions), the builtins, the
random generators, the job's folder. So a cell is inert only if its code, read before it runs, can reach none of
them but through calls that change nothing: an allowlist of what the code may say, checked against the objects
its names stand for in the namespace it will run in.
- Statements: assignments (to an attribute only of data), loops, conditions, functions and classes of its own (no
  decorators, no metaclass, no base but its own classes, no global/nonlocal), raise, try, assert,
  `with torch.no_grad()`; imports only of a module already loaded and listed here, or of a pure function from one
  (the import then binds it, and changes nothing).
- A module may be named only at the root of an attribute chain: a call must resolve to a function that is pure
  (torch's ATen operations but from_file, torch.functional, torch.nn.functional, math, numpy's ufuncs),
  a value to a constant (a dtype, a number). `torch.manual_seed`, `np.random.seed`, `torch.set_default_dtype`,
  `setattr(torch, ...)` are none of these.
- No dunder name or attribute (no __dict__, __class__, __globals__), and nothing private of a module (torch._C).
- A name the cell does not bind stands for data (a tensor, a number, a list), a module (at a chain's root only),
  or a callable on the allowlist: builtins that compute, and the notebook's helpers that do nothing in a run.
- Methods and attributes of data (`x.sum()`, `x.add_(1)`, `parts.append(x)`, `p.data -= g`) change only that
  data, which is the exercise's own: a run side builds each exercise's namespace afresh. Those that touch a file
  (`a.tofile(path)`) are not on the list.
Beneath the list, such a job may change no file (syscall_filter.NoFileChanges): what the list missed fails there.
The random generators torch's operations draw from are put back before each exercise. A cell that is not inert
runs in a job of its own, as every cell did before.
"""
import ast
import builtins
import functools
import math
import sys
import types

BUILTINS = frozenset("abs all any bool bytes complex dict divmod enumerate filter float format frozenset int isinstance "
                     "issubclass iter len list map max min next pow print range repr reversed round set slice sorted "
                     "str sum tuple zip".split())  # fmt: skip
MODULES = ("torch", "torch.nn", "torch.nn.functional", "numpy", "math")
# What of torch's own operations, and of the methods data has, reads or writes a file: a cell that names one runs in
# a job of its own (where the other exercises' files are not there to read, nor its own results to write over).
FILE_FUNCTIONS = ("from_file",)
FILE_METHODS = frozenset({"tofile", "dump", "dumps", "save", "load", "from_file", "share_memory_", "fromfile"})
CONSTANTS = (int, float, bool, complex, str, bytes, type(None))
STATEMENTS = (ast.Module, ast.Expr, ast.Assign, ast.AugAssign, ast.AnnAssign, ast.For, ast.While, ast.If, ast.Break, ast.With,
              ast.ClassDef,
              ast.Continue, ast.Pass, ast.Raise, ast.Assert, ast.Delete, ast.Try, ast.ExceptHandler, ast.FunctionDef,
              ast.Return, ast.Import, ast.ImportFrom, ast.alias, ast.arguments, ast.arg)  # fmt: skip
EXPRESSIONS = (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.comprehension, ast.BinOp,
               ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.Call, ast.keyword, ast.Subscript, ast.Slice,
               ast.Tuple, ast.List, ast.Set, ast.Dict, ast.Constant, ast.Name, ast.Attribute, ast.Starred,
               ast.JoinedStr, ast.FormattedValue, ast.NamedExpr, ast.expr_context, ast.operator, ast.unaryop,
               ast.boolop, ast.cmpop)  # fmt: skip


@functools.cache
def pure_functions() -> frozenset[int]:
    """The ids of the functions a cell may call through a module (computed once, in the zygote)."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    found = [getattr(torch._C._VariableFunctions, n) for n in dir(torch._C._VariableFunctions) if not n.startswith("_")]
    found += [getattr(torch, n) for n in dir(torch) if not n.startswith("_") and hasattr(torch._C._VariableFunctions, n)]
    found += [getattr(torch.functional, n) for n in torch.functional.__all__]
    found += [v for n, v in vars(F).items() if not n.startswith("_") and callable(v) and not isinstance(v, type)
              and getattr(v, "__module__", "") in ("torch.nn.functional", "torch._C._nn", None)]  # fmt: skip
    found += [v for n, v in vars(math).items() if not n.startswith("_") and callable(v)]
    found += [v for n, v in vars(np).items() if not n.startswith("_") and isinstance(v, np.ufunc)]
    found += [np.array, np.asarray, np.zeros, np.ones, np.empty, np.arange, np.full]
    touches_files = {id(getattr(torch, name, None)) for name in FILE_FUNCTIONS}
    return frozenset(map(id, found)) - touches_files


def leaves_nothing_behind(source: str, namespace: dict, inert_helpers: tuple = ()) -> bool:
    """Whether the cell's code, run in `namespace`, can change nothing a later cell in the same process would see.
    `inert_helpers`: callables of the namespace that do nothing in a run (the notebook's cmp and check)."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return True  # it does not compile, so none of it runs
    try:
        _Reader(namespace, inert_helpers).check(tree)
    except Exception:  # _NotInert, or anything this reader did not foresee: then it is not inert either
        return False
    return True


class _NotInert(Exception):
    pass


class _Reader:
    def __init__(self, namespace: dict, inert_helpers: tuple):
        self.namespace, self.inert = namespace, {id(h) for h in inert_helpers}
        self.own: set[str] = set()  # names the cell binds (its own: data, or functions it defined)
        self.modules: dict[str, object] = {}  # names its imports bind to modules
        self.imported: dict[str, object] = {}  # names `from math import exp` binds to a function or a constant
        self.classes: set[str] = set()  # classes the cell defines

    def check(self, tree: ast.AST):
        for node in ast.walk(tree):  # every name the cell binds, wherever (a later use may come first in the walk)
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                self.own.add(node.id)
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.arg)):
                self.own.add(node.arg if isinstance(node, ast.arg) else node.name)
            elif isinstance(node, ast.ExceptHandler) and node.name:
                self.own.add(node.name)
        self._visit(tree)

    def _visit(self, node: ast.AST, chain_root: bool = False):
        if not isinstance(node, STATEMENTS + EXPRESSIONS):
            raise _NotInert(type(node).__name__)
        if isinstance(node, ast.FunctionDef) and (node.decorator_list or node.returns):
            raise _NotInert("decorated")
        if isinstance(node, ast.ClassDef):
            return self._class(node)
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            return self._import(node)
        if isinstance(node, ast.With):
            return self._with(node)
        if isinstance(node, ast.Attribute):
            return self._attribute(node)
        if isinstance(node, ast.Name):
            return self._name(node)
        if isinstance(node, ast.Call):
            self._callee(node.func)
            for child in node.args + node.keywords:
                self._visit(child)
            return
        for child in ast.iter_child_nodes(node):
            self._visit(child)

    def _import(self, node):
        for alias in node.names:
            bound = alias.asname or alias.name.split(".")[0]
            if isinstance(node, ast.ImportFrom) and not node.level and node.module in MODULES \
                    and node.module in sys.modules and f"{node.module}.{alias.name}" not in MODULES:  # fmt: skip
                # `from math import exp`: the name is bound to what the module holds, held to the same rules
                value = getattr(sys.modules[node.module], alias.name, None)
                if id(value) not in pure_functions() and not isinstance(value, CONSTANTS):
                    raise _NotInert(f"from {node.module} import {alias.name}")
                self.imported[bound] = value
                continue
            module = f"{node.module}.{alias.name}" if isinstance(node, ast.ImportFrom) else alias.name
            if getattr(node, "level", 0) or module not in MODULES or module not in sys.modules:
                raise _NotInert(f"import {module}")
            self.modules[bound] = sys.modules[module if (alias.asname or isinstance(node, ast.ImportFrom))
                                              else module.split(".")[0]]  # fmt: skip

    def _class(self, node: ast.ClassDef):
        """A class of its own (micrograd's Value): made afresh when the cell runs, its methods read as functions.
        Only its own classes as bases (a base's __init_subclass__ could keep a record), no metaclass, no decorator,
        no __del__."""
        if node.decorator_list or node.keywords:
            raise _NotInert("class")
        for base in node.bases:
            if not (isinstance(base, ast.Name) and base.id in self.classes):
                raise _NotInert("class base")
        if any(isinstance(child, ast.FunctionDef) and child.name == "__del__" for child in node.body):
            raise _NotInert("__del__")  # it would run whenever the object is collected: in a later exercise
        self.classes.add(node.name)
        for child in node.body:
            self._visit(child)

    def _with(self, node: ast.With):
        """`with torch.no_grad():` only: the grad mode it sets is put back as the block ends, however it ends."""
        import torch

        for item in node.items:
            call = item.context_expr
            if item.optional_vars or not isinstance(call, ast.Call) or call.args or call.keywords \
                    or not isinstance(call.func, ast.Attribute) or (self._chain(call.func) or (None,))[0] is not torch.no_grad:  # fmt: skip
                raise _NotInert("with")
        for child in node.body:
            self._visit(child)

    def _lookup(self, name: str):
        if _dunder(name):
            raise _NotInert(name)
        if name in self.modules:
            return self.modules[name]
        if name in self.imported:
            return self.imported[name]
        if name in self.own:
            return None  # the cell's own: data it made, or a function it defined (whose body is read too)
        if name in self.namespace:
            return self.namespace[name]
        if hasattr(builtins, name):
            return getattr(builtins, name)
        raise _NotInert(name)  # a NameError when it runs, or something this reader does not know

    def _name(self, node: ast.Name):
        """A bare name, not called and not the root of a chain."""
        if isinstance(node.ctx, (ast.Store, ast.Del)):
            if _dunder(node.id) or node.id in self.modules:
                raise _NotInert(node.id)
            return
        value = self._lookup(node.id)
        if node.id in self.own and node.id not in self.modules:
            return
        if isinstance(value, types.ModuleType):
            raise _NotInert(f"the module {node.id} itself")
        if callable(value) and not _is_data(value) and not self._allowed_callable(node.id, value):
            raise _NotInert(node.id)

    def _allowed_callable(self, name: str, value) -> bool:
        builtin = value is getattr(builtins, name, None)
        return ((builtin and (name in BUILTINS or (isinstance(value, type) and issubclass(value, BaseException))))
                or id(value) in self.inert or id(value) in pure_functions())  # fmt: skip

    def _chain(self, node: ast.Attribute) -> tuple[object, bool] | None:
        """(what a chain rooted at a module resolves to, True) when it is one; None when its root is data."""
        names = []
        while isinstance(node, ast.Attribute):
            if _dunder(node.attr):
                raise _NotInert(node.attr)
            names.append(node.attr)
            node = node.value
        if names[0] in FILE_METHODS:
            raise _NotInert(names[0])
        if not isinstance(node, ast.Name):
            self._visit(node)
            return None
        root = self._lookup(node.id) if not (node.id in self.own and node.id not in self.modules) else None
        if not isinstance(root, types.ModuleType):
            return None if root is None or _is_data(root) or not callable(root) else (root, False)
        if any(name.startswith("_") for name in names):  # a module's private parts (torch._C ...)
            raise _NotInert(".".join(reversed(names)))
        value = root
        for name in reversed(names):
            try:
                value = getattr(value, name)
            except AttributeError:
                raise _NotInert(name) from None
        return value, True

    def _attribute(self, node: ast.Attribute):
        """An attribute read or set: on data, any public one (`p.data += ...`); through a module, only a constant
        read."""
        found = self._chain(node)
        if found is None:
            return
        value, through_module = found
        if not isinstance(node.ctx, ast.Load) or not through_module or not (isinstance(value, CONSTANTS) or _is_constant(value)):
            raise _NotInert(node.attr)

    def _callee(self, func: ast.AST):
        if isinstance(func, ast.Name):
            if func.id in self.own and func.id not in self.modules:
                return
            value = self._lookup(func.id)
            if not self._allowed_callable(func.id, value):
                raise _NotInert(func.id)
        elif isinstance(func, ast.Attribute):
            found = self._chain(func)
            if found is not None and id(found[0]) not in pure_functions():
                raise _NotInert(func.attr)
        else:
            self._visit(func)  # a call of a call's result, a subscript, a lambda: its parts are read


def _dunder(name: str) -> bool:
    return name.startswith("__")


def _is_data(value) -> bool:
    import torch

    return isinstance(value, (torch.Tensor, torch.Generator, list, tuple, dict, set) + CONSTANTS)


def _is_constant(value) -> bool:
    import torch

    return isinstance(value, (torch.dtype, torch.device, torch.layout))
