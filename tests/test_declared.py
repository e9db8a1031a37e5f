"""An assignment declared in a test and graded end to end (declared/): only its declaration is written here.

RMSNorm's backward, as a newcomer would add it: the forward pass in atoms, its inputs, the gradients asked and a
solution. From that the engine writes the notebook, draws the problems, runs answers in the sandbox on the sizes
the student sees and on the hidden ones, and gives the verdicts; the notebook's own check() agrees.
"""
import json
import sys
import types

import nbformat
import pytest
import torch
from nbclient import NotebookClient

from autograder import assignments
from autograder.declared import Declaration, Input, Task, declare
from autograder.declared.forward import DeclarationError, read_forward
from autograder.declared.notebook import source_notebook
from autograder.declared.problems import make_problem
from autograder.grading import Grader
from autograder.sandbox import Limits


def rmsnorm(x, w, dout):
    ms = (x**2).mean(-1, keepdim=True)
    rrms = (ms + 1e-5) ** -0.5
    norm = x * rrms
    out = norm * w
    loss = (out * dout).sum()


SOLUTION = """dnorm = dout * w
dw = (dout * norm).sum((0, 1))
dx = rrms * (dnorm - norm * (dnorm * norm).mean(-1, keepdim=True))"""

STEPS = """dnorm = dout * w
dw = (dout * norm).sum((0, 1))
drrms = (dnorm * x).sum(-1, keepdim=True)
dms = -0.5 * (ms + 1e-5) ** -1.5 * drrms
dx = dnorm * rrms + dms * 2 * x / C"""

RMSNORM = Declaration(
    id="rmsnorm_test",
    title="RMSNorm backward",
    intro="# RMSNorm backward\n\nThe gradients of `loss = (out * dout).sum()` through an RMSNorm.",
    sizes={"B": 2, "T": 3, "C": 8},
    hidden_sizes={"B": 3, "T": 5, "C": 6},
    tasks=(Task("ex1", "Exercise 1: RMSNorm backward", rmsnorm,
                (Input("x", ("B", "T", "C")), Input("w", ("C",), scale=0.1, shift=1.0), Input("dout", ("B", "T", "C"))),
                asks=("x", "w"), points=2, solution=SOLUTION),
           Task("ex2", "Exercise 2: RMSNorm backward, step by step", rmsnorm,
                (Input("x", ("B", "T", "C")), Input("w", ("C",), scale=0.1, shift=1.0), Input("dout", ("B", "T", "C"))),
                asks=("norm", "rrms", "ms", "x", "w"), solution=STEPS)),  # fmt: skip
)


@pytest.fixture
def registered(monkeypatch):
    """The declaration, registered as the course's assignments are (assignments.ASSIGNMENT_MODULES)."""
    module = types.ModuleType("rmsnorm_test_declaration")
    module.ASSIGNMENT = declare(RMSNORM, release="")
    monkeypatch.setitem(sys.modules, module.__name__, module)
    monkeypatch.setitem(assignments.ASSIGNMENT_MODULES, RMSNORM.id, module.__name__)
    return module.ASSIGNMENT


def notebook_with(tmp_path, answer: str | None = None, exercise: str = "ex1", others: str | None = None):
    """The declared notebook, with `answer` in `exercise`'s answer cell (the solution when None; the stub nbgrader
    leaves when ""), and `others` in the other answer cells (their solutions when None)."""
    nb = source_notebook(RMSNORM)
    stub = "# YOUR CODE HERE\nraise NotImplementedError()"
    for cell in nb["cells"]:
        grade_id = cell["metadata"]["nbgrader"]["grade_id"]
        task = next((t for t in RMSNORM.tasks if t.id == grade_id), None)
        if task is not None:
            given = answer if grade_id == exercise else others
            cell["source"] = task.solution if given is None else given or stub
    path = tmp_path / "rmsnorm_test.ipynb"
    path.write_text(json.dumps(nb))
    return path


@pytest.fixture(scope="module")
def grader():
    with Grader(Limits(timeout=60), hidden_seed=4242) as g:
        yield g


def test_the_solution_scores_full_marks_and_the_stub_zero(registered, grader, tmp_path):
    full = grader.grade(notebook_with(tmp_path))
    assert (full.score, full.max_score) == (9, 9), [str(e) for e in full.exercises]
    stub = grader.grade(notebook_with(tmp_path, "", others=""))
    assert stub.score == 0 and {e.status for e in stub.exercises} == {"not answered"}, str(stub.exercises[0])


def test_the_first_wrong_step_is_blamed_with_its_kind_and_the_steps_after_it_follow(registered, grader, tmp_path):
    """A sign slipped in drrms: dms and dx are wrong too, but right given the student's own drrms."""
    slip = STEPS.replace("drrms = (dnorm * x)", "drrms = -(dnorm * x)")
    ex2 = grader.grade(notebook_with(tmp_path, slip, exercise="ex2")).exercises[1]
    verdicts = {c.name: (c.passed, c.locally_correct) for c in ex2.checks}
    assert verdicts == {"norm": (True, True), "rrms": (False, False), "ms": (False, True), "x": (False, True),
                        "w": (True, True)}  # fmt: skip
    assert ex2.checks[1].hint == "the sign is flipped"
    # the summed dimension dropped: the shape, and what to keep
    dropped = STEPS.replace("drrms = (dnorm * x).sum(-1, keepdim=True)", "drrms = (dnorm * x).sum(-1)")
    rrms = grader.grade(notebook_with(tmp_path, dropped, exercise="ex2")).exercises[1].checks[1]
    assert rrms.hint.startswith("the values are right but the shape is [2, 3], not [2, 3, 1]: keep the summed "
                                "dimension with keepdim=True"), rrms.hint  # fmt: skip
    # the mean's 1/C left out of dx's second term: dx alone is blamed (no kind fits a term's slip)
    no_mean = STEPS.replace("dms * 2 * x / C", "dms * 2 * x")
    ex2 = grader.grade(notebook_with(tmp_path, no_mean, exercise="ex2")).exercises[1]
    assert {c.name: (c.passed, c.locally_correct) for c in ex2.checks if not c.passed} == {"x": (False, False)}


def test_a_right_answer_written_otherwise_passes_and_mistakes_fail_with_their_verdict(registered, grader, tmp_path):
    # autograd's formula written out in full: right, another order of operations
    other = ("dnorm = dout * w\ndw = (dout * x * rrms).sum(0).sum(0)\n"
             "dx = dnorm * rrms - x * rrms**3 * (dnorm * x).sum(-1, keepdim=True) / C")  # fmt: skip
    assert grader.grade(notebook_with(tmp_path, other)).exercises[0].score == 4
    # the mean's 1/C forgotten: dx wrong, dw right
    forgot = other.replace(" / C", "")
    ex1 = grader.grade(notebook_with(tmp_path, forgot)).exercises[0]
    assert [(c.name, c.passed) for c in ex1.checks] == [("x", False), ("w", True)]
    # dw not summed over the batch and time: the wrong shape, said as such
    unsummed = SOLUTION.replace("dw = (dout * norm).sum((0, 1))", "dw = dout * norm")
    ex1 = grader.grade(notebook_with(tmp_path, unsummed)).exercises[0]
    assert not ex1.checks[1].passed and "shape" in ex1.checks[1].message, ex1.checks[1].message


def test_a_size_hard_coded_fails_on_the_hidden_sizes_and_is_named(registered, grader, tmp_path):
    hard = SOLUTION.replace("(dnorm * norm).mean(-1, keepdim=True)", "(dnorm * norm).sum(-1, keepdim=True) / 8")
    ex1 = grader.grade(notebook_with(tmp_path, hard)).exercises[0]
    assert [(c.name, c.passed) for c in ex1.checks] == [("x", False), ("w", True)]
    assert "hard-coded 8 at line 3" in ex1.message and "use C" in ex1.message, ex1.message


def test_the_notebook_draws_what_the_grader_draws_and_its_check_agrees(registered, tmp_path):
    """The notebook, run in a real kernel, holds the public problem's values bit for bit (the last exercise's, which
    its last provided cell drew), and its own check() gives the solutions full marks."""
    path = notebook_with(tmp_path)
    nb = nbformat.read(path, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(
        "import numpy as np\nfrom autograder.declared.problems import make_problem\n"
        "from autograder import assignments\n"
        f"p = make_problem(assignments.get('rmsnorm_test').declaration, {RMSNORM.public_seed}, {RMSNORM.sizes}).exercises['ex2']\n"
        "print('SAME', all(torch.equal(p.values[n], globals()[n]) for n in ('x', 'w', 'dout', 'norm', 'loss')))"))  # fmt: skip
    # the kernel registers the declaration as the test did
    nb.cells.insert(1, nbformat.v4.new_code_cell(
        f"import sys; sys.path.insert(0, {str(tmp_path)!r}); import rmsnorm_registration"))  # fmt: skip
    (tmp_path / "rmsnorm_registration.py").write_text(
        "import sys, types\nsys.path.insert(0, %r)\nfrom test_declared import RMSNORM\n"
        "from autograder import assignments\nfrom autograder.declared import declare\n"
        "module = types.ModuleType('rmsnorm_test_declaration')\nmodule.ASSIGNMENT = declare(RMSNORM, release='')\n"
        "sys.modules[module.__name__] = module\nassignments.ASSIGNMENT_MODULES['rmsnorm_test'] = module.__name__\n"
        % str(__import__("pathlib").Path(__file__).parent))  # fmt: skip
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    outputs = {c.metadata.get("nbgrader", {}).get("grade_id"): c.outputs for c in nb.cells if c.cell_type == "code"}
    assert outputs["ex1_check"][-1]["data"]["text/plain"] == "4", outputs["ex1_check"]
    assert outputs["ex2_check"][-1]["data"]["text/plain"] == "5", outputs["ex2_check"]
    assert "SAME True" in nb.cells[-1].outputs[0]["text"]


def test_a_declaration_the_engine_cannot_use_is_refused_in_one_line():
    def twice(x, dout):
        y = x * 2
        y = y + 1
        loss = (y * dout).sum()

    with pytest.raises(DeclarationError, match="y is assigned twice"):
        read_forward(twice)
    same = dict(RMSNORM.__dict__, hidden_sizes={"B": 3, "T": 3, "C": 6})
    with pytest.raises(DeclarationError, match="hidden_sizes must change every size"):
        declare(Declaration(**same), release="")


def test_the_references_are_float64_autograd_from_the_float32_inputs(registered):
    problem = make_problem(RMSNORM, RMSNORM.public_seed, RMSNORM.sizes).exercises["ex1"]
    x, w, dout = (problem.inputs[n].double().requires_grad_(True) for n in ("x", "w", "dout"))
    norm = x * ((x**2).mean(-1, keepdim=True) + 1e-5) ** -0.5
    ((norm * w) * dout).sum().backward()
    assert torch.allclose(torch.from_numpy(problem.truth["x"]), x.grad, rtol=0, atol=1e-12)
    assert problem.grads["x"].dtype.name == "float32" and problem.truth["x"].dtype.name == "float64"
