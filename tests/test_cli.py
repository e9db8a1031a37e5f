"""`backprop-ninja check` as a student runs it: tables, JSON, exit codes."""
import json
import os
import re
import subprocess
import sys

import pytest
from submissions import EXERCISES, ROOT, SOLUTIONS, all_right, edit_notebook, write_submission

from autograder.assignments.backprop_ninja import EXERCISES as TABLE
from autograder.assignments.backprop_ninja import MAX_SCORE

SAMPLE_BOB = ROOT / "course" / "sample_submissions" / "bob" / "backprop_ninja" / "backprop_ninja.ipynb"


def check(*args):
    return subprocess.run([sys.executable, "-m", "autograder", "check", *map(str, args)], capture_output=True,
                          text=True, timeout=300, env={**os.environ, "COLUMNS": "200"})  # fmt: skip


def test_solutions_full_marks_json_and_exit_0():
    run = check(SOLUTIONS, "--json")
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["score"] == report["max_score"] == MAX_SCORE
    assert [e["id"] for e in report["exercises"]] == ["ex1", "ex2", "ex3", "ex4"]
    for exercise, table in zip(report["exercises"], TABLE):
        assert {"id", "score", "max_score", "status", "message", "flags", "checks"} <= exercise.keys()
        assert [c["name"] for c in exercise["checks"]] == [c.name for c in table.checks]
        for c in exercise["checks"]:
            assert {"name", "passed", "exact", "approx", "maxdiff", "shape_ok", "points", "max_points", "message"} <= c.keys()
            assert c["passed"] and c["points"] == c["max_points"]


def test_stubs_score_zero_exit_1_with_tables():
    run = check(EXERCISES)
    assert run.returncode == 1
    # one line per exercise: where it stands, never a row per gradient that was never set
    lines = run.stdout.splitlines()
    for k, title in enumerate(ex.title for ex in TABLE):
        at = next(i for i, line in enumerate(lines) if line.startswith(f"Exercise {k + 1}:"))
        assert lines[at + 1:at + 3] == ["Not answered yet: replace `raise NotImplementedError()`.", ""], lines[at:at + 3]
    assert "FAIL" not in run.stdout and "WRONG" not in run.stdout and "not set" not in run.stdout
    assert f"Score: 0/{MAX_SCORE:g}" in run.stdout
    assert "Traceback" not in run.stdout + run.stderr
    assert "exact: False" not in run.stdout  # the note on numbers, where none is shown


def test_partly_right_exit_1(tmp_path):
    from submissions import solution_region

    path = write_submission(tmp_path / "nb.ipynb", ex2=solution_region("ex2"))
    run = check(path, "--json")
    assert run.returncode == 1
    assert json.loads(run.stdout)["score"] == 6
    assert "exact: False" in check(path).stdout  # Exercise 2's numbers, and the note on them


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p, "no such file"),
        (lambda p: (p.write_text(""), p)[1], "empty"),
        (lambda p: (p.write_text("{not json"), p)[1], "not a notebook"),
        (lambda p: (p.write_text('{"just": "json"}'), p)[1], "not a notebook"),
        (lambda p: (p.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})), p)[1],
         "not a backprop_ninja notebook"),
        (lambda p: (p.write_text(json.dumps({"nbformat": 3, "nbformat_minor": 0, "metadata": {},
                                             "worksheets": [{"cells": [], "metadata": {}}]})), p)[1],
         "not a backprop_ninja notebook"),
    ],
    ids=["missing", "empty", "not-json", "not-notebook", "other-assignment", "old-format"],
)
def test_ungradable_files_one_line_exit_2(tmp_path, make, message):
    run = check(make(tmp_path / "x.ipynb"))
    assert run.returncode == 2
    assert message in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and "Traceback" not in run.stderr


def test_damaged_cells_are_reported_per_exercise(tmp_path):
    path = all_right(tmp_path / "nb.ipynb")

    def damage(nb):
        cells = nb["cells"]
        ids = [c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in cells]
        cells.append(json.loads(json.dumps(cells[ids.index("ex2")])))  # duplicated
        cells[ids.index("ex3")]["cell_type"] = "markdown"  # re-typed
        cells[ids.index("ex3")].pop("outputs", None), cells[ids.index("ex3")].pop("execution_count", None)
        cells[ids.index("ex4")]["metadata"]["nbgrader"]["grade_id"] = "my_ex4"  # renamed

    edit_notebook(path, damage)
    run = check(path, "--json")
    assert run.returncode == 1
    ex1, ex2, ex3, ex4 = json.loads(run.stdout)["exercises"]
    assert ex1["status"] == "passed"
    assert "2 cells with grade_id ex2" in ex2["message"]
    assert "no longer a code cell" in ex3["message"]
    assert "grade_id ex4 is missing" in ex4["message"]


def test_module_and_console_script_agree():
    run = subprocess.run(["backprop-ninja", "check", str(EXERCISES), "--json"], capture_output=True, text=True)
    assert run.returncode == 1 and json.loads(run.stdout)["score"] == 0


@pytest.mark.parametrize(
    "args, message",
    [(["--timeout", "-1"], "must be more than 0"), (["--memory", "0"], "must be more than 0"),
     (["--hidden-seed", "2147483647"], "the hidden seed must differ from the public seed")],
)  # fmt: skip
def test_bad_options_one_line_no_traceback(args, message):
    run = check(EXERCISES, *args)
    assert run.returncode == 2
    assert message in run.stderr and "Traceback" not in run.stderr


def test_odd_json_shapes_are_reported_not_crashed_on(tmp_path):
    """Metadata that is not a dict, a source that is not text: per-exercise messages, never a traceback."""
    path = all_right(tmp_path / "nb.ipynb")

    def damage(nb):
        ids = [c.get("metadata", {}).get("nbgrader", {}).get("grade_id") for c in nb["cells"]]
        nb["cells"][ids.index("ex2")]["source"] = [1, 2, 3]
        nb["cells"][0]["metadata"] = ["not", "a", "dict"]
        nb["cells"].append("not a cell")

    edit_notebook(path, damage)
    run = check(path, "--json")
    assert run.returncode == 1 and "Traceback" not in run.stderr
    ex1, ex2, ex3, ex4 = json.loads(run.stdout)["exercises"]
    assert "damaged" in ex2["message"] and ex2["score"] == 0
    assert [ex1["status"], ex3["status"], ex4["status"]] == ["passed"] * 3


def test_a_folder_is_named_as_a_folder_with_the_notebook_to_give(tmp_path):
    run = check(EXERCISES.parent)
    assert run.returncode == 2
    assert run.stderr.strip() == (f"backprop-ninja: cannot grade {EXERCISES.parent}: a folder, not a notebook: give "
                                  f"the notebook file, e.g. {EXERCISES}")  # fmt: skip


@pytest.mark.parametrize("command, first, code", [(f"check {EXERCISES}", "Exercise 1", 1),
                                                  ("doctor", "Isolation: ", 0)])  # fmt: skip
def test_output_closed_early_is_not_an_error(command, first, code):
    """`backprop-ninja check NB | head -1`: no BrokenPipeError, and the exit code is still the command's own."""
    run = subprocess.run(f"{sys.executable} -m autograder {command} | head -1; exit ${{PIPESTATUS[0]}}",
                         shell=True, executable="/bin/bash", capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.stdout.startswith(first) and len(run.stdout.splitlines()) == 1
    assert run.returncode == code and run.stderr == ""


def terminal(columns: int, colour: bool, *options: str):
    env = {**os.environ, "COLUMNS": str(columns)}
    env.pop("NO_COLOR", None)
    if colour:
        env["FORCE_COLOR"] = "1"
    else:
        env.pop("FORCE_COLOR", None)
    return subprocess.run([sys.executable, "-m", "autograder", "check", str(SAMPLE_BOB), *options], capture_output=True,
                          text=True, timeout=300, env=env)  # fmt: skip


def test_the_terminal_view_follows_the_terminals_width_and_colour():
    narrow, wide, coloured = terminal(80, False), terminal(160, False, "--all"), terminal(100, True)
    assert max(map(len, narrow.stdout.splitlines())) <= 80 and "\x1b[" not in narrow.stdout  # piped: no colour
    assert "Start at dhpreact" in narrow.stdout and "dhpreact:" in narrow.stdout and "Score: 30/52" in narrow.stdout
    wide_lines = [line for line in wide.stdout.splitlines() if line.startswith("dhpreact:")]
    assert len(wide_lines[0]) > 80  # a sentence wraps only at the terminal's edge
    assert "\x1b[" in coloured.stdout and "FAIL" in coloured.stdout
    assert "▸ 12 more follow from dhpreact" in narrow.stdout and "hpreact  False" in narrow.stdout
    assert "bngain  " not in narrow.stdout  # a gradient that only follows is folded, not a row
    # --all: every check's row in the lecture's order, and every sentence, nothing folded
    rows = [line.split()[0] for line in wide.stdout.splitlines() if re.match(r"\w+ +(True|False) +(True|False)", line)]
    assert rows == [c.name for ex in TABLE for c in ex.checks] and "▸" not in wide.stdout
    assert "dbngain: dbngain differs from autograd by up to 0.25: follows from an earlier mistake" in wide.stdout


def test_a_result_has_a_short_text_form(grader):
    report = grader.grade(SAMPLE_BOB)
    ex1 = report.exercises[0]
    assert repr(ex1) == f"<Exercise 1: {ex1.score:g}/26 points (partial); start at dhpreact>"
    scores = ", ".join(f"{e.id} {e.score:g}/{e.max_score:g}" for e in report.exercises)
    assert repr(report) == f"<{SAMPLE_BOB}: {report.score:g}/52 ({scores})>" and "ex2 0/6" in scores
    assert len(repr(report)) < 200 and "Exercise 1" in str(ex1) and "dhpreact" in str(ex1)


def test_a_grading_process_reads_the_course_and_gradebook_without_nbgraders_server_extensions(tmp_path):
    """lean_imports.py: the course's paths and the gradebook through nbgrader's own modules, in a process that never
    loads the Jupyter server extensions nbgrader's __init__ would (0.3-0.4 CPU-s of every class run)."""
    from courses import make_course

    course = make_course(tmp_path)
    code = ("import sys; import autograder.cli; from autograder.gradebook import GradebookWriter; "
            "from autograder.course import Course; "
            f"writer = GradebookWriter(Course({str(course)!r}, 'backprop_ninja')); "
            "print(writer.graded_as.id, [m for m in sys.modules if m.startswith('nbgrader.server_extensions')], "
            "sys.modules['rfc3987_syntax']); writer.close()")  # fmt: skip
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "backprop_ninja [] None\n"
