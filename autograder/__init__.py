"""backprop-ninja: exercises in manual backpropagation, graded against torch autograd.

In a notebook, `check("ex1")` shows the cmp table for one exercise (each assignment's selfcheck module); on the
command line, `backprop-ninja check NOTEBOOK` grades a whole notebook in isolation (grading.py). The assignments
are assignments/, one package each.
"""


def check(exercise_id: str, assignment: str | None = None):
    """The in-notebook check of an exercise of `assignment` (the first assignment's by default: the first wave's
    released notebooks call `from autograder import check` with no assignment)."""
    from . import assignments

    return assignments.get(assignment or assignments.all_ids()[0]).selfcheck().check(exercise_id)


def points_table(assignment: str | None = None):
    """The points of each exercise and check, for a notebook's introduction."""
    from . import assignments
    from .render import PointsTable

    return PointsTable(assignments.get(assignment or assignments.all_ids()[0]))


__all__ = ["check", "points_table"]
