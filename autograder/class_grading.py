"""Grading a class: every submitted notebook of an assignment, in parallel worker processes, resumable.

Each worker process owns one Grader, so torch is imported and the reference computed once per worker and a
submission costs only its own runs. A task carries the notebook's bytes, not a path, so a Dask worker on another
machine needs no shared filesystem, and the run's settings (settings.py), so no worker grades by its own
environment: a worker whose grader code or dataset differ from the parent's refuses the task. Workers grade and
render (tables, heatmaps); the parent alone writes: the gradebook, the autograded notebook, the feedback page, and
last the results JSON (what grading found, the one source the class report reads; its notebook hash and settings
let a re-run skip what is unchanged).
"""
import functools
import hashlib
import json
import os
import resource
import secrets
import shutil
import socket
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime, timezone
from multiprocessing import get_context, util
from pathlib import Path

import nbformat

from .checks import EXERCISES, MAX_SCORE
from .course import Course, CourseError
from .gradebook import GradebookWriter, autograded_notebook
from .settings import GradingSettings, differences


@dataclass(frozen=True)
class Task:
    student: str
    assignment: str
    notebook: str  # the submission's path inside the course, for messages and the report
    content: bytes | None  # None: the student's folder has no notebook file
    timestamp: str | None
    settings: GradingSettings


@dataclass
class ClassRun:
    graded: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    # student -> which settings differ from those their last grade was made under ("hidden seed", ...)
    regraded: dict[str, list[str]] = field(default_factory=dict)
    not_gradable: dict[str, str] = field(default_factory=dict)  # student -> why (recorded as 0)
    errors: dict[str, str] = field(default_factory=dict)  # student -> internal error (recorded as 0, with why)
    refused: dict[str, str] = field(default_factory=dict)  # folder name -> why it is not a student id


# --- in the worker process ---------------------------------------------------------------------------------------

_graders: dict = {}


def worker_grader(settings: GradingSettings):
    """This process's Grader for these settings, made on first use (a Dask worker's first task)."""
    key = (settings.hidden_seed, settings.limits, settings.credit)
    if key not in _graders:
        import torch

        from .grading import Grader

        torch.set_num_threads(1)  # the workers already use every core; more threads each only contend
        grader = _graders[key] = Grader(settings.limits, hidden_seed=settings.hidden_seed, credit=settings.credit,
                                        words=_local_words())  # the words mismatch() checked  # fmt: skip
        util.Finalize(grader, grader.close, exitpriority=10)  # multiprocessing workers skip atexit
    return _graders[key]


def start_worker(settings: GradingSettings):
    """The pool's initializer: the Grader made before the first task. A failure here is left for the first task
    to meet and record (an initializer that raises would break the whole pool)."""
    try:
        worker_grader(settings)
    except Exception:
        pass


def mismatch(settings: GradingSettings) -> str | None:
    """Why this worker cannot grade by these settings: its own grader code or dataset is not the parent's."""
    from .settings import grader_version

    if grader_version() != settings.grader:
        return (f"this worker ({socket.gethostname()}) runs grader {grader_version()}, the run asked for "
                f"{settings.grader}: install the same backprop-ninja on every worker")  # fmt: skip
    words = _local_words()
    if words.identity != settings.dataset:
        return (f"this worker ({socket.gethostname()}) has the dataset {words.identity} ({words.source}), the run "
                f"asked for {settings.dataset}: give every worker the same names.txt ($BACKPROP_NINJA_NAMES)")  # fmt: skip
    return None


@functools.cache
def _local_words():
    from . import data

    return data.load_words()


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
        grader = worker_grader(task.settings)
        with tempfile.TemporaryDirectory(prefix="backprop-ninja-submission-") as tmp:
            path = Path(tmp) / Path(task.notebook).name
            if task.content is not None:
                path.write_bytes(task.content)
            try:
                report, problem = grader.grade(path), None
            except NotGradable as e:
                report, problem = None, str(e).replace(str(path), task.notebook)
        outcome = _outcome(task, report, problem)
    except Exception as e:  # a bug of ours, met on this submission: recorded as such, the batch goes on
        outcome = internal_error_outcome(task, e)
    outcome["seconds"] = time.perf_counter() - start
    outcome["worker"] = {"host": socket.gethostname(), "pid": os.getpid(),
                         "peak_memory_mib": _peak_memory_mib(grader) if grader else None}  # fmt: skip
    return outcome


def _outcome(task: Task, report, problem: str | None) -> dict:
    from .feedback import exercise_section, feedback_page, not_gradable_section

    if report:
        report.notebook = task.notebook
        outputs = {ex.id: (exercise_section(ex), str(ex), ex.score) for ex in report.exercises}
        sections = [html for html, _, _ in outputs.values()]
    else:
        sections = [not_gradable_section(problem)]
        outputs = {ex.id: (sections[0], f"cannot grade: {problem}", 0.0) for ex in EXERCISES}
    score = report.score if report else 0.0
    return {
        "student": task.student,
        "score": score,
        "max_score": MAX_SCORE,
        "scores": {ex_id: s for ex_id, (_, _, s) in outputs.items()},
        "problem": problem,
        "internal_error": None,
        "seconds": 0.0,
        "worker": None,
        "report": report.to_dict() if report else None,
        "check_outputs": outputs,
        "feedback_html": feedback_page(task.student, task.assignment, score, sections, task.timestamp),
    }


def internal_error_outcome(task: Task, error: BaseException) -> dict:
    """A submission the grader failed on: 0 everywhere, the student told it was not their fault, the
    instructor told what failed (the error's type and text, which only the instructor's results keep)."""
    problem = ("the grader failed on this submission (an internal error, not a mistake in your notebook): "
               "your instructor will regrade it")  # fmt: skip
    outcome = _outcome(task, None, problem)
    outcome["internal_error"] = f"{type(error).__name__}: {error}"[:2000]
    return outcome


def _peak_memory_mib(grader) -> float:
    """This worker's peak resident memory plus what its sandboxes (the zygotes) hold now."""
    import psutil

    total = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for sandbox in grader.sandboxes.values():
        zygote = sandbox.process
        if zygote is None or zygote.poll() is not None:
            continue
        try:
            root = psutil.Process(zygote.pid)
            for p in [root, *root.children(recursive=True)]:
                total += p.memory_info().rss / 2**20
        except psutil.Error:
            pass
    return round(total, 1)


# --- in the parent process ---------------------------------------------------------------------------------------


def sha256(content: bytes | None) -> str:
    return hashlib.sha256(content or b"").hexdigest()


def grade_class(course: Course, settings: GradingSettings, jobs: int | None = None, force: bool = False,
                scheduler: str | None = None, progress: bool = True) -> ClassRun:  # fmt: skip
    """Grade every submission of course.assignment that is new, changed or graded under other settings (all of
    them with force)."""
    students = course.students_submitted()
    if not students:
        raise CourseError(f"no submissions in {course.submitted('*')}: collect them first "
                          f"(`nbgrader collect {course.assignment}` or `nbgrader zip_collect`)")  # fmt: skip
    gradebook = GradebookWriter(course)
    run = ClassRun()
    recorded = settings.record()
    try:
        tasks = []
        for student in students:
            why = refused_student_id(student)
            if why:
                run.refused[student] = why
                continue
            folder = course.submitted(student)
            path = folder / f"{gradebook.notebook}.ipynb"
            content = path.read_bytes() if path.is_file() else None
            previous = read_result(course, student) if gradebook.has_submission(student) else None
            # An internal error (a worker that refused or failed) is never a grade to keep: graded again each run.
            if previous and not force and previous.get("notebook_sha256") == sha256(content) \
                    and not previous.get("internal_error"):  # fmt: skip
                changed = differences(previous.get("settings"), recorded)
                if not changed:
                    run.skipped.append(student)
                    continue
                run.regraded[student] = changed
            tasks.append(Task(student, course.assignment, str(path.relative_to(course.root)), content,
                              _timestamp(folder), settings))  # fmt: skip
        lost = []
        for task, outcome in _graded_as_completed(tasks, jobs, scheduler, progress):
            if isinstance(outcome, BaseException):
                lost.append(task)
            else:
                _record(course, gradebook, run, task, outcome)
        # A worker that died (killed, out of memory) takes every task it held with it: once more, in fresh
        # workers; what fails again is recorded as an internal error, never left out.
        for task, outcome in _graded_as_completed(lost, jobs, scheduler, progress):
            if isinstance(outcome, BaseException):
                outcome = internal_error_outcome(task, outcome)
            _record(course, gradebook, run, task, outcome)
    finally:
        gradebook.close()
    return run


def _record(course: Course, gradebook: GradebookWriter, run: ClassRun, task: Task, outcome: dict):
    _write(course, gradebook, task, outcome)
    run.graded.append(task.student)
    if outcome["internal_error"]:
        run.errors[task.student] = outcome["internal_error"]
    elif outcome["problem"]:
        run.not_gradable[task.student] = outcome["problem"]


def refused_student_id(student: str) -> str | None:
    """Why a submitted folder's name cannot be a student id (it goes into the gradebook, pages and a CSV)."""
    if not student.isprintable() or student != student.strip() or len(student) > 100:
        return "its name is not a student id (unprintable characters, spaces at its ends, or too long): rename it"
    return None


def _timestamp(folder: Path) -> str | None:
    """The submission time nbgrader's collect wrote, if there is a readable one."""
    from nbgrader.utils import parse_utc

    try:
        text = (folder / "timestamp.txt").read_text()[:100].strip()
        when = parse_utc(text) if text else None
    except (OSError, ValueError, OverflowError, TypeError):
        return None
    # Written back in one form, not as the file had it: nothing else of that file reaches a page or CSV.
    return utc_text(when) if when else None


def utc_text(when: datetime) -> str:
    """Every time a result, page or CSV shows, in one form: 2026-03-01 09:30:00 UTC (nbgrader parses it back)."""
    when = when.replace(tzinfo=timezone.utc) if when.tzinfo is None else when.astimezone(timezone.utc)  # naive: UTC
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")


def read_result(course: Course, student: str) -> dict | None:
    path = course.results() / f"{student}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _graded_as_completed(tasks: list[Task], jobs: int | None, scheduler: str | None, progress: bool):
    """(task, result dict or the exception it raised), in the order they finish, with a progress bar."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    if not tasks:
        return
    bar = Progress(TextColumn("grading"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("{task.description}"), console=Console(stderr=True), disable=not progress)  # fmt: skip
    with _executor(tasks[0], jobs, scheduler) as submit, bar:
        counter = bar.add_task("", total=len(tasks))
        for task, outcome in submit(tasks):
            bar.update(counter, advance=1, description=task.student)
            yield task, outcome


class _executor:
    """A process pool on this machine, or a Dask cluster; either way `submit(tasks)` yields (task, outcome)."""

    def __init__(self, first: Task, jobs: int | None, scheduler: str | None):
        self.first, self.jobs, self.scheduler = first, jobs, scheduler

    def __enter__(self):
        if self.scheduler:
            from distributed import Client

            try:
                self.pool = Client(self.scheduler, timeout=10)
            except (OSError, TimeoutError) as e:
                raise CourseError(f"cannot reach the Dask scheduler at {self.scheduler} ({e})") from None
        else:
            # spawn: the parent holds a database connection and a progress thread, which a fork would copy.
            self.pool = ProcessPoolExecutor(self.jobs or os.cpu_count(), mp_context=get_context("spawn"),
                                            initializer=start_worker, initargs=(self.first.settings,))  # fmt: skip
        return self.submit

    def __exit__(self, *exc):
        if self.scheduler:
            self.pool.close()
        else:
            self.pool.shutdown(cancel_futures=True)

    def submit(self, tasks: list[Task]):
        if self.scheduler:
            from distributed import as_completed as dask_completed

            futures = {self.pool.submit(grade_task, t, pure=False): t for t in tasks}
            finished = dask_completed(futures)
        else:
            futures = {self.pool.submit(grade_task, t): t for t in tasks}
            finished = as_completed(futures)
        for future in finished:
            try:
                yield futures[future], future.result()
            except Exception as e:  # an internal error grading this one: reported, the others go on
                yield futures[future], e


def _write(course: Course, gradebook: GradebookWriter, task: Task, graded: dict):
    student = task.student
    submitted, autograded, feedback = course.submitted(student), course.autograded(student), course.feedback(student)
    gradebook.record(student, graded["scores"], task.timestamp)
    # As nbgrader's autograde: the submission's other files (timestamp.txt, submission_secret.txt, data) come along.
    shutil.rmtree(autograded, ignore_errors=True)
    shutil.copytree(submitted, autograded, ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints"))
    release = course.release() / f"{gradebook.notebook}.ipynb"
    nb = autograded_notebook(release, submitted / f"{gradebook.notebook}.ipynb", graded["check_outputs"])
    nbformat.write(nb, autograded / f"{gradebook.notebook}.ipynb")
    feedback.mkdir(parents=True, exist_ok=True)
    (feedback / f"{gradebook.notebook}.html").write_text(graded["feedback_html"])
    graded_at = datetime.now(timezone.utc)
    _write_release_files(submitted, feedback, task.timestamp or utc_text(graded_at))
    record = {key: graded[key] for key in ("student", "score", "max_score", "scores", "problem", "internal_error",
                                           "seconds", "worker", "report")}  # fmt: skip
    record.update(notebook=task.notebook, notebook_sha256=sha256(task.content), timestamp=task.timestamp,
                  settings=task.settings.record(), graded_at=utc_text(graded_at))  # fmt: skip
    course.results().mkdir(parents=True, exist_ok=True)
    (course.results() / f"{student}.json").write_text(json.dumps(record, indent=1))


def _write_release_files(submitted: Path, feedback: Path, timestamp: str):
    """What `nbgrader release_feedback` reads beside each page: timestamp.txt and submission_secret.txt.

    The secret names the page's file in the exchange (a hash of it), so only the student who submitted with it
    finds their page with `fetch_feedback`. A submission that came another way (zip_collect, copied in) has none:
    it gets a random one of its own, kept across regrades, so its page is released without crashing and without
    landing where anyone can guess; such students get their page another way (it is a single HTML file). The
    timestamp is only logged by release_feedback: the submission's own when known, else when it was graded.
    """
    if (submitted / "submission_secret.txt").is_file():
        shutil.copy(submitted / "submission_secret.txt", feedback / "submission_secret.txt")
    elif not (feedback / "submission_secret.txt").is_file():
        (feedback / "submission_secret.txt").write_text(secrets.token_hex(16))
    (feedback / "timestamp.txt").write_text(timestamp)
