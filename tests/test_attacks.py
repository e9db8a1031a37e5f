"""The attack suite: submissions that try to fool the grader or knock it over, each with the verdict it must get.

Every attack sits in one exercise cell (Exercise 2 unless said otherwise) of a notebook whose other exercises are
answered right, and the test asserts both halves of the rule: the attack gains no point, and it costs the honest
exercises none. The limit attacks run under short limits (5 s, 1 GiB) so the suite stays fast.
"""
import json
import os
import platform
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest
from submissions import ROOT, SOLUTIONS, answer, edit_notebook, solution_region, write_submission

from autograder import namespaces
from autograder.assignments.backprop_ninja import EXERCISE_BY_ID, MAX_SCORE
from autograder.checks import HIDDEN, PUBLIC
from autograder.grading import Grader
from autograder.notebook import NotGradable
from autograder.results import HIDDEN_FAILURE
from autograder.sandbox import Limits, Sandbox, bwrap_works, isolation_kind
from autograder.syscall_filter import probe as syscall_filter_refused

# One task under the syscall allowlist (syscall_filter.py): where it can be had (CI requires it), a call outside
# the allowlist stops the run with a line naming what it tried; elsewhere only the older limits stand.
FILTERED = syscall_filter_refused() is None


def refused(line: int, otherwise: str) -> str:
    return f"your code stopped at line {line} with PermissionError" if FILTERED else otherwise


def refused_naming(what: str, otherwise: str) -> str:
    return f"(a graded run may not {what})" if FILTERED else otherwise

HIDDEN_EXERCISE_MESSAGE = ("right on the values you see but not on the hidden ones: compute every gradient from the "
                           "tensors you are given (no pasted values, no hard-coded sizes)")

# 10 s: long enough that an honest exercise never times out on a loaded 2-core CI machine; two attacks wait it out.
TIMEOUT, MEMORY_GIB = 10, 1
# What a run that ended its own process with exit status 0, before its result could be written, is told.
EXITED = "ended its own process (exit code 0) before its gradients could be read"
RIGHT_EX2 = solution_region("ex2")
GRADER_PACKAGE = "imports the grader's package"  # the message of an exercise that imports it: it scores 0  # dlogits = F.softmax(logits, 1); dlogits[range(n), Yb] -= 1; dlogits /= n


@pytest.fixture(scope="session")
def limited_grader(small_words):
    with Grader(Limits(timeout=TIMEOUT, memory_gib=MEMORY_GIB), words=small_words) as g:
        yield g


@pytest.fixture(scope="session")
def bubblewrap_grader(small_words):
    """Bubblewrap's sandbox, which is in force where the kernel refuses the grader the namespaces itself."""
    if not bwrap_works():
        pytest.skip("bubblewrap cannot run here")
    with Grader(sandboxes={label: Sandbox(Limits(timeout=30)) for label in (PUBLIC, HIDDEN)}, words=small_words) as g:
        yield g


@pytest.fixture(params=["in force", "bubblewrap"])
def world_grader(request):
    """The attacks on the world a run sees, in the sandbox in force here and in bubblewrap's (the fallback)."""
    return request.getfixturevalue("grader" if request.param == "in force" else "bubblewrap_grader")


@dataclass(frozen=True)
class Attack:
    code: str
    status: str  # the attacked exercise's status; its score is always 0
    message: str = ""  # in the attacked exercise's message, or in its first check's message
    flag_line: int | None = None  # an "autograd" flag must name this line of the cell
    exercise: str = "ex2"
    output: str = ""  # in what the attacked cell printed


ATTACKS = {
    # ---- tampering with the comparison: it runs in the grader's process, on plain arrays
    "monkeypatch torch and numpy comparisons": Attack(
        "import numpy as np\n"
        "torch.allclose = torch.equal = lambda *a, **k: True\n"
        "torch.all = lambda *a, **k: torch.tensor(True)\n"
        "torch.Tensor.__eq__ = lambda self, other: torch.ones_like(self, dtype=torch.bool)\n"
        "np.allclose = np.array_equal = lambda *a, **k: True\n"
        "np.abs = lambda x: np.zeros_like(x)\n"
        "dlogits = torch.zeros_like(logits)",
        "failed", "dlogits differs from autograd"),
    "a tensor subclass that says it equals anything": Attack(
        "class Liar(torch.Tensor):\n"
        "    def __eq__(self, other): return True\n"
        "    def allclose(self, *a, **k): return True\n"
        "    def equal(self, *a, **k): return True\n"
        "dlogits = torch.zeros_like(logits).as_subclass(Liar)",
        "failed", "dlogits differs from autograd"),
    "a tensor subclass whose conversions all fail": Attack(
        "class Slippery(torch.Tensor):\n"
        "    @classmethod\n"
        "    def __torch_function__(cls, func, types, args=(), kwargs=None):\n"
        "        raise RuntimeError('no')\n"
        "dlogits = torch.Tensor._make_subclass(Slippery, torch.zeros(32, 27))",
        "failed", "dlogits is not a tensor (it is a Slippery (RuntimeError))"),
    # Its code runs once more when the run reads the value: before the guard's canary, and reported like the rest.
    "a tensor subclass that asks for autograd as its value is read (run time)": Attack(
        "class Late(torch.Tensor):\n"
        "    @classmethod\n"
        "    def __torch_function__(cls, func, types, args=(), kwargs=None):\n"
        "        getattr(torch, 'set_grad_' + 'enabled')(True)\n"
        "dlogits = torch.zeros(32, 27).as_subclass(Late)",
        "autograd", flag_line=4),
    "an object that claims equality and a tensor's shape": Attack(
        "class Anything:\n"
        "    shape, dtype = (32, 27), torch.float32\n"
        "    def __eq__(self, other): return True\n"
        "    def __array__(self, *a, **k): raise RuntimeError('no')\n"
        "dlogits = Anything()",
        "failed", "dlogits is not a tensor (it is a Anything)"),
    "check and cmp redefined in the solution cell": Attack(
        "def check(*a, **k):\n    return 6\ndef cmp(*a, **k):\n    print('exact: True approximate: True')\n"
        "check('ex2')\ndlogits = torch.zeros_like(logits)",
        "failed", "dlogits differs from autograd"),
    # The grader's package cannot be imported in a run; were it reached, the comparison is not in this process.
    "the grader's own comparison patched in the student process": Attack(
        "import importlib\ncompare = importlib.import_module('autograder.com' + 'pare')\n"
        "compare.compare = lambda *a, **k: None\ndlogits = torch.zeros_like(logits)",
        "autograd", GRADER_PACKAGE, flag_line=2),
    "the child's own saving patched to claim a right answer": Attack(
        "import gc, json, numpy as np\n"  # the module the child holds, found without an import
        "array_file = next(m for m in gc.get_objects() if type(m).__name__ == 'module' "
        "and m.__name__ == 'auto' + 'grader.array_' + 'file')\n"
        "real_encode = array_file.encode\n"
        "array_file.encode = lambda arrays: real_encode({'dlogits': np.zeros((32, 27), np.float32)})\n"
        "real_dumps = json.dumps\n"  # the result claims a tensor; the arrays' manifest is still written honestly
        "json.dumps = lambda obj, **k: '{\"values\": {\"dlogits\": {\"kind\": \"tensor\", \"dtype\": \"torch.float32\", "
        "\"shape\": [32, 27]}}, \"losses\": [], \"error\": null, \"autograd_calls\": []}' if 'values' in obj "
        "else real_dumps(obj, **k)\n"
        "dlogits = 'anything'",
        "failed", "dlogits differs from autograd"),
    "values pasted from the public seed": Attack(
        "PASTE_PUBLIC_DLOGITS", "failed", "right on the public seed but not on the hidden seed"),
    # ---- autograd, found in the source (aliases included) or blocked at run time
    "loss.backward() and .grad": Attack(
        "l = logits.clone().requires_grad_()\nF.cross_entropy(l, Yb).backward()\ndlogits = l.grad",
        "autograd", flag_line=2),
    "torch.autograd.grad": Attack(
        "l = logits.clone()\nl.requires_grad = True\ndlogits, = torch.autograd.grad(F.cross_entropy(l, Yb), l)",
        "autograd", flag_line=3),
    "torch imported under another name": Attack(
        "import torch as T\nl = logits.clone()\ndlogits, = T.autograd.grad(F.cross_entropy(l, Yb), l)",
        "autograd", flag_line=3),
    "from torch import autograd as ag": Attack(
        "from torch import autograd as ag\nl = logits.clone()\ndlogits, = ag.grad(F.cross_entropy(l, Yb), l)",
        "autograd", flag_line=1),
    "torch.func.grad": Attack(
        "dlogits = torch.func.grad(lambda l: F.cross_entropy(l, Yb))(logits)", "autograd", flag_line=1),
    "with torch.enable_grad()": Attack(
        "with torch.enable_grad():\n    l = logits.clone()\n    dlogits = l", "autograd", flag_line=1),
    "torch.set_grad_enabled(True)": Attack(
        "torch.set_grad_enabled(True)\n" + RIGHT_EX2, "autograd", flag_line=1),
    "getattr with a computed name (run time)": Attack(
        "l = logits.clone()\nsetattr(l, 'requires' + '_grad', True)\nloss = F.cross_entropy(l, Yb)\n"
        "getattr(loss, 'back' + 'ward')()\ndlogits = torch.zeros_like(logits)",
        "autograd", "uses autograd (line 4: getattr(loss, 'back' + 'ward')())", flag_line=4),
    "a blocked call caught and an honest answer after it": Attack(
        "try:\n    getattr(logits.clone(), 'requires_grad' + '_')()\nexcept Exception:\n    pass\n" + RIGHT_EX2,
        "autograd", flag_line=2),
    "the grader's reference imported": Attack(
        "from autograder.assignments.backprop_ninja.reference import autograd_gradients\ndlogits = torch.zeros_like(logits)",
        "autograd", GRADER_PACKAGE, flag_line=1),
    # The package's modules the run already holds are out of sys.modules: a computed import meets the refusal.
    "the grader's reference imported by a computed name (run time)": Attack(
        "import importlib\nref = importlib.import_module('auto' + 'grader.assignments.backprop_ninja.reference')\n"
        "params = dict(zip(['C', 'W1', 'b1', 'W2', 'b2', 'bngain', 'bnbias'], parameters))\n"
        "dlogits = torch.from_numpy(ref.autograd_gradients(params, Xb, Yb)['logits'])",
        "autograd", GRADER_PACKAGE, flag_line=2),
    # Leaving inference mode turns grad mode on: refused, and with it the whole reflective route of a red-team pass
    # (the guard's own hook fetched to swap its code, the engine's type dug out of object.__subclasses__()).
    "torch.inference_mode(False)": Attack(
        "with torch.inference_mode(False):\n    l = torch.tensor(logits.tolist(), **{'requires_grad': True})\n"
        + RIGHT_EX2, "autograd", flag_line=1),
    "the saved-tensors hook fetched and its code swapped (run time)": Attack(
        "import operator\nag = operator.attrgetter\nC = ag('_C')(torch)\n"
        "pack, unpack = ag('_autograd._top_saved_tensors_default_hooks')(C)(False)\n"
        "saved_code = ag('__code__')(pack)\nsetattr(pack, '__code__', ag('__code__')(lambda tensor: tensor))\n"
        "Engine = [t for t in ag('__subclasses__')(object)() if ag('__name__')(t) == '_EngineBase'][0]\n"
        "with torch.inference_mode(False):\n    l = torch.tensor(logits.tolist(), **{'requires_grad': True})\n"
        "    loss = F.cross_entropy(l, Yb)\n"
        "    dlogits, = Engine().run_backward((loss,), (torch.ones(()),), False, False, (l,), False, False)\n"
        "setattr(pack, '__code__', saved_code)\ndlogits = torch.tensor(dlogits.tolist())",
        "autograd", flag_line=4),
    # The originals are gone from torch's own tables, so digging in them finds nothing to call.
    "the original grad-mode setter dug out of torch.fx (run time)": Attack(
        "import importlib\nnode = importlib.import_module('torch.fx.node')\n"
        "setter = [f for f in node._side_effectful_functions if getattr(f, '__name__', '') == '_set_grad_' + 'enabled'][0]\n"
        "setter(True)\nl = logits.clone()\nsetattr(l, 'requires' + '_grad', True)\n"
        "loss = F.cross_entropy(l, Yb)\ndlogits = torch.zeros_like(logits)",
        "failed", "your code stopped at line 3 with IndexError"),
    "the saved-tensors hook popped by a computed name (run time)": Attack(
        "import importlib\nag = importlib.import_module('torch._C._auto' + 'grad')\n"
        "getattr(ag, '_pop_saved_tensors_' + 'default_hooks')()\n" + RIGHT_EX2,
        "autograd", "torch._C._autograd._pop_saved_tensors_default_hooks", flag_line=3),
    "the autograd engine's run_backward called directly (run time)": Attack(
        "import importlib\nv = importlib.import_module('torch.autograd.vari' + 'able')\n"
        "engine = getattr(v.Variable, '_execution_' + 'engine')\n"
        "getattr(engine, 'run_' + 'backward')((logits.sum(),), (torch.ones(()),), False, False, (), False, ())\n"
        + RIGHT_EX2,
        "autograd", "the autograd engine", flag_line=4),
    "the guard's own closure opened for the grad-mode original (run time)": Attack(
        "switch = torch.set_grad_enabled\n"
        "inner = [c.cell_contents for c in torch._C._set_grad_enabled.__closure__ if callable(c.cell_contents)]\n"
        "original = [c.cell_contents for f in inner if f.__closure__ for c in f.__closure__][0]\n"
        "original(True)\nl = torch.tensor(logits.tolist(), requires_grad=True)\nloss = F.cross_entropy(l, Yb)\n"
        "original(False)\n" + RIGHT_EX2,
        "autograd", "an autograd graph", flag_line=6),
    "forward-mode AD by a computed import (run time)": Attack(
        "import importlib\nfw = importlib.import_module('torch.auto' + 'grad.forward_ad')\n"
        "with fw.dual_level():\n    d = fw.make_dual(logits.clone(), torch.ones_like(logits))\ndlogits = d",
        "autograd", flag_line=3),
    # ---- ending or stalling its own process: 0 here, nothing lost elsewhere
    "an infinite loop": Attack("while True:\n    pass", "failed", f"timed out after {TIMEOUT} s"),
    "one huge allocation": Attack("x = torch.ones(10**10)", "failed", f"used more than {MEMORY_GIB} GiB"),
    "memory eaten step by step": Attack(
        "xs = []\nwhile True:\n    xs.append(torch.ones(2**24))", "failed", f"used more than {MEMORY_GIB} GiB"),
    "a Python list that does not fit": Attack("x = [0] * 10**10", "failed", f"used more than {MEMORY_GIB} GiB"),
    "sys.exit": Attack("import sys\nsys.exit(0)", "failed", "your code stopped at line 2 with SystemExit"),
    "os._exit(0) before assigning anything": Attack("import os\nos._exit(0)", "failed", EXITED),
    "os._exit(3)": Attack("import os\nos._exit(3)", "failed", "ended its own process (exit code 3)"),
    "a segfault": Attack("import ctypes\nctypes.string_at(0)", "failed", "ended its own process (SIGSEGV)"),
    "KeyboardInterrupt": Attack("raise KeyboardInterrupt", "failed", "your code stopped at line 1 with KeyboardInterrupt"),
    "SIGINT to itself": Attack("import os, signal\nos.kill(os.getpid(), signal.SIGINT)", "failed", "KeyboardInterrupt"),
    # Under bubblewrap the zygote is the sandbox's pid 1, which ignores signals from inside: the code goes on.
    "killing the zygote": Attack("import os\nos.kill(os.getppid(), 9)", "failed",
                                 "dlogits was not assigned" if bwrap_works() else "the grading process was killed"),
    # ---- limits hold for the exercise's whole process tree, not per process
    "three processes each under the limit, together over it": Attack(
        "import os, time\nfor _ in range(2):\n    if os.fork() == 0:\n        break\n"
        "hog = torch.ones(150_000_000)\ntime.sleep(3)\n" + RIGHT_EX2,
        "failed", refused_naming("start a process", f"used more than {MEMORY_GIB} GiB")),
    "a fork bomb": Attack(
        "import os\nwhile True:\n    os.fork()", "failed",
        refused(3, "your code stopped at line 3 with BlockingIOError")),
    "a thread bomb": Attack(
        "import threading, time\nwhile True:\n    threading.Thread(target=time.sleep, args=(30,)).start()",
        "failed", "can't start new thread"),
    # Grad mode and the saved-tensor hook stack are per thread: a new thread would start with autograd on.
    "autograd run in a new thread (run time)": Attack(
        "import concurrent.futures as cf\n"
        "def work():\n    getattr(torch, 'set_grad_' + 'enabled')(True)\n    l = logits.clone()\n"
        "    setattr(l, 'requires' + '_grad', True)\n    loss = F.cross_entropy(l, Yb)\n"
        "    getattr(loss, 'back' + 'ward')()\n    return getattr(l, 'gr' + 'ad')\n"
        "dlogits = cf.ThreadPoolExecutor(1).submit(work).result()",
        "failed", refused_naming("start a thread", "")),
    "memory in a memfd, which no count sees": Attack(
        "import os\nfd = os.memfd_create('hoard')\nfor _ in range(24):\n    os.write(fd, bytes(2**26))\n" + RIGHT_EX2,
        "failed", refused(2, "")),
    "a socket (run time)": Attack(
        "import importlib\nsocket = importlib.import_module('soc' + 'ket')\ns = socket.socket(socket.AF_UNIX)\n" + RIGHT_EX2,
        "failed", refused_naming("open a socket", "")),
    # ---- the job folder: nothing the child leaves there can hang, crash or fool the grader
    "a pipe in place of the result file": Attack(
        "import os\nos.mkfifo('result.json')\nos.mkfifo('tensors.arrays')\nos.mkfifo('output.txt')\nos._exit(0)",
        "failed", refused(2, EXITED)),
    "printed output linked to the instructor's solutions": Attack(
        f"import os\nos.symlink({str(SOLUTIONS)!r}, 'output.txt')\nos.symlink({str(SOLUTIONS)!r}, 'result.json')\n"
        "os._exit(0)",
        "failed", refused_naming("make a link", EXITED)),
    # The job root is the grader's: a run may not rename its own folder (nor chmod the root back, FILTERED).
    "the job folder swapped for a link": Attack(
        "import os\nd = os.getcwd()\nos.rename(d, d + '-moved')\nos.symlink('/etc', d)\nos._exit(0)",
        "failed", "your code stopped at line 3 with PermissionError: [Errno 13] Permission denied"),
    "a forged result of the wrong form": Attack(
        "import json, os\nopen('result.json', 'w').write(json.dumps({'values': [1], 'losses': 'x', "
        "'error': {'type': 1}, 'autograd_calls': [1], 'aliases': [['dlogits', '<b>x</b>'], 'x', [1, 2]]}))\n"
        "os._exit(0)",
        "failed", "dlogits was not assigned"),
    "a forged right-looking result": Attack(
        "import json, os, numpy as np\nhead = json.dumps([['dlogits', '<f4', [32, 27]]]).encode()\n"
        "open('tensors.arrays', 'wb').write(b'backprop-ninja arrays 1\\n' + len(head).to_bytes(8, 'little') + head "
        "+ np.zeros((32, 27), np.float32).tobytes())\n"
        "open('result.json', 'w').write(json.dumps({'values': {'dlogits': {'kind': 'tensor', "
        "'dtype': 'torch.float32', 'shape': [32, 27]}}, 'losses': [], 'error': None, 'autograd_calls': []}))\n"
        "os._exit(0)",
        "failed", "dlogits differs from autograd"),
    # The arrays' manifest is checked whole before anything is allocated (array_file.py).
    "an array file claiming a gigabyte it does not hold": Attack(
        "import json, os\nhead = json.dumps([['dlogits', '<f4', [2**28]]]).encode()\n"
        "open('tensors.arrays', 'wb').write(b'backprop-ninja arrays 1\\n' + len(head).to_bytes(8, 'little') + head "
        "+ bytes(2**20))\nopen('result.json', 'w').write(json.dumps({'values': {'dlogits': {'kind': 'tensor', "
        "'dtype': 'torch.float32', 'shape': [2**28]}}, 'losses': [], 'error': None, 'autograd_calls': []}))\n"
        "os._exit(0)",
        "failed", "dlogits is not a tensor"),
    "a result nested past the interpreter's depth": Attack(
        "import os\nopen('result.json', 'w').write('[' * 100_000)\nos._exit(0)", "failed", EXITED),
    "an array file whose zero-sized shape multiplies past numpy's": Attack(
        "import json, os\nhead = json.dumps([['dlogits', '<f4', [0, 2**62, 2**62]]]).encode()\n"
        "open('tensors.arrays', 'wb').write(b'backprop-ninja arrays 1\\n' + len(head).to_bytes(8, 'little') + head)\n"
        "open('result.json', 'w').write(json.dumps({'values': {'dlogits': {'kind': 'tensor', "
        "'dtype': 'torch.float32', 'shape': [0, 2**62, 2**62]}}, 'losses': [], 'error': None, 'autograd_calls': []}))\n"
        "os._exit(0)",
        "failed", "dlogits is not a tensor"),
    "an array file of Python objects": Attack(
        "import json, os\nhead = json.dumps([['dlogits', '|O', [1]]]).encode()\n"
        "open('tensors.arrays', 'wb').write(b'backprop-ninja arrays 1\\n' + len(head).to_bytes(8, 'little') + head "
        "+ bytes(8))\nos._exit(0)",
        "failed", EXITED),
    "the kernel's settings in /sys": Attack(
        "import os\nprint('/sys:', os.path.exists('/sys'))\ndlogits = torch.zeros_like(logits)",
        "failed", "dlogits differs from autograd", output=f"/sys: {not bwrap_works()}"),
    "the zygote's memory read through /proc": Attack(
        "import os\ntry:\n    open(f'/proc/{os.getppid()}/mem', 'rb').read(1)\n    print('read it')\n"
        "except OSError as e:\n    print('refused', type(e).__name__)\ndlogits = torch.zeros_like(logits)",
        "failed", "dlogits differs from autograd", output="refused"),
    # ---- in Exercise 4's loop and Exercise 1's cell too
    "Exercise 4: backward() inside the training loop": Attack(
        answer("ex4", ("db1 = dhprebn.sum(0)", "db1 = dhprebn.sum(0)\nloss.backward()")),
        "autograd", exercise="ex4"),
    "Exercise 1: an infinite loop after the first gradients": Attack(
        answer("ex1", ("dbngain = ", "while True: pass\ndbngain = ")), "failed", f"timed out after {TIMEOUT} s",
        exercise="ex1"),
}


def attack_notebook(path: Path, attack: Attack, pasted: str) -> Path:
    answers = {ex: solution_region(ex) for ex in EXERCISE_BY_ID}
    answers[attack.exercise] = attack.code.replace("PASTE_PUBLIC_DLOGITS", pasted)
    return write_submission(path, **answers)


def assert_verdict(report, attack: Attack):
    """The attack scores 0 with the expected status, message and flag; every honest exercise keeps full marks."""
    for exercise in report.exercises:
        if exercise.id != attack.exercise:
            assert exercise.status == "passed" and exercise.score == exercise.max_score, exercise
    attacked = next(e for e in report.exercises if e.id == attack.exercise)
    assert attacked.score == 0 and all(c.points == 0 for c in attacked.checks), attacked
    assert attacked.status == attack.status, attacked
    if attack.message:
        assert attack.message in attacked.message + " " + attacked.checks[0].message, attacked
    if attack.status == "autograd":
        assert attacked.flags and all(f["flag"] == "autograd" for f in attacked.flags)
        if not attack.message.startswith(GRADER_PACKAGE):
            assert attacked.message.startswith("uses autograd"), attacked.message
        if attack.flag_line is not None:
            assert attack.flag_line in [f["line"] for f in attacked.flags], attacked.flags
    else:
        assert attacked.flags == []
    assert attack.output in attacked.output
    assert report.score == MAX_SCORE - EXERCISE_BY_ID[attack.exercise].max_score
    json.dumps(report.to_dict())  # the verdict is complete and serialisable


def test_static_flags_carry_the_offending_line(grader, tmp_path):
    code = "l = logits.clone().requires_grad_()\nloss = F.cross_entropy(l, Yb)\nloss.backward()\ndlogits = l.grad"
    ex2 = grader.grade(write_submission(tmp_path / "nb.ipynb", ex2=code)).exercises[1]
    flags = {(f["line"], f["code"]) for f in ex2.to_dict()["flags"]}
    assert {(1, "l = logits.clone().requires_grad_()"), (3, "loss.backward()"), (4, "dlogits = l.grad")} <= flags
    assert ex2.message.startswith("uses autograd (line 1: l = logits.clone().requires_grad_())")


def test_runtime_flag_names_the_call_and_line(grader, tmp_path):
    code = "x = 1\nloss = F.cross_entropy(logits, Yb)\nfn = getattr(torch.autograd, 'gr' + 'ad')\nfn(loss, logits)"
    ex2 = grader.grade(write_submission(tmp_path / "nb.ipynb", ex2=code)).exercises[1]
    assert ex2.status == "autograd" and ex2.score == 0
    assert {"flag": "autograd", "line": 4, "code": "fn(loss, logits)", "what": "torch.autograd.grad"} in ex2.flags


def test_the_public_run_never_sees_the_hidden_seed(grader, tmp_path):
    """The run whose printout the student sees holds the public seed's inputs only."""
    code = ("import os\nprint(sorted(os.listdir('.')))\nprint(open('job.json').read())\n"
            "try:\n    print(os.listdir('..'))\nexcept OSError as e:\n    print('job root:', type(e).__name__)\n")
    ex2 = grader.grade(write_submission(tmp_path / "nb.ipynb", ex2=code + RIGHT_EX2)).exercises[1]
    assert ex2.status == "passed"
    listing, job, job_root = ex2.output.splitlines()[:3]
    assert listing == "['inputs.arrays', 'job.json']"
    assert job_root == "job root: PermissionError"  # the grader's folder: a run only passes through it
    assert str(grader.problems[HIDDEN].seed) not in ex2.output
    assert not {"seed", "seeds"} & json.loads(job).keys()


def test_an_error_on_the_hidden_seed_only_keeps_its_text_to_itself(grader, tmp_path):
    code = "if abs(W1[0, 0].item() - %r) > 1e-6:\n    raise ValueError(str(W1.tolist()))\n" % float(
        grader.problems[PUBLIC].params["W1"][0, 0]
    )
    ex2 = grader.grade(write_submission(tmp_path / "nb.ipynb", ex2=code + RIGHT_EX2)).exercises[1]
    assert ex2.score == 0
    assert ex2.message == HIDDEN_EXERCISE_MESSAGE and ex2.checks[0].message == HIDDEN_FAILURE


def test_editing_provided_cells_changes_nothing(grader, tmp_path):
    """Locked cells come from the grader's own copy: a new seed, forward pass, check cell or patch cell is ignored."""
    path = write_submission(tmp_path / "nb.ipynb", **{ex: solution_region(ex) for ex in ("ex1", "ex3", "ex4")},
                            ex2="dlogits = torch.zeros_like(logits)")  # fmt: skip
    edits = {
        "params": ("manual_seed(2147483647)", "manual_seed(7)"),
        "forward": ("loss = ", "logits = torch.zeros_like(logits)\nloss = "),
        "ex2_check": ('result = check("ex2")', "result = 6 # check(\"ex2\")"),
        "ex3_given": ('dhpreact = true_gradient("hpreact")', "dhpreact = torch.zeros(32, 64)"),
    }

    def tamper(nb):
        for cell in nb["cells"]:
            old, new = edits.get(cell["metadata"].get("nbgrader", {}).get("grade_id"), ("", ""))
            source = "".join(cell["source"])
            assert old in source
            cell["source"] = source.replace(old, new, 1)
        patch = "import torch\ntorch.allclose = lambda *a, **k: True\nimport autograder\nautograder.check = lambda *a: 6"
        nb["cells"].insert(3, {"cell_type": "code", "metadata": {}, "source": patch, "outputs": [], "execution_count": None})

    report = grader.grade(edit_notebook(path, tamper))
    assert [e.status for e in report.exercises] == ["passed", "failed", "passed", "passed"]
    assert report.score == MAX_SCORE - EXERCISE_BY_ID["ex2"].max_score


def test_noise_costs_nothing(grader, tmp_path):
    """Warnings, stderr and a 50 MB print: full marks, and the printout is kept only up to the cap."""
    noise = ("import sys, warnings\nwarnings.warn('careful')\nprint('to stderr', file=sys.stderr)\n"
             "sys.stderr.write('more stderr\\n')\nprint('x' * 50_000_000)\n")  # fmt: skip
    report = grader.grade(write_submission(tmp_path / "nb.ipynb", ex1=noise + solution_region("ex1"),
                                           ex2=noise + RIGHT_EX2))  # fmt: skip
    ex1, ex2 = report.exercises[:2]
    assert ex1.status == ex2.status == "passed"
    assert "UserWarning: careful\nto stderr\nmore stderr\nxxx" in ex2.output
    assert ex2.output.endswith("[output truncated]\n")
    assert len(ex2.output) < grader.limits.output_cap + 100


def test_isolation_reading_the_course_and_other_students(world_grader, tmp_path):
    """In a sandbox nothing outside the runtime and the job folder exists; the fallback is said plainly."""
    grader = world_grader
    other_student = tmp_path / "bob" / "backprop_ninja.ipynb"
    other_student.parent.mkdir()
    other_student.write_text("bob's answers")
    # The instructor's solutions, the course folder (where the gradebook lives) and another student's notebook.
    targets = [str(SOLUTIONS), str(ROOT / "course"), str(other_student)]
    probe = (
        "import os, socket\n"
        f"for target in {targets!r}:\n"
        "    try:\n"
        "        os.listdir(target) if os.path.isdir(target) else open(target).read()\n"
        "        print('READ', target)\n"
        "    except OSError as e:\n"
        "        print('BLOCKED', type(e).__name__)\n"
        "try:\n"
        "    print('interfaces', sorted(name for _, name in socket.if_nameindex()))\n"
        "except OSError:\n"
        "    print('no socket')\n"
        "try:\n"
        f"    open({str(ROOT / 'autograder' / 'planted.py')!r}, 'w').write('x')\n"
        "    print('WROTE package')\n"
        "except OSError as e:\n"
        "    print('BLOCKED write', type(e).__name__)\n"
    )
    try:
        report = grader.grade(write_submission(tmp_path / "nb.ipynb", ex2=probe + RIGHT_EX2))
    finally:
        planted = ROOT / "autograder" / "planted.py"
        wrote_package = planted.exists()
        planted.unlink(missing_ok=True)
    ex2 = report.exercises[1]
    # Naming a file of the grader's package scores 0 as an import; opening it from a cell is refused wherever it runs.
    assert ex2.status == "autograd" and ex2.message.startswith("imports the grader's package (line 13:"), ex2.message
    lines = ex2.output.splitlines()
    assert lines[len(targets) + 1] == "BLOCKED write PermissionError" and not wrote_package
    if isolation_kind() != "process":
        kind = grader.sandboxes[PUBLIC].isolation
        assert report.isolation.startswith("bubblewrap sandbox" if kind == "bubblewrap" else "sandbox of namespaces")
        assert lines[: len(targets)] == ["BLOCKED FileNotFoundError"] * len(targets), lines
        assert lines[len(targets)] == ("no socket" if FILTERED else "interfaces ['lo']")  # no network
    else:
        # The fallback is a separate process only: it can read what this user can, and says so.
        assert "separate process only" in report.isolation
        assert lines[: len(targets)] == [f"READ {t}" for t in targets]


def test_leftover_processes_are_killed_and_the_batch_goes_on(limited_grader, tmp_path):
    """A daemon and a small fork storm: all gone when the exercise ends, and the next exercises are graded."""
    marker = f"{os.getpid()}{time.time_ns() % 10**6}"
    storm = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        f"        os.execv('/bin/sleep', ['sleep', '{marker}'])\n"
        "    os._exit(0)\n"
        "for _ in range(5):\n"
        "    os.fork()\n"
        "time.sleep(0.5)\n"
        "dlogits = torch.zeros_like(logits)\n"
    )
    path = write_submission(tmp_path / "nb.ipynb", ex2=storm, ex3=solution_region("ex3"), ex4=solution_region("ex4"))
    report = limited_grader.grade(path)
    assert [e.status for e in report.exercises[1:]] == ["failed", "passed", "passed"]
    sleepers = [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", marker]]
    assert sleepers == []
    for sandbox in limited_grader.sandboxes.values():
        zygote = psutil.Process(sandbox.process.pid)
        tree = [zygote] + zygote.children(recursive=True)
        assert len(tree) <= 3, tree  # bwrap, its pid-namespace init and the zygote; no student process


def test_signals_the_grader_ignores_are_not_ignored_in_a_run(tmp_path):
    """A grader started in the background by a shell ignores SIGINT (and under nohup SIGHUP); a run must not
    inherit that: the student's own SIGINT raises KeyboardInterrupt as in their kernel, and SIGTERM ends the run."""
    import signal
    import subprocess

    code = ("import os, signal\nos.kill(os.getpid(), signal.SIGINT)",
            "import os, signal\ndlogits = torch.zeros_like(logits)\nos.kill(os.getpid(), signal.SIGTERM)")
    path = write_submission(tmp_path / "nb.ipynb", ex2=code[0], ex3=code[1])

    def ignoring():
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)

    run = subprocess.run([sys.executable, "-m", "autograder", "check", str(path), "--json", "--hidden-seed", "4242"],
                         capture_output=True, text=True, timeout=300, preexec_fn=ignoring)  # fmt: skip
    ex2, ex3 = json.loads(run.stdout)["exercises"][1:3]
    assert "your code stopped at line 2 with KeyboardInterrupt" in ex2["checks"][0]["message"]
    assert ex3["status"] == "failed" and "ended its own process (SIGTERM)" in ex3["message"]


BAD_FILES = {
    "missing": (lambda p: p, "no such file"),
    "a folder": (lambda p: (p.mkdir(), p)[1], "a folder, not a notebook"),
    "empty": (lambda p: (p.write_text(""), p)[1], "empty"),
    "binary junk": (lambda p: (p.write_bytes(bytes(range(256)) * 10), p)[1], "not a notebook"),
    "truncated JSON": (lambda p: (p.write_text(SOLUTIONS.read_text()[:5000]), p)[1], "not a notebook"),
    "a JSON list": (lambda p: (p.write_text("[1, 2, 3]"), p)[1], "not a notebook"),
    "another assignment's notebook": (
        lambda p: (p.write_text(json.dumps({"cells": [{"cell_type": "code", "source": "x = 1", "outputs": [],
                                                       "execution_count": None,
                                                       "metadata": {"nbgrader": {"grade_id": "q1"}}}],
                                            "metadata": {}, "nbformat": 4, "nbformat_minor": 5})), p)[1],
        "not a backprop_ninja notebook"),
}  # fmt: skip


@pytest.mark.parametrize("name", BAD_FILES)
def test_bad_files_are_not_gradable_with_one_line(grader, tmp_path, name):
    make, message = BAD_FILES[name]
    with pytest.raises(NotGradable) as error:
        grader.grade(make(tmp_path / "x.ipynb"))
    assert message in str(error.value) and "\n" not in str(error.value)


def test_bad_files_exit_2_from_the_command_line(tmp_path):
    import subprocess

    for name in ("binary junk", "another assignment's notebook"):
        path = BAD_FILES[name][0](tmp_path / f"{name}.ipynb")
        run = subprocess.run([sys.executable, "-m", "autograder", "check", str(path)], capture_output=True, text=True)
        assert run.returncode == 2 and run.stdout == ""
        assert len(run.stderr.strip().splitlines()) == 1 and "Traceback" not in run.stderr


def test_damaged_exercise_cells_are_reported_each_and_the_rest_graded(grader, tmp_path):
    path = write_submission(tmp_path / "nb.ipynb", **{ex: solution_region(ex) for ex in EXERCISE_BY_ID})

    def damage(nb):
        ids = [c["metadata"].get("nbgrader", {}).get("grade_id") for c in nb["cells"]]
        nb["cells"].insert(ids.index("ex1"), json.loads(json.dumps(nb["cells"][ids.index("ex1")])))  # duplicated
        ex2 = nb["cells"][ids.index("ex2") + 1]
        ex2["cell_type"] = "raw"  # re-typed
        del ex2["outputs"], ex2["execution_count"]
        nb["cells"][ids.index("ex3") + 1]["metadata"]["nbgrader"]["grade_id"] = "ex3_mine"  # renamed

    report = grader.grade(edit_notebook(path, damage))
    ex1, ex2, ex3, ex4 = report.exercises
    assert [ex1.status, ex2.status, ex3.status] == ["not gradable"] * 3
    assert "2 cells with grade_id ex1" in ex1.message
    assert "no longer a code cell" in ex2.message
    assert "grade_id ex3 is missing" in ex3.message
    assert ex4.status == "passed" and report.score == ex4.max_score


def test_deleted_exercise_cell(grader, tmp_path):
    path = write_submission(tmp_path / "nb.ipynb", ex1=solution_region("ex1"))
    edit_notebook(path, lambda nb: nb["cells"].remove(
        next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == "ex2")))  # fmt: skip
    ex1, ex2 = grader.grade(path).exercises[:2]
    assert ex1.status == "passed"
    assert ex2.status == "not gradable" and "grade_id ex2 is missing" in ex2.message



def test_doctor_and_verbose_check_say_which_isolation_is_in_force():
    import subprocess

    from submissions import EXERCISES

    expected = {"warm": "Isolation: sandbox of namespaces", "bubblewrap": "Isolation: bubblewrap sandbox",
                "process": "Isolation: separate process only"}[isolation_kind()]  # fmt: skip
    doctor = subprocess.run([sys.executable, "-m", "autograder", "doctor"], capture_output=True, text=True)
    check = subprocess.run([sys.executable, "-m", "autograder", "check", "--verbose", str(EXERCISES)],
                           capture_output=True, text=True)  # fmt: skip
    assert doctor.returncode == 0 and doctor.stdout.startswith(expected), doctor.stdout + doctor.stderr
    assert "Limits: per exercise, over its whole process tree" in doctor.stdout
    assert ("System calls: one task under a seccomp allowlist" if FILTERED else "System calls: no syscall filter") \
        in doctor.stdout
    if isolation_kind() != "process":  # the uid and capabilities a run has, read inside the sandbox
        assert re.search(r"Student code runs as: uid [1-9]\d* .*capabilities: none", doctor.stdout), doctor.stdout
    assert check.returncode == 1 and check.stdout.startswith(expected)


def test_stopping_the_zygote_costs_one_exercise_not_the_batch(limited_grader, tmp_path):
    """SIGSTOP on the process that serves every run. The syscall filter refuses a signal to any process but the
    run itself; under bubblewrap alone the zygote is the sandbox's pid 1, which no process inside can stop. Without
    either, the grader stops waiting, restarts it, and goes on."""
    stop = "import os, signal\nos.kill(os.getppid(), signal.SIGSTOP)\n" + RIGHT_EX2
    path = write_submission(tmp_path / "nb.ipynb", ex2=stop, ex3=solution_region("ex3"), ex4=solution_region("ex4"))
    _, ex2, ex3, ex4 = limited_grader.grade(path).exercises
    if FILTERED:  # a run may signal itself only
        assert ex2.score == 0 and "stopped at line 2 with PermissionError" in ex2.message, ex2
    elif bwrap_works():
        assert ex2.status == "passed", ex2
    else:
        assert ex2.score == 0 and "the grading process was killed" in ex2.message
    assert (ex3.status, ex4.status) == ("passed", "passed")


def test_forged_replies_on_inherited_descriptors_change_nothing(limited_grader, tmp_path):
    """Writing fake zygote replies to every open descriptor, and fake requests to the zygote's request pipe reopened
    through the run's own stdin, cannot put later exercises out of step."""
    forge = (
        "import os, json\n"
        "try:\n"
        "    w = os.open('/proc/self/fd/0', os.O_WRONLY)\n"
        "    os.write(w, (json.dumps({'job': os.getcwd(), 'timeout': 1, 'memory_bytes': 1}) + '\\n').encode() * 4)\n"
        "except OSError:\n"
        "    pass\n"
        "for fd in range(3, 64):\n"
        "    try:\n"
        "        os.write(fd, b'{\"status\": \"finished\"}\\n' * 4)\n"
        "    except OSError:\n"
        "        pass\n"
    )
    path = write_submission(tmp_path / "nb.ipynb", ex2=forge + "dlogits = torch.zeros_like(logits)",
                            ex3=solution_region("ex3"), ex4=solution_region("ex4"))  # fmt: skip
    _, ex2, ex3, ex4 = limited_grader.grade(path).exercises
    assert ex2.score == 0 and (ex3.status, ex4.status) == ("passed", "passed")


@pytest.mark.skipif(isolation_kind() == "process", reason="scratch space is the sandbox's own only in a sandbox")
def test_nothing_one_run_leaves_reaches_the_next(world_grader, tmp_path):
    """Exercise 1's runs stash W1 in every place a later run in the same sandbox could look: files in each
    writable-looking folder, a System V shared memory segment, a POSIX message queue, a key in the kernel's user
    and session keyrings (which belong to the uid, not to a process), an abstract unix socket, a lock on a runtime
    file (seen by a run beside it while it lives). Exercise 2's public
    run (the next job of the public sandbox, as the next student's would be) finds none of them; where the syscall
    filter is in force, none of the IPC stashes could even be made."""
    # Every folder a run can name: its own, the job root, scratch, and the root and the folders bubblewrap makes on
    # it (as a normal user those are tmpfs of the grader's uid), where a planted module would be imported later.
    places = repr(["/tmp", "/dev/shm", ".", "..", "~", "/", "/dev", str(ROOT), str(ROOT.parent), sys.prefix])
    add_key, keyctl = {"x86_64": (248, 250), "aarch64": (217, 219)}[platform.machine()]
    ipc = ("import ctypes, os, socket\nlibc = ctypes.CDLL(None, use_errno=True)\nlibc.shmat.restype = ctypes.c_void_p\n"
           "libc.mq_open.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_int, ctypes.c_void_p]\n"
           "libc.syscall.restype = ctypes.c_long\n")  # fmt: skip
    stash = ipc + (
        "value = str(W1[0, 0].item()).encode()\n"
        f"for d in {places}:\n    try:\n        open(os.path.join(os.path.expanduser(d), 'stash'), 'w').write(value.decode())\n"
        "        open(os.path.join(os.path.expanduser(d), 'stash_module.py'), 'w').write('print(\"found a module\")')\n"
        "    except OSError:\n        pass\n"
        "segment = libc.shmget(0x5eed, 4096, 0o1666)\n"
        "if segment >= 0:\n    ctypes.memmove(libc.shmat(segment, None, 0), value, 12)\n    print('stashed shm')\n"
        "if libc.mq_open(b'/stash', os.O_CREAT | os.O_RDWR, 0o600, None) >= 0:\n    print('stashed mq')\n"
        "for keyring in (-4, -3):  # KEY_SPEC_USER_KEYRING, KEY_SPEC_SESSION_KEYRING\n"
        f"    if libc.syscall({add_key}, b'user', b'stash', value, len(value), keyring) >= 0:\n"
        "        print('stashed key')\n"
        "try:\n    s = socket.socket(socket.AF_UNIX)\n    s.bind('\\0stash')\n    s.listen()\n    print('stashed socket')\n"
        "except OSError:\n    pass\n"
        "import fcntl\ntry:\n    fcntl.flock(open(os.__file__), fcntl.LOCK_EX | fcntl.LOCK_NB)\n    print('stashed lock')\n"
        "except OSError:\n    pass\n"  # a lock on a file every run can open, which a run beside it would see
    )
    look = ipc + (
        f"for d in {places}:\n    try:\n        print('found', open(os.path.join(os.path.expanduser(d), 'stash')).read())\n"
        "    except OSError:\n        pass\n"
        "try:\n    import stash_module\nexcept ImportError:\n    pass\n"
        "if libc.shmget(0x5eed, 0, 0) >= 0:\n    print('found a shared memory segment')\n"
        "if libc.mq_open(b'/stash', os.O_RDONLY, 0, None) >= 0:\n    print('found a message queue')\n"
        "for keyring in (-4, -3):  # KEYCTL_SEARCH (10) for the key by its description\n"
        f"    if libc.syscall({keyctl}, 10, keyring, b'user', b'stash', 0) >= 0:\n"
        "        print('found a key')\n"
        "try:\n    s = socket.socket(socket.AF_UNIX)\n    s.connect('\\0stash')\n    print('found a socket')\n"
        "except OSError:\n    pass\n"
    )
    path = write_submission(tmp_path / "nb.ipynb", ex1=stash, ex2=look + RIGHT_EX2)
    ex1, ex2 = world_grader.grade(path).exercises[:2]
    assert ex2.status == "passed"
    assert "found" not in ex2.output, ex2.output
    if FILTERED:
        assert "stashed" not in ex1.output, ex1.output


def test_a_failure_on_the_hidden_seed_is_named_by_kind_only(grader, tmp_path):
    """A value built from the hidden seed's inputs (here, a class named after W1) never appears in a message."""
    smuggle = (
        RIGHT_EX2 + "\n"
        f"if abs(W1[0, 0].item() - {float(grader.problems[PUBLIC].params['W1'][0, 0])!r}) > 1e-6:\n"
        "    dlogits = type('W1_' + '_'.join(f'{v:.6f}' for v in W1[0, :3].tolist()), (), {})()\n"
    )
    ex2 = grader.grade(write_submission(tmp_path / "nb.ipynb", ex2=smuggle)).exercises[1]
    check = ex2.checks[0]
    assert not check.passed
    assert check.message == HIDDEN_FAILURE
    assert "W1_" not in json.dumps(ex2.to_dict())


@pytest.mark.skipif(os.environ.get("BACKPROP_NINJA_REQUIRE_BWRAP") != "1", reason="only where CI requires the sandbox")
def test_the_sandbox_is_what_ci_tests():
    """CI sets BACKPROP_NINJA_REQUIRE_BWRAP=1: a machine where bubblewrap or the syscall filter cannot run fails
    here, instead of the attack suite passing quietly against the fallback."""
    assert bwrap_works(), "bubblewrap is required here but cannot run: install it, or allow user namespaces"
    assert isolation_kind() == "warm", f"the warm sandbox is refused here: {namespaces.available()}"
    assert FILTERED, f"the syscall filter is required here but cannot be had: {syscall_filter_refused()}"


# Each is run on the hidden seed only (the code checks W1 against the public value), after a right answer: whatever
# it does there, the student must see exactly what a plain right or wrong answer on the hidden seed shows. An error
# or a memory error raised after the answer leaves the answer right; the others leave it wrong or unread.
HIDDEN_CHANNELS = {
    "an exit code": ("import os\nos._exit(121)", "wrong"),
    "a signal": ("import os, signal\nos.kill(os.getpid(), signal.SIGSEGV)", "wrong"),
    "an error holding its values": ("raise ValueError(str(W1[0].tolist()))", "right"),
    "a printout of its values": ("print(W1.tolist())\ndlogits = dlogits * 2", "wrong"),
    "running out of memory": ("hog = torch.ones(10**10)", "right"),
    "a time that depends on its values": ("import time\ntime.sleep(min(abs(W1[0, 0].item()), 1.0))", "right"),
    "a forged result with values in every field": (
        "import json, os\nv = str(W1[0, :3].tolist())\n"
        "json.dump({'values': {'dlogits': {'kind': 'other', 'type': v, 'has_graph': True}}, 'losses': [1e308],\n"
        "           'error': {'type': 'E' + v, 'message': v, 'line': int('9' * 2000), 'memory': True},\n"
        "           'autograd_calls': [{'call': v, 'line': 1}]}, open('result.json', 'w'))\nos._exit(0)", "wrong"),
    "an autograd call": ("getattr(logits.clone(), 'requires_grad' + '_')()", "wrong"),
}


def test_the_hidden_seed_answers_one_bit_per_check(limited_grader, tmp_path):
    public_w = float(limited_grader.problems[PUBLIC].params["W1"][0, 0])

    def on_hidden_seed(code):
        body = "\n".join("    " + line for line in code.splitlines())
        return f"{RIGHT_EX2}\nif abs(W1[0, 0].item() - {public_w!r}) > 1e-6:\n{body}\n"

    def seen(code, name):
        ex2 = limited_grader.grade(write_submission(tmp_path / f"{name}.ipynb", ex2=code)).exercises[1].to_dict()
        del ex2["review"]  # what the source itself shows (static_checks.review_flags), the same on every seed
        return ex2

    plain = {"right": seen(on_hidden_seed("pass"), "right"), "wrong": seen(on_hidden_seed("dlogits = dlogits * 2"), "wrong")}
    assert plain["right"]["score"] == 6 and plain["wrong"]["message"] == HIDDEN_EXERCISE_MESSAGE
    differs = {name: seen(on_hidden_seed(code), str(i)) for i, (name, (code, _)) in enumerate(HIDDEN_CHANNELS.items())}
    assert {name: seen_ for name, seen_ in differs.items() if seen_ != plain[HIDDEN_CHANNELS[name][1]]} == {}


@pytest.mark.skipif(isolation_kind() == "process", reason="privileges inside the sandbox exist only in a sandbox")
def test_no_privileges_in_the_sandbox_even_as_root(world_grader, tmp_path):
    """Remounting, writing into the installed package or the venv, reading the zygote's memory and writing on
    its pipes, and writing a sysctl: all fail, whoever runs the grader."""
    package = ROOT / "autograder" / "compare.py"
    probe = (
        "import ctypes, os\n"
        "status = dict(l.split(':', 1) for l in open('/proc/self/status').read().splitlines())\n"
        "print('uid', os.getuid(), 'caps', status['CapEff'].strip(), status['CapPrm'].strip())\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        f"print('remount', libc.mount(b'none', {str(ROOT / 'autograder')!r}.encode(), None, 32 | 4096, None))\n"
        "def attempt(name, action):\n"
        "    try:\n        action()\n        print(name, 'DONE')\n"
        "    except OSError as e:\n        print(name, 'refused')\n"
        f"attempt('package', lambda: open({str(package)!r}, 'a'))\n"
        f"attempt('venv', lambda: open({sys.prefix + '/pyvenv.cfg'!r}, 'a'))\n"
        "attempt('zygote memory', lambda: open('/proc/1/mem', 'rb').read(1))\n"
        "attempt('zygote pipe', lambda: open('/proc/1/fd/1', 'w').write('{}'))\n"
        "attempt('supervisor pipe', lambda: [open(f'/proc/{os.getppid()}/fd/{fd}', 'w') for fd in range(3, 12)])\n"
        "attempt('sysctl', lambda: open('/proc/sys/kernel/core_pattern', 'w').write('|/bin/sh'))\n"
    )
    ex2 = world_grader.grade(write_submission(tmp_path / "nb.ipynb", ex2=probe + RIGHT_EX2)).exercises[1]
    assert ex2.status == "autograd" and ex2.message.startswith("imports the grader's package"), ex2  # it names it
    lines = ex2.output.splitlines()
    uid, eff, prm = lines[0].split()[1], lines[0].split()[3], lines[0].split()[4]
    assert uid != "0" and int(eff, 16) == 0 and int(prm, 16) == 0, lines[0]
    assert lines[1] == "remount -1"
    assert lines[2:] == [f"{what} refused" for what in ("package", "venv", "zygote memory", "zygote pipe",
                                                        "supervisor pipe", "sysctl")], lines  # fmt: skip


def _readable_by_others(path: str) -> bool:
    """Whether a user other than the owner can reach and read `path` (each folder on the way searchable)."""
    path = Path(path).resolve()
    return all(os.stat(folder).st_mode & 0o001 for folder in path.parents) and os.stat(path).st_mode & 0o005 == 0o005


@pytest.mark.skipif(os.geteuid() != 0 or not all(map(_readable_by_others, (sys.base_prefix, sys.prefix, str(ROOT)))),
                    reason="needs root to switch users, and a Python runtime that users other than its owner can read")
def test_check_as_a_normal_user(tmp_path):
    """The same grading as a normal user: bubblewrap makes a user namespace in which nothing has a capability."""
    import shutil
    import subprocess
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="backprop-ninja-user-"))  # pytest's own folders are the owner's only
    notebook = home / "nb.ipynb"
    shutil.copy(SOLUTIONS, notebook)
    shutil.chown(home, 65534, 65534)
    shutil.chown(notebook, 65534, 65534)
    as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
    env = {**os.environ, "HOME": str(home), "TMPDIR": str(home)}
    doctor = subprocess.run(as_nobody + [sys.executable, "-m", "autograder", "doctor"], capture_output=True,
                            text=True, env=env)  # fmt: skip
    check = subprocess.run(as_nobody + [sys.executable, "-m", "autograder", "check", "--json", str(notebook)],
                           capture_output=True, text=True, env=env)  # fmt: skip
    assert doctor.returncode == 0 and "capabilities: none" in doctor.stdout, doctor.stdout + doctor.stderr
    shutil.rmtree(home)
    report = json.loads(check.stdout)
    assert report["score"] == MAX_SCORE and "a user namespace of its own" in report["isolation"], report["isolation"]


def test_forged_aliases_name_only_the_exercises_own_gradients():
    from autograder.run_result import clean_result

    forged = {"aliases": [["dlogits", "<img src=x>"], ["dlogits", "dlogits"], "junk", [1, 2], ["dh", "dW2", "db2"],
                          ["dh", "dW2"]]}  # fmt: skip
    assert clean_result(forged, {"dh", "dW2", "dlogits"}, 10)["aliases"] == [["dh", "dW2"]]


MICROGRAD_ATTACKS = {
    # (exercise, code, status, in the message): the same rules in the second assignment.
    "the lecture's complete Value imported": (
        "ex4", "from autograder.assignments.micrograd.lecture import Value\n", "autograd",
        "imports the grader's package (line 1: from autograder.assignments.micrograd.lecture import Value)"),
    "the lecture's complete Value imported by a computed name (run time)": (
        "ex4", "import importlib\nValue = importlib.import_module('auto' + 'grader.assignments.micrograd.lecture').Value\n",
        "autograd", "imports the grader's package (line 2: "),
    # The namespace's helpers lead nowhere: their globals hold nothing of the grader's (a lambda's would).
    "the lecture's Value through check's globals (run time)": (
        "ex4", "Value = getattr(check, '__globals__')['lecture'].Value\n", "failed",
        "your code stopped at line 1 with KeyError: 'lecture'"),
    # Its files are not the cell's to open, whatever the path (a literal one is flagged as an import).
    "the lecture's source read and run (run time)": (
        "ex4", f"import glob\nd = {{}}\np = glob.glob({str(ROOT)!r} + '/*/assignments/micrograd/lec*.py')[0]\n"
        "exec(open(p).read(), d)\nValue = d['Value']\n", "failed",
        "your code stopped at line 4 with PermissionError: [Errno 13] the grader's package is not readable"),
    "the lecture's file loaded as a module (run time)": (
        "ex4", f"import importlib.util, glob\np = glob.glob({str(ROOT)!r} + '/*/assignments/micrograd/lec*.py')[0]\n"
        "spec = importlib.util.spec_from_file_location('lec', p)\nm = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(m)\nValue = m.Value\n", "failed",
        "your code stopped at line 5 with PermissionError: [Errno 13] the grader's package is not readable"),
    "torch's autograd in a new thread (run time)": (
        "ex1", "import threading\nout = {}\ndef work():\n    getattr(torch, 'set_grad_' + 'enabled')(True)\n"
        "    out['dL'] = -2.0\nimport torch\nt = threading.Thread(target=work)\nt.start()\nt.join()\n"
        "dL, dd, de, dc, da, db, df = 1.0, out['dL'], -2.0, -2.0, 6.0, -4.0, 4.0\n",
        "failed", "your code stopped at line 8 with RuntimeError: can't start new thread (a graded run may not start a thread)"),
}


@pytest.mark.skipif(not FILTERED, reason="one task per run needs the syscall filter")
def test_the_second_assignment_holds_the_same_rules(tmp_path):
    from micrograd_corpus import SOLUTION

    with Grader(Limits(timeout=TIMEOUT), hidden_seed=4242) as grader:
        wrong = {}
        for k, (name, (exercise, code, status, message)) in enumerate(MICROGRAD_ATTACKS.items()):
            nb = json.loads(SOLUTION.read_text())
            for cell in nb["cells"]:
                if cell["metadata"].get("nbgrader", {}).get("grade_id") == exercise:
                    cell["source"] = code
            path = tmp_path / str(k) / "micrograd.ipynb"
            path.parent.mkdir()
            path.write_text(json.dumps(nb))
            report = grader.grade(path)
            for ex in report.exercises:
                seen = (ex.status, ex.score, message in ex.message)
                expected = (status, 0.0, True) if ex.id == exercise else ("passed", ex.max_score, False)
                if seen != expected:
                    wrong[f"{name}: {ex.id}"] = (seen, ex.message)
        assert wrong == {}


def test_no_hidden_run_lies_between_two_public_runs(limited_grader, tmp_path):
    """A red-team pass timed the hidden run of Exercise 1 between two clocks the student reads: Exercise 1's public
    run raised time.time() after its answer (which costs nothing), Exercise 2's raised it before its own, and the
    hidden code slept as long as it chose. Every public run now comes before any hidden one."""
    public_w = float(limited_grader.problems[PUBLIC].params["W1"][0, 0])
    slept = 4
    ex1 = (solution_region("ex1") + f"\nimport time\nif abs(W1[0, 0].item() - {public_w!r}) > 1e-6:\n"
           f"    time.sleep({slept})\nraise ValueError('T%.3f' % time.time())")  # fmt: skip
    ex2 = "import time\nstarted = time.time()\n" + RIGHT_EX2 + "\nraise ValueError('T%.3f' % started)"
    report = limited_grader.grade(write_submission(tmp_path / "nb.ipynb", ex1=ex1, ex2=ex2))
    ex1_seen, ex2_seen = report.exercises[:2]
    assert (ex1_seen.score, ex2_seen.score) == (ex1_seen.max_score, ex2_seen.max_score)  # a raise after the answer
    clocks = [float(re.search(r"ValueError: T([0-9.]+)", e.message).group(1)) for e in (ex1_seen, ex2_seen)]
    assert clocks[1] - clocks[0] < slept - 1, clocks  # the hidden sleep is not between them
