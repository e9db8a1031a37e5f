"""The third assignment, gpt2_block, written as a declaration alone (assignments/gpt2_block/__init__.py): its
solutions get full marks and its stubs zero, graded in the sandbox on the sizes the student sees and the hidden
ones; the package holds no Grading, run side or selfcheck of its own."""
import ast
import json
from pathlib import Path

import pytest

from autograder import assignments
from autograder.assignments import gpt2_block
from autograder.declared.notebook import release_notebook, source_notebook
from autograder.grading import Grader
from autograder.sandbox import Limits

ASSIGNMENT = gpt2_block.ASSIGNMENT


@pytest.fixture(scope="module")
def grader():
    with Grader(Limits(timeout=60), hidden_seed=4242) as g:
        yield g


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setitem(assignments.ASSIGNMENT_MODULES, "gpt2_block", "autograder.assignments.gpt2_block")


def test_the_solutions_score_full_marks_and_the_stubs_zero(registered, grader, tmp_path):
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
