"""The notebooks: exercises/ is nbgrader's release of solutions/, and their cells compute what the grader does."""
import shutil
import subprocess
import sys
import zipfile

import nbformat
import numpy as np
import pytest
import tomllib
import torch
from nbclient import NotebookClient
from submissions import EXERCISES, ROOT, SOLUTIONS

from autograder.assignments.backprop_ninja import EXERCISES as TABLE
from autograder.assignments.backprop_ninja import MAX_SCORE, lecture
from autograder.assignments.backprop_ninja.reference import make_problem


def sources(path):
    return [(c.cell_type, c.metadata.get("nbgrader", {}), c.source) for c in nbformat.read(path, as_version=4).cells]


def test_exercises_are_the_release_of_solutions(tmp_path):
    """Regenerate the release with nbgrader and compare: editing exercises/ by hand fails here."""
    shutil.copytree(ROOT / "course", tmp_path / "course", ignore=shutil.ignore_patterns("gradebook.db"))
    shutil.copytree(ROOT / "solutions", tmp_path / "solutions")
    subprocess.run(["nbgrader", "generate_assignment", "backprop_ninja", "--force"], cwd=tmp_path / "course",
                   check=True, capture_output=True)  # fmt: skip
    fresh = tmp_path / "exercises" / "backprop_ninja" / "backprop_ninja.ipynb"
    assert sources(fresh) == sources(EXERCISES), "exercises/ drifted from solutions/: run `make exercises`"


def test_the_package_ships_the_release_notebook():
    """`backprop-ninja notebook` and lecture notebooks' Exercise 4 read the package's copy: it is the release."""
    shipped = ROOT / "autograder" / "assignments" / "backprop_ninja" / "backprop_ninja.ipynb"
    assert shipped.read_bytes() == EXERCISES.read_bytes(), "the package's notebook drifted: run `make exercises`"


def test_each_exercise_is_one_solution_cell_with_the_standard_stub():
    cells = {meta.get("grade_id"): (meta, src) for _, meta, src in sources(EXERCISES)}
    for ex in TABLE:
        meta, src = cells[ex.id]
        assert meta["solution"] and not meta["locked"]
        assert "# YOUR CODE HERE\n" in src and "raise NotImplementedError()" in src
        test_meta, _ = cells[f"{ex.id}_check"]
        assert test_meta["grade"] and test_meta["points"] == ex.max_score  # points come from the one table


@pytest.fixture(scope="module")
def executed_solutions(tmp_path_factory):
    nb = nbformat.read(SOLUTIONS, as_version=4)
    NotebookClient(nb, kernel_name="python3", timeout=600,
                   resources={"metadata": {"path": str(tmp_path_factory.mktemp("run"))}}).execute()  # fmt: skip
    return nb


def test_solutions_notebook_runs_and_its_check_cells_give_full_partial_credit(executed_solutions):
    from nbgrader.utils import determine_grade

    total = 0
    for cell in executed_solutions.cells:
        if cell.metadata.get("nbgrader", {}).get("grade"):
            score, max_score = determine_grade(cell)
            assert score == max_score, cell.metadata["nbgrader"]["grade_id"]
            assert any("text/html" in o.get("data", {}) for o in cell.outputs)  # the rich table rendered
            total += score
    assert total == MAX_SCORE


def test_notebook_provided_cells_compute_what_the_grader_computes(tmp_path):
    """The grader never runs the notebook's setup cells; this holds them to lecture.py, value for value."""
    from nbclient.client import NotebookClient as Client

    nb = nbformat.read(SOLUTIONS, as_version=4)
    upto = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "forward")
    nb.cells = nb.cells[: upto + 1]
    nb.cells.append(nbformat.v4.new_code_cell(
        "import numpy as np\nnp.savez('atoms.npz', Xtr=Xtr.numpy(), Xb=Xb.numpy(), Yb=Yb.numpy(), "
        "**{k: globals()[k].detach().numpy() for k in ['C','W1','b1','W2','b2','bngain','bnbias','emb','embcat',"
        "'hprebn','bnmeani','bndiff','bndiff2','bnvar','bnvar_inv','bnraw','hpreact','h','logits','logit_maxes',"
        "'norm_logits','counts','counts_sum','counts_sum_inv','probs','logprobs','loss']})"))  # fmt: skip
    Client(nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(tmp_path)}}).execute()
    saved = np.load(tmp_path / "atoms.npz")
    from autograder.assignments.backprop_ninja import data

    (Xtr, Ytr), _, _ = lecture.split_dataset(data.load_words().words)
    problem = make_problem(2147483647, Xtr, Ytr)
    assert np.array_equal(saved["Xtr"], Xtr.numpy())
    assert np.array_equal(saved["Xb"], problem.Xb.numpy()) and np.array_equal(saved["Yb"], problem.Yb.numpy())
    for name, p in problem.params.items():
        assert np.array_equal(saved[name], p.numpy()), name
    atoms = lecture.forward(**problem.params, Xb=problem.Xb, Yb=problem.Yb)
    for name, value in vars(atoms).items():
        assert np.array_equal(saved[name], value.numpy()), name
    assert torch.is_tensor(atoms.loss)


def wheel_name() -> str:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    return f"backprop_ninja-{version}-py3-none-any.whl"


def test_without_the_course_package_the_first_cell_says_how_to_install_it():
    """A student who got only the notebook: the first cell fails with the command, not a bare ModuleNotFoundError
    (and never suggests the unrelated `autograder` on PyPI)."""
    first = next(c for c in nbformat.read(EXERCISES, as_version=4).cells if c.cell_type == "code")
    without = "import sys\nsys.modules['autograder'] = None  # as if it were not installed\n"
    run = subprocess.run([sys.executable, "-c", without + first.source], capture_output=True, text=True, timeout=60)
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("ModuleNotFoundError: This notebook needs the course package backprop-ninja")
    assert f"pip install {wheel_name()}" in last and "another project, do not install it" in last
    intro = nbformat.read(EXERCISES, as_version=4).cells[0].source
    assert f"pip install {wheel_name()}" in intro and f"pip install {wheel_name()}" in (ROOT / "README.md").read_text()


def test_the_wheel_the_notebook_names_is_the_one_make_wheel_builds(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", tmp_path,
                    ROOT], check=True, capture_output=True, cwd=tmp_path, timeout=300)  # fmt: skip
    (wheel,) = tmp_path.glob("*.whl")
    assert wheel.name == wheel_name()
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
    assert "autograder/__init__.py" in names and "autograder/settings.py" in names
    assert not [n for n in names if n.startswith("tests/")]


def test_the_lectures_cmp_works_in_the_students_kernel_with_a_shape_column(tmp_path):
    """Learners write cmp('logprobs', dlogprobs, logprobs) after each step, as in the lecture."""
    nb = nbformat.read(EXERCISES, as_version=4)
    upto = next(i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == "forward")
    nb.cells = nb.cells[: upto + 1] + [nbformat.v4.new_code_cell(
        "dlogprobs = torch.zeros_like(logprobs)\ndlogprobs[range(n), Yb] = -1.0/n\n"
        "cmp('logprobs', dlogprobs, logprobs)\ncmp('logprobs', dlogprobs[0], logprobs)")]  # fmt: skip
    NotebookClient(nb, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(tmp_path)}}).execute()
    printed = "".join(o.get("text", "") for o in nb.cells[-1].outputs).splitlines()
    assert printed == ["logprobs        | exact: True  | approximate: True  | maxdiff: 0.0 | shape: ok",
                       "logprobs        | exact: False | approximate: False | maxdiff: 0.03125 | shape: WRONG [27], "
                       "not [32, 27]"]  # fmt: skip


def test_cmp_in_a_graded_cell_does_nothing(grader):
    from submissions import solution_region

    from autograder.assignments.backprop_ninja import EXERCISE_BY_ID
    from autograder.notebook import ExerciseCell

    code = solution_region("ex2") + "\ncmp('logits', dlogits, logits)\n"
    ex2 = grader.grade_exercise(EXERCISE_BY_ID["ex2"], ExerciseCell(code))
    assert ex2.status == "passed" and ex2.output == ""
