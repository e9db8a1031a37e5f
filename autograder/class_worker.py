"""What a grading worker does with one submission: grade it (grading.py) and render what the student sees.

A worker process owns one Grader, so the reference is computed once per worker (torch comes imported: workers are
forked from a server that imported it once for all) and a submission costs only its own runs. It imports nothing of
nbgrader or nbformat (seconds of start-up each): the parent alone writes into the course (class_grading.py). A task
carries the notebook's bytes, not a path, so a Dask worker on another machine needs no shared filesystem, and the
run's settings (settings.py), so no worker grades by its own environment: a worker whose grader code or dataset
differ from the parent's refuses the task.

Whatever fails on the grader's side (its scratch space full, grader_side.py; a bug of ours) is that submission's
internal error, never a grade: the parent records it as such and grades it again on the next run.
"""
import contextlib
import functools
import os
import resource
import signal
import socket
import tempfile
import threading
import time
from dataclasses import dataclass
from multiprocessing import util
from multiprocessing.connection import Connection
from pathlib import Path

from . import assignments
from .grader_side import scratch_unwritable
from .safe_text import safe_text
from .settings import GradingSettings


@dataclass(frozen=True)
class Task:
    student: str
    assignment: str
    notebook: str  # the submission's path inside the course, for messages and the report
    content: bytes | None  # None: the student's folder has no notebook file
    timestamp: str | None
    settings: GradingSettings
    # Which assignment it is graded as: the course's release notebook decides (the parent reads it), never the
    # submission's own metadata. "" for the first assignment.
    graded_as: str = ""


_graders: dict = {}
_started: dict = {}  # limits -> sandboxes start_worker started, until this process's first Grader takes them
_warm_address: list = [None]  # the class run's warm server (the parent's), if it has one


def _start_sandboxes(limits) -> dict:
    """A Grader's two sandboxes, started: each asks the warm server for its zygote (or launches bubblewrap's,
    which imports torch on its own) meanwhile."""
    from .checks import HIDDEN, PUBLIC
    from .sandbox import Sandbox

    sandboxes = {label: Sandbox(limits, _warm_server()) for label in (PUBLIC, HIDDEN)}
    for sandbox in sandboxes.values():
        sandbox.start()
    return sandboxes


def _warm_server() -> str | None:
    """The address of the warm server this worker's sandboxes fork from: the class run's, else (a Dask worker on
    another machine) one of this worker's own, started once."""
    if _warm_address[0] is None:
        from .sandbox import start_warm_server

        server = start_warm_server()
        if server is None:
            return None
        util.Finalize(server, server.close, exitpriority=5)  # after the sandboxes (10), which use it
        _warm_address[0] = server.address
    return _warm_address[0]


def _close_unclaimed():
    for sandboxes in _started.values():
        for sandbox in sandboxes.values():
            sandbox.close()


def worker_grader(settings: GradingSettings, assignment: str | None = None):
    """This process's Grader for these settings, made on first use (a Dask worker's first task), with the
    references of `assignment` (the first task's) made first."""
    key = (settings.hidden_seed, settings.limits, settings.credit)
    if key not in _graders:
        sandboxes = _started.pop(settings.limits, None) or _start_sandboxes(settings.limits)
        import torch

        from .grading import Grader

        torch.set_num_threads(1)  # the workers already use every core; more threads each only contend
        grader = _graders[key] = Grader(settings.limits, hidden_seed=settings.hidden_seed, credit=settings.credit,
                                        datasets=_local_datasets(), sandboxes=sandboxes, first=assignment)  # fmt: skip
        util.Finalize(grader, grader.close, exitpriority=10)  # multiprocessing workers skip atexit
    return _graders[key]


def start_worker(settings: GradingSettings, warm_address: str | None = None):
    """A forked worker's start: only the sandboxes, whose zygotes start while the parent reads the course. The
    Grader (the references) waits for the first task, so a run with nothing to grade, or a course that is not
    ready, ends its workers at once. A failure here is left for the first task to meet and record."""
    # Ctrl-C in the instructor's terminal reaches every process of its group: the parent alone stops the run
    # (class_grading.Stopped) and ends the workers, so none records a task half done.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _warm_address[0] = warm_address
    try:
        _started[settings.limits] = _start_sandboxes(settings.limits)
    except Exception:
        pass


def serve_parent(fd: int, lifeline: int):
    """A worker of a class run on this machine, forked from a warm server (worker_pool.py): torch comes imported.
    On the connection `fd` it is sent its start (the run's settings, the address to fork its zygotes from, the
    run's environment), then one task at a time, each answered with its outcome, until the run closes the
    connection. It ends at once, mid-task too, when the run does (the `lifeline` pipe's write end is the run's)."""
    from . import lean_imports  # noqa: F401  (before nbformat: its import then costs a tenth)

    threading.Thread(target=_end_with_the_run, args=(lifeline,), daemon=True).start()
    connection = Connection(fd)
    settings, zygotes_from, environ = connection.recv()
    # The server's environment is a scrubbed one; the datasets and the scratch space are found by the run's.
    os.environ.clear()
    os.environ.update(environ)
    tempfile.tempdir = None
    start_worker(settings, zygotes_from)
    try:
        while True:
            try:
                task = connection.recv()
            except EOFError:  # the run has ended (or died)
                return
            connection.send(grade_task(task))
    finally:
        close_worker()


def _end_with_the_run(lifeline: int):
    """A worker dies with the server it was forked from, which a kept one (`backprop-ninja serve`) outlives the run
    by: so it also watches the run. The run writes nothing on the lifeline; a read returns when its end closes."""
    try:
        os.read(lifeline, 1)
    finally:
        os._exit(0)


def close_worker():
    """Close this worker's Graders and the sandboxes no Grader took: their zygotes end with them."""
    while _graders:
        _graders.popitem()[1].close()
    _close_unclaimed()
    _started.clear()


def mismatch(settings: GradingSettings) -> str | None:
    """Why this worker cannot grade by these settings: its own grader code or dataset is not the parent's."""
    from . import assignments
    from .settings import grader_version

    if grader_version() != settings.grader:
        return (f"this worker ({socket.gethostname()}) runs grader {grader_version()}, the run asked for "
                f"{settings.grader}: install the same backprop-ninja on every worker")  # fmt: skip
    local = _local_datasets()
    if assignments.dataset_identity(local) != settings.dataset:
        what = "; ".join(f"{data.identity} ({data.source})" for data in local.values())
        how = "; ".join(assignments.get(a).same_dataset for a in local)
        return (f"this worker ({socket.gethostname()}) has the dataset {what}, the run asked for {settings.dataset}: "
                f"{how}")  # fmt: skip
    return None


@functools.cache
def _local_datasets() -> dict:
    from . import assignments

    return assignments.datasets()


class SettingsMismatch(RuntimeError):
    pass


def grade_task(task: Task) -> dict:
    """Grade one submission and render what the student sees. Runs in a worker; returns plain data.

    Whatever goes wrong inside the grader for this one submission comes back as its outcome (an internal error,
    scored 0 and said so), never as an exception that would leave the student out of the gradebook.
    """
    from .notebook import NotGradable

    start, grader = time.perf_counter(), None
    try:
        why = mismatch(task.settings)
        if why:
            raise SettingsMismatch(why)
        grader = worker_grader(task.settings, task.graded_as or None)
        grader.ready_for(task.graded_as or assignments.all_ids()[0])
        start = time.perf_counter()  # the submission's own time: a worker's first task also made its Grader
        with _scratch_copy(task) as path:
            try:
                report, problem = grader.grade(path, task.graded_as or None), None
            except NotGradable as e:
                report, problem = None, str(e).replace(str(path), task.notebook)
        outcome = _outcome(task, report, problem)
    except Exception as e:  # a bug of ours, met on this submission: recorded as such, the batch goes on
        outcome = internal_error_outcome(task, e)
    outcome["seconds"] = time.perf_counter() - start
    outcome["worker"] = {"host": socket.gethostname(), "pid": os.getpid(),
                         "peak_memory_mib": _peak_memory_mib(grader) if grader else None}  # fmt: skip
    return outcome


@contextlib.contextmanager
def _scratch_copy(task: Task):
    """The submission as a file for the Grader, in this worker's scratch space (removed after). A scratch space
    that cannot take it is the grader's failure (GraderSideError), never the student's."""
    scratch = Path(tempfile.gettempdir())
    try:
        folder = tempfile.TemporaryDirectory(prefix="backprop-ninja-submission-", dir=scratch)
    except OSError as e:
        raise scratch_unwritable(scratch, e) from e
    with folder:
        path = Path(folder.name) / Path(task.notebook).name
        try:
            if task.content is not None:
                path.write_bytes(task.content)
        except OSError as e:
            raise scratch_unwritable(scratch, e) from e
        yield path


def _outcome(task: Task, report, problem: str | None) -> dict:
    from .feedback import exercise_section, feedback_page, not_gradable_section
    from .layout import shows_numbers

    graded_as = assignments.get(task.graded_as or assignments.all_ids()[0])
    problem = safe_text(problem) if problem else problem  # it may quote the notebook's path
    if report:
        report.notebook = task.notebook
        outputs = {ex.id: (exercise_section(ex), str(ex), ex.score) for ex in report.exercises}
        sections = [html for html, _, _ in outputs.values()]
    else:
        sections = [not_gradable_section(problem)]
        outputs = {ex.id: (sections[0], f"cannot grade: {problem}", 0.0) for ex in graded_as.exercises}
    score = report.score if report else 0.0
    return {
        "student": task.student,
        "score": score,
        "max_score": graded_as.max_score,
        "graded_as": graded_as.id,
        "scores": {ex_id: s for ex_id, (_, _, s) in outputs.items()},
        "problem": problem,
        "internal_error": None,
        "seconds": 0.0,
        "worker": None,
        "report": report.to_dict() if report else None,
        "check_outputs": outputs,
        "feedback_html": feedback_page(task.student, task.assignment, graded_as, score, sections, task.timestamp,
                                       numbers=bool(report) and shows_numbers(report.exercises)),
    }


def internal_error_outcome(task: Task, error: BaseException) -> dict:
    """A submission the grader failed on: 0 everywhere, the student told it was not their fault, the
    instructor told what failed (the error's type and text, which only the instructor's results keep)."""
    problem = ("the grader failed on this submission (an internal error, not a mistake in your notebook): "
               "your instructor will regrade it")  # fmt: skip
    outcome = _outcome(task, None, problem)
    outcome["internal_error"] = safe_text(f"{type(error).__name__}: {error}"[:2000])
    return outcome


def _peak_memory_mib(grader) -> float:
    """This worker's peak resident memory plus what its sandboxes (the zygotes) hold now."""
    import psutil

    total = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for sandbox in grader.sandboxes.values():
        zygote = sandbox.process
        if zygote is None or zygote.poll() is not None:
            continue
        for pid in _process_tree(zygote.pid):
            try:
                total += psutil.Process(pid).memory_info().rss / 2**20
            except psutil.Error:
                pass
    return round(total, 1)


def _process_tree(pid: int) -> list[int]:
    """pid and its descendants, from the kernel's list of each one's children: psutil's children() reads every
    process on the machine, 6 ms per submission here."""
    tree, frontier = [], [pid]
    while frontier:
        tree += frontier
        children = []
        for parent in frontier:
            try:
                children += [int(c) for c in Path(f"/proc/{parent}/task/{parent}/children").read_text().split()]
            except (OSError, ValueError):
                pass
        frontier = children
    return tree
