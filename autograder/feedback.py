"""The student's feedback: the cmp tables, what each failing check got wrong, and where a wrong gradient differs.

One HTML file with its pictures embedded (nbgrader's release_feedback copies only .html files). It shows what the
grader found and nothing the student must not see: the heatmaps are |student - reference| on the public seed only,
no reference values of the hidden seed are printed, and no solution code is involved.
"""
import html

from .render import exercise_html
from .results import ExerciseResult

STYLE = ("body{font-family:system-ui,sans-serif;max-width:70em;margin:2em auto;padding:0 1em}"
         "table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd}"
         "details.fold,p.fold{margin:.3em 0}summary{color:#444}p.lead{font-weight:600}")  # fmt: skip


def exercise_section(ex: ExerciseResult) -> str:
    """One exercise, as in the notebook but with every wrong gradient pictured: the root causes in their rows, the
    ones that only follow from them inside their fold. Also the check cell's output in the autograded notebook."""
    return exercise_html(ex, picture_follows=True)


def not_gradable_section(problem: str) -> str:
    # The reason names the file as the course keeps it (submitted/<student>/...): the student's page says "your
    # notebook" instead of the instructor's folders.
    if ".ipynb: " in problem:
        problem = "your notebook: " + problem.split(".ipynb: ", 1)[1]
    return (f"<div class='backprop-ninja-exercise' data-status='not gradable'><p><b>This notebook could not be "
            f"graded</b>: {html.escape(problem)}</p></div>")  # fmt: skip


def feedback_page(student: str, assignment: str, graded_as, score: float, sections: list[str],
                  timestamp: str | None, numbers: bool = True) -> str:  # fmt: skip
    """The whole page around the exercise sections (exercise_section, or not_gradable_section). `assignment`:
    nbgrader's name for it in the course; `graded_as`: the Assignment it is; `numbers`: whether the sections show
    any (layout.shows_numbers), the only pages the assignment's note on them goes under."""
    when = f" Submitted {html.escape(timestamp)}." if timestamp else ""
    note = f"<p><small>{html.escape(graded_as.note)}</small></p>" if numbers else ""
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(assignment)}: feedback for "
        f"{html.escape(student)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{html.escape(assignment)}: feedback</h1><p>Student {html.escape(student)}.{when} "
        f"<b>Score: {score:g}/{graded_as.max_score:g}</b></p>{''.join(sections)}"
        f"{note}</body></html>"
    )
