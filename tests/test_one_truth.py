"""One check, one truth: the same answers through the four views a verdict reaches people by (the notebook's
check() in a real kernel, nbgrader's Validate, `backprop-ninja check`, a class graded into the gradebook) give the
same verdict, lead and rows, for each kind of answer: right, wrong, stopped at a line, not answered, untouched,
partial, and wrong only at the hidden values (which the notebook cannot know, and says it cannot)."""
import json
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest
from courses import COURSE_SEED, cli
from nbclient import NotebookClient
from submissions import ROOT

from autograder.render import points

STUB = "# YOUR CODE HERE\nraise NotImplementedError()"
NOT_ANSWERED = "# I will come back to this one\n"
# What the kernel's check cell prints beside what the notebook shows: its verdict, as the grade's JSON has it.
VERDICT = "\nimport json as _json\nprint('VERDICT' + _json.dumps(result.to_dict()))\n"


def solution(assignment: str, grade_id: str) -> str:
    nb = nbformat.read(ROOT / "solutions" / assignment / f"{assignment}.ipynb", as_version=4)
    source = next(c.source for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)
    return re.sub(r"(?m)^ *### (BEGIN|END) SOLUTION\n?", "", source)


def replaced(assignment: str, grade_id: str, old: str, new: str) -> str:
    source = solution(assignment, grade_id)
    assert old in source, (grade_id, old)
    return source.replace(old, new)


# Each assignment's cases, an exercise each: (grade_id, answer or None for the release's own cell, kind).
CASES = {
    "micrograd": [
        ("ex1", "dL = 1.0\ndf = d\ndd = f_value\nde = dd\ndc = dd\nda = b * de\ndb = a * de\n", "stopped at line 3"),
        ("ex2", replaced("micrograd", "ex2", "dw2 = x2 * dx2w2", "dw2 = 0.0"), "wrong at hidden values only"),
        ("ex3", replaced("micrograd", "ex3", "3*cos(3*b)", "cos(3*b)"), "partial"),
        ("ex4", None, "untouched"),
        ("ex5", NOT_ANSWERED, "not answered"),
        ("ex6", replaced("micrograd", "ex6", "self.grad += (1 / self.data) * out.grad", "self.grad = (1 / self.data) * out.grad"),
         "wrong"),
    ],
    "micrograd-2": [
        ("ex1", replaced("micrograd", "ex1", "dd = f * dL", "dd = -f * dL"), "wrong, the rest following"),
        ("ex2", replaced("micrograd", "ex2", "dx2 = w2 * dx2w2", "dx2 = w2"), "wrong"),
        ("ex3", solution("micrograd", "ex3"), "right"),
    ],
    "backprop_ninja": [
        ("ex1", "dlogprobs = torch.zeros_like(logprobs)\ndlogprobs[range(n), Yb] = -1.0/n\ndprobs = undefined * 2\n",
         "stopped at line 3"),
        ("ex2", solution("backprop_ninja", "ex2"), "right"),
        ("ex3", NOT_ANSWERED, "not answered"),
        ("ex4", None, "untouched"),
    ],
    "backprop_ninja-2": [
        ("ex1", replaced("backprop_ninja", "ex1", "dhpreact = (1.0 - h**2) * dh", "dhpreact = (1.0 - hpreact**2) * dh"),
         "wrong, the rest following"),
        ("ex2", replaced("backprop_ninja", "ex2", "dlogits /= n", "dlogits /= 32"), "wrong at hidden values only"),
        ("ex4", replaced("backprop_ninja", "ex4", "dbnbias = dhpreact.sum(0, keepdim=True)",
                         "dbnbias = dhpreact.sum(0)"), "partial"),
    ],
}


def notebook(case: str) -> nbformat.NotebookNode:
    assignment = case.split("-")[0]
    nb = nbformat.read(ROOT / "exercises" / assignment / f"{assignment}.ipynb", as_version=4)
    answers = {grade_id: answer for grade_id, answer, _ in CASES[case]}
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if answers.get(grade_id) is not None:
            cell.source = answers[grade_id]
        elif grade_id in ("ex1", "ex2", "ex3", "ex4", "ex5", "ex6") and grade_id not in answers:
            cell.source = solution(assignment, grade_id)  # the exercises this case does not ask: right
    return nb


def kernel_verdicts(nb, tmp_path) -> dict:
    """check() in a real kernel, each check cell run as the notebook has it, then its verdict printed."""
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id", "").endswith("_check"):
            cell.source += VERDICT
    NotebookClient(nb, kernel_name="python3", timeout=600, allow_errors=True,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()  # fmt: skip
    verdicts = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            for line in output.get("text", "").splitlines() if output.get("output_type") == "stream" else []:
                if line.startswith("VERDICT"):
                    verdict = json.loads(line.removeprefix("VERDICT"))
                    verdicts[verdict["id"]] = verdict
    return verdicts


def seen(verdict: dict) -> dict:
    """What a person reads of an exercise: its score, status, lead and rows, and where to start."""
    layout = verdict["layout"]
    lead = layout["lead"].replace(" (your grade also checks hidden ones)", " and on hidden ones")
    return {"score": verdict["score"], "status": verdict["status"], "lead": lead, "rows": layout["rows"],
            "first_wrong": verdict["first_wrong"]}  # fmt: skip


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """An nbgrader course with both assignments generated, each case handed in by a student of its own."""
    root = tmp_path_factory.mktemp("one-truth")
    shutil.copytree(ROOT / "course", root / "course", ignore=shutil.ignore_patterns(
        "gradebook.db", "submitted", "autograded", "feedback", "results", "reports", "sample_submissions"))  # fmt: skip
    shutil.copytree(ROOT / "solutions", root / "solutions")
    shutil.copytree(ROOT / "exercises", root / "exercises")
    course = root / "course"
    for assignment in ("backprop_ninja", "micrograd"):
        subprocess.run(["nbgrader", "generate_assignment", assignment, "--force"], cwd=course, check=True,
                       capture_output=True)  # fmt: skip
    for case in CASES:
        assignment = case.split("-")[0]
        folder = course / "submitted" / case.replace("_", "") / assignment
        folder.mkdir(parents=True)
        nbformat.write(notebook(case), folder / f"{assignment}.ipynb")
    for assignment in ("backprop_ninja", "micrograd"):
        graded = cli("grade", assignment, "--jobs", "2", cwd=course)
        assert graded.returncode == 0, graded.stdout + graded.stderr
    return course


@pytest.mark.parametrize("case", CASES)
def test_the_four_views_give_one_verdict(course, tmp_path, case):
    assignment = case.split("-")[0]
    path = course / "submitted" / case.replace("_", "") / assignment / f"{assignment}.ipynb"
    # `backprop-ninja check`, with the class's hidden seed
    checked = cli("check", path, "--json", "--hidden-seed", COURSE_SEED)
    assert checked.returncode in (0, 1), checked.stderr
    graded = {ex["id"]: ex for ex in json.loads(checked.stdout)["exercises"]}
    # the class's results, as `grade` wrote them beside the gradebook
    result = json.loads((course / "results" / assignment / f"{case.replace('_', '')}.json").read_text())
    in_class = {ex["id"]: ex for ex in result["report"]["exercises"]}
    # the notebook's own check(), in a kernel
    kernel = kernel_verdicts(nbformat.read(path, as_version=4), tmp_path)
    # nbgrader's Validate: the short line of each exercise short of full marks
    validated = subprocess.run(["nbgrader", "validate", str(path)], cwd=course, capture_output=True, text=True,
                               timeout=600)  # fmt: skip
    for grade_id, _, kind in CASES[case]:
        assert seen(graded[grade_id]) == seen(in_class[grade_id]), (kind, graded[grade_id], in_class[grade_id])
        if kind == "wrong at hidden values only":
            # The notebook sees the values the student sees: full marks there, and it says the grade sees more.
            assert kernel[grade_id]["score"] == kernel[grade_id]["max_score"]
            assert kernel[grade_id]["layout"]["lead"].endswith("(your grade also checks hidden ones).")
            assert graded[grade_id]["score"] < graded[grade_id]["max_score"]
            assert re.search("not on the hidden ones|wrong at others", graded[grade_id]["message"])
            continue
        assert seen(kernel[grade_id]) == seen(graded[grade_id]), (kind, kernel[grade_id], graded[grade_id])
        verdict = kernel[grade_id]
        summary = (f"{verdict['title'].partition(':')[0]}: {points(verdict['score'], verdict['max_score'])} points "
                   f"({verdict['status']})")  # fmt: skip
        if kernel[grade_id]["score"] < kernel[grade_id]["max_score"]:
            assert summary in validated.stdout + validated.stderr, (kind, summary, validated.stdout)
        else:
            assert summary not in validated.stdout + validated.stderr


def test_the_notebook_judges_the_answer_as_it_last_ran(tmp_path):
    # A learner's kernel holds more than a graded run sees: a scratch cell run between an answer and its check
    # (a typo, a look at .grad), and what an earlier, better run of the answer cell left. The notebook's check
    # judges the answer cell's last run alone, as the grade judges the saved cell.
    right1, right2 = solution("micrograd", "ex1"), solution("micrograd", "ex2")
    stops = replaced("micrograd", "ex2", "dn = (1 - o**2) * do", "dn = (1 - o**2) * do\nprint(undefined)")  # after dn
    broken = "dL = 1.0\ndd = f *\n"  # does not parse: none of it runs
    nb = notebook("micrograd")
    cells = {cell.metadata.get("nbgrader", {}).get("grade_id"): k for k, cell in enumerate(nb.cells)}
    # Exercise 2: a right run, then one that stops after dn, then a scratch cell with a typo of its own.
    # Exercise 1: a right run, a scratch cell, the right run again, then one that does not parse.
    for grade_id, after in (("ex2", [right2, stops, "print(typo)"]),
                            ("ex1", [right1, "print(undefined)", right1, broken])):
        at = cells[grade_id]
        nb.cells[at].source = after[0]
        nb.cells[at + 1:at + 1] = [nbformat.v4.new_code_cell(source) for source in after[1:]]
    kernel = kernel_verdicts(nb, tmp_path)
    for grade_id, saved in (("ex1", broken), ("ex2", stops)):
        saved_nb = notebook("micrograd")  # the same answers, this one saved as it last ran
        saved_nb.cells[cells[grade_id]].source = saved
        path = tmp_path / grade_id / "micrograd.ipynb"
        path.parent.mkdir()
        nbformat.write(saved_nb, path)
        graded = {ex["id"]: ex for ex in json.loads(cli("check", path, "--json").stdout)["exercises"]}
        assert seen(kernel[grade_id]) == seen(graded[grade_id]), (grade_id, kernel[grade_id], graded[grade_id])
    assert kernel["ex1"]["message"].startswith("your code has a syntax error at line 2")
    assert kernel["ex2"]["message"].startswith("your code stopped at line 3 with NameError")
