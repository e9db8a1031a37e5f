"""The micrograd assignment end to end: its solutions get full marks and its stubs zero through `check`, and a
corpus of realistic answers, right ones written differently and the mistakes this lecture is about, gets exact
verdicts and hints, each graded in the sandbox on the public and the hidden values."""
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.grading import Grader
from autograder.sandbox import Limits

ROOT = Path(__file__).resolve().parent.parent
SOLUTION = ROOT / "solutions" / "micrograd" / "micrograd.ipynb"
RELEASE = ROOT / "exercises" / "micrograd" / "micrograd.ipynb"


def solution_cell(grade_id: str) -> str:
    nb = json.loads(SOLUTION.read_text())
    (cell,) = [c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id]
    return re.sub(r"(?m)^ *### (BEGIN|END) SOLUTION\n", "", "".join(cell["source"]))


def value_class(**replacements) -> str:
    """The solution's Value class with some of its lines replaced: {old line (stripped): new line}."""
    lines = []
    for line in solution_cell("ex4").splitlines():
        stripped = line.strip()
        lines.append(line.replace(stripped, replacements[stripped]) if stripped in replacements else line)
    return "\n".join(lines)


def training_loop(old: str, new: str) -> str:
    source = solution_cell("ex5")
    assert old in source
    return source.replace(old, new)


EX1_RIGHT = "dL = 1.0\ndf = d\ndd = f\nde = dd\ndc = dd\nda = b * de\ndb = a * de\n"
EX2_RIGHT = ("do = 1.0\ndn = do * (1 - o**2)\ndb = dn\ndx1w1x2w2 = dn\ndx1w1 = dn\ndx2w2 = dn\n"
             "dx1 = w1 * dx1w1\ndw1 = x1 * dx1w1\ndx2 = w2 * dx2w2\ndw2 = x2 * dx2w2\n")
EX3_SOLUTION = solution_cell("ex3")
BACKWARD_BFS = """
    def backward(self):
        self.grad = 1.0
        queue = [self]
        while queue:
            node = queue.pop(0)
            node._backward()
            queue.extend(node._prev)
"""

# (exercise, answer, score, {check: expected hint fragment, or "follows", or "hidden"}), the checks named are all
# the ones that fail.
CORPUS = [
    ("ex1", EX1_RIGHT, 7, {}),
    ("ex1", "dL = 1.0\ndd = -2.0\ndf = 4.0\nde = -2.0\ndc = -2.0\nda = 6.0\ndb = -4.0\n", 1,
     {n: "hidden" for n in "d f e c a b".split()}),
    ("ex1", EX1_RIGHT.replace("da = b * de", "da = b").replace("db = a * de", "db = a"), 5,
     {"a": "upstream factor is missing", "b": "upstream factor is missing"}),
    ("ex1", EX1_RIGHT.replace("dd = f", "dd = -f"), 2,
     {"d": "sign is flipped", "e": "follows", "c": "follows", "a": "follows", "b": "follows"}),
    ("ex1", EX1_RIGHT.replace("da = b * de", "da = a * de"), 6, {"a": None}),
    ("ex2", EX2_RIGHT, 10, {}),
    ("ex2", EX2_RIGHT.replace("dn = do * (1 - o**2)", "dn = do * (1 - n**2)"), 1,
     {"n": "at its output", **{k: "follows" for k in "b x1w1x2w2 x1w1 x2w2 x1 w1 x2 w2".split()}}),
    ("ex2", EX2_RIGHT.replace("dn = do * (1 - o**2)", "dn = (1 - o) * do"), 1,
     {"n": "not 1 - o", **{k: "follows" for k in "b x1w1x2w2 x1w1 x2w2 x1 w1 x2 w2".split()}}),
    ("ex2", EX2_RIGHT.replace("dw2 = x2 * dx2w2", "dw2 = 0.0"), 9, {"w2": "hidden"}),
    ("ex2", EX2_RIGHT.replace("dx2 = w2 * dx2w2", "dx2 = w2"), 9, {"x2": "upstream factor is missing"}),
    ("ex3", EX3_SOLUTION.replace("-3*a**2 - 0.5*a**-0.5", "-3*a*a - 1/(2*math.sqrt(a))"), 6, {}),
    ("ex3", EX3_SOLUTION.replace("-3*a**2 - 0.5*a**-0.5", "-3*a**2 - 0.5*a**0.5"), 3, {"gradf": "power rule"}),
    ("ex3", EX3_SOLUTION.replace("(f(a + h, b, c) - f(a - h, b, c)) / (2*h)", "(f(a + h, b, c) - f(a, b, c)) / h")
     .replace("(f(a, b + h, c) - f(a, b - h, c)) / (2*h)", "(f(a, b + h, c) - f(a, b, c)) / h")
     .replace("(f(a, b, c + h) - f(a, b, c - h)) / (2*h)", "(f(a, b, c + h) - f(a, b, c)) / h"), 3,
     {"numerical_grad": "one-sided difference"}),
    ("ex3", EX3_SOLUTION.replace("def numerical_grad(a, b, c):", "def numerical_grad(a, b, c, h=0.001):"), 3,
     {"numerical_grad": "further off than a step"}),
    ("ex3", EX3_SOLUTION.replace("return [-3*a**2 - 0.5*a**-0.5, 3*math.cos(3*b) + 2.5*b**1.5, 1/c**2]",
                                 "return [-12.353553390593273, 10.25699027111255, 0.0625]"), 3, {"gradf": "hidden"}),
    ("ex4", value_class(**{"self.grad += 1.0 * out.grad": "self.grad = self.grad + out.grad",
                           "other.grad += 1.0 * out.grad": "other.grad = out.grad + other.grad"}), 10, {}),
    ("ex4", value_class(**{"self.grad += 1.0 * out.grad": "self.grad = 1.0 * out.grad",
                           "other.grad += 1.0 * out.grad": "other.grad = 1.0 * out.grad"}), 6,
     {"add": "overwritten (=) instead of accumulated", "graphs": "failed above"}),
    ("ex4", value_class(**{"self.grad += other.data * out.grad": "self.grad += other.data",
                           "other.grad += self.data * out.grad": "other.grad += self.data"}), 6,
     {"mul": "upstream factor is missing", "graphs": "failed above"}),
    ("ex4", value_class(**{"self.grad += (1 - t**2) * out.grad": "self.grad += (1 - x**2) * out.grad"}), 6,
     {"tanh": "the output, not the input", "graphs": "failed above"}),
    ("ex4", value_class(**{"self.grad += other * (self.data ** (other - 1)) * out.grad":
                           "self.grad += other * self.data ** other * out.grad"}), 6,
     {"pow": "power rule", "graphs": "failed above"}),
    ("ex4", value_class(**{"self.grad += out.data * out.grad": "self.grad += x * out.grad"}), 6,
     {"exp": "out.data", "graphs": "failed above"}),
    ("ex4", value_class(**{"self.grad = 1.0": "pass"}), 5, {"backward": "self.grad = 1.0", "graphs": "failed above"}),
    ("ex4", solution_cell("ex4").split("    def backward(self):")[0] + BACKWARD_BFS, 5,
     {"backward": "reverse topological order", "graphs": "failed above"}),
    ("ex5", training_loop("p.data += -0.1 * p.grad", "p.data -= 0.05 * p.grad"), 8, {}),
    ("ex5", training_loop("  for p in n.parameters():\n    p.grad = 0.0\n", ""), 4,
     {"step2": "zero_grad", "step3": "zero_grad"}),
    ("ex5", training_loop("p.data += -0.1 * p.grad", "p.data += 0.1 * p.grad"), 6, {"update": "up the gradient"}),
    ("ex5", training_loop("return act.tanh()", "return act"), 2, {"step1": None, "step2": None, "step3": None}),
]


def notebook_with(tmp_path: Path, exercise: str, answer: str, k: int) -> Path:
    nb = json.loads(SOLUTION.read_text())
    for cell in nb["cells"]:
        if cell["metadata"].get("nbgrader", {}).get("grade_id") == exercise:
            cell["source"] = answer
    path = tmp_path / f"answer{k}" / "micrograd.ipynb"
    path.parent.mkdir()
    path.write_text(json.dumps(nb))
    return path


@pytest.fixture(scope="module")
def grader():
    with Grader(Limits(timeout=30), hidden_seed=4242) as g:
        yield g


def test_the_corpus_is_large_enough():
    assert len(CORPUS) >= 25
    assert {ex for ex, *_ in CORPUS} == {"ex1", "ex2", "ex3", "ex4", "ex5"}


@pytest.mark.parametrize("k", range(len(CORPUS)))
def test_each_answer_gets_its_verdict_and_hint(grader, tmp_path, k):
    exercise, answer, score, failing = CORPUS[k]
    report = grader.grade(notebook_with(tmp_path, exercise, answer, k))
    others = [ex for ex in report.exercises if ex.id != exercise]
    assert all(ex.score == ex.max_score for ex in others), [(ex.id, ex.message) for ex in others]
    (ex,) = [ex for ex in report.exercises if ex.id == exercise]
    failed = {c.name: c for c in ex.checks if not c.passed}
    assert set(failed) == set(failing), [(c.name, c.message, c.hint) for c in ex.checks]
    assert ex.score == score
    for name, expected in failing.items():
        check = failed[name]
        if expected == "follows":
            assert check.locally_correct and ex.first_wrong != name
        elif expected == "hidden":
            assert check.message.startswith("right at the values you see, wrong at others") and check.hint is None
            assert "not on the hidden ones" in ex.message
        elif expected is None:
            assert check.hint is None
        else:
            assert expected in (check.hint or check.message), (name, check.message, check.hint)
            assert ex.first_wrong == name or not check.locally_correct


def test_check_gives_the_solutions_full_marks_and_the_stubs_zero():
    for notebook, expected in ((SOLUTION, "41/41"), (RELEASE, "0/41")):
        run = subprocess.run([sys.executable, "-m", "autograder", "check", str(notebook)], capture_output=True,
                             text=True, timeout=300)  # fmt: skip
        assert re.search(rf"\b{expected}\b", run.stdout), run.stdout + run.stderr


def test_an_object_posing_as_a_float_is_not_converted_by_running_its_code(grader, tmp_path):
    # isinstance() believes __class__, and float() would call the object's own __float__ after the run's guards
    # are off: only exact ints and floats are read as numbers.
    sneaky = EX1_RIGHT.replace("da = b * de", (
        "class Sneaky:\n"
        "    __class__ = property(lambda self: float)\n"
        "    def __float__(self):\n"
        "        return b * de\n"
        "da = Sneaky()"))
    report = grader.grade(notebook_with(tmp_path, "ex1", sneaky, 0))
    (ex1,) = [ex for ex in report.exercises if ex.id == "ex1"]
    (failed,) = [c for c in ex1.checks if not c.passed]
    assert failed.name == "a" and failed.message == "da is not a number (it is a Sneaky)"
    assert ex1.score == 6


def test_the_lead_names_the_root_cause_or_each_mistake_as_it_is(grader, tmp_path):
    # Exercise 2's slip at dn also makes dw2 wrong on the hidden values only (x2 = 0 on the public ones): the lead
    # is still the root cause, not the hidden-values line. Exercise 5 has no upstream to judge against: its two
    # failing steps are each a mistake of their own, named as the student wrote them (no d prefix).
    ex2_answer = CORPUS[6][1]
    ex5_answer = CORPUS[24][1]
    nb = json.loads(SOLUTION.read_text())
    for cell in nb["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        cell["source"] = {"ex2": ex2_answer, "ex5": ex5_answer}.get(grade_id, cell["source"])
    path = tmp_path / "micrograd.ipynb"
    path.write_text(json.dumps(nb))
    exercises = {ex.id: ex for ex in grader.grade(path).exercises}
    assert exercises["ex2"].message == ""
    assert exercises["ex2"].layout().lead.startswith("Start at dn: it is the first gradient that is wrong given your own")
    assert exercises["ex5"].layout().lead == "2 checks fail, each a mistake of its own: step2, step3."


def test_the_release_is_nbgraders_of_the_solutions_and_its_points_come_from_the_table(tmp_path):
    import shutil

    import nbformat

    from autograder.assignments import get

    shutil.copytree(ROOT / "course", tmp_path / "course", ignore=shutil.ignore_patterns("gradebook.db", "sample_*"))
    shutil.copytree(ROOT / "solutions", tmp_path / "solutions")
    subprocess.run(["nbgrader", "generate_assignment", "micrograd", "--force"], cwd=tmp_path / "course", check=True,
                   capture_output=True)  # fmt: skip
    fresh = tmp_path / "exercises" / "micrograd" / "micrograd.ipynb"
    cells = [(c.cell_type, c.metadata, c.source) for c in nbformat.read(fresh, as_version=4).cells]
    assert cells == [(c.cell_type, c.metadata, c.source) for c in nbformat.read(RELEASE, as_version=4).cells]
    by_id = {meta["nbgrader"]["grade_id"]: (meta["nbgrader"], source) for _, meta, source in cells}
    for ex in get("micrograd").exercises:
        assert "raise NotImplementedError()" in by_id[ex.id][1]
        assert by_id[f"{ex.id}_check"][0]["points"] == ex.max_score


def test_the_solutions_run_in_a_kernel_and_every_check_cell_gives_full_marks(tmp_path):
    import nbformat
    from nbclient import NotebookClient
    from nbgrader.utils import determine_grade

    nb = nbformat.read(SOLUTION, as_version=4)
    NotebookClient(nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(tmp_path)}}).execute()
    scores = {}
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            score, max_score = determine_grade(cell)
            scores[cell.metadata["nbgrader"]["grade_id"]] = (score, max_score)
            assert any("text/html" in o.get("data", {}) for o in cell.outputs)
    assert scores == {"ex1_check": (7, 7), "ex2_check": (10, 10), "ex3_check": (6, 6), "ex4_check": (10, 10),
                      "ex5_check": (8, 8)}  # fmt: skip


@pytest.mark.parametrize("k", [0, 9, 11, 16, 24])
def test_the_notebooks_check_gives_what_the_grade_gives_on_the_values_the_student_sees(k):
    # The same harness, comparisons and hints as a graded run, on the kernel's own namespace (public values only;
    # none of these answers differs on the hidden ones). Exercise 5's loop runs 20 steps in the notebook and is
    # recorded by the setup cell's record_training().
    from autograder.assignments.micrograd import selfcheck

    exercise, answer, score, failing = CORPUS[k]
    nb = json.loads(SOLUTION.read_text())
    ns = {}
    for cell in nb["cells"]:
        grade_id = cell["metadata"]["nbgrader"]["grade_id"]
        if cell["cell_type"] != "code" or grade_id.endswith("_check") or grade_id == "imports":
            continue
        source = answer if grade_id == exercise else re.sub(r"(?m)^ *### (BEGIN|END) SOLUTION\n", "",
                                                            "".join(cell["source"]))  # fmt: skip
        exec(source.replace("record_training()", "record_training(globals())"), ns)
        if grade_id == exercise:
            break
    result = selfcheck.check(exercise, ns)
    assert result.score == score and not result.hidden_judged
    assert {c.name for c in result.checks if not c.passed} == set(failing)
    for name, expected in failing.items():
        check = next(c for c in result.checks if c.name == name)
        assert expected in (check.hint or check.message)


def test_one_course_grades_both_assignments_and_the_course_not_the_notebook_decides_which(tmp_path):
    # A class graded with the real nbgrader commands into one gradebook. Mallory hands in, in the backprop_ninja
    # slot, the perfect micrograd notebook: its metadata says micrograd, but the course's release is
    # backprop_ninja, so it is graded as that (and scores nothing), never as micrograd's 41 points in
    # backprop_ninja's grade cells. And the reverse in the micrograd slot.
    import shutil

    from courses import SAMPLES, cli, make_course
    from nbgrader.api import Gradebook

    course = make_course(tmp_path)
    subprocess.run(["nbgrader", "generate_assignment", "micrograd", "--force"], cwd=course, check=True,
                   capture_output=True)  # fmt: skip
    # (make demo grades the whole sample class on both; here, what it does not show)
    handed_in = {("bob", "micrograd"): SAMPLES / "bob" / "micrograd" / "micrograd.ipynb",
                 ("mallory", "backprop_ninja"): SAMPLES / "alice" / "micrograd" / "micrograd.ipynb",
                 ("mallory", "micrograd"): SAMPLES / "alice" / "backprop_ninja" / "backprop_ninja.ipynb"}
    for (student, assignment), notebook in handed_in.items():
        folder = course / "submitted" / student / assignment
        folder.mkdir(parents=True)
        shutil.copy(notebook, folder / f"{assignment}.ipynb")
    for assignment in ("micrograd", "backprop_ninja"):
        graded = cli("grade", assignment, "--jobs", "1", cwd=course)
        assert graded.returncode == 0, graded.stdout + graded.stderr
        assert cli("report", assignment, cwd=course).returncode == 0
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        scores = {(s.student.id, a): s.score for a in ("micrograd", "backprop_ninja")
                  for s in gb.find_assignment(a).submissions}  # fmt: skip
        cells = {c.name: c.max_score for c in gb.find_notebook("micrograd", "micrograd").grade_cells}
    assert scores == {("bob", "micrograd"): 24, ("mallory", "backprop_ninja"): 0, ("mallory", "micrograd"): 0}
    assert cells == {"ex1_check": 7, "ex2_check": 10, "ex3_check": 6, "ex4_check": 10, "ex5_check": 8}
    report = (course / "reports" / "micrograd" / "report.csv").read_text().splitlines()
    assert report[0].startswith("student,score,max_score,ex1,ex2,ex3,ex4,ex5,status")
    bob = json.loads((course / "results" / "micrograd" / "bob.json").read_text())
    assert bob["graded_as"] == "micrograd" and bob["max_score"] == 41
    page = (course / "feedback" / "bob" / "micrograd" / "micrograd.html").read_text()
    assert "Score: 24/41" in page and "tanh&#x27;s derivative is 1 - o**2" in page
    # What bob sees of it in a browser: the root cause open, what follows from it folded, no d-prefixed names.
    from test_browser import ARTIFACTS, CHROMIUM, browser_page

    if not CHROMIUM.exists():
        pytest.skip("needs Debian's chromium at /usr/bin/chromium (.ci/run installs it)")
    shots = ARTIFACTS / "micrograd"
    shots.mkdir(parents=True, exist_ok=True)
    with browser_page(tmp_path / "profile") as browser:
        browser.goto((course / "feedback" / "bob" / "micrograd" / "micrograd.html").as_uri())
        browser.screenshot(path=shots / "feedback-bob.png", full_page=True)

        def section(ex_id):
            return browser.locator(f".backprop-ninja-exercise[data-exercise='{ex_id}']")

        def rows_on_screen(ex_id) -> list[str]:
            return [row.get_attribute("data-check") for row in section(ex_id).locator("tr[data-check]").all()
                    if row.is_visible()]  # fmt: skip

        assert section("ex2").locator("p.lead").inner_text().startswith("Start at dn: it is the first gradient")
        assert rows_on_screen("ex2") == ["n"] and "tanh's derivative is 1 - o**2" in section("ex2").inner_text()
        assert section("ex4").locator("p.lead").inner_text() == "2 checks fail, each a mistake of its own: add, graphs."
        assert rows_on_screen("ex5") == ["step2", "step3"]
        assert "dstep2" not in browser.inner_text("body") and "24/41" in browser.inner_text("body")


def test_torchs_autograd_in_an_answer_scores_nothing(grader, tmp_path):
    # The lecture's .grad and .backward() are the Value class's here and are never flagged; torch's autograd is
    # refused in the run and the exercise scores 0, with the line that asked for it.
    answer = "import torch\n\n\n" + EX3_SOLUTION.replace(
        "    return [-3*a**2 - 0.5*a**-0.5, 3*math.cos(3*b) + 2.5*b**1.5, 1/c**2]\n",
        "    x = torch.tensor([a, b, c], dtype=torch.float64, requires_grad=True)\n"
        "    out = -x[0]**3 + torch.sin(3*x[1]) - 1.0/x[2] + x[1]**2.5 - x[0]**0.5\n"
        "    out.backward()\n"
        "    return x.grad.tolist()\n")
    report = grader.grade(notebook_with(tmp_path, "ex3", answer, 0))
    ex3, others = report.exercises[2], [ex for ex in report.exercises if ex.id != "ex3"]
    assert ex3.status == "autograd" and ex3.score == 0 and "line 7: out.backward()" in ex3.message, ex3.message
    assert all(ex.status == "passed" for ex in others)  # their .grad and .backward() are the lecture's Value's
