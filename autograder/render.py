"""The cmp tables as plain text (terminal) and HTML (JupyterLab, feedback pages)."""
import html
import io

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .layout import FOLLOWS, NOT_REACHED, label_of, shows_numbers
from .notebook import LECTURE
from .pictures import difference_heatmap, loss_curves
from .results import ExerciseResult, Report

COLUMNS = ("check", "exact", "approx", "maxdiff", "shape", "verdict", "points", "message")
VERDICT_STYLE = {"passed": "#1a7f37", "partial": "#9a6700", "failed": "#cf222e", "not answered": "#6e7781",
                 "not gradable": "#cf222e", "autograd": "#cf222e"}  # fmt: skip
PASS, FAIL = "#1a7f37", "#cf222e"


def _row(check) -> tuple[str, ...]:
    """The lecture's cmp columns, then shape, verdict and points. A gradient never set has no shape to judge."""
    maxdiff = "" if check.maxdiff is None else f"{check.maxdiff:.2g}"
    shape = "not set" if not check.assigned else "ok" if check.shape_ok else "WRONG"
    return (check.name, str(check.exact), str(check.approx), maxdiff, shape, "pass" if check.passed else "FAIL",
            points(check.points, check.max_points))  # fmt: skip


def _explanation(check) -> str:
    """A row's sentence: what is wrong with it, and what kind of mistake that looks like."""
    if check.passed:
        return ""
    if check.locally_correct:  # its hint, if any, says what it follows from
        follows = check.hint or "follows from an earlier mistake"
        return f"{check.message}: {follows}" if check.message else follows
    return check.message + (f"; hint: {check.hint}" if check.hint else "")


def points(score, max_score) -> str:
    """Every score the same way, everywhere: 30/52, 0.5/1."""
    return f"{score:g}/{max_score:g}"


# The width of the plain-text tables kept in files (the autograded notebook, str() of a result). A terminal gets
# its own width and colours from rich (the CLI's Console).
TEXT_WIDTH = 100
# Folded lines begin with this, in text as in HTML (where they open).
FOLDED = "▸ "


def _text_table(checks: list) -> Table:
    table = Table(show_edge=False, pad_edge=False, box=box.SIMPLE_HEAD, padding=(0, 1, 0, 0))
    for column in COLUMNS[:7]:
        table.add_column(column, no_wrap=True)
    for check in checks:
        cells = _row(check)
        table.add_row(*cells[:5], Text(cells[5], style=f"bold {PASS if check.passed else FAIL}"), cells[6])
    return table


def exercise_renderables(ex: ExerciseResult, every_row: bool = False) -> list:
    """The exercise as layout.py lays it out, for a rich Console (it fits the lines to its width and colours):
    the verdict, the root causes' rows and sentences, then one line per fold. `every_row`: every check's row, in
    the lecture's order, with every sentence, instead of the folds (`check --all`)."""
    view = ex.layout()
    colour = VERDICT_STYLE.get(ex.status, "default")
    parts = [Text.assemble(f"{ex.title}: ", (f"{points(ex.score, ex.max_score)} ({ex.status})", f"bold {colour}")),
             Text(view.lead)]  # fmt: skip
    rows = ex.checks if every_row and (view.rows or view.folds) else view.rows
    if rows:
        parts.append(_text_table(rows))
    parts += [Text.assemble((f"{c.label}: ", "bold"), _explanation(c)) for c in rows if not c.passed]
    if not every_row:
        parts += [Text(FOLDED + fold.summary) for fold in view.folds]
    return parts + [Text(note) for note in view.notes] + [Text("")]


def read_as(report: Report) -> str:
    """The report's first line when it was read from the lecture's own notebook ("" from ours)."""
    if report.format != LECTURE:
        return ""
    from . import assignments

    return assignments.get(report.assignment or assignments.all_ids()[0]).lecture_reader().READ_AS


def report_renderables(report: Report, every_row: bool = False) -> list:
    parts = [Text(read_as(report)), Text("")] if read_as(report) else []
    parts += [part for ex in report.exercises for part in exercise_renderables(ex, every_row)]
    isolation = [Text(f"Isolation: {report.isolation.partition(':')[0]}")] if report.isolation else []
    note = [Text(report.note)] if shows_numbers(report.exercises) else []
    return parts + [*note, Text.assemble("Score: ", (points(report.score, report.max_score), "bold")), *isolation]


def plain_text(renderables: list, width: int = TEXT_WIDTH) -> str:
    buffer = io.StringIO()
    # force_jupyter=False: in a kernel rich would display the text instead of writing it to the buffer
    console = Console(file=buffer, width=width, no_color=True, force_terminal=False, force_jupyter=False)
    for part in renderables:
        console.print(part, soft_wrap=isinstance(part, Text))  # a sentence stays one line: the reader's view wraps it
    return buffer.getvalue()


def exercise_text(ex: ExerciseResult) -> str:
    return plain_text(exercise_renderables(ex))


def report_text(report: Report) -> str:
    return plain_text(report_renderables(report))


def exercise_summary(ex: ExerciseResult) -> str:
    """One short line (nbgrader's Validate cuts at 87 characters): the exercise, its score, where to look first."""
    where = f"; start at {label_of(ex, ex.first_wrong)}" if ex.first_wrong and ex.status in ("partial", "failed") else ""
    return f"{ex.title.partition(':')[0]}: {points(ex.score, ex.max_score)} points ({ex.status}){where}"


CELL = "<td style='text-align:left;padding:2px 8px;vertical-align:top'>"


def _html_rows(checks: list, pictures: bool) -> str:
    """A table of checks: their cmp columns and sentences, with a heatmap of where each wrong one differs."""
    head = "".join(f"<th style='text-align:left;padding:2px 8px'>{c}</th>" for c in COLUMNS)
    rows = []
    for check in checks:
        cells = list(map(html.escape, _row(check))) + [html.escape(_explanation(check))]
        cells[5] = f"<b style='color:{PASS if check.passed else FAIL}'>{cells[5]}</b>"
        picture = difference_heatmap(check.label, check.difference) if pictures and check.difference is not None else None
        if picture:
            cells[7] += f"<br><img alt='{check.label}: where it differs' src='{picture}'>"
        rows.append(f"<tr data-check='{html.escape(check.name)}'>" + "".join(CELL + c + "</td>" for c in cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def exercise_html(ex: ExerciseResult, picture_follows: bool = False) -> str:
    """The exercise as layout.py lays it out: the verdict and its sentence, the root causes' rows (each wrong one
    with its heatmap), then each fold as a line that opens. `picture_follows`: the feedback page's heatmaps of the
    gradients that only follow from a root cause, inside their fold (the notebook keeps to the root causes')."""
    view = ex.layout()
    colour = VERDICT_STYLE.get(ex.status, "#000")
    parts = [f"<p class='lead'>{html.escape(view.lead)}</p>"]
    curves = loss_curves(ex.losses, ex.reference_losses) if ex.losses and ex.reference_losses else None
    if curves:
        parts.append(f"<p><img alt='loss curves' src='{curves}'></p>")
    if view.rows:
        parts.append(_html_rows(view.rows, pictures=True))
    for fold in view.folds:
        summary = html.escape(FOLDED + fold.summary)
        if fold.kind == NOT_REACHED:  # nothing to open: the gradients are named, none has a value
            parts.append(f"<p class='fold' data-fold='{fold.kind}'>{summary}</p>")
            continue
        rows = _html_rows(fold.checks, pictures=picture_follows and fold.kind == FOLLOWS)
        parts.append(f"<details class='fold' data-fold='{fold.kind}'><summary style='cursor:pointer'>"
                     f"{html.escape(fold.summary)}</summary>{rows}</details>")  # fmt: skip
    parts += [f"<p>{html.escape(note)}</p>" for note in view.notes]
    return (
        f"<div class='backprop-ninja-exercise' data-exercise='{ex.id}' data-status='{html.escape(ex.status)}'>"
        f"<h4>{html.escape(ex.title)}: <span style='color:{colour}'>{points(ex.score, ex.max_score)} "
        f"({html.escape(ex.status)})</span></h4>{''.join(parts)}</div>"
    )


def report_html(report: Report) -> str:
    body = "".join(exercise_html(ex) for ex in report.exercises)
    if read_as(report):
        body = f"<p>{html.escape(read_as(report))}</p>{body}"
    note = f"<p><small>{html.escape(report.note)}</small></p>" if shows_numbers(report.exercises) else ""
    return (f"<div class='backprop-ninja-report'>{body}{note}"
            f"<p><b>Score: {points(report.score, report.max_score)}</b></p></div>")


class PointsTable:
    """The points per check, straight from the assignment's table, for the notebook's introduction."""

    def __init__(self, assignment):
        self.assignment = assignment

    def rows(self):
        for ex in self.assignment.exercises:
            yield ex.title, ", ".join(f"{c.variable} {c.points:g}" for c in ex.checks), ex.max_score

    def __repr__(self):
        lines = [f"{title} ({total:g} points): {checks}" for title, checks, total in self.rows()]
        return "\n".join(lines + [f"Total: {self.assignment.max_score:g} points"])

    def _repr_html_(self):
        rows = "".join(f"<tr><td style='text-align:left'>{html.escape(t)}</td><td style='text-align:left'>"
                       f"{html.escape(c)}</td><td>{total:g}</td></tr>" for t, c, total in self.rows())  # fmt: skip
        total = self.assignment.max_score
        return (f"<table><thead><tr><th>exercise</th><th>checks and points</th><th>points</th></tr></thead>"
                f"<tbody>{rows}<tr><td><b>Total</b></td><td></td><td><b>{total:g}</b></td></tr></tbody></table>")
