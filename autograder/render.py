"""The cmp tables as plain text (terminal) and HTML (JupyterLab, feedback pages)."""
import html
import io

from rich.console import Console
from rich.table import Table

from .checks import EXERCISES, MAX_SCORE
from .pictures import difference_heatmap, loss_curves
from .results import EXACT_NOTE, ExerciseResult, Report

COLUMNS = ("check", "exact", "approx", "maxdiff", "shape", "verdict", "points", "message", "diagnosis")
VERDICT_STYLE = {"passed": "#1a7f37", "partial": "#9a6700", "failed": "#cf222e", "not answered": "#6e7781",
                 "not gradable": "#cf222e", "autograd": "#cf222e"}  # fmt: skip


def _row(check) -> tuple[str, ...]:
    maxdiff = "" if check.maxdiff is None else f"{check.maxdiff:.2g}"
    return (check.name, str(check.exact), str(check.approx), maxdiff, "ok" if check.shape_ok else "WRONG",
            "pass" if check.passed else "FAIL", f"{check.points:g}/{check.max_points:g}", check.message,
            _diagnosis(check))  # fmt: skip


def _diagnosis(check) -> str:
    """Root cause (with the kind of mistake, when recognised) against a step that only inherits one."""
    if check.passed:
        return ""
    if check.locally_correct:
        return "follows from an earlier mistake"
    return f"root cause: {check.hint}" if check.hint else "root cause"


def _summary(ex: ExerciseResult) -> str:
    """Exercise 1's one line on where to look first."""
    following = sum(1 for c in ex.checks if not c.passed and c.locally_correct)
    if ex.first_wrong is None or not following or ex.status in ("not gradable", "autograd"):
        return ""
    return (f"Start at d{ex.first_wrong}: it is the first step that is wrong given your own upstream gradients. "
            f"{following} failing check(s) marked 'follows from an earlier mistake' are right given theirs.")


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
    for line in (ex.message, _summary(ex)):
        if line:
            console.print(line)
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
        if check.difference is not None and not check.locally_correct:
            picture = difference_heatmap(check.name, check.difference)
            if picture:
                cells[8] += f"<br><img alt='d{check.name}: where it differs' src='{picture}'>"
        rows.append("<tr>" + "".join(f"<td style='text-align:left;padding:2px 8px'>{c}</td>" for c in cells) + "</tr>")
    message = "".join(f"<p>{html.escape(line)}</p>" for line in (ex.message, _summary(ex)) if line)
    curves = loss_curves(ex.losses, ex.reference_losses) if ex.losses and ex.reference_losses else None
    if curves:
        message += f"<p><img alt='loss curves' src='{curves}'></p>"
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
        return "\n".join(lines + [f"Total: {MAX_SCORE:g} points"])

    def _repr_html_(self):
        rows = "".join(f"<tr><td style='text-align:left'>{html.escape(t)}</td><td style='text-align:left'>"
                       f"{html.escape(c)}</td><td>{total:g}</td></tr>" for t, c, total in self.rows())  # fmt: skip
        total = MAX_SCORE
        return (f"<table><thead><tr><th>exercise</th><th>checks and points</th><th>points</th></tr></thead>"
                f"<tbody>{rows}<tr><td><b>Total</b></td><td></td><td><b>{total:g}</b></td></tr></tbody></table>")
