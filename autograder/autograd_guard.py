"""The run-time half of the autograd rule: in a graded run, torch's autograd is switched off and its doors shut.

static_checks.py is the other half: it reads the source. This half catches what the source hides, such as
getattr(t, "back" + "ward"). It is installed once in the zygote (zygote.py), so every forked run inherits it.

- Grad mode and forward-mode AD are switched off, and every switch that turns them on is replaced by one that
  only turns them off (`with torch.no_grad():` stays allowed: Exercise 4's loop uses it).
- The entry points (backward, autograd.grad, torch.func, dual levels, the engine that runs a backward pass) and
  the saved-tensor hook stack are replaced by functions that record the call and raise.
- Replacing a module attribute leaves other references to the original in place (torch.fx keeps the grad-mode
  setter in a set, for one), so every dict, list and set that refers to an original is rewritten too.
- A saved-tensors hook refuses to record any graph, however grad mode was turned on; at the end of a run a
  canary checks that this hook is still the one in force and that grad mode is off.

Inside one process a determined attacker can still find the C functions behind these (through tuples, type
objects, `gc`): the README says so, and static_checks.review_flags flags the constructs that doing so needs.
"""
import gc
import sys
import traceback

import torch
import torch._functorch.predispatch as predispatch

# What a run refused, as {"call": ..., "line": ...}: read by student_process when the run ends.
calls: list = []
_cell = {"filename": None}
_canary = {"armed": False, "hit": False}


class AutogradUsed(RuntimeError):
    pass


def _refuse(what: str):
    if _canary["armed"]:
        _canary["hit"] = True
        raise AutogradUsed("canary")
    line = next((f.lineno for f in reversed(traceback.extract_stack()) if f.filename == _cell["filename"]), None)
    calls.append({"call": what, "line": line})
    raise AutogradUsed(f"{what} is not available in a graded run: write the backward pass by hand")


def _blocked(what: str):
    return lambda *args, **kwargs: _refuse(what)


def _only_off(what: str, off):
    def guarded(mode, *args, **kwargs):
        return _refuse(what) if mode else off()

    return guarded


class _BlockedEngine:
    """Stands where torch keeps its autograd engine: any use of it is a refused call."""

    def __getattr__(self, name):
        return _blocked("the autograd engine")


def _targets() -> list[tuple[object, str]]:
    """The attributes replaced by a blocker: autograd's entry points and the saved-tensor hook stack."""
    autograd_c = torch._C._autograd
    return [
        (torch.Tensor, "backward"), (torch.Tensor, "requires_grad_"), (torch.Tensor, "retain_grad"),
        (torch.autograd, "backward"), (torch.autograd, "grad"), (torch, "enable_grad"),
        (torch.autograd, "enable_grad"), (torch.autograd.grad_mode, "enable_grad"), (torch.autograd, "functional"),
        (torch, "func"), (torch.autograd, "forward_ad"), (torch._C, "_enter_dual_level"),
        (predispatch, "_enter_dual_level_impl"), (torch, "_make_dual"), (torch._C, "_ImperativeEngine"),
        (autograd_c, "_push_saved_tensors_default_hooks"), (autograd_c, "_pop_saved_tensors_default_hooks"),
        (autograd_c, "_saved_tensors_hooks_disable"), (autograd_c, "_saved_tensors_hooks_enable"),
        (autograd_c, "_saved_tensors_hooks_set_tracing"), (torch.autograd.graph, "saved_tensors_hooks"),
        (torch.autograd.graph, "disable_saved_tensors_hooks"), (torch._C._functorch, "_grad_increment_nesting"),
        (torch._C._functorch, "_jvp_increment_nesting"),
    ]  # fmt: skip


def _name(owner, attr: str) -> str:
    return f"{getattr(owner, '__name__', 'torch')}.{attr}"


SWITCHES = ("torch.set_grad_enabled(True)", "forward-mode AD")
# Every name a refused call can carry: the grader accepts no other from a run (run_result.py).
CALL_NAMES = frozenset(
    [_name(owner, attr) for owner, attr in _targets()] + list(SWITCHES)
    + ["the autograd engine", "an autograd graph", "grad mode left on", "autograd hooks removed"]
)  # fmt: skip


def _rewrite_references(swaps: list[tuple[object, object]]):
    """Wherever a dict, list or set holds one of the originals, put its replacement instead: one pass over every
    object the collector tracks (a pass per original costs seconds with torch loaded).

    A class's attributes are set through the class, and its own dict is left alone: writing into it directly
    would leave the interpreter's attribute cache pointing at the old value (and crash the process).
    """
    replacement_of = {id(original): replacement for original, replacement in swaps}  # `swaps` keeps them alive
    objects = gc.get_objects()
    class_dicts = set()
    # type(obj), not isinstance: some of torch's deprecated objects warn when their __class__ is asked for.
    for obj in objects:
        if issubclass(type(obj), type):
            class_dicts.update(id(d) for d in gc.get_referents(obj) if type(d) is dict)
            for key, value in list(obj.__dict__.items()):
                if id(value) in replacement_of:
                    try:
                        setattr(obj, key, replacement_of[id(value)])
                    except (TypeError, AttributeError):  # a built-in type's attributes cannot be set
                        pass
    for obj in objects:
        kind = type(obj)
        if issubclass(kind, dict) and id(obj) not in class_dicts:
            for key in [k for k, v in obj.items() if id(v) in replacement_of]:
                obj[key] = replacement_of[id(obj[key])]
        elif issubclass(kind, list):
            for i, value in enumerate(obj):
                if id(value) in replacement_of:
                    obj[i] = replacement_of[id(value)]
        elif issubclass(kind, set):
            for value in [v for v in obj if id(v) in replacement_of]:
                obj.discard(value)
                obj.add(replacement_of[id(value)])
    sys._clear_type_cache()


def install():
    """Switch autograd off in this process for good. Called once, in the zygote, before any student code.

    The originals it still needs (to switch grad mode off, and for the canary) live only in this function's
    closures: nothing a submission can import names them.
    """
    set_grad, set_fwd_grad = torch._C._set_grad_enabled, torch._C._set_fwd_grad_enabled
    is_grad, is_fwd_grad = torch._C.is_grad_enabled, torch._C._is_fwd_grad_enabled
    set_fwd_grad(False)
    set_grad(False)
    # Recording a graph saves tensors for the backward pass; refusing to save them refuses the graph.
    torch._C._autograd._push_saved_tensors_default_hooks(lambda tensor: _refuse("an autograd graph"),
                                                         lambda packed: packed)  # fmt: skip
    grad_switch, fwd_switch = SWITCHES
    no_grad = torch.no_grad  # works as a context manager and a decorator, like set_grad_enabled(False)
    for owner in (torch, torch.autograd, torch.autograd.grad_mode):
        setattr(owner, "set_grad_enabled", _only_off(grad_switch, no_grad))
    swaps = [(set_grad, _only_off(grad_switch, lambda: set_grad(False))),
             (set_fwd_grad, _only_off(fwd_switch, lambda: None)),
             (torch.autograd.variable.Variable._execution_engine, _BlockedEngine())]  # fmt: skip
    for owner, attr in _targets():
        original, replacement = getattr(owner, attr), _blocked(_name(owner, attr))
        setattr(owner, attr, replacement)
        if not isinstance(original, type(torch)):  # a module's other names are its own
            swaps.append((original, replacement))
    _rewrite_references(swaps)

    def tampered() -> str | None:
        if is_grad() or is_fwd_grad():
            return "grad mode left on"
        _canary.update(armed=True, hit=False)
        set_grad(True)
        try:
            x = torch.ones(2, requires_grad=True)
            x * x  # saves x for the backward pass: the guard's hook must be the one that refuses it
        except AutogradUsed:
            pass
        finally:
            set_grad(False)
            _canary["armed"] = False
        return None if _canary["hit"] else "autograd hooks removed"

    _state["tampered"] = tampered
    tampered()  # once here, so that what the canary initialises lazily is done before the forks, not in each


_state = {"tampered": None}


def begin(filename: str):
    """A new run of the cell compiled as `filename`: refused calls are attributed to its lines."""
    calls.clear()
    _cell["filename"] = filename


def end() -> list:
    """The calls this run made that were refused, and what of the guard it undid, if anything."""
    undone = _state["tampered"]()
    if undone:
        calls.append({"call": undone, "line": None})
    return list(calls)
