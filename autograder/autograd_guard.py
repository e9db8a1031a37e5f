"""The run-time half of the autograd rule: in a graded run, torch's autograd is switched off and its doors shut.

static_checks.py is the other half: it reads the source. This half catches what the source hides, such as
getattr(t, "back" + "ward"). It is installed once in the zygote (zygote.py), so every forked run inherits it.

- Grad mode and forward-mode AD are switched off, and every switch that turns them on is replaced by one that
  only turns them off (`with torch.no_grad():` stays allowed: Exercise 4's loop uses it).
- The entry points (backward, autograd.grad, the transforms of torch.func and autograd.functional, dual levels,
  the engine that runs a backward pass) and the saved-tensor hook stack are replaced by functions that record
  the call and raise. Only entry points, never a whole module: honest code reaches the helpers beside them
  (printing a tensor calls forward_ad.unpack_dual, torch.vmap is torch.func's).
- Replacing a module attribute leaves other references to the original in place (torch.fx keeps the grad-mode
  setter in a set, for one), so every dict, list and set that refers to an original is rewritten too.
- A saved-tensors hook refuses to record any graph, however grad mode was turned on; at the end of a run a
  canary checks that this hook is still the one in force and that grad mode is off.

Inside one process a determined attacker can still find the C functions behind these (through tuples, type
objects, `gc`): the README says so, and static_checks.review_flags flags the constructs that doing so needs.
"""
import functools
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


def _only_on(what: str, original):
    def guarded(mode, *args, **kwargs):
        return original(True) if mode else _refuse(what)

    return guarded


def _requires_grad_only_off(what: str):
    def requires_grad_(self, requires_grad=True):
        if requires_grad:
            _refuse(what)
        self.requires_grad = False
        return self

    return requires_grad_


def _refused_when_switched(what: str):
    """Stands where torch.enable_grad was. Making one switches nothing on, and torch's own modules make one as a
    run imports them (`@torch.enable_grad()` on a method of a class): only entering it, or calling what it
    decorates, is refused."""

    class Refused:
        def __enter__(self):
            _refuse(what)

        def __exit__(self, *exc):
            return False

        def __call__(self, function):
            return functools.wraps(function)(_blocked(what))

    def enable_grad(function=None):  # bare `@torch.enable_grad` passes the function itself
        return Refused() if function is None else Refused()(function)

    return enable_grad


class _BlockedEngine:
    """Stands where torch keeps its autograd engine: any use of it is a refused call."""

    def __getattr__(self, name):
        return _blocked("the autograd engine")


def _targets() -> list[tuple[object, str, object]]:
    """The attributes replaced, each with the maker of what stands in its place: a blocker for autograd's entry
    points and the saved-tensor hook stack; for a switch that turns autograd on, one refused only when it would."""
    autograd_c, forward_ad, functional = torch._C._autograd, torch.autograd.forward_ad, torch.autograd.functional
    entry_points = [
        (torch.Tensor, "backward"), (torch.Tensor, "retain_grad"), (torch.autograd, "backward"),
        (torch.autograd, "grad"), (forward_ad, "dual_level"), (forward_ad, "enter_dual_level"),
        (forward_ad, "make_dual"), (torch._C, "_enter_dual_level"), (predispatch, "_enter_dual_level_impl"),
        (torch, "_make_dual"), (torch._C, "_ImperativeEngine"),
        (autograd_c, "_push_saved_tensors_default_hooks"), (autograd_c, "_pop_saved_tensors_default_hooks"),
        (autograd_c, "_saved_tensors_hooks_disable"), (autograd_c, "_saved_tensors_hooks_enable"),
        (autograd_c, "_saved_tensors_hooks_set_tracing"), (autograd_c, "_top_saved_tensors_default_hooks"),
        (torch.autograd.graph, "saved_tensors_hooks"),
        (torch.autograd.graph, "disable_saved_tensors_hooks"), (torch._C._functorch, "_grad_increment_nesting"),
        (torch._C._functorch, "_jvp_increment_nesting"),
        *[(functional, name) for name in ("vjp", "jvp", "jacobian", "hessian", "vhp", "hvp")],
        *[(torch.func, name) for name in ("grad", "grad_and_value", "vjp", "jvp", "jacrev", "jacfwd", "hessian",
                                          "linearize")],
    ]  # fmt: skip
    switches = [(owner, "enable_grad", _refused_when_switched)
                for owner in (torch, torch.autograd, torch.autograd.grad_mode)]  # fmt: skip
    switches.append((torch.Tensor, "requires_grad_", _requires_grad_only_off))
    return [(owner, attr, _blocked) for owner, attr in entry_points] + switches


def _name(owner, attr: str) -> str:
    return f"{getattr(owner, '__name__', 'torch')}.{attr}"


SWITCHES = ("torch.set_grad_enabled(True)", "forward-mode AD", "torch.inference_mode(False)")
# Every name a refused call can carry: the grader accepts no other from a run (run_result.py).
CALL_NAMES = frozenset(
    [_name(owner, attr) for owner, attr, _ in _targets()] + list(SWITCHES)
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
    grad_switch, fwd_switch, inference_switch = SWITCHES
    no_grad = torch.no_grad  # works as a context manager and a decorator, like set_grad_enabled(False)
    for owner in (torch, torch.autograd, torch.autograd.grad_mode):
        setattr(owner, "set_grad_enabled", _only_off(grad_switch, no_grad))
    # Leaving inference mode (`torch.inference_mode(False)`) turns grad mode back on: only entering it is allowed.
    inference = torch._C._InferenceMode
    torch._C._InferenceMode = _only_on(inference_switch, inference)
    swaps = [(set_grad, _only_off(grad_switch, lambda: set_grad(False))),
             (set_fwd_grad, _only_off(fwd_switch, lambda: None)),
             (inference, torch._C._InferenceMode),
             (torch.autograd.variable.Variable._execution_engine, _BlockedEngine())]  # fmt: skip
    for owner, attr, make in _targets():
        original, replacement = getattr(owner, attr), make(_name(owner, attr))
        setattr(owner, attr, replacement)
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
