"""An assignment written as a declaration, not as an engine plugin: what an instructor writes, and `declare`,
which derives the engine's Assignment from it (README, "Adding an assignment").

An instructor writes, per exercise, a forward pass in torch atoms (one `name = expression` per line, ending in
`loss`), the inputs it is drawn from (shapes by size name), the gradients it asks for and their points, its prose
and the reference answer; once, the sizes the student sees and the other sizes of the hidden run. From that alone
the engine derives the notebook (notebook.py), the references and the run's inputs (problems.py), the grading
(grading.py: comparison, localisation, hints, hard-coded sizes), the sandbox's side (run.py) and the notebook's
check() (selfcheck.py). Nothing else is written per assignment.
"""
from dataclasses import dataclass, field

from ..assignment import Assignment
from ..checks import DEFAULT_HIDDEN_SEED, Check, Exercise
from .forward import DeclarationError, read_forward


@dataclass(frozen=True)
class Input:
    """A tensor the forward pass starts from, drawn afresh for each seed."""

    name: str
    shape: tuple  # each dimension a size's name ("B", "T", "C") or a whole number
    draw: str = "randn"  # "randn": normal, times `scale`, plus `shift`; "index": whole numbers below the size `high`
    scale: float = 1.0
    shift: float = 0.0
    high: str = ""

    def __post_init__(self):
        if self.draw not in ("randn", "index") or (self.draw == "index") != bool(self.high):
            raise DeclarationError(f"input {self.name}: draw is 'randn', or 'index' with the size `high` it stays below")


@dataclass(frozen=True)
class Task:
    """One exercise as declared."""

    id: str  # the nbgrader cell id, "ex1"
    title: str
    forward: object  # the function whose lines are the atoms
    inputs: tuple[Input, ...]
    asks: tuple[str, ...]  # the gradients asked, by the atom's or input's name: "x" asks for dx
    solution: str  # the reference answer's code, for the solutions notebook and the tests
    prose: str = ""  # markdown above the answer cell
    points: float = 1.0  # per gradient asked
    given: tuple[str, ...] = ()  # gradients handed to the student as d<name>, autograd's own
    stub: str = ""  # lines the answer cell starts with, above `raise NotImplementedError()`
    # Atoms whose gradients the answer computes on the way (dlogits, ...): read when it sets them, never graded, so
    # that the first wrong step can be found among them too.
    reads: tuple[str, ...] = ()
    # Optional, what only this exercise can say: gradient name -> ((expression, what it means), ...). The expression
    # computes the slip from the forward's values and the upstream gradients (d<atom>: the student's own where they
    # gave it); a wrong gradient that is exactly that gets the sentence, before the kinds any gradient can be.
    slips: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Declaration:
    id: str
    title: str
    intro: str  # the notebook's first cell, markdown
    sizes: dict  # what the student sees: {"B": 4, "T": 8, ...}
    hidden_sizes: dict  # the hidden run's, each different, so a hard-coded size fails there
    tasks: tuple[Task, ...]
    public_seed: int = 2024  # the values the student sees are drawn at it (exercise k at public_seed + k - 1)

    def task(self, exercise_id: str) -> Task:
        return next(t for t in self.tasks if t.id == exercise_id)


def declare(declaration: Declaration, release: str) -> Assignment:
    """The engine's Assignment for `declaration`; `release` is the shipped student notebook ("package:file")."""
    for task in declaration.tasks:
        forward = read_forward(task.forward)
        known = set(forward.inputs) | set(forward.atoms)
        for name in (*task.asks, *task.given, *task.reads):
            if name not in known or name == "loss":
                raise DeclarationError(f"{task.id}: {name!r} is not an atom or input of {forward.name}")
        if {i.name for i in task.inputs} != set(forward.inputs):
            raise DeclarationError(f"{task.id}: the inputs declared are not {forward.name}'s parameters")
    if declaration.public_seed == DEFAULT_HIDDEN_SEED:
        raise DeclarationError(f"public_seed {DEFAULT_HIDDEN_SEED} is the published hidden seed: choose another")
    if set(declaration.sizes) != set(declaration.hidden_sizes) or any(
            declaration.sizes[k] == declaration.hidden_sizes[k] for k in declaration.sizes):  # fmt: skip
        raise DeclarationError("hidden_sizes must change every size, or a size hard-coded in an answer passes there")
    # An exercise that asks for an atom's gradient beside the inputs' is judged step by step (declared/diagnose.py).
    exercises = tuple(Exercise(t.id, t.title, tuple(Check(name, t.points) for name in t.asks), given=t.given,
                               step_by_step=bool((set(t.asks) | set(t.reads)) & set(read_forward(t.forward).atoms)))
                      for t in declaration.tasks)  # fmt: skip
    return Assignment(
        id=declaration.id,
        title=declaration.title,
        exercises=exercises,
        public_seed=declaration.public_seed,
        grading_class="autograder.declared.grading:DeclaredGrading",
        run_module="autograder.declared.run",
        selfcheck_module="autograder.declared.selfcheck",
        release=release,
        note=NOTE,
        declaration=declaration,
    )


NOTE = ("exact: False or approx: False alone is not a mistake: float32 rounds differently in each order of operations. "
        "A check passes when the shape and dtype are right and every entry is within allclose's tolerance of "
        "autograd's gradient computed in float64 from the same inputs, on the sizes you see and on others.")
