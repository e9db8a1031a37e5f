"""Several exercises in one job (student_process.run_exercises): each in a process of its own, forked in the
sandbox from one that runs no student code, under a filter that lets it change no file; the verdicts are exactly
those of one job per exercise.

An earlier design ran the exercises in one process behind an allowlist of what a cell may say; a review broke it
(a generator's frame leads to the whole process, `ndarray.ctypes._ctypes` to ctypes). Those attacks are here, with
the rule the issue sets: on both assignments' samples, cells written to cross into the next exercise and the
attack suite, every report is identical with and without shared jobs.
"""
import os
import re

import pytest
from micrograd_corpus import training_loop
from micrograd_corpus import solution_cell as micrograd_cell
from submissions import answer, solution_region, write_submission

from autograder import syscall_filter
from autograder.grading import Grader
from autograder.sandbox import Limits, Sandbox

pytestmark = pytest.mark.skipif(syscall_filter.probe() is not None, reason="shared jobs need the syscall filters")


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


FRAMES = "g = (v for v in [0])\n"  # a generator's frame: f_builtins, f_globals, f_back to the run's own frames
CROSSING = {  # cells that try to reach the next exercise (or an earlier one's results), each around a right answer
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
    "builtins through a frame": (solution_region("ex1") + "\n" + FRAMES
                                 + "g.gi_frame.f_builtins['print'] = lambda *a, **k: None\n",
                                 "print('hello from ex2')\n" + solution_region("ex2")),
    "torch's default through a frame": (solution_region("ex1") + "\n" + FRAMES
                                        + "g.gi_frame.f_globals['torch'].set_default_dtype(torch.float64)\n",
                                        "print(torch.zeros(1).dtype)\n" + solution_region("ex2")),
    "an earlier result through the frames": (solution_region("ex1"), solution_region("ex2") + "\nimport sys\n"
                                             "f = sys._getframe()\nwhile f:\n    for k in ('results', 'prepared', 'files'):\n"
                                             "        f.f_locals.get(k) and print('reached', k)\n    f = f.f_back\n"),
    "an earlier result as a file": (solution_region("ex1"), "import os\nfor d in ('.', '..'):\n    try:\n"
                                    "        print(sorted(os.listdir(d)))\n        print(open(os.path.join(d, 'result-ex1.json')).read()[:20])\n"
                                    "    except OSError as e:\n        print(type(e).__name__)\n" + solution_region("ex2")),
    "ctypes through numpy": (solution_region("ex1") + "\nc = dlogprobs.numpy().ctypes._ctypes\n"
                             "c.pythonapi.PyRun_SimpleString(b'import torch; torch.set_default_dtype(torch.float64)')\n",
                             "print(torch.zeros(1).dtype)\n" + solution_region("ex2")),
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


def test_micrograd_gives_the_same_verdicts_in_shared_jobs(tmp_path):
    from test_micrograd import notebook_with

    wrong = {"ex1": micrograd_cell("ex1").replace("dd = f", "dd = -f"),
             "ex5": training_loop("p.data += -0.1 * p.grad", "p.data += 0.1 * p.grad")}  # fmt: skip
    notebooks = [notebook_with(tmp_path, {}, "right"), notebook_with(tmp_path, wrong, "wrong"),
                 notebook_with(tmp_path, {"ex1": "raise ValueError('x')\n" + micrograd_cell("ex1")}, "stopped")]
    shared, alone = _reports(notebooks, None)
    # micrograd's backward() walks a set of Values, whose order follows their addresses: two runs of one job each
    # differ in the last bits of a gradient (maxdiff 1.8e-15 against 2.7e-15 in two graders, measured), and so in
    # its `exact` column, the folds' maxdiff and the losses a cell prints (0.13161167818900354 against ...343 in CI).
    # Every score, status, message, flag and hint is held identical, and the printed numbers to 12 digits.
    assert _verdicts(shared) == _verdicts(alone)


def _verdicts(reports: list) -> list:
    keys = ("score", "status", "message", "failure", "flags")
    return [[({k: ex[k] for k in keys}, _to_12_digits(ex["output"]), [(c["name"], c["passed"], c["points"], c["hint"], c["message"]) for c in ex["checks"]])
             for ex in report["exercises"]] for report in reports]  # fmt: skip


def _to_12_digits(printed: str) -> str:
    return re.sub(r"-?\d+\.\d+(e-?\d+)?", lambda number: f"{float(number.group()):.12g}", printed)
