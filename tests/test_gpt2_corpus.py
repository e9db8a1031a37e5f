"""gpt2_block's corpus (gpt2_corpus.py): each answer gets its exact verdict and hint, graded in the sandbox on the
sizes the student sees and the hidden ones."""
import pytest
from gpt2_corpus import CORPUS

from autograder import assignments
from autograder.grading import Grader
from autograder.notebook import ExerciseCell
from autograder.sandbox import Limits

ASSIGNMENT = "gpt2_block"


@pytest.fixture(scope="module")
def graded():
    """Every answer's exercise result, graded once."""
    with Grader(Limits(timeout=60), hidden_seed=4242) as grader:
        part = grader.grading(ASSIGNMENT)
        exercises = assignments.get(ASSIGNMENT).exercise_by_id
        yield [grader.grade_exercise(exercises[ex_id], ExerciseCell(code), part) for ex_id, _, code, _ in CORPUS]


@pytest.mark.parametrize("i", range(len(CORPUS)), ids=[f"{ex}: {what}" for ex, what, _, _ in CORPUS])
def test_each_answer_gets_its_verdict_and_hint(graded, i):
    _, _, _, wanted = CORPUS[i]
    result = graded[i]
    failing = {c.name: c for c in result.checks if not c.passed}
    if wanted == "right":
        assert failing == {}, {n: (c.message, c.hint) for n, c in failing.items()}
        return
    if isinstance(wanted, str) and wanted.startswith("stops: "):
        assert "stopped at line" in result.message and wanted.split()[1] in result.message, result.message
        unset = [c for c in result.checks if not c.assigned]
        assert unset and all("was not assigned: your code stopped at line" in c.message for c in unset)
        return
    if isinstance(wanted, str) and wanted.startswith("hidden: "):
        assert f"hard-coded {wanted.split()[1]}" in result.message, result.message
        assert failing and all(c.message.startswith("right at the sizes you see, wrong at others") for c in failing.values())
        return
    line = wanted.get("", None)
    wanted = {name: said for name, said in wanted.items() if name}
    if line is not None:
        assert line in result.message, result.message
    assert set(failing) == set(wanted), {n: (c.locally_correct, c.hint) for n, c in failing.items()}
    for name, said in wanted.items():
        check = failing[name]
        if said == "follows":
            assert check.locally_correct, (name, check.hint)
        else:
            assert not check.locally_correct, name
            assert said in (check.hint or "") and (said or check.hint is None), (name, check.hint)
