"""The third assignment, gpt2_block, written as a declaration alone (assignments/gpt2_block/__init__.py): its
solutions get full marks and its stubs zero, graded in the sandbox on the sizes the student sees and the hidden
ones; the package holds no Grading, run side or selfcheck of its own."""
import ast
import json
from pathlib import Path

import pytest

from autograder.assignments import gpt2_block
from autograder.declared.notebook import release_notebook, source_notebook
from autograder.grading import Grader
from autograder.sandbox import Limits

ASSIGNMENT = gpt2_block.ASSIGNMENT


@pytest.fixture(scope="module")
def grader():
    with Grader(Limits(timeout=60), hidden_seed=4242) as g:
        yield g


def test_the_solutions_score_full_marks_and_the_stubs_zero(grader, tmp_path):
    solutions = tmp_path / "solutions" / "gpt2_block.ipynb"
    solutions.parent.mkdir()
    solutions.write_text(json.dumps(source_notebook(ASSIGNMENT.declaration)))
    report = grader.grade(solutions)
    assert (report.score, report.max_score) == (39, 39), [str(e) for e in report.exercises if e.score < e.max_score]
    stubs = tmp_path / "gpt2_block.ipynb"
    stubs.write_text(json.dumps(release_notebook(ASSIGNMENT.declaration)))
    report = grader.grade(stubs)
    assert report.score == 0 and {e.status for e in report.exercises} == {"not answered"}


def test_the_package_is_a_declaration_alone():
    """No Grading subclass, run side or selfcheck of its own: one file, which declares."""
    package = Path(gpt2_block.__file__).parent
    assert sorted(p.name for p in package.glob("*.py")) == ["__init__.py"]
    tree = ast.parse((package / "__init__.py").read_text())
    assert not [node.name for node in ast.walk(tree) if isinstance(node, ast.ClassDef)]
    assert ASSIGNMENT.grading_class == "autograder.declared.grading:DeclaredGrading"
    assert (ASSIGNMENT.run_module, ASSIGNMENT.selfcheck_module) == ("autograder.declared.run", "autograder.declared.selfcheck")


ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions" / "gpt2_block" / "gpt2_block.ipynb"
RELEASE = ROOT / "exercises" / "gpt2_block" / "gpt2_block.ipynb"


def test_the_course_notebooks_are_the_declarations():
    """solutions/ is the notebook the declaration writes, exercises/ nbgrader's release of it, and the package
    ships that release: a declaration edited without `make exercises` fails here."""
    assert json.loads(SOLUTIONS.read_text()) == source_notebook(ASSIGNMENT.declaration), "run `make exercises`"
    shipped = Path(gpt2_block.__file__).parent / "gpt2_block.ipynb"
    assert shipped.read_bytes() == RELEASE.read_bytes(), "the package's notebook drifted: run `make exercises`"
    released = {c["metadata"]["nbgrader"]["grade_id"]: c for c in json.loads(RELEASE.read_text())["cells"]}
    for ex in ASSIGNMENT.exercises:
        assert "raise NotImplementedError()" in "".join(released[ex.id]["source"])
        assert released[f"{ex.id}_check"]["metadata"]["nbgrader"]["points"] == ex.max_score


def test_the_release_is_nbgraders_of_the_solutions(tmp_path):
    import shutil
    import subprocess

    shutil.copytree(ROOT / "course", tmp_path / "course", ignore=shutil.ignore_patterns("gradebook.db", "sample_*"))
    shutil.copytree(ROOT / "solutions", tmp_path / "solutions")
    subprocess.run(["nbgrader", "generate_assignment", "gpt2_block", "--force"], cwd=tmp_path / "course", check=True,
                   capture_output=True)  # fmt: skip
    fresh = json.loads((tmp_path / "exercises" / "gpt2_block" / "gpt2_block.ipynb").read_text())
    assert [(c["metadata"], c["source"]) for c in fresh["cells"]] == \
        [(c["metadata"], c["source"]) for c in json.loads(RELEASE.read_text())["cells"]]  # fmt: skip


@pytest.mark.parametrize("student", ["bob", "carol"])
def test_the_notebooks_own_checks_give_what_the_grader_gives(grader, student):
    """The sample notebook run in a real kernel: each check cell's score is the grade's, exercise by exercise (bob's
    slips in Exercises 1, 4 and 5; carol's answers that stop, or are left as stubs)."""
    import nbformat
    from nbclient import NotebookClient

    path = ROOT / "course" / "sample_submissions" / student / "gpt2_block" / "gpt2_block.ipynb"
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=120, kernel_name="python3", allow_errors=True).execute()
    in_kernel = {c.metadata["nbgrader"]["grade_id"][: -len("_check")]: float(c.outputs[-1]["data"]["text/plain"])
                 for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id", "").endswith("_check")}  # fmt: skip
    graded = {e.id: e.score for e in grader.grade(path).exercises}
    assert in_kernel == graded


def test_the_notebooks_check_finds_the_first_wrong_step_where_the_grade_does(grader):
    """Exercise 5's check() reads the gradients the answer computes on the way, as a graded run does: a dlogits
    without its 1/T is blamed in both, in the same words."""
    from autograder.checks import PUBLIC
    from autograder.declared.forward import NAMESPACE
    from autograder.declared.selfcheck import check_exercise
    from autograder.notebook import ExerciseCell

    source = gpt2_block.BLOCK.replace("dlogits /= B * T", "dlogits /= B")
    part = grader.grading("gpt2_block")
    problem = part.problems[PUBLIC]
    ns = {**NAMESPACE, **problem.sizes, **{k: v.clone() if hasattr(v, "clone") else v
                                            for k, v in problem.exercises["ex5"].values.items()}}  # fmt: skip
    exec(source, ns)
    in_notebook = check_exercise("gpt2_block", "ex5", ns, (source, None))
    graded = grader.grade_exercise(ASSIGNMENT.exercise_by_id["ex5"], ExerciseCell(source), part)
    assert in_notebook.message == graded.message
    assert in_notebook.message.startswith("Your backward pass first goes wrong at dlogits")
