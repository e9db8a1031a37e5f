"""The cmp tables as plain text (terminal) and HTML (JupyterLab, feedback pages)."""
import html
import io

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .checks import EXERCISES, MAX_SCORE
from .notebook import LECTURE
from .pictures import difference_heatmap, loss_curves
from .results import EXACT_NOTE, ExerciseResult, Report

COLUMNS = ("check", "exact", "approx", "maxdiff", "shape", "verdict", "points", "message", "diagnosis")
VERDICT_STYLE = {"passed": "#1a7f37", "partial": "#9a6700", "failed": "#cf222e", "not answered": "#6e7781",
                 "not gradable": "#cf222e", "autograd": "#cf222e"}  # fmt: skip


def _row(check) -> tuple[str, ...]:
    maxdiff = "" if check.maxdiff is None else f"{check.maxdiff:.2g}"
    return (check.name, str(check.exact), str(check.approx), maxdiff, "ok" if check.shape_ok else "WRONG",
            "pass" if check.passed else "FAIL", points(check.points, check.max_points), check.message,
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


def answer_from(ex: ExerciseResult) -> str:
    """Where in a lecture notebook the answer was taken from, in a line; "" for our own notebook's cell."""
    def cell(span) -> str:
        count = f" (In [{span['execution_count']}])" if span["execution_count"] is not None else ""
        first, last = span["lines"]
        return f"cell {span['cell']}{count}, line{f's {first}-{last}' if last > first else f' {first}'}"

    taken = f"Taken from {'; '.join(map(cell, ex.answer_from))}." if ex.answer_from else ""
    return " ".join(filter(None, [taken, *(f"{why[0].upper()}{why[1:]}." for why in ex.left_out)]))


def points(score, max_score) -> str:
    """Every score the same way, everywhere: 30/52, 0.5/1."""
    return f"{score:g}/{max_score:g}"


# The width of the plain-text tables kept in files (the autograded notebook, str() of a result). A terminal gets
# its own width and colours from rich (the CLI's Console).
TEXT_WIDTH = 100
# As text the table keeps the lecture's cmp columns, short enough for an 80-column terminal; the sentences
# (message, diagnosis) follow it, one line per check that needs one.
TEXT_COLUMNS = COLUMNS[:7] + ("",)


def exercise_renderables(ex: ExerciseResult) -> list:
    """The exercise's table and the lines under it, for a rich Console: it fits them to its width and colours."""
    colour = VERDICT_STYLE.get(ex.status, "default")
    title = Text.assemble(f"{ex.title}: ", (f"{points(ex.score, ex.max_score)} ({ex.status})", f"bold {colour}"))
    table = Table(show_edge=False, pad_edge=False, box=box.SIMPLE_HEAD,
                  padding=(0, 1, 0, 0))
    for column in TEXT_COLUMNS:
        table.add_column(column, no_wrap=True)
    notes = []
    for check in ex.checks:
        cells = _row(check)
        verdict = Text(cells[5], style="bold #1a7f37" if check.passed else "bold #cf222e")
        where = "follows" if not check.passed and check.locally_correct else "root cause" if cells[8] else ""
        table.add_row(*cells[:5], verdict, cells[6], where)
        if not check.passed and not check.locally_correct:
            notes.append(Text.assemble((f"d{check.name}: ", "bold"), "; ".join(filter(None, cells[7:]))))
    lines = [Text(line) for line in (ex.message, _summary(ex), answer_from(ex)) if line]
    return [title, table, *notes, *lines, Text("")]


LECTURE_FORMAT = ("Read as the lecture's own notebook (makemore_part4_backprop.ipynb): each exercise's answer is taken "
                  "from the cells under its heading and graded in the grader's own copy of the setup.")


def report_renderables(report: Report) -> list:
    parts = [Text(LECTURE_FORMAT), Text("")] if report.format == LECTURE else []
    parts += [part for ex in report.exercises for part in exercise_renderables(ex)]
    isolation = [Text(f"Isolation: {report.isolation.partition(':')[0]}")] if report.isolation else []
    return parts + [Text(EXACT_NOTE), Text.assemble("Score: ", (points(report.score, report.max_score), "bold")),
                    *isolation]


def plain_text(renderables: list, width: int = TEXT_WIDTH) -> str:
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, no_color=True, force_terminal=False)
    for part in renderables:
        console.print(part, soft_wrap=isinstance(part, Text))  # a sentence stays one line: the reader's view wraps it
    return buffer.getvalue()


def exercise_text(ex: ExerciseResult) -> str:
    return plain_text(exercise_renderables(ex))


def report_text(report: Report) -> str:
    return plain_text(report_renderables(report))


def exercise_summary(ex: ExerciseResult) -> str:
    """One short line (nbgrader's Validate cuts at 87 characters): the exercise, its score, where to look first."""
    where = f"; start at d{ex.first_wrong}" if ex.first_wrong and ex.status in ("partial", "failed") else ""
    return f"{ex.title.partition(':')[0]}: {points(ex.score, ex.max_score)} points ({ex.status}){where}"


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
    message = "".join(f"<p>{html.escape(line)}</p>" for line in (ex.message, _summary(ex), answer_from(ex)) if line)
    curves = loss_curves(ex.losses, ex.reference_losses) if ex.losses and ex.reference_losses else None
    if curves:
        message += f"<p><img alt='loss curves' src='{curves}'></p>"
    return (
        f"<div class='backprop-ninja-exercise' data-exercise='{ex.id}' data-status='{html.escape(ex.status)}'>"
        f"<h4>{html.escape(ex.title)}: <span style='color:{colour}'>{points(ex.score, ex.max_score)} "
        f"({html.escape(ex.status)})</span></h4>{message}"
        f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def report_html(report: Report) -> str:
    body = "".join(exercise_html(ex) for ex in report.exercises)
    if report.format == LECTURE:
        body = f"<p>{html.escape(LECTURE_FORMAT)}</p>{body}"
    return (f"<div class='backprop-ninja-report'>{body}<p><small>{html.escape(EXACT_NOTE)}</small></p>"
            f"<p><b>Score: {points(report.score, report.max_score)}</b></p></div>")


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
