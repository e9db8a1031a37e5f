"""Verdicts: what a graded notebook gets, one object per check, exercise and notebook.

Each object renders as JSON (`to_dict`), plain text (`str`) and HTML (`_repr_html_`, for Jupyter); the
renderings live in render.py. A result is where text from a submission (a source line quoted in a message or a
flag, the printout, the notebook's file name) enters what the views show, so every field is made safe as it is
set (safe_text.py), whoever sets it: the engine, an assignment's hints, the notebook's own check.
"""
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING

import numpy as np

from .checks import HIDDEN
from .compare import Comparison
from .notebook import COURSE
from .safe_text import safe_values

if TYPE_CHECKING:
    from .layout import Layout

# The one thing a check says about the hidden seed.
HIDDEN_FAILURE = ("right on the public seed but not on the hidden seed: compute it from the tensors you are given, "
                  "don't paste values or hard-code sizes")


def hard_coded_message(result, cell, size: tuple[int, int, str] | None) -> str | None:
    """An exercise's line when its checks failed on the hidden seed only and its source holds one of the sizes the
    student sees (`size`: static_checks.hard_coded_size's finding), each such check's message saying so too."""
    if not size:
        return None
    line, value, name = size
    for check in result.checks:
        if check.message == HIDDEN_FAILURE:
            check.message = f"right at the sizes you see, wrong at others (the hard-coded {value}?)"
    return (f"right at the sizes you see, wrong at others: look for the hard-coded {value} at {cell.where(line)} "
            f"(use {name}, or the tensors' shapes)")  # fmt: skip


def hidden_only(message: str) -> bool:
    """Whether a check's message says it failed on the hidden seed only: the engine's HIDDEN_FAILURE, or an
    assignment's own words for it, which begin "right at the" (values, sizes) "you see"."""
    return message == HIDDEN_FAILURE or message.startswith("right at the ")


# An exercise's failure when its run hit a limit (ExerciseResult.failure): the class report lists these for the
# instructor's review.
LIMIT_TIME, LIMIT_MEMORY, LIMIT_ENDED, LIMIT_KILLED = ("timed out", "over the memory limit",
                                                       "ended its own process", "its process was killed")  # fmt: skip
LIMITS_HIT = (LIMIT_TIME, LIMIT_MEMORY, LIMIT_ENDED, LIMIT_KILLED)


class ShownSafely:
    """Every field of a result, as it is set, in the form every view may show (safe_text.safe_values)."""

    def __setattr__(self, name, value):
        super().__setattr__(name, safe_values(value))


class Score(float):
    """A score that prints as every table does (30, not 30.0): the check cell's last value is one, and nbgrader
    reads that printout as the cell's partial credit."""

    def __repr__(self):
        return f"{float(self):g}"


@dataclass
class CheckResult(ShownSafely):
    name: str
    passed: bool
    exact: bool
    approx: bool
    maxdiff: float | None
    shape_ok: bool
    dtype_ok: bool
    points: float
    max_points: float
    message: str
    # Right given the student's own upstream gradients (the assignment's localisation; where it has none, the same
    # as passed). A failing check that is locally correct only inherits an earlier mistake.
    locally_correct: bool = False
    hint: str | None = None  # what kind of mistake a failing check looks like (the assignment's hints.py)
    assigned: bool = True  # the student's code set the variable (on the public seed)
    variable: str = ""  # what the student wrote it as (dlogits; micrograd's gradf); "" in results from before it
    # Where a wrong value differs, |student - reference|, on the public seed only: pictures may show it to the
    # student, and the hidden seed's values must never leave the grader. Not part of the JSON.
    difference: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def label(self) -> str:
        """The check as every view names it: the student's own name for the answer."""
        return self.variable or f"d{self.name}"

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "difference"}

    @classmethod
    def from_comparisons(cls, check, comparisons: dict[str, Comparison]) -> "CheckResult":
        """Combine one check's comparisons on both seeds (and, in Exercise 4, every step).

        Labels are "public seed" or "hidden seed", with ", step k" in Exercise 4. The hidden seed counts as one
        bit per check, passed or not: every column, number and message comes from the public seed, so nothing a
        run on the hidden seed computed or wrote can reach the student.
        """
        public = [(label, c) for label, c in comparisons.items() if not label.startswith(HIDDEN)]
        public_passed = bool(public) and all(c.passed for _, c in public)
        hidden_passed = all(c.passed for label, c in comparisons.items() if label.startswith(HIDDEN))
        maxdiffs = [c.maxdiff for _, c in public if c.maxdiff is not None]
        message = ""
        if not public_passed:
            label, first = next(((label, c) for label, c in public if not c.passed), ("", None))
            step = label.partition(", ")[2]
            problem = first.problem if first is not None else None
            message = (f"{step}: " if step else "") + (problem or f"{check.variable} is not close enough")
        elif not hidden_passed:
            message = HIDDEN_FAILURE
        passed = public_passed and hidden_passed
        return cls(
            name=check.name,
            passed=passed,
            exact=bool(public) and all(c.exact for _, c in public),
            approx=bool(public) and all(c.approx for _, c in public),
            maxdiff=max(maxdiffs) if maxdiffs else None,
            shape_ok=bool(public) and all(c.shape_ok for _, c in public),
            dtype_ok=bool(public) and all(c.dtype_ok for _, c in public),
            points=check.points if passed else 0.0,
            max_points=check.points,
            message=message,
            locally_correct=passed,
            assigned=all(c.assigned for _, c in public),
            variable=check.variable,
            difference=next((c.difference for _, c in public if c.difference is not None), None),
        )


def score_status(score: float, max_score: float) -> str:
    return "passed" if score == max_score else "failed" if score == 0 else "partial"


@dataclass
class ExerciseResult(ShownSafely):
    id: str
    title: str
    score: float
    max_score: float
    status: str  # "passed", "partial", "failed", "not answered", "not gradable", "autograd"
    message: str
    flags: list = field(default_factory=list)  # [{"flag": "autograd", "line": 3, "code": "loss.backward()"}]
    checks: list[CheckResult] = field(default_factory=list)
    output: str = ""  # what the student's code printed (public seed), for debugging
    losses: list = field(default_factory=list)  # Exercise 4: the loss at each graded step
    reference_losses: list = field(default_factory=list)  # Exercise 4: the reference solution's, same steps
    # Constructs in the cell that only serve to reach around the grader's guards (static_checks.review_flags):
    # they cost nothing, and the instructor sees them in the class report to look at.
    review: list = field(default_factory=list)
    # Exercise 4: the gradient its loop first gets wrong given its own upstream, when that is one the loop computes
    # on the way (hprebn for dhprebn) rather than a graded parameter's.
    root_cause: str | None = None
    # From a lecture notebook: the cells and lines the answer was taken from, and the cells left out (and why).
    answer_from: list = field(default_factory=list)
    left_out: list = field(default_factory=list)
    # What else the assignment says of the exercise beside the verdicts (what the lecture notebook's own checks
    # would have said of the same answers).
    notes: list = field(default_factory=list)
    # The code raised before its end: a gradient it did not set was not reached (layout.py folds those).
    stopped: bool = False
    # What failed the exercise as a whole, in a few words the same for every student ("timed out", "not
    # answered", "uses autograd"): the class report counts them. "" when each check has its own verdict.
    failure: str = ""
    # Judged on the hidden seed too (a grade); the notebook's own check() sees the public seed only.
    hidden_judged: bool = True
    # Whether its checks were judged against the student's own upstream gradients (a step-by-step backward pass),
    # so that the first failing one is the root cause; else each failing check is a mistake of its own.
    localised: bool = True
    # A localised exercise's graph, where it is not a chain: each check's name -> the names of the checks its
    # gradient is computed from (the nodes that use it). A gradient follows only from a mistake among those, or
    # theirs in turn; a leaf's gradient has nothing following from it. Empty: the lecture's order is the chain.
    upstream: dict = field(default_factory=dict)

    @property
    def first_wrong(self) -> str | None:
        """The root cause: the first check, in the lecture's order, that is wrong even given its upstream. A gradient
        never assigned is no root cause (nothing was computed from it) unless no other is wrong."""
        wrong = [c for c in self.checks if not c.locally_correct]
        return self.root_cause or next((c.name for c in wrong if c.assigned), None) or next((c.name for c in wrong), None)

    def layout(self) -> "Layout":
        from .layout import layout

        return layout(self)

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "checks"}
        return {**data, "first_wrong": self.first_wrong, "layout": self.layout().to_dict(),
                "checks": [c.to_dict() for c in self.checks]}

    def __str__(self):
        from .render import exercise_text

        return exercise_text(self)

    def __repr__(self):
        # One line where Jupyter or a console shows the object as text; str() is the table, to_dict() the data.
        from .render import exercise_summary

        return f"<{exercise_summary(self)}>"

    def _repr_html_(self):
        from .render import exercise_html

        return exercise_html(self)


@dataclass
class Report(ShownSafely):
    notebook: str
    score: float
    max_score: float
    exercises: list[ExerciseResult]
    isolation: str = ""
    dataset: str = ""
    format: str = COURSE  # or LECTURE: the lecture's own notebook (notebook.py, lecture_notebook.py)
    assignment: str = ""  # the assignment's id (assignments/)

    @property
    def full_marks(self) -> bool:
        return self.score == self.max_score

    @property
    def note(self) -> str:
        """What every view says under the exercises: the assignment's own note on exact and approximate."""
        from . import assignments

        return assignments.get(self.assignment or assignments.all_ids()[0]).note

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "exercises"}
        return {**data, "exercises": [e.to_dict() for e in self.exercises]}

    def __str__(self):
        from .render import report_text

        return report_text(self)

    def __repr__(self):
        from .render import points

        scores = ", ".join(f"{e.id} {points(e.score, e.max_score)}" for e in self.exercises)
        return f"<{self.notebook}: {points(self.score, self.max_score)} ({scores})>"

    def _repr_html_(self):
        from .render import report_html

        return report_html(self)
