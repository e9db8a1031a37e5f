"""The command line: `backprop-ninja check NOTEBOOK`, `grade ASSIGNMENT`, `report ASSIGNMENT`, `doctor`.

Exit codes of `check`: 0 full marks, 1 anything short of it, 2 the notebook cannot be graded at all.
Exit codes of `grade` and `report`: 0 done, 1 an internal error on some submission, 2 the course is not ready.
"""
import argparse
import json
import sys

from .checks import DEFAULT_HIDDEN_SEED


def _limits(args):
    from .sandbox import Limits

    return Limits(timeout=args.timeout, memory_gib=args.memory)


def cmd_check(args) -> int:
    from .notebook import NotGradable, read_submission

    try:
        read_submission(args.notebook)  # fail fast, before torch is even imported, on a file that is not a notebook
        from .grading import Grader

        with Grader(_limits(args), hidden_seed=args.hidden_seed, credit=args.credit) as grader:
            report = grader.grade(args.notebook)
    except NotGradable as e:
        print(f"backprop-ninja: cannot grade {e}", file=sys.stderr)
        return 2
    except (RuntimeError, ValueError) as e:  # no sandbox, no dataset, a hidden seed equal to the public one
        print(f"backprop-ninja: {e}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        if args.verbose:
            print(f"Isolation: {report.isolation}\nDataset: {report.dataset}\n")
        print(report)
    return 0 if report.full_marks else 1


def cmd_grade(args) -> int:
    from .class_grading import grade_class
    from .course import Course, CourseError

    try:
        course = Course(args.course_dir, args.assignment)
        run = grade_class(course, jobs=args.jobs, force=args.force, scheduler=args.scheduler, limits=_limits(args),
                          hidden_seed=args.hidden_seed)  # fmt: skip
    except CourseError as e:
        print(f"backprop-ninja: {e}", file=sys.stderr)
        return 2
    print(f"Graded {len(run.graded)}, skipped {len(run.skipped)} unchanged (--force regrades them).")
    for student, problem in run.not_gradable.items():
        print(f"  {student}: scored 0, cannot grade {problem}")
    for student, error in run.errors.items():
        print(f"backprop-ninja: internal error grading {student}, recorded as 0 (regrade with --force): {error}",
              file=sys.stderr)  # fmt: skip
    for folder, why in run.refused.items():
        print(f"backprop-ninja: not graded: the submission folder {folder!r}: {why}", file=sys.stderr)
    print(f"Scores are in the gradebook ({course.db_url}); feedback pages in {course.feedback('*')}")
    return 1 if run.errors or run.refused else 0


def cmd_report(args) -> int:
    from .class_report import write_report
    from .course import Course, CourseError

    try:
        page, table = write_report(Course(args.course_dir, args.assignment))
    except CourseError as e:
        print(f"backprop-ninja: {e}", file=sys.stderr)
        return 2
    print(f"Class report: {page}\nOne row per submission: {table}")
    return 0


def cmd_doctor(args) -> int:
    """Exit 1 when student code would run with any capability or as root: CI (as root) fails on that."""
    from . import data
    from .sandbox import isolation_in_force, sandbox_probe, uid_outside
    from . import cgroup
    from .zygote import limits_mechanism

    print(f"Isolation: {isolation_in_force()}")
    inside = sandbox_probe()
    privileged = False
    if inside:
        caps = {name: inside[name] for name in ("CapEff", "CapPrm", "CapInh", "CapAmb", "CapBnd")}
        privileged = inside["uid"] == 0 or any(caps[name] for name in ("CapEff", "CapPrm", "CapAmb"))
        held = ", ".join(f"{name} {value:#x}" for name, value in caps.items() if value) or "none"
        print(f"Student code runs as: uid {inside['uid']} in the sandbox (outside it: {uid_outside()}); "
              f"capabilities: {held}; no_new_privs: {inside['no_new_privs']}")  # fmt: skip
    print(f"Limits: {limits_mechanism()}; {cgroup.mechanism()}")
    try:
        print(f"Dataset: {data.load_words().source}")
    except RuntimeError as e:
        print(f"Dataset: {e}")
    if privileged:
        print("backprop-ninja: student code would run with privileges in the sandbox: do not grade here",
              file=sys.stderr)  # fmt: skip
    return 1 if privileged else 0


def positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
    return value


def whole_number(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("give a whole number of at least 1")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="backprop-ninja", description="Check and grade the backprop ninja exercises.")
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="grade one notebook and print the cmp tables and the score")
    check.add_argument("notebook", help="path to backprop_ninja.ipynb")
    check.add_argument("--json", action="store_true", help="print one JSON object instead of tables")
    check.add_argument("--verbose", action="store_true", help="also say which isolation and dataset are in use")
    check.add_argument("--credit", choices=("strict", "local"), default="strict",
                       help="strict (default): a gradient scores when it is right; local: also when it is right "
                            "given the student's own upstream gradients, so one early slip costs one point")
    check.set_defaults(run=cmd_check)

    grade = sub.add_parser("grade", help="grade every submitted notebook of an nbgrader course, in parallel")
    grade.add_argument("assignment", help="the nbgrader assignment, e.g. backprop_ninja")
    grade.add_argument("--jobs", type=whole_number, default=None, help="worker processes (default: all cores)")
    grade.add_argument("--force", action="store_true", help="regrade submissions already graded and unchanged")
    grade.add_argument("--scheduler", help="grade on a Dask cluster instead, e.g. tcp://HOST:8786")
    grade.set_defaults(run=cmd_grade)

    report = sub.add_parser("report", help="write the class report (HTML and CSV) from the last grading")
    report.add_argument("assignment", help="the nbgrader assignment, e.g. backprop_ninja")
    report.set_defaults(run=cmd_report)

    for p in (grade, report):
        p.add_argument("--course-dir", default=".", help="the nbgrader course folder (default: here)")

    doctor = sub.add_parser("doctor", help="say which isolation is in force and which dataset is used")
    doctor.set_defaults(run=cmd_doctor)

    for p in (check, grade):
        p.add_argument("--timeout", type=positive, default=60.0, help="seconds each exercise may run (default 60)")
        p.add_argument("--memory", type=positive, default=4.0, help="GiB each exercise may use (default 4)")
        p.add_argument("--hidden-seed", type=int, default=None,
                       help=f"the seed students never see (default $BACKPROP_NINJA_HIDDEN_SEED or {DEFAULT_HIDDEN_SEED})")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
