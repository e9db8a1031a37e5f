"""The class report: what the last grading found, over the whole class, as an HTML page and a CSV.

It reads only the results JSON that `backprop-ninja grade` writes per student (class_grading.py), so the report,
the gradebook and the feedback pages never disagree about what a submission got.
"""
import csv
import html
import json
import statistics

from .checks import EXERCISES, MAX_SCORE
from .course import Course, CourseError
from .pictures import pass_rates, score_histogram

# timestamp: when the student submitted (nbgrader's timestamp.txt; empty when the submission came without one,
# as from zip_collect); graded_at: when it was graded; hidden_seed: which seed graded it, by its identity.
CSV_COLUMNS = ["student", "score", "max_score", *[ex.id for ex in EXERCISES], "status", "seconds", "failed_checks",
               "problem", "timestamp", "graded_at", "hidden_seed"]  # fmt: skip


def load_results(course: Course) -> list[dict]:
    folder = course.results()
    results = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []
    if not results:
        raise CourseError(f"no grading results in {folder}: run `backprop-ninja grade {course.assignment}` first")
    return results


def failed_checks(result: dict) -> list[str]:
    """`ex1/logprobs` for each check the submission did not pass (every check when it could not be graded)."""
    if not result["report"]:
        return [f"{ex.id}/{c.name}" for ex in EXERCISES for c in ex.checks]
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
            for ex in EXERCISES for c in ex.checks}  # fmt: skip


def write_report(course: Course):
    """Write reports/<assignment>/report.html and report.csv; returns their paths."""
    results = load_results(course)
    rows = [row(r) for r in results]
    out = course.reports()
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "report.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, CSV_COLUMNS)
        writer.writeheader()
        writer.writerows({key: spreadsheet_safe(value) for key, value in r.items()} for r in rows)
    rates = check_pass_rates(results)
    page = _page(course.assignment, rows, rates, review_list(results), seeds_used(results), results)
    (out / "report.html").write_text(page)
    return out / "report.html", out / "report.csv"


def review_list(results: list[dict]) -> list[tuple[str, str, dict]]:
    """(student, exercise id, flag) for every construct flagged for the instructor's review (static_checks)."""
    return [(r["student"], ex["id"], flag) for r in results if r["report"] for ex in r["report"]["exercises"]
            for flag in ex.get("review", [])]  # fmt: skip


def _page(assignment: str, rows: list[dict], rates: dict[str, float], review: list, seeds: str,
          results: list[dict]) -> str:  # fmt: skip
    scores = [r["score"] for r in results]
    seconds = [r["seconds"] for r in results]
    hardest = sorted(rates.items(), key=lambda item: item[1])[:10]
    summary = (f"{len(rows)} submissions; mean score {statistics.mean(scores):.1f}/{MAX_SCORE:g}, median "
               f"{statistics.median(scores):g}; {sum(s == MAX_SCORE for s in scores)} with full marks; "
               f"{sum(r['status'] == 'not gradable' for r in rows)} not gradable; "
               f"{sum(r['status'] == 'internal error' for r in rows)} internal errors. Grading took "
               f"{statistics.median(seconds):.2f} s per submission (median), {max(seconds):.2f} s at most. "
               f"Graded with {html.escape(seeds)}.")  # fmt: skip
    trips = "".join(f"<tr><td>d{html.escape(name.split('/')[1])} ({name.split('/')[0]})</td><td>{100 * rate:.0f}%</td></tr>"
                    for name, rate in hardest)  # fmt: skip
    head = "".join(f"<th>{c}</th>" for c in ("student", "score", "status", "seconds", "failed checks", "problem",
                                              "submitted"))  # fmt: skip
    body = "".join(
        f"<tr><td>{html.escape(r['student'])}</td><td>{r['score']}</td><td>{r['status']}</td><td>{r['seconds']}</td>"
        f"<td>{len(r['failed_checks'].split())}: {html.escape(r['failed_checks'])}</td><td>{html.escape(r['problem'])}</td>"
        f"<td>{html.escape(r['timestamp'] or 'not recorded')}</td></tr>"
        for r in sorted(rows, key=lambda r: (float(r["score"]), r["student"]))
    )  # fmt: skip
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(assignment)}: class report</title>"
        "<style>body{font-family:system-ui,sans-serif;max-width:75em;margin:2em auto;padding:0 1em}"
        "table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:2px 8px;text-align:left;"
        "vertical-align:top}</style></head><body>"
        f"<h1>{html.escape(assignment)}: class report</h1><p>{summary}</p>"
        f"<img alt='score histogram' src='{score_histogram(scores, MAX_SCORE)}'>"
        f"<h2>Which gradients trip the class</h2><table><tr><th>gradient</th><th>passing</th></tr>{trips}</table>"
        f"<img alt='pass rate per gradient' src='{pass_rates(list(rates), list(rates.values()))}'>"
        f"<h2>Submissions</h2><table><tr>{head}</tr>{body}</table>"
        f"<h2>For your review</h2><p>Constructs that only serve to reach around the grader's guards (they cost no "
        f"points):</p><table><tr><th>student</th><th>exercise</th><th>line</th><th>what</th><th>code</th></tr>"
        + "".join(f"<tr><td>{html.escape(student)}</td><td>{ex}</td><td>{flag['line']}</td>"
                  f"<td>{html.escape(flag['what'])}</td><td><code>{html.escape(flag['code'])}</code></td></tr>"
                  for student, ex, flag in review)
        + "</table></body></html>"
    )
