"""The command line: `backprop-ninja check NOTEBOOK`, `notebook [DIR]`, `convert LECTURE_NB [OUT]`, `grade ASSIGNMENT`,
`report ASSIGNMENT`, `doctor`, `serve`.

Exit codes of `check`: 0 full marks, 1 anything short of it, 2 the notebook cannot be graded at all.
Exit codes of `grade` and `report`: 0 done, 1 an internal error on some submission (the grader's side, such as a
full disk: not a grade, and the next `grade` retries it), 2 the course or a setting is not ready (nothing is graded
or recorded then) or, for `report`, a disk that cannot take it. A user's mistake is one line on stderr, never a
traceback; so is a full disk (for `check`, its scratch space: exit 2).
"""
import argparse
import contextlib
import json
import os
import shutil
import sys
import sysconfig
from pathlib import Path

from . import lean_imports  # noqa: F401  (first: it keeps a second of imports out of every command)
from .checks import DEFAULT_HIDDEN_SEED


def _settings(args, for_class: bool):
    """The run's settings, validated here, before any grading starts (settings.py). Raises SettingsError."""
    from .sandbox import Limits
    from .settings import GradingSettings

    limits = Limits(timeout=args.timeout, memory_gib=args.memory)
    return GradingSettings.resolve(args.hidden_seed, limits, args.credit, for_class=for_class)


def fail(message: str) -> int:
    from .safe_text import safe_text

    print(f"backprop-ninja: {safe_text(message)}", file=sys.stderr)  # it may quote a file's name
    return 2


def cmd_check(args) -> int:
    import tempfile
    from pathlib import Path

    from .grader_side import DISK_FULL, GraderSideError, scratch_unwritable
    from .notebook import NotGradable, read_submission
    from .settings import SettingsError

    try:
        settings = _settings(args, for_class=False)
        read_submission(args.notebook)  # fail fast, before torch is even imported, on a file that is not a notebook
        from .grading import Grader

        with Grader(settings.limits, hidden_seed=settings.hidden_seed, credit=settings.credit) as grader:
            report = grader.grade(args.notebook)
            warm = warm_server_said(grader.warm, "this check's own") if grader.warm else "none (bubblewrap's sandboxes)"
    except NotGradable as e:
        return fail(f"cannot grade {e}")
    except (SettingsError, RuntimeError) as e:  # a setting that cannot be used, no sandbox
        return fail(str(e))
    except GraderSideError as e:  # the grader's own scratch space: never a grade
        return fail(str(e))
    except OSError as e:
        if e.errno not in DISK_FULL:
            raise
        return fail(str(scratch_unwritable(Path(tempfile.gettempdir()), e)))  # the only place `check` writes
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        from rich.console import Console

        from .render import report_renderables

        console = Console(highlight=False)  # the terminal's own width and colours (none when piped, or NO_COLOR)
        if args.verbose:
            console.print(f"Isolation: {report.isolation}\nWarm server: {warm}\nDataset: {report.dataset}\n"
                          f"Settings: {settings.summary()}\n", markup=False)  # fmt: skip
        for part in report_renderables(report, every_row=args.all):
            console.print(part)
    return 0 if report.full_marks else 1


def cmd_notebook(args) -> int:
    from pathlib import Path

    from . import assignments
    from .student_notebook import write_notebook

    assignment = assignments.get(args.assignment)
    path = Path(args.dir) / f"{assignment.id}.ipynb"
    if path.exists() and not args.force:
        return fail(f"{path} already exists: your work may be in it (--force writes over it, or give another folder)")
    write_notebook(assignment, path)
    print(f"Wrote {path}: open it in Jupyter, then `backprop-ninja check {path}` grades it")
    return 0


def cmd_convert(args) -> int:
    from pathlib import Path

    from .notebook import LECTURE, NotGradable, read_submission

    try:
        submission = read_submission(args.notebook)
    except NotGradable as e:
        return fail(f"cannot convert {e}")
    if submission.format != LECTURE:
        return fail(f"{args.notebook} is already our notebook: `backprop-ninja check {args.notebook}` grades it")
    assignment = submission.assignment
    out = Path(args.out) if args.out else Path(args.notebook).with_name(f"{assignment.id}.ipynb")
    if out.exists() and not args.force:
        return fail(f"{out} already exists (--force writes over it, or give another file)")
    filled = assignment.lecture_reader().convert(submission.cells, out)
    stubs = [f"{ex_id} ({cell.problem or 'not answered yet'})" for ex_id, cell in submission.cells.items()
             if ex_id not in filled]  # fmt: skip
    print(f"Wrote {out} with your answers to {', '.join(filled) or 'no exercise'}"
          + (f"; left as stubs: {', '.join(stubs)}" if stubs else ""))  # fmt: skip
    return 0


def cmd_grade(args) -> int:
    from . import cgroup
    from .class_grading import Stopped, Workers, grade_class
    from .settings import NOT_RECORDED, SETTING_NAMES, SettingsError

    missing = [tool for tool in ("alembic", "jupyter") if shutil.which(tool) is None]
    if missing:
        return fail(f"nbgrader needs {' and '.join(missing)} on PATH and none is installed beside backprop-ninja: "
                    "install nbgrader into the same environment (pip install nbgrader)")  # fmt: skip
    try:
        settings = _settings(args, for_class=True)
    except SettingsError as e:
        return fail(str(e))
    from .course import CourseError  # nbgrader: seconds to import, while the workers start

    try:
        with Workers(settings, args.jobs, args.scheduler) as workers:
            from .course import Course

            course = Course(args.course_dir, args.assignment)
            print(f"Grading with {settings.summary()}.", flush=True)
            if args.scheduler is None:
                print(f"Warm server: {warm_server_said(workers.warm)}.", flush=True)
            if args.scheduler is None and (kernel := cgroup.mechanism()) == cgroup.NONE_HERE:
                print(f"Limits: {kernel}.", flush=True)
            run = grade_class(course, settings, force=args.force, workers=workers)
    except CourseError as e:
        return fail(str(e))
    except Stopped as e:
        print(f"backprop-ninja: {e}", file=sys.stderr)
        return 130  # a shell's code for a run ended by Ctrl-C
    except KeyboardInterrupt:  # before grading began, or after it ended (Stopped covers what lies between)
        print("backprop-ninja: stopped", file=sys.stderr)
        return 130
    regraded = ""
    if run.regraded:
        reasons = [*SETTING_NAMES.values(), NOT_RECORDED]
        changed = [name for name in reasons if any(name in names for names in run.regraded.values())]
        regraded = f" ({len(run.regraded)} of them graded before under other settings: {', '.join(changed)})"
    print(f"Graded {len(run.graded)}{regraded}, skipped {len(run.skipped)} unchanged (--force regrades them).")
    for student, problem in run.not_gradable.items():
        print(f"  {student}: scored 0, cannot grade {problem}")
    for student, error in run.errors.items():
        print(f"  {student}: not graded, an internal error: {error}")
    for folder, why in run.refused.items():
        print(f"backprop-ninja: not graded: the submission folder {folder!r}: {why}", file=sys.stderr)
    print(f"Scores are in the gradebook ({course.db_url}); feedback pages in {course.feedback('*')}")
    if run.errors:
        count = f"{len(run.errors)} internal error{'s' if len(run.errors) > 1 else ''}"
        print(f"backprop-ninja: {count} (the grader's side, not the students'): "
              f"running `backprop-ninja grade {args.assignment}` again retries "
              f"{'them' if len(run.errors) > 1 else 'it'}", file=sys.stderr)  # fmt: skip
    return 1 if run.errors or run.refused else 0


def cmd_report(args) -> int:
    from .class_report import write_report
    from .course import Course, CourseError
    from .grader_side import GraderSideError

    try:
        course = Course(args.course_dir, args.assignment)
        page, table = write_report(course)
    except (CourseError, GraderSideError) as e:  # GraderSideError: a disk that cannot take the report
        return fail(str(e))
    print_scores(course)
    print(f"Class report: {page}\nOne row per submission: {table}")
    return 0


def print_scores(course):
    """The class's scores, one row per student, at the terminal's width."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from .class_report import assignment_of, load_results, row, seeds_used

    results = load_results(course)
    exercises = assignment_of(results).exercises
    table = Table(title=f"{course.assignment}: {len(results)} submissions", title_justify="left", show_edge=False)
    columns = ["student", "score", *(ex.id for ex in exercises), "status", "submitted"]
    for column in columns:
        table.add_column(column, overflow="fold", justify="left" if column in ("student", "status", "submitted") else "right")
    for r in map(row, results):
        cells = [r["student"], f"{r['score']}/{r['max_score']}", *(r[ex.id] for ex in exercises), r["status"],
                 r["timestamp"] or "not recorded"]  # fmt: skip
        table.add_row(*map(Text, cells))  # Text, not markup: a student id may hold [brackets]
    console = Console(highlight=False)
    console.print(table)
    console.print(f"Graded with {seeds_used(results)}", markup=False)


def warm_server_said(warm, own: str = "this run's own") -> str:
    """Which warm server a run forks from, in a few words, and why not a kept one where one runs for other code."""
    from .settings import grader_version
    from .warm_server import other_graders_served

    if getattr(warm, "served", None):
        return f"the one backprop-ninja serve keeps (pid {warm.pid})"
    others = other_graders_served()
    if others:
        return (f"{own}: backprop-ninja serve runs grader {', '.join(others)}, not this one ({grader_version()}); "
                "start it again to use it")  # fmt: skip
    return f"{own} (backprop-ninja serve would keep one across runs)"


def cmd_serve(args) -> int:
    """Keep a warm server for this grader until Ctrl-C (or SIGTERM): each grade and check then forks from it."""
    import signal

    signal.signal(signal.SIGTERM, _stop)  # a service manager's stop, or `kill`: what Ctrl-C does
    from .settings import grader_version
    from .warm_server import STARTUP_SECONDS, WarmServer, own_folder, ping, served_address, served_folder

    version = grader_version()
    folder, address = served_folder(), served_address(version)
    if not own_folder(folder, make=True):
        return fail(f"{folder} is not a folder of yours alone (another user's, open to others, or a link): "
                    "remove it, or set TMPDIR to a scratch folder of your own")  # fmt: skip
    running = ping(address, seconds=5) if os.path.exists(address) else None
    if running:
        print(f"backprop-ninja serve already keeps a warm server for grader {version} (pid {running['pid']})")
        return 0
    with contextlib.suppress(FileNotFoundError):
        os.unlink(address)  # one a server killed without its clean-up left
    try:
        server = WarmServer(served=version)
    except OSError as e:  # a socket's address holds 107 bytes at most
        return fail(f"cannot listen at {address} ({e.strerror or e}): set TMPDIR to a shorter scratch folder")
    try:
        changed = lambda: grader_version.__wrapped__() != version  # noqa: E731  (the code on disk, now)
        if ping(address, seconds=STARTUP_SECONDS) is None:
            return fail("the grader's code changed while the server started: start it again" if changed()
                        else "the warm server did not start: run `backprop-ninja doctor`")  # fmt: skip
        print(f"Keeping a warm server for grader {version} (pid {server.process.pid}, {_memory_mib(server.process.pid)}"
              " MiB): grade and check fork from it. Ctrl-C stops it.", flush=True)  # fmt: skip
        server.process.wait()
        if changed():
            return fail("the grader's code changed since the server started (an upgrade?): start "
                        "`backprop-ninja serve` again")  # fmt: skip
        return fail("the warm server ended on its own (killed?): run `backprop-ninja doctor`, then start "
                    "`backprop-ninja serve` again")  # fmt: skip
    except KeyboardInterrupt:
        print("backprop-ninja serve: stopped", file=sys.stderr)
        return 0
    finally:
        server.close()


def _stop(signum, frame):
    raise KeyboardInterrupt


def _memory_mib(pid: int) -> int:
    """A process's proportional share of memory (what it alone costs the machine, its shared pages divided)."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return round(int(line.split()[1]) / 1024)
    except (OSError, ValueError, IndexError):
        pass
    return 0


def cmd_doctor(args) -> int:
    """Exit 1 when student code would run with any capability or as root: CI (as root) fails on that."""
    from . import assignments, cgroup, syscall_filter
    from .sandbox import isolation_in_force, run_privileges, uid_outside
    from .warm_server import served_warm_server
    from .zygote import limits_mechanism

    print(f"Isolation: {isolation_in_force()}")
    inside = run_privileges()
    privileged = False
    if inside:
        caps = {name: inside[name] for name in ("CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd")}
        privileged = inside["uid"] == 0 or any(caps[name] for name in ("CapEff", "CapPrm", "CapAmb"))
        held = ", ".join(f"{name} {value:#x}" for name, value in caps.items() if value) or "none"
        print(f"Student code runs as: uid {inside['uid']} in the sandbox (outside it: {uid_outside()}); "
              f"capabilities: {held}; no_new_privs: {inside['no_new_privs']}")  # fmt: skip
    filter_refused = inside["syscall_filter_refused"] if inside else syscall_filter.probe()
    print(f"System calls: {syscall_filter.describe(filter_refused)}")
    print(f"Limits: {limits_mechanism()}; {cgroup.mechanism()}")
    served = served_warm_server()
    print(f"Warm server: {warm_server_said(served, own='each run starts its own')}")
    try:
        for assignment, data in assignments.datasets().items():
            print(f"Dataset ({assignment}): {data.source}")
    except RuntimeError as e:
        print(f"Dataset: {e}")
    if privileged:
        print("backprop-ninja: student code would run with privileges in the sandbox: do not grade here",
              file=sys.stderr)  # fmt: skip
    return 1 if privileged else 0


def positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"give a number, not {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
    return value


def whole_number(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("give a whole number of at least 1")
    return int(text)


class Parser(argparse.ArgumentParser):
    """argparse, with a mistake in the options said in one line (argparse's own adds the whole usage)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from .assignments import all_ids

    assignment_ids = all_ids()
    parser = Parser(prog="backprop-ninja", description="Check and grade the backprop ninja exercises.")
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="grade one notebook and print the cmp tables and the score")
    check.add_argument("notebook", help=f"your notebook ({', '.join(f'{a}.ipynb' for a in assignment_ids)}), or your "
                       "filled-in copy of a lecture's own notebook (makemore_part4_backprop.ipynb, "
                       "micrograd_exercises.ipynb)")
    check.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    check.add_argument("--verbose", action="store_true", help="also say which isolation and dataset are in use")
    check.add_argument("--all", action="store_true", help="every check's row, not only the mistakes' (no folded lines)")
    check.set_defaults(run=cmd_check)

    grade = sub.add_parser("grade", help="grade every submitted notebook of an nbgrader course, in parallel")
    grade.add_argument("assignment", help="the nbgrader assignment, e.g. backprop_ninja")
    grade.add_argument("--jobs", type=whole_number, default=None, help="worker processes (default: all cores)")
    grade.add_argument("--force", action="store_true", help="regrade submissions already graded and unchanged")
    grade.add_argument("--scheduler", help="grade on a Dask cluster instead, e.g. tcp://HOST:8786")
    grade.set_defaults(run=cmd_grade)

    notebook = sub.add_parser("notebook", help="write a fresh copy of the exercise notebook")
    notebook.add_argument("dir", nargs="?", default=".", help="the folder to write ASSIGNMENT.ipynb in (default: here)")
    notebook.add_argument("--assignment", default=assignment_ids[0], choices=assignment_ids,
                          help=f"which assignment's notebook (default: {assignment_ids[0]})")
    notebook.add_argument("--force", action="store_true", help="write over a notebook already there")
    notebook.set_defaults(run=cmd_notebook)

    convert = sub.add_parser("convert", help="write our notebook with the answers of a filled-in lecture notebook")
    convert.add_argument("notebook", help="your copy of a lecture's own notebook (makemore_part4_backprop.ipynb, "
                         "micrograd_exercises.ipynb)")
    convert.add_argument("out", nargs="?", help="the notebook to write (default: ASSIGNMENT.ipynb beside it: "
                         "backprop_ninja.ipynb, micrograd.ipynb)")
    convert.add_argument("--force", action="store_true", help="write over the output if it exists")
    convert.set_defaults(run=cmd_convert)

    report = sub.add_parser("report", help="write the class report (HTML and CSV) from the last grading")
    report.add_argument("assignment", help="the nbgrader assignment, e.g. backprop_ninja")
    report.set_defaults(run=cmd_report)

    for p in (grade, report):
        p.add_argument("--course-dir", default=".", help="the nbgrader course folder (default: here)")

    doctor = sub.add_parser("doctor", help="say which isolation is in force and which dataset is used")
    doctor.set_defaults(run=cmd_doctor)

    serve = sub.add_parser("serve", help="keep torch imported for grade and check to fork from, until Ctrl-C")
    serve.set_defaults(run=cmd_serve)

    for p in (check, grade):
        p.add_argument("--timeout", type=positive, default=60.0, help="seconds each exercise may run (default 60)")
        p.add_argument("--memory", type=positive, default=4.0, help="GiB each exercise may use (default 4)")
        p.add_argument("--credit", choices=("strict", "local"), default="strict",
                       help="strict (default): a gradient scores when it is right; local: also when it is right "
                            "given the student's own upstream gradients, so one early slip costs one point")
    check.add_argument("--hidden-seed", default=None, help="the seed students never see (default "
                       f"$BACKPROP_NINJA_HIDDEN_SEED, else the published {DEFAULT_HIDDEN_SEED})")  # fmt: skip
    grade.add_argument("--hidden-seed", default=None, help="the seed students never see (default "
                       "$BACKPROP_NINJA_HIDDEN_SEED; one of them is required: choose your own)")  # fmt: skip
    return parser


class _ReaderMayLeave:
    """stdout for a command whose reader may stop early (`backprop-ninja check NB | head`): from then on the
    output goes nowhere and the command finishes as it would have, with its own exit code."""

    def __init__(self, stream):
        self.stream = stream

    def write(self, text):
        try:
            return self.stream.write(text)
        except BrokenPipeError:
            self._gone()
            return len(text)

    def flush(self):
        try:
            self.stream.flush()
        except BrokenPipeError:
            self._gone()

    def _gone(self):
        # What is still buffered would fail again at exit: the descriptor now leads to /dev/null.
        os.dup2(os.open(os.devnull, os.O_WRONLY), self.stream.fileno())

    def __getattr__(self, name):
        return getattr(self.stream, name)


def tools_on_path():
    """nbgrader runs the tools installed beside it (alembic, jupyter) by name, from PATH: put this environment's
    scripts folder first, so `grade` works from a venv that is not activated, by absolute path, or under pipx."""
    scripts = sysconfig.get_path("scripts")
    folders = os.environ.get("PATH", "").split(os.pathsep)
    if scripts and os.path.isdir(scripts) and scripts not in folders:
        os.environ["PATH"] = os.pathsep.join([scripts, *filter(None, folders)])


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    tools_on_path()
    sys.stdout = _ReaderMayLeave(sys.stdout)
    try:
        code = args.run(args)
        sys.stdout.flush()
    finally:
        sys.stdout = sys.stdout.stream
    return code


if __name__ == "__main__":
    sys.exit(main())
