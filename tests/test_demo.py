"""`make demo` runs the instructor's loop on the sample class in a course of its own, beside a real one."""
import hashlib
import os
import shutil
import subprocess

from nbgrader.api import Gradebook

from courses import ASSIGNMENT, SAMPLES, cli, gradebook_scores, submit
from submissions import ROOT


def snapshot(folder) -> dict[str, str]:
    """Every file under folder, by its content."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}  # fmt: skip


def test_make_demo_beside_a_collected_class_changes_nothing_of_it(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy2(ROOT / name, repo / name)  # copy2: the venv's install stamp stays newer than pyproject.toml
    for name in ("course", "solutions", "exercises"):
        shutil.copytree(ROOT / name, repo / name, ignore=shutil.ignore_patterns(
            "gradebook.db", "submitted", "autograded", "feedback", "results", "reports", "downloaded"))  # fmt: skip
    (repo / ".venv").symlink_to(ROOT / ".venv")
    course = repo / "course"
    # A real class: collected, graded, with feedback, in the course an instructor works in.
    subprocess.run(["nbgrader", "generate_assignment", ASSIGNMENT, "--force"], cwd=course, check=True,
                   capture_output=True)  # fmt: skip
    (submit(course, "zoe", SAMPLES / "bob" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb") / "timestamp.txt").write_text("2026-02-01 10:00:00.000000 UTC")
    assert cli("grade", ASSIGNMENT, "--jobs", "1", cwd=course).returncode == 0
    assert cli("report", ASSIGNMENT, cwd=course).returncode == 0
    before = snapshot(repo / "course")
    assert any(name.startswith("feedback/zoe") for name in before) and "gradebook.db" in before

    env = {k: v for k, v in os.environ.items() if k != "BACKPROP_NINJA_HIDDEN_SEED"}
    demo = subprocess.run(["make", "demo"], cwd=repo, capture_output=True, text=True, timeout=900, env=env)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]

    assert snapshot(repo / "course") == before  # not one byte of the real class changed, nothing was added
    assert gradebook_scores(course) == {"zoe": gradebook_scores(course)["zoe"]}
    demo_course = repo / "demo-output" / "course"
    assert set(gradebook_scores(demo_course)) == {"alice", "bob", "carol", "dave"}
    # the class's scores, printed: one row per student, every score in one form; every assignment, one gradebook
    for line in ("alice", "52/52"), ("dave", "0/52"), ("alice", "51/51"), ("bob", "30/51"), ("dave", "0/51"), \
            ("alice", "39/39"), ("bob", "16/39"), ("dave", "0/39"):  # fmt: skip
        assert any(all(word in row for word in line) for row in demo.stdout.splitlines()), demo.stdout
    assert "Graded with hidden seed #" in demo.stdout
    with Gradebook(f"sqlite:///{demo_course / 'gradebook.db'}") as gb:
        micrograd = {s.student.id: s.score for s in gb.find_assignment("micrograd").submissions}
        gpt2 = {s.student.id: s.score for s in gb.find_assignment("gpt2_block").submissions}
    assert micrograd == {"alice": 51, "bob": 30, "carol": 11, "dave": 0}
    assert gpt2 == {"alice": 39, "bob": 16, "carol": 16, "dave": 0}  # the declared assignment, graded as the others
    assert (demo_course / "reports" / "micrograd" / "report.html").is_file()
    assert (demo_course / "reports" / "gpt2_block" / "report.html").is_file()
    assert len(list((repo / "demo-output" / "exchange" / "backprop-ninja" / "feedback").glob("*.html"))) == 12
    # make clean takes what setting up and the demo made, never the class
    subprocess.run(["make", "clean"], cwd=repo, check=True, capture_output=True, timeout=60)
    assert snapshot(repo / "course") == before and not (repo / "demo-output").exists()
    assert (ROOT / ".venv" / "bin" / "python").exists()  # the link went, not what it pointed at
