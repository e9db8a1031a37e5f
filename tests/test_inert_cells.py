"""Several exercises in one job (inert_cells.py, student_process.run_exercises): only cells that can leave nothing
behind share a process, and the verdicts are exactly those of one job per exercise.

- The reader: honest cells as learners write them are inert; each way a cell could reach what the next one sees
  (a module's function or seed, a file, the builtins, a dunder) is not, and that cell gets a job of its own.
- Beneath it, a job of several exercises can change no file (syscall_filter.NoFileChanges).
- The rule the issue sets: on both assignments' samples, the honest idioms, the attack suite and cells written to
  cross from one exercise to the next, every report is identical with and without shared jobs.
"""
import os

import pytest
import torch
import torch.nn.functional as F
from micrograd_corpus import training_loop
from micrograd_corpus import solution_cell as micrograd_cell
from submissions import answer, solution_region, write_submission

from autograder import syscall_filter
from autograder.grading import Grader
from autograder.inert_cells import leaves_nothing_behind
from autograder.sandbox import Limits, Sandbox
from autograder.student_process import DOES_NOTHING, display

pytestmark = pytest.mark.skipif(syscall_filter.probe() is not None, reason="shared jobs need the syscall filters")

NS = {"torch": torch, "F": F, "logits": torch.zeros(4, 3), "n": 4, "Yb": torch.zeros(4, dtype=torch.long),
      "parameters": [torch.zeros(2)], "cmp": DOES_NOTHING, "display": display}  # fmt: skip


def inert(source: str) -> bool:
    return leaves_nothing_behind(source, dict(NS), (DOES_NOTHING, display))


HONEST = {
    "the lecture's": "dlogits = F.softmax(logits, 1)\ndlogits[range(n), Yb] -= 1\ndlogits /= n",
    "exp and sum": "e = logits.exp()\ndlogits = e / e.sum(1, keepdim=True)\ndlogits[range(n), Yb] -= 1\ndlogits /= n",
    "imports already in the notebook": "import torch\nimport torch.nn.functional as F\nfrom math import exp\nx = exp(1.0)",
    "a function of its own": "def softmax(x):\n    e = (x - x.max(1, keepdim=True).values).exp()\n    return e / e.sum(1, keepdim=True)\n"
                             "dlogits = softmax(logits)",
    "a loop and a comprehension": "rows = [logits[i] for i in range(n)]\nfor i, r in enumerate(rows):\n    r.add_(1)",
    "the notebook's cmp and prints": "cmp('logits', logits, logits)\nprint(logits.shape, f'{n:3d}')\ndisplay(logits)",
    "a dtype and einsum": "x = torch.einsum('ij,ij->i', logits, logits).to(torch.float64)",
    "no_grad, an in-place update": "with torch.no_grad():\n    for p in parameters:\n        p.data += -0.1 * p",
    "the stub": "raise NotImplementedError()",
    "try and assert": "try:\n    assert logits.shape == (4, 3)\nexcept AssertionError:\n    pass",
    "does not parse": "dlogits = (",
    "micrograd's Value": micrograd_cell("ex4"),
    "micrograd's softmax class": micrograd_cell("ex6"),
    "a private attribute of its own": "class V:\n    def __init__(self, _children=()):\n        self._prev = set(_children)\n"
                                      "v = V()\nv._prev.add(1)",
}
NOT_INERT = {
    "seeds torch": "torch.manual_seed(0)",
    "changes a default": "torch.set_default_dtype(torch.float64)",
    "replaces a function": "torch.exp = lambda x: x",
    "setattr": "setattr(torch, 'exp', None)",
    "a module's dict": "F.__dict__['softmax'] = None",
    "a module as a value": "t = torch\nt.manual_seed(0)",
    "a module in a list": "[torch][0].manual_seed(0)",
    "a function as a value": "f = torch.exp\nx = f(logits)",
    "imports os": "import os",
    "numpy's random": "import numpy as np\nnp.random.seed(0)",
    "numpy writes": "import numpy as np\nnp.save('x', logits.numpy())",
    "a method that writes": "logits.numpy().tofile('result-ex1.json')",
    "torch reads a file": "torch.from_file('inputs-ex1.arrays')",
    "open": "open('x', 'w')",
    "exec": "exec('x = 1')",
    "getattr": "getattr(torch, 'manual_seed')(0)",
    "a module's private part": "torch._C._set_grad_enabled(True)",
    "a class on a shared base": "class A(torch.Tensor):\n    pass",
    "a metaclass": "class A(metaclass=type):\n    pass",
    "a finalizer": "class A:\n    def __del__(self):\n        print('later')\na = A()",
    "global": "def f():\n    global n\n    n = 1",
    "a dunder": "logits.__class__.foo = 1",
    "a type": "type(logits).foo = 1",
    "a decorator": "@torch.no_grad()\ndef f():\n    pass",
    "with another manager": "with torch.enable_grad():\n    pass",
    "an unknown name": "x = undefined_thing",
    "a builtin that is not on the list": "vars(torch)",
}


@pytest.mark.parametrize("name", HONEST)
def test_honest_cells_share_a_job(name):
    assert inert(HONEST[name])


@pytest.mark.parametrize("name", NOT_INERT)
def test_a_cell_that_could_leave_something_behind_gets_a_job_of_its_own(name):
    assert not inert(NOT_INERT[name])


def test_a_job_of_several_exercises_changes_no_file(tmp_path):
    """The kernel's layer beneath the reader: an open that could write, a rename, an unlink all fail; reading does
    not (the filter is loaded in a child, as a run loads it)."""
    (tmp_path / "there").write_text("x")
    child = os.fork()
    if child == 0:
        code = 0
        try:
            syscall_filter.NoFileChanges().load()
            for attempt in (lambda: open(tmp_path / "new", "w"), lambda: open(tmp_path / "there", "a"),
                            lambda: open(tmp_path / "there", "r+"), lambda: os.unlink(tmp_path / "there"),
                            lambda: os.rename(tmp_path / "there", tmp_path / "moved"),
                            lambda: os.mkdir(tmp_path / "d")):  # fmt: skip
                try:
                    attempt()
                    code |= 1
                except PermissionError:
                    pass
            code |= 2 * (open(tmp_path / "there").read() != "x")
        finally:
            os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.WEXITSTATUS(status) == 0 and (tmp_path / "there").read_text() == "x"
    assert not (tmp_path / "new").exists()


CROSSING = {  # cells that try to reach the next exercise, each around a right answer
    "a random draw each": ("print(torch.randn(1).item())\n" + solution_region("ex1"),
                           "print(torch.randn(1).item())\n" + solution_region("ex2")),
    "a seed then a draw": ("torch.manual_seed(7)\n" + solution_region("ex1"), "print(torch.rand(1).item())\n"
                           + solution_region("ex2")),
    "a patched softmax": ("F.softmax = lambda x, dim: x\n" + solution_region("ex1"), solution_region("ex2")),
    "a file for the next": ("logits.numpy().tofile('stash')\n" + solution_region("ex1"),
                            "import numpy as np\nprint(np.fromfile('stash', dtype='float32')[:2])\n" + solution_region("ex2")),
    "a name for the next": ("shared = 5\n" + solution_region("ex1"), "print(shared)\n" + solution_region("ex2")),
    "a stopped first": ("raise ValueError('stuck')\n" + solution_region("ex1"), solution_region("ex2")),
    "one that exits": (solution_region("ex1") + "\nimport os\nos._exit(0)", solution_region("ex2")),
    "one that loops": ("while True:\n    pass", solution_region("ex2")),
}


def _reports(notebooks, small_words) -> tuple[list, list]:
    """Each notebook's report with shared jobs and with one job per exercise, from one Grader (its references, and
    its zygote's memory, are then the same for both)."""
    original, shared, alone = Sandbox.several_per_job, [], []
    with Grader(Limits(timeout=3), words=small_words) as grader:
        for path in notebooks:
            shared.append(grader.grade(path).to_dict())
            Sandbox.several_per_job = property(lambda self: False)
            try:
                alone.append(grader.grade(path).to_dict())
            finally:
                Sandbox.several_per_job = original
    return shared, alone


def test_shared_jobs_give_the_verdicts_of_one_job_each(small_words, tmp_path):
    """Both assignments' kinds of answers (right, wrong, stopped), honest idioms, cells that try to cross into the
    next exercise, and the attack suite's cells: each report is the same, every field, with shared jobs and
    without."""
    from test_attacks import ATTACKS, attack_notebook

    right = {ex: solution_region(ex) for ex in ("ex1", "ex2", "ex3", "ex4")}
    notebooks = [write_submission(tmp_path / "right.ipynb", **right),
                 write_submission(tmp_path / "wrong.ipynb", **{**right, "ex2": answer("ex2", ("-= 1", "+= 1"))}),
                 write_submission(tmp_path / "stub.ipynb")]  # fmt: skip
    notebooks += [write_submission(tmp_path / f"crossing-{i}.ipynb", **{**right, "ex1": first, "ex2": second})
                  for i, (first, second) in enumerate(CROSSING.values())]  # fmt: skip
    notebooks += [attack_notebook(tmp_path / f"attack-{i}.ipynb", attack, "dlogits = torch.zeros(32, 27)")
                  for i, attack in enumerate(ATTACKS.values()) if "time.sleep" not in attack.code][:6]  # fmt: skip
    shared, alone = _reports(notebooks, small_words)
    for path, a, b in zip(notebooks, shared, alone):
        assert a == b, path.name


def test_micrograd_shares_what_it_can_and_gives_the_same_verdicts(tmp_path):
    from test_micrograd import notebook_with

    wrong = {"ex1": micrograd_cell("ex1").replace("dd = f", "dd = -f"),
             "ex5": training_loop("p.data += -0.1 * p.grad", "p.data += 0.1 * p.grad")}  # fmt: skip
    notebooks = [notebook_with(tmp_path, {}, "right"), notebook_with(tmp_path, wrong, "wrong"),
                 notebook_with(tmp_path, {"ex1": "raise ValueError('x')\n" + micrograd_cell("ex1")}, "stopped")]
    shared, alone = _reports(notebooks, None)
    # micrograd's backward() walks a set of Values, whose order follows their addresses: two runs of one job each
    # already differ in the last bits of a gradient (maxdiff 1.8e-15 against 2.7e-15, measured). Every verdict,
    # flag, hint and message is still held identical; the differences themselves, below 1e-12.
    assert _without_float_noise(shared) == _without_float_noise(alone)


def _without_float_noise(reports: list) -> list:
    import json
    import re

    def walk(value):
        if isinstance(value, dict):
            return {k: (round(v, 12) if k == "maxdiff" and isinstance(v, float) else walk(v)) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, str):
            return re.sub(r"maxdiff at most [0-9.e+-]+", "maxdiff at most (small)", value)
        return value

    return json.loads(json.dumps(walk(reports)))
