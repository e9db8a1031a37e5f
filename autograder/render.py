"""The cmp tables as plain text (terminal) and HTML (JupyterLab, feedback pages)."""
import html
import io

from rich.console import Console
from rich.table import Table

from .checks import EXERCISES
from .results import EXACT_NOTE, ExerciseResult, Report

COLUMNS = ("check", "exact", "approx", "maxdiff", "shape", "verdict", "points", "message")
VERDICT_STYLE = {"passed": "#1a7f37", "partial": "#9a6700", "failed": "#cf222e", "not answered": "#6e7781",
                 "not gradable": "#cf222e", "autograd": "#cf222e"}  # fmt: skip


def _row(check) -> tuple[str, ...]:
    maxdiff = "" if check.maxdiff is None else f"{check.maxdiff:.2g}"
    return (check.name, str(check.exact), str(check.approx), maxdiff, "ok" if check.shape_ok else "WRONG",
            "pass" if check.passed else "FAIL", f"{check.points:g}/{check.max_points:g}", check.message)  # fmt: skip


def _points(score, max_score) -> str:
    return f"{score:g}/{max_score:g}"


def exercise_text(ex: ExerciseResult) -> str:
    table = Table(title=f"{ex.title}: {_points(ex.score, ex.max_score)} ({ex.status})", title_justify="left",
                  show_edge=False, pad_edge=False)  # fmt: skip
    for column in COLUMNS:
        table.add_column(column, overflow="fold")
    for check in ex.checks:
        table.add_row(*_row(check))
    buffer = io.StringIO()
    console = Console(file=buffer, width=160, no_color=True, force_terminal=False)
    console.print(table)
    if ex.message:
        console.print(ex.message)
    return buffer.getvalue()


def report_text(report: Report) -> str:
    parts = [exercise_text(ex) for ex in report.exercises]
    parts.append(EXACT_NOTE)
    parts.append(f"Score: {_points(report.score, report.max_score)}")
    return "\n".join(parts) + "\n"


def exercise_html(ex: ExerciseResult) -> str:
    colour = VERDICT_STYLE.get(ex.status, "#000")
    head = "".join(f"<th style='text-align:left;padding:2px 8px'>{c}</th>" for c in COLUMNS)
    rows = []
    for check in ex.checks:
        cells = list(map(html.escape, _row(check)))
        cells[5] = f"<b style='color:{'#1a7f37' if check.passed else '#cf222e'}'>{cells[5]}</b>"
        rows.append("<tr>" + "".join(f"<td style='text-align:left;padding:2px 8px'>{c}</td>" for c in cells) + "</tr>")
    message = f"<p>{html.escape(ex.message)}</p>" if ex.message else ""
    return (
        f"<div class='backprop-ninja-exercise' data-exercise='{ex.id}' data-status='{html.escape(ex.status)}'>"
        f"<h4>{html.escape(ex.title)}: <span style='color:{colour}'>{_points(ex.score, ex.max_score)} "
        f"({html.escape(ex.status)})</span></h4>{message}"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def report_html(report: Report) -> str:
    body = "".join(exercise_html(ex) for ex in report.exercises)
    return (f"<div class='backprop-ninja-report'>{body}<p><small>{html.escape(EXACT_NOTE)}</small></p>"
            f"<p><b>Score: {_points(report.score, report.max_score)}</b></p></div>")


class PointsTable:
    """The points per check, straight from checks.py, for the notebook's introduction."""

    def rows(self):
        for ex in EXERCISES:
            yield ex.title, ", ".join(f"d{c.name} {c.points:g}" for c in ex.checks), ex.max_score

    def __repr__(self):
        lines = [f"{title} ({total:g} points): {checks}" for title, checks, total in self.rows()]
        return "\n".join(lines + [f"Total: {sum(ex.max_score for ex in EXERCISES):g} points"])

    def _repr_html_(self):
        rows = "".join(f"<tr><td style='text-align:left'>{html.escape(t)}</td><td style='text-align:left'>"
                       f"{html.escape(c)}</td><td>{total:g}</td></tr>" for t, c, total in self.rows())  # fmt: skip
        total = sum(ex.max_score for ex in EXERCISES)
        return (f"<table><thead><tr><th>exercise</th><th>checks and points</th><th>points</th></tr></thead>"
                f"<tbody>{rows}<tr><td><b>Total</b></td><td></td><td><b>{total:g}</b></td></tr></tbody></table>")
