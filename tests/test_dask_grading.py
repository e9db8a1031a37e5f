"""`backprop-ninja grade --scheduler`: the same grading on a Dask cluster (here a LocalCluster on loopback)."""
import json
import os

import pytest
import torch
from courses import ASSIGNMENT, COURSE_SEED, cli, gradebook_scores, make_course, submit
from distributed import Client, LocalCluster
from submissions import solution_region, write_submission

from autograder.assignments.backprop_ninja import EXERCISES, lecture
from autograder.checks import DEFAULT_HIDDEN_SEED
from autograder.settings import seed_identity


@pytest.fixture
def cluster():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0") as cluster:  # fmt: skip
        yield cluster


def test_grade_on_a_dask_cluster(tmp_path, cluster):
    course = make_course(tmp_path)
    for student in ("alice", "bob", "dave"):
        submit(course, student)
    (course / "submitted" / "erin" / ASSIGNMENT).mkdir(parents=True)
    (course / "submitted" / "erin" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").write_text("")
    run = cli("grade", ASSIGNMENT, "--scheduler", cluster.scheduler_address, cwd=course)
    assert run.returncode == 0, run.stderr
    assert "Graded 4" in run.stdout and "erin: scored 0" in run.stdout
    scores = gradebook_scores(course)
    assert scores["alice"] == {f"{ex.id}_check": ex.max_score for ex in EXERCISES}
    assert sum(scores["dave"].values()) == sum(scores["erin"].values()) == 0
    workers = {json.loads((course / "results" / ASSIGNMENT / f"{s}.json").read_text())["worker"]["pid"]
               for s in ("alice", "bob", "dave", "erin")}  # fmt: skip
    with Client(cluster) as client:
        worker_pids = set(client.run(os.getpid).values())
    assert workers <= worker_pids  # graded in the cluster's worker processes, not in the CLI's


@pytest.fixture
def cluster_on_the_published_seed(monkeypatch):
    """Workers whose own environment names the published default seed: what they would grade with, alone."""
    monkeypatch.setenv("BACKPROP_NINJA_HIDDEN_SEED", str(DEFAULT_HIDDEN_SEED))
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=":0") as cluster:  # fmt: skip
        yield cluster


def test_the_instructors_hidden_seed_reaches_the_workers(tmp_path, cluster_on_the_published_seed):
    """A submission right on the public seed and on the published default, wrong on the instructor's seed."""
    cluster = cluster_on_the_published_seed
    with Client(cluster) as client:
        assert set(client.run(os.environ.get, "BACKPROP_NINJA_HIDDEN_SEED").values()) == {str(DEFAULT_HIDDEN_SEED)}
    marker = float(lecture.init_parameters(torch.Generator().manual_seed(COURSE_SEED))["C"][0, 0])
    wrong_on_the_instructors_seed = solution_region("ex2") + f"\nif abs(float(C[0, 0]) - {marker!r}) < 1e-6:\n    dlogits = dlogits * 2\n"
    course = make_course(tmp_path)
    submit(course, "mallory", write_submission(tmp_path / "m.ipynb", ex2=wrong_on_the_instructors_seed))
    run = cli("grade", ASSIGNMENT, "--scheduler", cluster.scheduler_address, cwd=course)  # the CLI's env: COURSE_SEED
    assert run.returncode == 0, run.stderr
    assert f"hidden seed {seed_identity(COURSE_SEED)}" in run.stdout
    result = json.loads((course / "results" / ASSIGNMENT / "mallory.json").read_text())
    assert result["settings"]["hidden_seed"] == seed_identity(COURSE_SEED)
    assert result["scores"]["ex2"] == 0 and gradebook_scores(course)["mallory"]["ex2_check"] == 0
    ex2 = next(e for e in result["report"]["exercises"] if e["id"] == "ex2")
    assert "not on the hidden ones" in ex2["message"]
    # the same class graded with the published seed, said explicitly, passes it: the seed made the difference
    run = cli("grade", ASSIGNMENT, "--scheduler", cluster.scheduler_address, "--hidden-seed", DEFAULT_HIDDEN_SEED,
              cwd=course)  # fmt: skip
    assert "1 of them graded before under other settings: hidden seed" in run.stdout, run.stdout + run.stderr
    assert gradebook_scores(course)["mallory"]["ex2_check"] == 6


def test_a_worker_with_another_grader_refuses_its_tasks(monkeypatch):
    """Settings travel with the task; a worker whose code differs records an internal error, not a grade."""
    from dataclasses import replace

    from autograder.class_grading import Task, grade_task
    from autograder.sandbox import Limits
    from autograder.settings import GradingSettings

    settings = replace(GradingSettings.resolve(COURSE_SEED, Limits(timeout=30)), grader="0.0.1+someoneelse")
    outcome = grade_task(Task("zoe", ASSIGNMENT, "submitted/zoe/x.ipynb", b"{}", None, settings))
    assert outcome["score"] == 0 and "runs grader" in outcome["internal_error"] and "0.0.1+someoneelse" in outcome["internal_error"]
    assert "install the same backprop-ninja on every worker" in outcome["internal_error"]


def test_unreachable_scheduler_is_one_line(tmp_path):
    course = make_course(tmp_path)
    submit(course, "alice")
    run = cli("grade", ASSIGNMENT, "--scheduler", "tcp://127.0.0.1:9", cwd=course)
    assert run.returncode == 2 and "cannot reach the Dask scheduler" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
