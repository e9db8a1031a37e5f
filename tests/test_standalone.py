"""The package on its own: the wheel installed into a fresh venv, used with no repository around it.

The wheel is built from this tree and installed (not editable) into a new venv. Its third-party dependencies
(torch, nbgrader, ...) come from the test venv through a .pth file instead of a second download of several GB;
the test venv's own install of this project is editable, through a finder that a .pth line does not load, so
`autograder` can only come from the wheel (asserted). A learner's two commands are run from a folder outside the
repository, with PATH holding only the fresh venv: no bubblewrap, so process isolation, which the output names.
(`grade` from a venv that is not activated is tested where a class is graded: test_class_grading.py.)
"""
import json
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from submissions import ROOT, fill, solution_region

from autograder.assignments.backprop_ninja import MAX_SCORE
from autograder.sandbox import isolation_kind


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory):
    work = tmp_path_factory.mktemp("standalone")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(work / "dist"), str(ROOT)], check=True, capture_output=True, timeout=300)  # fmt: skip
    wheel = next((work / "dist").glob("backprop_ninja-*.whl"))
    venv = work / "venv"
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    site = Path(subprocess.run([venv / "bin" / "python", "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                               capture_output=True, text=True, check=True).stdout.strip())  # fmt: skip
    (site / "test-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "--no-deps", "-q",
                    str(wheel)], check=True, capture_output=True, timeout=300)  # fmt: skip
    return venv, work


def run(venv, *args, cwd, **kwargs):
    env = {"PATH": str(venv / "bin"), "HOME": str(cwd), "BACKPROP_NINJA_OFFLINE": "1", "NO_COLOR": "1"}
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600, **kwargs)


def test_the_wheel_alone_writes_the_notebook_and_grades_it(fresh_venv):
    venv, work = fresh_venv
    learner = work / "learner"
    learner.mkdir()
    where = run(venv, venv / "bin" / "python", "-c", "import autograder; print(autograder.__file__)", cwd=learner)
    assert where.stdout.startswith(str(venv)), where.stdout + where.stderr  # the wheel's, not the repository's

    wrote = run(venv, "backprop-ninja", "notebook", cwd=learner)
    assert wrote.returncode == 0, wrote.stderr
    notebook = learner / "backprop_ninja.ipynb"
    assert wrote.stdout.startswith(f"Wrote {notebook.name}") or str(notebook) in wrote.stdout
    again = run(venv, "backprop-ninja", "notebook", cwd=learner)
    assert again.returncode == 2 and "already exists" in again.stderr  # never over the learner's work

    nb = json.loads(notebook.read_text())
    for cell in nb["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if grade_id in ("ex1", "ex2", "ex3", "ex4"):
            cell["source"] = fill("".join(cell["source"]), solution_region(grade_id))
    notebook.write_text(json.dumps(nb))

    graded = run(venv, "backprop-ninja", "check", notebook.name, cwd=learner)
    assert graded.returncode == 0, graded.stderr
    assert graded.stderr == "", graded.stderr  # nothing looked up on a PATH that is the venv's alone
    assert f"Score: {MAX_SCORE:g}/{MAX_SCORE:g}" in graded.stdout
    # No bubblewrap on this PATH: the warm sandbox where the kernel allows it (the wheel's venv lives under /tmp,
    # bound inside the run's empty /tmp), else a separate process only.
    isolation = ("Isolation: sandbox of namespaces, each forked warm from a server that never holds a secret"
                 if isolation_kind() == "warm" else "Isolation: separate process only (bubblewrap is not available here)")
    assert " ".join(graded.stdout.split()).endswith(isolation), graded.stdout


def test_the_notebooks_own_check_works_from_the_wheel(fresh_venv):
    """The notebook's cells, as a kernel runs them in order (display() standing in for Jupyter's), up to
    Exercise 2's check, with the in-notebook check() of the installed package: full marks in both (the other
    check cells are the same call, run in the repository's own notebook tests)."""
    venv, work = fresh_venv
    folder = work / "kernel"
    folder.mkdir()
    assert run(venv, "backprop-ninja", "notebook", cwd=folder).returncode == 0
    script = (
        "import json, sys\n"
        "from submissions import fill, solution_region\n"
        "nb = json.load(open('backprop_ninja.ipynb'))\n"
        "ns = {'display': lambda *a: None}\n"
        "scores = []\n"
        "for cell in nb['cells']:\n"
        "    if cell['cell_type'] != 'code':\n"
        "        continue\n"
        "    source, grade_id = ''.join(cell['source']), cell['metadata']['nbgrader']['grade_id']\n"
        "    if grade_id in ('ex1', 'ex2', 'ex3', 'ex4'):\n"
        "        source = fill(source, solution_region(grade_id))\n"
        "    exec(compile(source, grade_id, 'exec'), ns)\n"
        "    if grade_id.endswith('_check'):\n"
        "        scores.append(float(ns['result'].score))\n"
        "    if grade_id == 'ex2_check':\n"
        "        break\n"
        "print(json.dumps(scores))\n"
    )
    env_tests = {"PYTHONPATH": str(ROOT / "tests")}  # the test's own helpers, not the package
    done = subprocess.run([venv / "bin" / "python", "-c", script], cwd=folder, capture_output=True, text=True,
                          timeout=600, env={"PATH": str(venv / "bin"), "HOME": str(folder), "BACKPROP_NINJA_OFFLINE": "1",
                                            **env_tests})  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [26, 6]


def test_the_wheel_ships_the_second_assignment_too(fresh_venv):
    """`backprop-ninja notebook --assignment micrograd` writes micrograd's release from the wheel; with the
    solutions' answers in its cells, `check` gives it full marks."""
    venv, work = fresh_venv
    folder = work / "micrograd"
    folder.mkdir()
    wrote = run(venv, "backprop-ninja", "notebook", "--assignment", "micrograd", cwd=folder)
    assert wrote.returncode == 0, wrote.stderr
    notebook = folder / "micrograd.ipynb"
    assert json.loads(notebook.read_text()) == json.loads((ROOT / "exercises" / "micrograd" / "micrograd.ipynb").read_text())
    solutions = json.loads((ROOT / "solutions" / "micrograd" / "micrograd.ipynb").read_text())
    answers = {c["metadata"]["nbgrader"]["grade_id"]: c["source"] for c in solutions["cells"]
               if c["metadata"].get("nbgrader", {}).get("solution")}  # fmt: skip
    nb = json.loads(notebook.read_text())
    for cell in nb["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if grade_id in answers:
            cell["source"] = answers[grade_id]
    notebook.write_text(json.dumps(nb))
    graded = run(venv, "backprop-ninja", "check", notebook.name, cwd=folder)
    assert graded.returncode == 0, graded.stdout[-2000:] + graded.stderr
    assert "Score: 51/51" in graded.stdout


def test_both_notebooks_name_the_wheel_that_is_built(fresh_venv):
    # A learner's notebook says what to install when the package is missing: the same command in both, and the
    # file `make wheel` makes (a version bump that forgets the notebooks fails here).
    import nbformat

    _, work = fresh_venv
    wheel = next((work / "dist").glob("backprop_ninja-*.whl")).name
    for assignment in ("backprop_ninja", "micrograd"):
        nb = nbformat.read(ROOT / "exercises" / assignment / f"{assignment}.ipynb", as_version=4)
        first = next(cell.source for cell in nb.cells if cell.cell_type == "code")
        assert f"pip install {wheel}" in first, (assignment, first)
        assert "pip install backprop-ninja" not in first  # not a name pip can find
