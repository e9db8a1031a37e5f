"""What the engine knows of an assignment: one `Assignment` each (assignments/), and nothing else.

The engine (sandbox, comparison, verdicts, views, class grading) reads an assignment's table of exercises and
checks, and calls two small sets of hooks:
- `Grading`, in the grader's process: the problems a seed gives (inputs for the run, autograd's answers), the
  comparison of a run's values with them, and the hints and root causes that explain a failure;
- the run side (`Assignment.run_module`, imported in the sandbox's child only): the namespace the student's cell
  runs in, how it runs, and which of its values are handed back.
An assignment's tensors, exercises and names live in its own package and nowhere else.
"""
import importlib
import importlib.resources
import json
from dataclasses import dataclass
from functools import cached_property

from .checks import Exercise


@dataclass(frozen=True)
class Assignment:
    id: str  # nbgrader's assignment id, the notebook's file name and the notebook metadata's marker
    title: str
    exercises: tuple[Exercise, ...]
    public_seed: int  # the values the student sees are drawn at it
    grading_class: str  # "module:Class", a subclass of Grading, made once per Grader
    run_module: str  # the run side, imported only in the sandbox's child and the zygote
    # The notebook's own check("ex1"): a module whose check(exercise_id) judges the kernel's values (selfcheck.py).
    selfcheck_module: str
    # The student notebook the package ships, as "package:file" (nbgrader's release, copied by `make exercises`):
    # `backprop-ninja notebook` writes it out, so a learner needs the package alone.
    release: str
    # "module:function" loading the data its problems are drawn from, "" when it has none. The function returns
    # an object with `identity` (what a run records, and every worker must match) and `source` (where it came
    # from, in words), and raises RuntimeError with a one-line message when the data cannot be had.
    dataset: str = ""
    # How an instructor gives every worker the same data, said when one has other data than the run asked for.
    same_dataset: str = "give every worker the same data"
    # Under every report: what "exact: False" means for this assignment's numbers, and when a check passes.
    note: str = ""
    # The module that reads the lecture's own notebook for this assignment (is_lecture_notebook,
    # read_lecture_notebook, DESCRIPTION), "" when it has none.
    lecture_notebook: str = ""
    # A declared assignment's declaration (declared/), from which its Grading, run side and notebook are derived.
    declaration: object = None

    @cached_property
    def exercise_by_id(self) -> dict[str, Exercise]:
        return {ex.id: ex for ex in self.exercises}

    @property
    def max_score(self) -> float:
        return sum(ex.max_score for ex in self.exercises)

    @cached_property
    def answer_names(self) -> frozenset[str]:
        """Every answer's name in the assignment: another of them is never what a missing one meant (naming.py)."""
        return frozenset(c.variable for ex in self.exercises for c in ex.checks)

    def released_notebook(self) -> dict:
        """The shipped release's JSON (a fresh dict on every call: callers may change it); for a declared
        assignment that ships none, the one its declaration gives."""
        if not self.release and self.declaration is not None:
            from .declared.notebook import release_notebook

            return release_notebook(self.declaration)
        package, name = self.release.split(":")
        return json.loads(importlib.resources.files(package).joinpath(name).read_text())

    def load_dataset(self):
        """The assignment's data (None when it has none)."""
        if not self.dataset:
            return None
        module, name = self.dataset.split(":")
        return getattr(importlib.import_module(module), name)()

    def selfcheck(self):
        """What has this assignment's check(exercise_id): its module, or a declared one's Checker."""
        module = importlib.import_module(self.selfcheck_module)
        return module.Checker(self.id) if self.declaration is not None else module

    def grading(self, hidden_seed: int, **options) -> "Grading":
        module, name = self.grading_class.split(":")
        return getattr(importlib.import_module(module), name)(self, hidden_seed, **options)

    def run_side(self):
        return importlib.import_module(self.run_module)

    def lecture_reader(self):
        return importlib.import_module(self.lecture_notebook) if self.lecture_notebook else None


class Grading:
    """An assignment's side of one Grader: its problems on the public and the hidden seed, and its judgement.

    The engine runs the student's code on each problem's inputs and hands the runs back here; every method gets
    the runs as {seed label: SeedOutcome} (grading.py), public first.
    """

    def __init__(self, assignment: Assignment, hidden_seed: int):
        self.assignment, self.hidden_seed = assignment, hidden_seed

    def problems_for(self, cell) -> dict:
        """{PUBLIC: problem, HIDDEN: problem} for this answer (`cell`, notebook.ExerciseCell)."""
        raise NotImplementedError

    def inputs(self, ex: Exercise, problem) -> bytes:
        """What a run of `ex` on `problem` starts from, as array_file bytes."""
        raise NotImplementedError

    def constants(self, ex: Exercise, problem) -> dict:
        """Small numbers the run's namespace is built with (sizes), beside the inputs."""
        return {}

    def variables(self, ex: Exercise) -> list[str]:
        """The names a run of `ex` reads from the cell's namespace after it ran (the run side's collect)."""
        return [check.variable for check in ex.checks]

    def value_names(self, ex: Exercise) -> set[str]:
        """Every name a run of `ex` may hand back: the rest of what it reports is dropped unread."""
        return {check.variable for check in ex.checks}

    def comparisons(self, ex: Exercise, runs: dict, problems: dict) -> tuple[dict, object]:
        """{check name: {label: compare.Comparison}}, and whatever diagnose needs from the comparing."""
        raise NotImplementedError

    def diagnose(self, ex: Exercise, cell, checks: list, runs: dict, problems: dict, context, credit: str) -> str:
        """Set each failing check's hint and locally_correct; return the exercise's own line when its root cause
        has no row of its own ("" otherwise)."""
        return ""

    def autograd_flags(self, source: str) -> list[dict]:
        """What the cell's source shows of torch's autograd (static_checks.autograd_uses); the run's own
        refusals are flagged by the engine beside these."""
        from .static_checks import autograd_uses

        return autograd_uses(source)

    def unset_message(self, ex: Exercise, public) -> str | None:
        """What a check never set says when the code did not stop (None: the engine's own words)."""
        return None

    def explain(self, ex: Exercise, cell, result, public) -> tuple[str, str] | None:
        """(failure, message) for what only this assignment can say of the exercise as a whole, after the
        engine's reasons that end a run (not answered, a syntax error, a stop); None to let the engine go on."""
        return None

    def hidden_message(self, ex: Exercise, cell, result) -> str | None:
        """The exercise's line when a check passed on the public seed only; None for the engine's."""
        return None

    @property
    def dataset(self) -> str:
        """Where the assignment's data came from, for the report ("" when it has none)."""
        return ""

    def finish(self, ex: Exercise, result, runs: dict, problems: dict, context, root: str):
        """Last touches to an exercise's result (a training loop's losses); `root` is what diagnose returned."""
