"""The first lecture's exercise notebook (micrograd_exercises.ipynb), filled in as learners leave it, graded as it
is: each section it asks (our Exercises 3 and 6) gets the verdict autograd gives in float64, the sections it does
not ask are left out of the learner's report, and `convert` carries its answers into our notebook with the same
verdicts."""
import json
import subprocess
import sys

import pytest
from lecture_notebooks import exercises_notebook
from micrograd_corpus import COLAB_OPS

from autograder.assignments.micrograd.lecture_notebook import convert
from autograder.notebook import COURSE, LECTURE, NOT_ASKED, read_submission

GRADF = "def gradf(a, b, c):\n  return [-3*a**2 - 0.5*a**-0.5, 3*cos(3*b) + 2.5*b**1.5, 1/c**2]"
ONE_SIDED = ("h = 0.0001\nnumerical_grad = [(f(2+h, 3, 4) - f(2, 3, 4))/h, (f(2, 3+h, 4) - f(2, 3, 4))/h, "
             "(f(2, 3, 4+h) - f(2, 3, 4))/h]")
SYMMETRIC = ("numerical_grad2 = [(f(2+h, 3, 4) - f(2-h, 3, 4))/(2*h), (f(2, 3+h, 4) - f(2, 3-h, 4))/(2*h), "
             "(f(2, 3, 4+h) - f(2, 3, 4-h))/(2*h)]")
# The ops as Colab learners write them, at the starter's two-space indentation.
OPS = COLAB_OPS.replace("    ", "  ")
RIGHT = dict(gradf=GRADF, numerical=ONE_SIDED, numerical2=SYMMETRIC, ops=OPS)


def ops(old: str, new: str) -> str:
    assert old in OPS, old
    return OPS.replace(old, new)


# name -> (notebook arguments, {exercise: (score, status)}, {check: hint or message fragment} of what fails)
CORPUS = {
    "the Colab notebook, untouched": ({}, {"ex3": (0, "not answered"), "ex6": (0, "not answered")}, {}),
    "every section right, as the lecture's cells ask": (RIGHT, {"ex3": (6, "passed"), "ex6": (10, "passed")}, {}),
    "every section right, section 1 in one cell": (dict(RIGHT, merged=True),
                                                   {"ex3": (6, "passed"), "ex6": (10, "passed")}, {}),
    # gradf with math's cos, imported in its own cell; the estimates in loops over the variables
    "gradf through math, the estimates in loops": (
        dict(RIGHT, gradf="import math\ndef gradf(a, b, c):\n  return [-3*a**2 - 0.5/math.sqrt(a), "
                          "3*math.cos(3*b) + 2.5*b**1.5, c**-2]",
             numerical="h = 0.00001\nnumerical_grad = []\nfor i in range(3):\n  x = [2, 3, 4]\n  x[i] += h\n"
                       "  numerical_grad.append((f(*x) - f(2, 3, 4)) / h)",
             numerical2="numerical_grad2 = [0, 0, 0]\nfor i in range(3):\n  up, down = [2, 3, 4], [2, 3, 4]\n"
                        "  up[i] += h; down[i] -= h\n  numerical_grad2[i] = (f(*up) - f(*down)) / (2*h)"),
        {"ex3": (6, "passed"), "ex6": (10, "passed")}, {}),
    # a, b, c named, and each estimate with a step of its own
    "named a, b, c and a step per estimate": (
        dict(RIGHT, numerical="a, b, c = 2, 3, 4\nh = 1e-6\nnumerical_grad = [(f(a+h, b, c) - f(a, b, c))/h, "
                              "(f(a, b+h, c) - f(a, b, c))/h, (f(a, b, c+h) - f(a, b, c))/h]",
             numerical2="h2 = 1e-4\nnumerical_grad2 = [(f(a+h2, b, c) - f(a-h2, b, c))/(2*h2), "
                        "(f(a, b+h2, c) - f(a, b-h2, c))/(2*h2), (f(a, b, c+h2) - f(a, b, c-h2))/(2*h2)]"),
        {"ex3": (6, "passed"), "ex6": (10, "passed")}, {}),
    # the learner's own f cell, with a slip: the grader's f is the one graded against
    "the learner's f cell changed": (
        dict(RIGHT, own_f="from math import sin, cos\ndef f(a, b, c):\n  return -a**3 + sin(3*b) - 1.0/c + b**2.5"),
        {"ex3": (6, "passed"), "ex6": (10, "passed")}, {}),
    "the symmetric difference in both estimates": (
        dict(RIGHT, numerical="h = 0.0001\n" + SYMMETRIC.replace("numerical_grad2", "numerical_grad")),
        {"ex3": (4, "partial"), "ex6": (10, "passed")}, {"numerical_grad": "is the symmetric difference"}),
    "the symmetric difference divided by h": (
        dict(RIGHT, numerical2=SYMMETRIC.replace("/(2*h)", "/h")),
        {"ex3": (4, "partial"), "ex6": (10, "passed")}, {"numerical_grad2": "divide by 2 * h"}),
    "gradf's values for the estimate": (
        dict(RIGHT, numerical="h = 0.0001\nnumerical_grad = gradf(2, 3, 4)"),
        {"ex3": (4, "partial"), "ex6": (10, "passed")}, {"numerical_grad": "the exact derivative"}),
    "the estimates typed in from their printout": (
        dict(RIGHT, numerical="h = 0.0001\nnumerical_grad = [-12.353612948158158, 10.256998454487103, "
                              "0.06249984374756719]",
             numerical2="numerical_grad2 = [-12.353553391720954, 10.256990256627772, 0.06250000003860032]"),
        {"ex3": (2, "partial"), "ex6": (10, "passed")},
        {"numerical_grad": "never evaluated", "numerical_grad2": "never evaluated"}),
    # the one-sided estimate left as the notebook has it: not answered yet, not a mistake
    "the one-sided estimate still the placeholder": (
        dict(RIGHT, numerical=None, numerical2="h = 0.0001\n" + SYMMETRIC),
        {"ex3": (4, "partial"), "ex6": (10, "passed")},
        {"numerical_grad": "still the notebook's placeholder, [0, 0, 0]: not answered yet"}),
    "gradf typed in from the expected answer, rounded": (
        dict(RIGHT, gradf="def gradf(a, b, c):\n  return [-12.3536, 10.257, 0.0625]"),
        {"ex3": (4, "partial"), "ex6": (10, "passed")}, {"gradf": "gradf returns numbers typed for (2, 3, 4), and rounded"}),
    "gradf with the chain rule's 3 left out": (
        dict(RIGHT, gradf=GRADF.replace("3*cos(3*b)", "cos(3*b)")),
        {"ex3": (4, "partial"), "ex6": (10, "passed")}, {"gradf": "df/db: the chain rule"}),
    "log overwriting its operand's gradient": (
        dict(RIGHT, ops=ops("self.grad += out.grad / self.data", "self.grad = out.grad / self.data")),
        {"ex3": (6, "passed"), "ex6": (9, "partial")}, {"log": "overwritten (=) instead of accumulated"}),
    "mul's gradient a Value": (
        dict(RIGHT, ops=ops("self.grad += other.data * out.grad\n      other.grad += self.data * out.grad",
                            "self.grad += other * out.grad\n      other.grad += self * out.grad")),
        {"ex3": (6, "passed"), "ex6": (5, "partial")},
        {"mul": "other.data", "neg": "other.data", "softmax": "failed above"}),
    "division through pow, as the lecture does": (
        dict(RIGHT, ops=OPS[:OPS.index("  def __truediv__")] + "  def __truediv__(self, other):\n"
             "    return self * other**-1\n\n" + OPS[OPS.index("  def __neg__"):]),
        {"ex3": (6, "passed"), "ex6": (10, "passed")}, {}),
    "exp's derivative without out.grad": (
        dict(RIGHT, ops=ops("self.grad += out.data * out.grad", "self.grad += out.data")),
        {"ex3": (6, "passed"), "ex6": (6, "partial")}, {"exp": "upstream factor is missing", "softmax": "failed above"}),
    "a cell that does not parse, and a print of a name never set": (
        dict(RIGHT, extra=("print(numerical_grad3)", "for i in range(3)\n  print(i)")),
        {"ex3": (6, "passed"), "ex6": (10, "passed")}, {}),
}


@pytest.fixture(scope="module")
def graded(grader, tmp_path_factory):
    folder = tmp_path_factory.mktemp("colab")
    return {name: (path := exercises_notebook(folder / f"{k}.ipynb", **arguments), grader.grade(path))
            for k, (name, (arguments, _, _)) in enumerate(CORPUS.items())}


@pytest.mark.parametrize("name", CORPUS)
def test_each_exercise_notebook_gets_its_exact_verdicts_and_hints(graded, name):
    _, report = graded[name]
    _, expected, failing = CORPUS[name]
    assert report.format == LECTURE and report.assignment == "micrograd"
    assert {e.id: (e.score, e.status) for e in report.exercises} == expected
    checks = {c.name: c for e in report.exercises for c in e.checks if not c.passed and e.status != "not answered"}
    assert set(checks) == set(failing), {n: (c.message, c.hint) for n, c in checks.items()}
    for check, fragment in failing.items():
        assert fragment in (checks[check].hint or checks[check].message), (checks[check].message, checks[check].hint)


def test_the_report_says_where_each_answer_came_from_and_what_the_notebook_would_have_printed(graded):
    _, report = graded["every section right, as the lecture's cells ask"]
    ex3, ex6 = report.exercises
    # cell 4 is f's (its import of cos, which gradf reads); the notebook's own check loops are left out
    assert ex3.answer_from == [{"cell": 4, "execution_count": None, "lines": [2, 2]},
                               {"cell": 5, "execution_count": None, "lines": [1, 2]},
                               {"cell": 6, "execution_count": None, "lines": [4, 5]},
                               {"cell": 7, "execution_count": None, "lines": [4, 4]}]
    # The notebook's own check holds a one-sided estimate at h = 0.0001 to 1e-5 and says WRONG! for a and b: its
    # error is h/2 * f'' (6e-4 along a). Ours holds it to the one-sided difference at that h, which it is.
    assert ("The lecture notebook's own checks would say: gradf OK OK OK; numerical_grad WRONG! WRONG! OK; "
            "numerical_grad2 OK OK OK.") in ex3.notes
    # both estimates at the learner's h = 0.0001: the notebook asks them to confirm the symmetric one is better
    assert any(note.startswith("With the same h") and note.endswith("the symmetric one is better.") for note in ex3.notes)
    assert "logits grads OK OK OK OK" in ex6.notes[0]
    assert "Exercises 1, 2, 4 and 5 are not in it" in str(report)


def test_a_wrong_estimate_is_said_both_ways(graded):
    """Our verdict and the notebook's own: the symmetric difference in numerical_grad passes the notebook's 1e-5
    check (it is a better estimate) but is not what the cell asks for."""
    _, report = graded["the symmetric difference in both estimates"]
    ex3 = report.exercises[0]
    assert "numerical_grad OK OK OK" in ex3.notes[0]
    assert not next(c for c in ex3.checks if c.name == "numerical_grad").passed


def test_the_sections_it_does_not_ask_are_zero_in_a_class_and_absent_for_the_learner(grader, tmp_path):
    path = exercises_notebook(tmp_path / "micrograd_exercises.ipynb", **RIGHT)
    cells = read_submission(path).cells
    assert {ex: cell.status for ex, cell in cells.items() if cell.problem} == dict.fromkeys(
        ("ex1", "ex2", "ex4", "ex5"), NOT_ASKED)
    assert [e.id for e in grader.grade(path).exercises] == ["ex3", "ex6"]
    in_class = grader.grade(path, "micrograd")
    assert [e.id for e in in_class.exercises] == ["ex1", "ex2", "ex3", "ex4", "ex5", "ex6"]
    assert in_class.score == 16 and in_class.max_score == 51


def test_convert_writes_our_notebook_with_the_same_verdicts(grader, tmp_path):
    for k, name in enumerate(("every section right, as the lecture's cells ask", "log overwriting its operand's "
                              "gradient", "the symmetric difference in both estimates")):
        path = exercises_notebook(tmp_path / f"{k}.ipynb", **CORPUS[name][0])
        out = tmp_path / f"{k}" / "micrograd.ipynb"
        assert convert(read_submission(path).cells, out) == ["ex3", "ex6"]
        ours = grader.grade(out)
        assert ours.format == COURSE
        scores = {e.id: (e.score, e.status) for e in ours.exercises}
        assert {ex: scores[ex] for ex in ("ex3", "ex6")} == CORPUS[name][1]
        assert all(scores[ex][1] == "not answered" for ex in ("ex1", "ex2", "ex4", "ex5"))


def test_convert_and_check_from_the_command_line(tmp_path):
    path = exercises_notebook(tmp_path / "micrograd_exercises.ipynb", gradf=GRADF)
    run = subprocess.run([sys.executable, "-m", "autograder", "convert", str(path)], capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
    out = tmp_path / "micrograd.ipynb"
    assert run.stdout.startswith(f"Wrote {out} with your answers to ex3; left as stubs: ex1 (not asked by")
    nb = json.loads(out.read_text())
    assert nb["metadata"]["backprop_ninja"]["assignment"] == "micrograd"


def test_a_notebook_of_neither_lecture_names_both(tmp_path):
    path = tmp_path / "other.ipynb"
    path.write_text(json.dumps({"cells": [{"cell_type": "code", "metadata": {}, "source": "x = 1", "outputs": [],
                                           "execution_count": 1}], "metadata": {}, "nbformat": 4,
                                "nbformat_minor": 5}))  # fmt: skip
    run = subprocess.run([sys.executable, "-m", "autograder", "check", str(path)], capture_output=True, text=True)
    assert run.returncode == 2 and run.stderr.count("\n") == 1
    assert "nor the lecture's makemore_part4_backprop.ipynb, nor the lecture's micrograd_exercises.ipynb" in run.stderr
