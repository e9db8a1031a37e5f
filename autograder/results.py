"""Verdicts: what a graded notebook gets, one object per check, exercise and notebook.

Each object renders as JSON (`to_dict`), plain text (`str`) and HTML (`_repr_html_`, for Jupyter); the
renderings live in render.py.
"""
from dataclasses import dataclass, field, fields

import numpy as np

from .checks import PUBLIC
from .compare import Comparison

EXACT_NOTE = (
    "exact: False alone is not a mistake: on AVX2/AVX512 CPUs PyTorch's tanh backward uses a fused multiply-add, "
    "so even the lecture's own answer is not bit-exact from hpreact on. A check passes when the shape and dtype "
    "are right and the values are approximately equal on every seed."
)


@dataclass
class CheckResult:
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
    # Right given the student's own upstream gradients (localise.py; Exercises 2-4: the same as passed). A failing
    # check that is locally correct only inherits an earlier mistake.
    locally_correct: bool = False
    hint: str | None = None  # what kind of mistake a failing check looks like (hints.py)
    assigned: bool = True  # the student's code set the variable (on the public seed)
    # Where a wrong value differs, |student - reference|, on the public seed only: pictures may show it to the
    # student, and the hidden seed's values must never leave the grader. Not part of the JSON.
    difference: np.ndarray | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "difference"}

    @classmethod
    def from_comparisons(cls, check, comparisons: dict[str, Comparison]) -> "CheckResult":
        """Combine one check's comparisons on both seeds (and, in Exercise 4, every step).

        Labels are "public seed" or "hidden seed", with ", step k" in Exercise 4. Nothing numerical from the
        hidden seed reaches the result: its failures are named by kind only and maxdiff is the public seed's, so
        no submission can carry the hidden seed's values out in a message.
        """
        results = list(comparisons.values())
        public = [(label, c) for label, c in comparisons.items() if label.startswith(PUBLIC)]
        passed = bool(results) and all(c.passed for c in results)
        maxdiffs = [c.maxdiff for _, c in public if c.maxdiff is not None]
        message = ""
        if not passed:
            label, first = next(((label, c) for label, c in public if not c.passed), (None, None))
            if first is not None:
                step = label.partition(", ")[2]
                message = (f"{step}: " if step else "") + (first.problem or f"d{check.name} is not close enough")
            else:
                kind = next(_failure_kind(c) for c in results if not c.passed)
                message = ("right on the public seed but wrong on the hidden seed: compute it from the tensors you "
                           f"are given, don't paste values ({kind})")  # fmt: skip
        return cls(
            name=check.name,
            passed=passed,
            exact=bool(results) and all(c.exact for c in results),
            approx=bool(results) and all(c.approx for c in results),
            maxdiff=max(maxdiffs) if maxdiffs else None,
            shape_ok=bool(results) and all(c.shape_ok for c in results),
            dtype_ok=bool(results) and all(c.dtype_ok for c in results),
            points=check.points if passed else 0.0,
            max_points=check.points,
            message=message,
            locally_correct=passed,
            assigned=all(c.assigned for _, c in public),
            difference=next((c.difference for _, c in public if c.difference is not None), None),
        )


def score_status(score: float, max_score: float) -> str:
    return "passed" if score == max_score else "failed" if score == 0 else "partial"


def _failure_kind(c: Comparison) -> str:
    if not c.shape_ok:
        return "not a tensor of the right shape"
    if not c.dtype_ok:
        return "wrong dtype"
    return "wrong values" if c.maxdiff is not None else "not finite"


@dataclass
class ExerciseResult:
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

    @property
    def first_wrong(self) -> str | None:
        """The root cause: the first check, in the lecture's order, that is wrong even given its upstream."""
        return next((c.name for c in self.checks if not c.locally_correct), None)

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "checks"}
        return {**data, "first_wrong": self.first_wrong, "checks": [c.to_dict() for c in self.checks]}

    def __str__(self):
        from .render import exercise_text

        return exercise_text(self)

    def _repr_html_(self):
        from .render import exercise_html

        return exercise_html(self)


@dataclass
class Report:
    notebook: str
    score: float
    max_score: float
    exercises: list[ExerciseResult]
    isolation: str = ""
    dataset: str = ""

    @property
    def full_marks(self) -> bool:
        return self.score == self.max_score

    def to_dict(self) -> dict:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "exercises"}
        return {**data, "exercises": [e.to_dict() for e in self.exercises]}

    def __str__(self):
        from .render import report_text

        return report_text(self)

    def _repr_html_(self):
        from .render import report_html

        return report_html(self)
