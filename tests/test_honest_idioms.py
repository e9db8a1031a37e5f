"""Honest idioms inside a graded exercise: printing, converting, asserting on and plotting what the exercise
computes, and clearing .grad as the lecture's loop does. Each is written around a right answer and must get full
marks twice: in the graded run, where the autograd guard is installed, and from the notebook's own check() in a
kernel-like namespace, where it is not. A guard that breaks honest code (printing a tensor calls
torch.autograd.forward_ad.unpack_dual) shows up as an idiom the graded run stops at and check() does not.

The k-th idiom of every exercise is graded in one notebook, so each assignment costs as many grades as its
busiest exercise has idioms.
"""
import json
import subprocess
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import nbformat
import pytest
import torch
from micrograd_corpus import gradf, replaced, solution_cell, training_loop, value_class
from micrograd_corpus import SOLUTION as MICROGRAD_SOLUTION
from submissions import ROOT, answer, solution_region, write_submission

from autograder import assignments
from autograder.assignments.micrograd import lecture as micrograd_lecture
from autograder.assignments.micrograd import selfcheck as micrograd_selfcheck
from autograder.autograd_guard import _targets

AGG = 'import matplotlib\nmatplotlib.use("Agg")\nimport matplotlib.pyplot as plt\n'
# What the guard says when it refuses a call: an honest idiom's printout never holds it.
REFUSED = "is not available in a graded run"


@dataclass(frozen=True)
class Idiom:
    exercise: str
    code: str  # the whole answer to the exercise, the idiom written around a right one
    shows: str = ""  # in what the graded run printed


RIGHT = {ex.id: solution_region(ex.id) for ex in assignments.get("backprop_ninja").exercises}

BACKPROP_NINJA = {
    ".item()": Idiom("ex1", RIGHT["ex1"] + "\nassert abs(dlogprobs.sum().item() + 1) < 1e-6\nprint(loss.item())"),
    ".tolist()": Idiom("ex1", RIGHT["ex1"] + "\nprint(db2.tolist()[:3], len(dC.tolist()))"),
    ".numpy()": Idiom("ex1", RIGHT["ex1"] + "\nimport numpy as np\nprint(np.round(dW2.numpy()[:2, :3], 4))"),
    "t.shape in an assert": Idiom(
        "ex1", RIGHT["ex1"] + "\nfor dt, t in [(dlogits, logits), (dh, h), (dW1, W1), (dC, C)]:\n"
        "    assert dt.shape == t.shape, dt.shape"),
    "print(t)": Idiom("ex2", "print(logits[:2])\n" + RIGHT["ex2"] + "\nprint(dlogits)", shows="tensor([["),
    "f-strings of tensors": Idiom(
        "ex2", RIGHT["ex2"] + "\nprint(f'{dlogits[0, :3]} sum {dlogits.sum():.6f} max {dlogits.max()}')",
        shows="sum "),
    # A notebook's display() needs no import in Jupyter; in a run its text goes to the printout.
    "display(t)": Idiom("ex2", RIGHT["ex2"] + "\ndisplay(dlogits[:1, :3])", shows="tensor([["),
    # IPython's own lines, which the kernel runs and Python alone cannot parse.
    "%matplotlib inline": Idiom("ex2", "%matplotlib inline\n" + RIGHT["ex2"] + "\n%time x = dlogits.sum()"),
    "torch.func.vmap": Idiom(
        "ex2", RIGHT["ex2"] + "\nrow_sums = torch.func.vmap(torch.sum)(dlogits)\nassert row_sums.shape == (n,)"),
    "torch.set_printoptions": Idiom(
        "ex2", "torch.set_printoptions(precision=2, sci_mode=False, linewidth=120)\n" + RIGHT["ex2"]
        + "\nprint(dlogits[:2])", shows="tensor([["),
    # The lecture's own look at dlogits in Exercise 2.
    "matplotlib": Idiom(
        "ex2", RIGHT["ex2"] + "\n" + AGG
        + "plt.figure(figsize=(8, 8))\nplt.imshow(dlogits, cmap='gray')\nplt.plot(dlogits[0])\nplt.close()"),
    "repr(t)": Idiom("ex3", RIGHT["ex3"] + "\nshown = repr(dhprebn)\nassert shown.startswith('tensor([['), shown[:20]"),
    "with torch.no_grad():": Idiom("ex3", "with torch.no_grad():\n    " + RIGHT["ex3"]),
    "@torch.no_grad() on a helper": Idiom(
        "ex3", "@torch.no_grad()\ndef batchnorm_backward(dhpreact):\n    "
        + answer("ex3", ("dhprebn = ", "return ")) + "\ndhprebn = batchnorm_backward(dhpreact)"),
    # A batchnorm's input gradient sums to zero over the batch: its output ignores a shift of the input.
    "torch.testing.assert_close": Idiom(
        "ex3", RIGHT["ex3"] + "\ntorch.testing.assert_close(dhprebn.sum(0), torch.zeros(dhprebn.shape[1]), "
        "atol=1e-6, rtol=0)"),
    # The lecture's loop clears the gradients before its backward pass.
    "p.grad = None": Idiom("ex4", "for p in parameters:\n  p.grad = None\n" + RIGHT["ex4"]),
    "printing a 0-d and an integer tensor": Idiom(
        "ex4", RIGHT["ex4"] + "\nprint(loss, Yb[:3], (dhprebn > 0).sum(), f'{loss.item():.4f}')", shows="tensor("),
}  # fmt: skip

EX1 = solution_cell("ex1") + "\n"
EX2 = solution_cell("ex2") + "\n"
MICROGRAD = {
    "print of values": Idiom("ex1", EX1 + "print(dL, dd, df, de, dc, da, db)\nprint('L =', L)", shows="L = "),
    "print of a torch tensor": Idiom(
        "ex1", "import torch\n" + EX1 + "print(torch.tensor([da, db, dc], dtype=torch.float64))", shows="tensor(["),
    "f-strings": Idiom("ex2", EX2 + "print(f'{o=:.6f} {dn=:.6f} dw1={dw1:+.3e}')", shows="dn="),
    "display()": Idiom("ex2", EX2 + "display(o, dn)", shows="\n"),
    "math functions": Idiom("ex2", replaced(EX2, **{"dn = (1 - o**2) * do": "dn = (1 - math.tanh(n)**2) * do"})),
    "math functions in a function": Idiom("ex3", gradf(
        "return [-3*a**2 - 0.5/math.sqrt(a), 3*math.cos(3*b) + 2.5*math.pow(b, 1.5), math.pow(c, -2)]")),
    "repr of a Value": Idiom("ex4", solution_cell("ex4") + "\nprint(repr(Value(2.0) * Value(-3.0)), Value(1.5))",
                             shows="Value(data=-6.0) Value(data=1.5)"),
    "printing inside the Value class": Idiom("ex4", value_class(
        **{"build_topo(self)": "build_topo(self)\nprint(f'backward() through {len(topo)} nodes')"}),
        shows="backward() through "),
    "matplotlib": Idiom("ex5", solution_cell("ex5") + "\n" + AGG
                        + "plt.plot(ys, 'o')\nplt.plot([yout.data for yout in ypred])\nplt.close()"),
    "printing a Value in the loop": Idiom("ex5", training_loop("print(k, loss.data)", "print(k, loss)"),
                                          shows="Value(data="),
}  # fmt: skip


def rows(idioms: dict) -> list[dict]:
    """The idioms by notebook: the k-th of each exercise in the k-th, as {exercise: name}."""
    by_exercise = {}
    for name, idiom in idioms.items():
        by_exercise.setdefault(idiom.exercise, []).append(name)
    return [{ex: names[k] for ex, names in by_exercise.items() if k < len(names)}
            for k in range(max(map(len, by_exercise.values())))]  # fmt: skip


def backprop_ninja_notebook(path: Path, answers: dict) -> Path:
    return write_submission(path, **{**RIGHT, **answers})


def micrograd_notebook(path: Path, answers: dict) -> Path:
    nb = json.loads(MICROGRAD_SOLUTION.read_text())
    for cell in nb["cells"]:
        cell["source"] = answers.get(cell["metadata"].get("nbgrader", {}).get("grade_id"), cell["source"])
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(nb))
    return path


def run_like_a_kernel(path: Path) -> dict:
    """The notebook's cells in order in one namespace, as a kernel runs them with no guard installed: each check
    cell's result, or the error its exercise's cell raised, by exercise."""
    from IPython.core.inputtransformer2 import TransformerManager

    class Shell:  # what the kernel's magics need of get_ipython() here: they show nothing that is graded
        def run_line_magic(self, *args, **kwargs):
            pass

    nb = nbformat.read(path, as_version=4)
    ns, raised, verdicts = {"display": lambda *a, **k: None, "get_ipython": Shell}, {}, {}
    last_check = max(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade"))
    for cell in nb.cells[: last_check + 1]:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if cell.cell_type != "code":
            continue
        # The lecture's 200 training steps take seconds here; check("ex4") judges the loop's last step alone.
        source = cell.source.replace("max_steps = 200 ", "max_steps = 5 ") if grade_id == "ex4_setup" else cell.source
        source = TransformerManager().transform_cell(source)  # %magics, as the kernel turns them into Python
        ns.pop("result", None)
        try:
            exec(compile(source, f"<{grade_id}>", "exec"), ns)
        except Exception as e:
            raised[grade_id] = f"raised {type(e).__name__}: {e}"
        if grade_id.endswith("_check"):
            exercise = grade_id.removesuffix("_check")
            result = ns.get("result")
            verdicts[exercise] = raised.get(exercise) or raised.get(grade_id) or (result.status, result.score)
    return verdicts


@pytest.fixture
def kernel_state(monkeypatch):
    """What a notebook run in this process changes for the tests after it: torch's print options, and the
    micrograd Value class's backward(), which its setup cell replaces with a recording one."""
    monkeypatch.setattr(micrograd_lecture.Value, "backward", micrograd_lecture.Value.backward)
    monkeypatch.setattr(micrograd_selfcheck, "_recorder", micrograd_selfcheck._recorder)
    yield
    torch.set_printoptions(profile="default")


ASSIGNMENTS = {"backprop_ninja": (BACKPROP_NINJA, backprop_ninja_notebook),
               "micrograd": (MICROGRAD, micrograd_notebook)}  # fmt: skip


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_honest_idioms_get_full_marks_graded_and_in_check(grader, tmp_path, kernel_state, assignment):
    """Every idiom: full marks in the graded run, with nothing refused and nothing flagged, and the same full marks
    from the notebook's check(). A failure lists every idiom that went wrong, by name."""
    idioms, notebook = ASSIGNMENTS[assignment]
    max_score = {ex.id: ex.max_score for ex in assignments.get(assignment).exercises}
    wrong = {}
    for k, row in enumerate(rows(idioms)):
        path = notebook(tmp_path / f"{k}" / f"{assignment}.ipynb", {ex: idioms[name].code for ex, name in row.items()})
        graded = {ex.id: ex for ex in grader.grade(path).exercises}
        in_check = run_like_a_kernel(path)
        for ex, name in row.items():
            full, seen = ("passed", max_score[ex]), graded[ex]
            problems = []
            if (seen.status, seen.score, seen.stopped) != (*full, False):
                problems.append(f"graded {seen.status} {seen.score}: {seen.message or seen.checks[0].message}")
            if seen.flags:
                problems.append(f"flagged {seen.flags}")
            if REFUSED in seen.output or idioms[name].shows not in seen.output:
                problems.append(f"printed {seen.output[-300:]!r}")
            if in_check.get(ex) != full:
                problems.append(f"check() gave {in_check.get(ex)}")
            if problems:
                wrong[name] = " | ".join(problems)
    assert wrong == {}


def test_the_guard_replaces_entry_points_never_a_whole_module():
    """A module replaced whole takes the helpers that honest code reaches with it (printing a tensor calls
    torch.autograd.forward_ad.unpack_dual, torch.vmap is torch.func's)."""
    modules = [f"{owner.__name__}.{attr}" for owner, attr, _ in _targets()
               if isinstance(getattr(owner, attr), types.ModuleType)]  # fmt: skip
    assert modules == []


# Honest torch that no graded cell can show (the source check flags .requires_grad_ and .grad), run as the zygote
# runs it: a frozen module, an optimizer's step (whose first use imports modules that decorate methods with
# torch.enable_grad()), torch.func's transforms that are not autograd. Then autograd's doors, each refused by name.
UNDER_THE_GUARD = """
import torch
from autograder import autograd_guard
autograd_guard.install()
net = torch.nn.Linear(3, 2).requires_grad_(False)
p = torch.nn.Parameter(torch.zeros(3))
p.grad = torch.ones(3)
torch.optim.SGD([p], lr=0.5).step()
print(torch.func.vmap(net)(torch.ones(4, 3)).shape, torch.func.functional_call(net, {}, (torch.ones(3),)).shape, p)
print(autograd_guard.end())
doors = [lambda: torch.func.grad(torch.sin)(torch.ones(())),
         lambda: torch.autograd.functional.jacobian(torch.sin, torch.ones(2)),
         lambda: torch.autograd.forward_ad.dual_level().__enter__(),
         lambda: torch.enable_grad().__enter__(),
         lambda: torch.ones(2).requires_grad_()]
for door in doors:
    try:
        door()
    except autograd_guard.AutogradUsed:
        pass
print([call["call"] for call in autograd_guard.end()])
"""


def test_honest_torch_passes_the_guard_and_autograd_does_not():
    run = subprocess.run([sys.executable, "-c", UNDER_THE_GUARD], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.stdout.splitlines() == [
        "torch.Size([4, 2]) torch.Size([2]) Parameter containing:",
        "tensor([-0.5000, -0.5000, -0.5000], requires_grad=True)",
        "[]",
        str(["torch.func.grad", "torch.autograd.functional.jacobian", "torch.autograd.forward_ad.dual_level",
             "torch.enable_grad", "Tensor.requires_grad_"]),
    ], run.stdout + run.stderr
