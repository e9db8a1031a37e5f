"""The class report: what the last grading found, over the whole class, as an HTML page and a CSV.

It reads only the results JSON that `backprop-ninja grade` writes per student (class_grading.py), so the report,
the gradebook and the feedback pages never disagree about what a submission got.
"""
import csv
import html
import json
import os
import statistics
from pathlib import Path

from . import assignments
from .course import Course, CourseError
from .grader_side import course_unwritable
from .pictures import score_histogram
from .results import LIMITS_HIT
from .safe_text import safe_values

# timestamp: when the student submitted (nbgrader's timestamp.txt; empty when the submission came without one,
# as from zip_collect); graded_at: when it was graded; hidden_seed: which seed graded it, by its identity.
def csv_columns(assignment) -> list[str]:
    return ["student", "score", "max_score", *[ex.id for ex in assignment.exercises], "status", "seconds",
            "failed_checks", "problem", "timestamp", "graded_at", "hidden_seed"]  # fmt: skip


def assignment_of(results: list[dict]):
    """The assignment these results grade, as the course's release notebook said when they were graded (results
    from before results named it are the first assignment's)."""
    named = {r.get("graded_as") for r in results} - {None, ""}
    return assignments.get(named.pop() if len(named) == 1 else assignments.all_ids()[0])


def load_results(course: Course) -> list[dict]:
    """Every student's results, their text in the safe form (safe_text.py; results are written so, and one from an
    older grader is shown so too)."""
    folder = course.results()
    results = [safe_values(json.loads(p.read_text())) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []
    if not results:
        raise CourseError(f"no grading results in {folder}: run `backprop-ninja grade {course.assignment}` first")
    return results


def failed_checks(result: dict) -> list[str]:
    """`ex1/logprobs` for each check the submission did not pass (every check when it could not be graded)."""
    if not result["report"]:
        return [f"{ex.id}/{c.name}" for ex in assignment_of([result]).exercises for c in ex.checks]
    return [f"{ex['id']}/{c['name']}" for ex in result["report"]["exercises"] for c in ex["checks"] if not c["passed"]]


def spreadsheet_safe(value):
    """A CSV cell a spreadsheet shows as text: one starting with =, +, -, @ (or a tab or CR) would be a formula."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def status(result: dict) -> str:
    return "internal error" if result.get("internal_error") else "not gradable" if result["problem"] else "graded"


def score(value: float) -> str:
    """A score as every view prints it: 30, 0.5, 52 (never 30.0 beside 52)."""
    return f"{value:g}"


def row(result: dict) -> dict:
    """One submission as the CSV, the page and the terminal show it: every value already text."""
    return {
        "student": result["student"],
        "score": score(result["score"]),
        "max_score": score(result["max_score"]),
        **{ex_id: score(value) for ex_id, value in result["scores"].items()},
        "status": status(result),
        "seconds": f"{result['seconds']:.3f}",
        "failed_checks": " ".join(failed_checks(result)),
        "problem": result.get("internal_error") or result["problem"] or "",
        "timestamp": result["timestamp"] or "",
        "graded_at": result.get("graded_at", ""),
        "hidden_seed": result.get("settings", {}).get("hidden_seed", ""),
    }


def seeds_used(results: list[dict]) -> str:
    """Which hidden seeds (by identity) graded these results, and how many each: for the report and the terminal."""
    seeds: dict[str, int] = {}
    for result in results:
        seed = result.get("settings", {}).get("hidden_seed", "unknown (graded before seeds were recorded)")
        seeds[seed] = seeds.get(seed, 0) + 1
    if len(seeds) == 1:
        return f"hidden seed {next(iter(seeds))} (all {len(results)})"
    return "; ".join(f"hidden seed {seed} ({count})" for seed, count in seeds.items()) + (
        " (more than one seed: regrade with the one you mean)")


def check_pass_rates(results: list[dict]) -> dict[str, float]:
    """Per check, in the lecture's order: the share of all submissions that passed it."""
    failures = [set(failed_checks(r)) for r in results]
    return {f"{ex.id}/{c.name}": sum(f"{ex.id}/{c.name}" not in f for f in failures) / len(results)
            for ex in assignment_of(results).exercises for c in ex.checks}  # fmt: skip


def write_report(course: Course):
    """Write reports/<assignment>/report.html and report.csv; returns their paths. A disk that cannot take them
    raises GraderSideError (one line: where, and what to do)."""
    results = load_results(course)
    rows = [row(r) for r in results]
    out = course.reports()
    links = {r["student"]: _feedback_link(course, r, out) for r in results}
    page = _page(course.assignment, results, rows, links, seeds_used(results))
    try:
        out.mkdir(parents=True, exist_ok=True)
        with open(out / "report.csv", "w", newline="") as f:
            writer = csv.DictWriter(f, csv_columns(assignment_of(results)))
            writer.writeheader()
            writer.writerows({key: spreadsheet_safe(value) for key, value in r.items()} for r in rows)
        (out / "report.html").write_text(page)
    except OSError as e:
        raise course_unwritable("the class report", out, e) from e
    return out / "report.html", out / "report.csv"


def _feedback_link(course: Course, result: dict, out) -> str | None:
    """The student's feedback page, relative to the report (so the course folder can move)."""
    page = course.feedback(result["student"]) / f"{Path(result.get('notebook') or course.assignment).stem}.html"
    return os.path.relpath(page, out) if page.is_file() else None


def common_mistakes(results: list[dict]) -> list[tuple[str, str, str, list[str]]]:
    """What the class got wrong, most common first: (exercise id, gradient or "", mistake, students).

    A mistake is a root cause's kind (its hint, or what the comparison found: layout.mistake) or what failed an
    exercise as a whole (timed out, a syntax error, uses autograd). The gradients that only follow from a root
    cause are not counted again, and an exercise not answered is not a mistake (the pass rates count those)."""
    found: dict[tuple[str, str, str], list[str]] = {}
    for result in results:
        for ex in (result["report"] or {}).get("exercises", []):
            view = ex.get("layout") or {}
            seen = [(ex["id"], row["check"], row["mistake"]) for row in view.get("rows", [])]
            if ex.get("failure") and ex["failure"] != "not answered":
                seen.append((ex["id"], "", ex["failure"]))
            for key in dict.fromkeys(seen):
                found.setdefault(key, []).append(result["student"])
    assignment = assignment_of(results)
    ranked = sorted(found.items(), key=lambda item: (-len(item[1]), _lecture_order(item[0], assignment)))
    return [(ex_id, check, what, students) for (ex_id, check, what), students in ranked]


def _lecture_order(key: tuple[str, str, str], assignment) -> tuple[int, int]:
    ex_id, check, _ = key
    ex = assignment.exercise_by_id.get(ex_id)
    names = [c.name for c in ex.checks] if ex else []
    order = assignment.exercises
    return (order.index(ex) if ex else len(order), names.index(check) if check in names else -1)


def exercise_rates(results: list[dict]) -> list[dict]:
    """Per exercise: the share with full marks, the mean score, how many did not answer it."""
    rates = []
    for ex in assignment_of(results).exercises:
        graded = [e for r in results if r["report"] for e in r["report"]["exercises"] if e["id"] == ex.id]
        scores = [r["scores"].get(ex.id, 0.0) for r in results]
        rates.append({"id": ex.id, "title": ex.title, "max_score": ex.max_score,
                      "full_marks": sum(s == ex.max_score for s in scores) / len(results),
                      "mean": statistics.mean(scores),
                      "not_answered": sum(e["status"] == "not answered" for e in graded)})  # fmt: skip
    return rates


def review_items(results: list[dict]) -> list[tuple[str, str, str, str]]:
    """(student, exercise id or "", what, detail) for everything an instructor should look at by hand: internal
    errors, submissions that could not be graded, limits hit, autograd used, constructs that reach around the
    grader's guards (static_checks.review_flags; they cost no points)."""
    items = []
    for r in results:
        student = r["student"]
        if r.get("internal_error"):
            items.append((student, "", "internal error", r["internal_error"]))
        elif r["problem"]:
            items.append((student, "", "not gradable", r["problem"]))
        for ex in (r["report"] or {}).get("exercises", []):
            if ex.get("failure") in LIMITS_HIT:
                items.append((student, ex["id"], ex["failure"], ex["message"]))
            lines = set()  # one line that asks for autograd twice (loss.backward: .backward and Tensor.backward)
            for flag in ex.get("flags", []):
                if flag.get("line") is None or flag["line"] not in lines:
                    lines.add(flag.get("line"))
                    items.append((student, ex["id"], "uses autograd", _flag_text(flag)))
            for flag in ex.get("review", []):
                items.append((student, ex["id"], "for review", _flag_text(flag)))
    return items


def _flag_text(flag: dict) -> str:
    where = f"line {flag['line']}: " if flag.get("line") else ""
    code, what = flag.get("code") or "", flag.get("what") or ""
    return f"{where}{code or what}" + (f" ({what})" if code and what and what != code else "")


STYLE = ("body{font-family:system-ui,sans-serif;max-width:75em;margin:2em auto;padding:0 1em}"
         "table{border-collapse:collapse;margin:.5em 0}td,th{border-bottom:1px solid #ddd;padding:2px 8px;"
         "text-align:left;vertical-align:top}.bar{display:inline-block;height:.8em;background:#4c72b0}"
         ".bar.low{background:#cf222e}table.mistakes td:nth-child(-n+3),table.review td:nth-child(-n+3),"
         "table.gradients td{white-space:nowrap}")  # fmt: skip


def _student(name: str, links: dict) -> str:
    link = links.get(name)
    return f"<a href='{html.escape(link)}'>{html.escape(name)}</a>" if link else html.escape(name)


def _exercise(ex_id: str, assignment) -> str:
    """An exercise as the report names it: "Exercise 1" (a results file from another grader may name others)."""
    ex = assignment.exercise_by_id.get(ex_id)
    return html.escape(ex.title.partition(":")[0] if ex else ex_id)


def _answer(ex_id: str, check: str, assignment) -> str:
    """A check as the student named its answer (dlogits, gradf); one the table no longer has as d<name>."""
    ex = assignment.exercise_by_id.get(ex_id)
    found = next((c for c in ex.checks if c.name == check), None) if ex else None
    return html.escape(found.variable if found else f"d{check}")


def _bar(rate: float) -> str:
    return (f"<span class='bar{' low' if rate < 0.5 else ''}' style='width:{100 * rate:.0f}px'></span> "
            f"{100 * rate:.0f}%")


def _table(head: list[str], rows: list[list[str]], name: str) -> str:
    heads = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table class='{name}'><thead><tr>{heads}</tr></thead><tbody>{body}</tbody></table>"


def _page(assignment: str, results: list[dict], rows: list[dict], links: dict, seeds: str) -> str:
    """The report, in the order an instructor asks: how did the class do, what did it get wrong, where, who needs
    a look, and then every submission."""
    esc, a = html.escape, assignment_of(results)
    scores = [r["score"] for r in results]
    seconds = [r["seconds"] for r in results]
    summary = (f"{len(rows)} submissions: mean score {statistics.mean(scores):.1f}/{a.max_score:g}, median "
               f"{statistics.median(scores):g}; {sum(s == a.max_score for s in scores)} with full marks; "
               f"{sum(r['status'] == 'not gradable' for r in rows)} not gradable; "
               f"{sum(r['status'] == 'internal error' for r in rows)} internal errors.")  # fmt: skip
    timing = (f"Grading took {statistics.median(seconds):.2f} s per submission (median), {max(seconds):.2f} s at "
              f"most. Graded with {esc(seeds)}.")  # fmt: skip
    mistakes = [[f"{len(students)}", _exercise(ex_id, a), _answer(ex_id, check, a) if check else "the whole exercise",
                 esc(what), ", ".join(_student(s, links) for s in students)]
                for ex_id, check, what, students in common_mistakes(results)[:20]]  # fmt: skip
    mistakes_html = (_table(["students", "exercise", "gradient", "mistake", "who"], mistakes, "mistakes")
                     if mistakes else "<p>No mistakes: every graded exercise is right or not answered.</p>")  # fmt: skip
    per_exercise = [[esc(e["title"]), _bar(e["full_marks"]), f"{e['mean']:.1f}/{e['max_score']:g}",
                     str(e["not_answered"])] for e in exercise_rates(results)]  # fmt: skip
    rates = check_pass_rates(results)
    per_gradient = [[_exercise(name.split("/")[0], a), _answer(*name.split("/"), a), _bar(rate)]
                    for name, rate in rates.items()]  # fmt: skip
    review = [[_student(student, links), _exercise(ex, a) if ex else "",
               esc(what), f"<code>{esc(detail)}</code>"] for student, ex, what, detail in review_items(results)]  # fmt: skip
    review_html = (_table(["student", "exercise", "what", "detail"], review, "review") if review
                   else "<p>Nothing to review: no internal errors, no limits hit, no autograd, no flagged code.</p>")  # fmt: skip
    submissions = [[_student(r["student"], links), r["score"], r["status"], r["seconds"],
                    f"{len(r['failed_checks'].split())}", esc(r["problem"]), esc(r["timestamp"] or "not recorded")]
                   for r in sorted(rows, key=lambda r: (float(r["score"]), r["student"]))]  # fmt: skip
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{esc(assignment)}: class report</title>"
        f"<style>{STYLE}</style></head><body>"
        f"<h1>{esc(assignment)}: class report</h1><p class='summary'><b>{summary}</b></p><p>{timing}</p>"
        f"<h2 id='mistakes'>What the class got wrong</h2><p>Each student's root causes (the first gradient wrong "
        f"given their own upstream ones, with the kind of mistake it looks like), counted once per student.</p>"
        f"{mistakes_html}"
        f"<h2 id='exercises'>Pass rates per exercise</h2>"
        f"{_table(['exercise', 'full marks', 'mean score', 'not answered'], per_exercise, 'exercises')}"
        f"<h2 id='scores'>Scores</h2><img alt='score histogram' src='{score_histogram(scores, a.max_score)}'>"
        f"<h2 id='review'>For your review</h2>{review_html}"
        f"<h2 id='gradients'>Pass rate per gradient, in the lecture's order</h2>"
        f"{_table(['exercise', 'gradient', 'passing'], per_gradient, 'gradients')}"
        f"<h2 id='submissions'>Submissions</h2>"
        f"{_table(['student', 'score', 'status', 'seconds', 'failed checks', 'problem', 'submitted'], submissions, 'submissions')}"
        "</body></html>"
    )
