"""Grading a class: every submitted notebook of an assignment, in parallel worker processes, resumable.

The workers (class_worker.py) grade and render; the parent alone writes: the gradebook, the autograded notebook,
the feedback page, and last the results JSON (what grading found, the one source the class report reads; its
notebook hash and settings let a re-run skip what is unchanged). The workers are started first (`Workers`), so torch
is imported and their sandboxes start while the parent imports nbgrader and reads the course: nbgrader is
imported here only inside the functions that use it.

A grade is written whole or becomes an internal error: when any of these cannot be written (a full disk, the
gradebook's database failing), that submission is recorded as an internal error wherever it still can be, and no
results file is left that would let the next run skip it. An internal error is never kept as a grade: each run
grades it again.
"""
import contextlib
import dataclasses
import hashlib
import json
import os
import secrets
import shutil
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from .class_worker import Task, grade_task, internal_error_outcome
from .grader_side import GraderSideError, course_unwritable
from .settings import GradingSettings, differences

if TYPE_CHECKING:  # nbgrader, imported where it is used (see above)
    from .course import Course
    from .gradebook import GradebookWriter


@dataclass
class ClassRun:
    graded: list[str] = field(default_factory=list)  # with a grade (0 with the reason when not gradable)
    skipped: list[str] = field(default_factory=list)
    # student -> which settings differ from those their last grade was made under ("hidden seed", ...)
    regraded: dict[str, list[str]] = field(default_factory=dict)
    not_gradable: dict[str, str] = field(default_factory=dict)  # student -> why (recorded as 0)
    # student -> internal error (recorded as 0 with why, wherever it could be written; graded again next run)
    errors: dict[str, str] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)  # folder name -> why it is not a student id


# --- in the parent process ---------------------------------------------------------------------------------------


def sha256(content: bytes | None) -> str:
    return hashlib.sha256(content or b"").hexdigest()


def grade_class(course: "Course", settings: GradingSettings, jobs: int | None = None, force: bool = False,
                scheduler: str | None = None, progress: bool = True, workers: "Workers | None" = None) -> ClassRun:  # fmt: skip
    """Grade every submission of course.assignment that is new, changed or graded under other settings (all of
    them with force). `workers`: ones started earlier (the CLI starts them before it reads the course)."""
    with contextlib.nullcontext(workers) if workers else Workers(settings, jobs, scheduler) as workers:
        return _grade_class(course, settings, force, progress, workers)


def _grade_class(course: "Course", settings: GradingSettings, force: bool, progress: bool, workers: "Workers"):
    run = ClassRun()
    try:
        return _grade_submissions(course, settings, force, progress, workers, run)
    except KeyboardInterrupt:  # Ctrl-C, wherever it lands: what is recorded stays; the next run does the rest
        done = len(run.graded) + len(run.errors)
        left = len(course.students_submitted()) - done - len(run.skipped) - len(run.refused)
        raise Stopped(done, max(left, 0)) from None


def _grade_submissions(course: "Course", settings: GradingSettings, force: bool, progress: bool,
                       workers: "Workers", run: ClassRun) -> ClassRun:  # fmt: skip
    from .course import CourseError
    from .gradebook import GradebookWriter

    gradebook = GradebookWriter(course)  # first: an assignment never generated is the first thing to fix
    students = course.students_submitted()
    if not students:
        gradebook.close()
        raise CourseError(f"no submissions in {course.submitted('*')}: collect them first "
                          f"(`nbgrader collect {course.assignment}` or `nbgrader zip_collect "
                          f"{course.assignment}`)")  # fmt: skip
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
            task = Task(student, course.assignment, str(path.relative_to(course.root)), None, _timestamp(folder),
                        settings, gradebook.graded_as.id)  # fmt: skip
            try:
                content = path.read_bytes() if path.is_file() else None
            except OSError as e:  # the course's disk, not the notebook: graded again next run
                error = GraderSideError(f"the grader could not read {path} ({e.strerror})")
                _record(course, gradebook, run, task, internal_error_outcome(task, error))
                continue
            task = dataclasses.replace(task, content=content)
            previous = read_result(course, student) if gradebook.has_submission(student) else None
            # An internal error (a worker that refused or failed) is never a grade to keep: graded again each run.
            if previous and not force and previous.get("notebook_sha256") == sha256(content) \
                    and not previous.get("internal_error"):  # fmt: skip
                changed = differences(previous.get("settings"), recorded)
                if not changed:
                    run.skipped.append(student)
                    continue
                run.regraded[student] = changed
            tasks.append(task)
        lost = []
        for task, outcome in _graded_as_completed(tasks, workers, progress):
            if isinstance(outcome, BaseException):
                lost.append(task)
            else:
                _record(course, gradebook, run, task, outcome)
        # A worker that died (killed, out of memory) takes every task it held with it: once more, in fresh
        # workers; what fails again is recorded as an internal error, never left out.
        if lost:
            try:
                workers.restart()
            except Exception as e:  # no fresh workers (a server that cannot start): each one lost is an internal error
                for task in lost:
                    _record(course, gradebook, run, task, internal_error_outcome(task, e))
                lost = []
        for task, outcome in _graded_as_completed(lost, workers, progress):
            if isinstance(outcome, BaseException):
                outcome = internal_error_outcome(task, outcome)
            _record(course, gradebook, run, task, outcome)
    finally:
        gradebook.close()
    return run


class Stopped(Exception):
    """A class run stopped by Ctrl-C. Every submission graded before it is recorded whole; the rest are graded by
    the next run (it skips those already graded)."""

    def __init__(self, graded: int, left: int):
        super().__init__(f"stopped: {graded} graded, {left} left; run grade again to go on")


def _record(course: "Course", gradebook: "GradebookWriter", run: ClassRun, task: Task, outcome: dict):
    """Write one submission's outcome into the course; one that cannot be written whole becomes an internal error."""
    failure = _write(course, gradebook, task, outcome)
    if failure and not outcome["internal_error"]:
        outcome = internal_error_outcome(task, failure)
        failure = _write(course, gradebook, task, outcome)
    left = read_result(course, task.student) if failure else None
    if left and not left.get("internal_error"):
        # Not even the internal error's results could be written: an earlier results file must not stay behind,
        # or the next run would skip this submission as graded. (Removing a file needs no room.)
        with contextlib.suppress(OSError):
            (course.results() / f"{task.student}.json").unlink()
    if outcome["internal_error"]:
        run.errors[task.student] = outcome["internal_error"]
        run.regraded.pop(task.student, None)
        return
    run.graded.append(task.student)
    if outcome["problem"]:
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
    return f"{when.year:04d}-{when:%m-%d %H:%M:%S} UTC"  # glibc's %Y leaves year 1 as "1", which reads as 2001


def read_result(course: "Course", student: str) -> dict | None:
    path = course.results() / f"{student}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _graded_as_completed(tasks: list[Task], workers: "Workers", progress: bool):
    """(task, result dict or the exception it raised), in the order they finish, with a progress bar."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    if not tasks:
        return
    bar = Progress(TextColumn("grading"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   TextColumn("{task.description}"), console=Console(stderr=True), disable=not progress)  # fmt: skip
    with bar:
        counter = bar.add_task("", total=len(tasks))
        for task, outcome in workers.grade(tasks):
            bar.update(counter, advance=1, description=task.student)
            yield task, outcome


class Workers:
    """The grading workers: a pool on this machine (worker_pool.py), or a Dask cluster. A pool's workers start as
    this is made (forked with torch imported, each starts its sandboxes), not when the first task is sent."""

    def __init__(self, settings: GradingSettings, jobs: int | None = None, scheduler: str | None = None):
        self.settings, self.jobs, self.scheduler = settings, jobs or os.cpu_count(), scheduler
        self.warm = None  # the warm server the workers and their zygotes fork from (a pool on this machine)
        self.start()

    def start(self):
        if self.scheduler:
            from distributed import Client

            from .course import CourseError

            try:
                self.pool = Client(self.scheduler, timeout=10)
            except (OSError, TimeoutError) as e:
                raise CourseError(f"cannot reach the Dask scheduler at {self.scheduler} ({e})") from None
        else:
            # Not forked from the parent, which holds a database connection, a progress thread and the seed: from
            # the warm server, which imports torch once for every worker and every zygote while this process reads
            # the course (worker_pool.py). Where the kernel refuses the warm sandbox, the workers' zygotes are
            # bubblewrap's, and the workers still come from the server.
            from .sandbox import isolation_kind
            from .warm_server import WarmServer, served_warm_server
            from .worker_pool import WorkerPool

            self.warm = served_warm_server() or WarmServer()  # one `backprop-ninja serve` keeps, else the run's own
            zygotes_from = self.warm.address if isolation_kind() == "warm" else None
            self.pool = WorkerPool(self.warm, self.jobs, self.settings, zygotes_from)

    def __enter__(self):
        return self

    def __exit__(self, kind, *_):
        if kind is not None and issubclass(kind, (KeyboardInterrupt, Stopped)) and not self.scheduler:
            self.kill()
            return
        try:
            self.close()
        except KeyboardInterrupt:  # Ctrl-C while the pool winds down: end it now
            if not self.scheduler:
                self.kill()
            raise

    def kill(self):
        """End the workers now, their tasks with them (their sandboxes die with them): after Ctrl-C nothing they
        would still finish is recorded."""
        self._close_warm_server()  # first: it forks no worker more
        self.pool.kill()

    def restart(self):
        """Fresh workers, after one died."""
        self.close()
        self.start()

    def close(self):
        self.pool.close()
        self._close_warm_server()

    def _close_warm_server(self):
        if self.warm:
            self.warm.close()
            self.warm = None

    def grade(self, tasks: list[Task]):
        """(task, outcome or the exception grading it raised), in the order they finish."""
        if not self.scheduler:
            yield from self.pool.grade(tasks)
            return
        from distributed import as_completed as dask_completed

        futures = {self.pool.submit(grade_task, t, pure=False): t for t in tasks}
        for future in dask_completed(futures):
            try:
                yield futures[future], future.result()
            except Exception as e:  # an internal error grading this one: reported, the others go on
                yield futures[future], e


def _write(course: "Course", gradebook: "GradebookWriter", task: Task, graded: dict) -> Exception | None:
    """Write an outcome where nbgrader and the report read it, the results file last (it lets the next run skip the
    submission). Returns the first failure, None when all is written. A grade stops at its first failure (it is
    written whole or becomes an internal error); an internal error is written wherever it still can be."""
    failure = None
    for write in (_gradebook_row, _autograded_notebook, _feedback_page, _results_file):
        try:
            write(course, gradebook, task, graded)
        except Exception as e:  # a full disk, the gradebook's database, a bug of ours: this submission only
            failure = failure or e
            if not graded["internal_error"]:
                break
    return failure


def _gradebook_row(course: "Course", gradebook: "GradebookWriter", task: Task, graded: dict):
    gradebook.record(task.student, graded["scores"], task.timestamp)


def _autograded_notebook(course: "Course", gradebook: "GradebookWriter", task: Task, graded: dict):
    import nbformat

    from .gradebook import autograded_notebook

    submitted, autograded = course.submitted(task.student), course.autograded(task.student)
    nb = autograded_notebook(gradebook.release, submitted / f"{gradebook.notebook}.ipynb", graded["check_outputs"],
                             gradebook.graded_as)  # fmt: skip
    with _writing("the autograded notebook", autograded):
        # As nbgrader's autograde: the submission's other files (timestamp.txt, submission_secret.txt) come along.
        shutil.rmtree(autograded, ignore_errors=True)
        shutil.copytree(submitted, autograded, ignore=shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints"))
        nbformat.write(nb, autograded / f"{gradebook.notebook}.ipynb")


def _feedback_page(course: "Course", gradebook: "GradebookWriter", task: Task, graded: dict):
    feedback = course.feedback(task.student)
    with _writing("the feedback page", feedback):
        feedback.mkdir(parents=True, exist_ok=True)
        (feedback / f"{gradebook.notebook}.html").write_text(graded["feedback_html"])
        _write_release_files(course.submitted(task.student), feedback,
                             task.timestamp or utc_text(datetime.now(timezone.utc)))  # fmt: skip


def _results_file(course: "Course", gradebook: "GradebookWriter", task: Task, graded: dict):
    record = {key: graded[key] for key in ("student", "score", "max_score", "graded_as", "scores", "problem",
                                           "internal_error", "seconds", "worker", "report")}  # fmt: skip
    record.update(notebook=task.notebook, notebook_sha256=sha256(task.content), timestamp=task.timestamp,
                  settings=task.settings.record(), graded_at=utc_text(datetime.now(timezone.utc)))  # fmt: skip
    folder = course.results()
    # Whole or not at all: a disk that fills half way leaves the earlier file, never half of a new one.
    partial = folder / f".{task.student}.json.partial"
    with _writing("the results file", folder):
        folder.mkdir(parents=True, exist_ok=True)
        try:
            partial.write_text(json.dumps(record))  # no indent: json's C encoder, 10x faster
            os.replace(partial, folder / f"{task.student}.json")
        finally:
            partial.unlink(missing_ok=True)


@contextlib.contextmanager
def _writing(what: str, folder: Path):
    """A failure to write `what` into `folder`, said in the one line of a grader-side failure."""
    try:
        yield
    except OSError as e:
        raise course_unwritable(what, folder, e) from e


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
