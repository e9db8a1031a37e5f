"""backprop-ninja: exercises in manual backpropagation, graded against torch autograd.

In a notebook, `check("ex1")` shows the cmp table for Exercise 1 (see selfcheck.py). On the command line,
`backprop-ninja check NOTEBOOK` grades a whole notebook in isolation (see grading.py).
"""


def check(exercise_id: str):
    from .selfcheck import check as _check

    return _check(exercise_id)


def points_table():
    from .render import PointsTable

    return PointsTable()


__all__ = ["check", "points_table"]
