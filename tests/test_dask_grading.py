"""`backprop-ninja grade --scheduler`: the same grading on a Dask cluster (here a LocalCluster on loopback)."""
import json
import os

import pytest
from courses import ASSIGNMENT, cli, gradebook_scores, make_course, submit

from distributed import Client, LocalCluster

from autograder.checks import EXERCISES


@pytest.fixture
def cluster():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:  # fmt: skip
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


def test_unreachable_scheduler_is_one_line(tmp_path):
    course = make_course(tmp_path)
    submit(course, "alice")
    run = cli("grade", ASSIGNMENT, "--scheduler", "tcp://127.0.0.1:9", cwd=course)
    assert run.returncode == 2 and "cannot reach the Dask scheduler" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1
