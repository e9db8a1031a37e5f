"""The first assignment's side of a Grader: its problems (the lecture's network at the public and the hidden
seed and sizes), the comparison of a run's gradients with autograd's, Exercise 4's loop, and the hints and
localisation that explain a failure.
"""
from ... import array_file
from ...assignment import Grading
from ...checks import HIDDEN, PUBLIC, Exercise
from ...compare import compare
from ...results import hard_coded_message
from ...static_checks import final_assignments, hard_coded_size
from . import HIDDEN_SIZES, PUBLIC_SEED, PUBLIC_SIZES, Sizes, lecture
from .data import Words
from .hints import aliasing_hint, diagnose, held_to_code, hint, slip_hint
from .localise import LoopView, SeedRun, earns_local_credit, forward_values, loop_check, loop_view
from .reference import loop_batches, make_problem, reference_losses, training_references

GRADS_NEVER_SET = "grads was never set"


class BackpropGrading(Grading):
    def __init__(self, assignment, hidden_seed: int, words: Words | None = None, data: Words | None = None, **_):
        super().__init__(assignment, hidden_seed)
        self.words = words or data or assignment.load_dataset()
        (self.Xtr, self.Ytr), _, _ = lecture.split_dataset(self.words.words)
        # The public seed is what the student saw; the hidden one (other values, other sizes) catches pasted
        # values and hard-coded sizes.
        self.problems = {PUBLIC: make_problem(PUBLIC_SEED, self.Xtr, self.Ytr, PUBLIC_SIZES),
                         HIDDEN: make_problem(hidden_seed, self.Xtr, self.Ytr, HIDDEN_SIZES)}  # fmt: skip
        self._public_at = {PUBLIC_SIZES: self.problems[PUBLIC]}
        self._losses_at: dict = {}
        self._encoded_inputs: dict = {}

    @property
    def dataset(self) -> str:
        return self.words.source

    def problems_for(self, cell) -> dict:
        """The public problem at the sizes the student's notebook had (the lecture's Exercise 4 has a wider layer
        than ours), beside the hidden one. Each is made once per Grader."""
        sizes = cell.public_at or PUBLIC_SIZES
        if sizes not in self._public_at:
            self._public_at[sizes] = make_problem(PUBLIC_SEED, self.Xtr, self.Ytr, sizes)
        return {PUBLIC: self._public_at[sizes], HIDDEN: self.problems[HIDDEN]}

    def inputs(self, ex: Exercise, problem) -> bytes:
        """Encoded once per Grader (Exercise 4's inputs hold the training set)."""
        key = (ex.id, id(problem))  # the problems live as long as the Grader
        if key not in self._encoded_inputs:
            self._encoded_inputs[key] = array_file.encode(problem.inputs(ex, self.Xtr, self.Ytr))
        return self._encoded_inputs[key]

    def constants(self, ex: Exercise, problem) -> dict:
        return problem.constants()

    def value_names(self, ex: Exercise) -> set[str]:
        if not ex.trains:
            return super().value_names(ex)
        loop = [c.variable for c in ex.checks] + [f"d{name}" for name in lecture.LOOP_INTERMEDIATES]
        return {f"{k}/{name}" for k in range(ex.steps) for name in loop}

    def comparisons(self, ex: Exercise, runs: dict, problems: dict) -> tuple[dict, LoopView | None]:
        if ex.trains:
            return self._training_comparisons(ex, runs, problems)
        return {
            check.name: {label: compare(check, run.result["values"].get(check.variable),
                                        run.arrays.get(check.variable), problems[label].grads[check.name],
                                        problems[label].truth[check.name])
                         for label, run in runs.items()}
            for check in ex.checks
        }, None  # fmt: skip

    def diagnose(self, ex: Exercise, cell, checks: list, runs: dict, problems: dict, loop, credit: str) -> str:
        public = runs[PUBLIC]
        if ex.trains:
            return self._loop_diagnosis(ex, checks, loop, public) if loop else ""
        views = diagnose(ex, checks, [SeedRun(problems[label], run.result["values"], run.arrays)
                                      for label, run in runs.items()])  # fmt: skip
        assigned = final_assignments(cell.source)
        for check, verdict in zip(ex.checks, checks):  # what no other hint explains, sharing a tensor may
            if not verdict.passed and verdict.shape_ok and not verdict.hint:
                verdict.hint = aliasing_hint(check.variable, public.result["aliases"], cell.source, cell.where)
            verdict.hint = held_to_code(verdict.hint, assigned.get(check.variable))
        if credit == "local" and views:
            for check, result in zip(ex.checks, checks):
                if not result.passed and result.locally_correct:
                    credited = earns_local_credit(check, views, list(problems.values()))
                    result.points = result.max_points if credited else 0.0
        return ""

    def unset_message(self, ex: Exercise, public) -> str | None:
        return GRADS_NEVER_SET if self._never_set_grads(ex, public) else None

    def explain(self, ex: Exercise, cell, result, public) -> tuple[str, str] | None:
        if self._never_set_grads(ex, public):
            return GRADS_NEVER_SET, (f"{GRADS_NEVER_SET}: each step of the loop must set grads = [dC, dW1, db1, dW2, "
                                     "db2, dbngain, dbnbias] (the loop applies them), so none of your gradients "
                                     "could be graded")  # fmt: skip
        return None

    def hidden_message(self, ex: Exercise, cell, result) -> str | None:
        # The hidden run said one bit per check; the source alone says why, when it holds one of the sizes.
        return hard_coded_message(result, cell, hard_coded_size(cell.source, size_names(cell.public_at or PUBLIC_SIZES)))

    def finish(self, ex: Exercise, result, runs: dict, problems: dict, loop, root: str):
        if ex.trains and result.losses:
            result.reference_losses = self._reference_losses(problems[PUBLIC])[: len(result.losses)]
        if root:
            result.root_cause = loop.root

    @staticmethod
    def _never_set_grads(ex: Exercise, public) -> bool:
        return ex.trains and not public.result["error"] and not public.result["values"]

    def _reference_losses(self, problem) -> list[float]:
        """The reference solution's loss at each graded training step: the same for every submission."""
        if problem.sizes not in self._losses_at:
            steps = max(ex.steps for ex in self.assignment.exercises)
            self._losses_at[problem.sizes] = reference_losses(problem, self.Xtr, self.Ytr, steps)
        return self._losses_at[problem.sizes]

    def _training_comparisons(self, ex: Exercise, runs: dict, problems: dict) -> tuple[dict, LoopView | None]:
        """Exercise 4: each step's gradients against autograd at the parameters the student's run reached.

        Only the steps the loop got through are judged (at least the first): a loop that stops early says why in
        the exercise's message, and a gradient that was right on every step it reached still counts.
        Also returns the public run's first failing step, seen step by step (localise.loop_view).
        """
        comparisons, view = {c.name: {} for c in ex.checks}, None
        for label, run in runs.items():
            problem, values = problems[label], run.result["values"]
            ran = max(1, len({key.split("/")[0] for key in values}))
            steps = [{name: run.arrays.get(f"{k}/d{name}") for name in lecture.PARAMETER_NAMES}
                     for k in range(min(ran, ex.steps))]  # fmt: skip
            references = training_references(problem, self.Xtr, self.Ytr, steps)
            batches = loop_batches(problem, self.Xtr, self.Ytr, len(steps))
            for k, ((reference, truth, params), (Xb, Yb)) in enumerate(zip(references, batches)):
                failed = False
                for check in ex.checks:
                    key = f"{k}/{check.variable}"
                    meta, array = values.get(key), run.arrays.get(key)
                    comparison = compare(check, meta, array, reference[check.name], truth[check.name])
                    comparisons[check.name][f"{label}, step {k + 1}"] = comparison
                    failed = failed or not comparison.passed
                if label == PUBLIC and failed and view is None:
                    student = {name: (values.get(f"{k}/d{name}"), run.arrays.get(f"{k}/d{name}")) for name in reference
                               if f"{k}/d{name}" in values}  # fmt: skip
                    view = loop_view(k, forward_values(params, Xb, Yb), reference, student)
        return comparisons, view

    def _loop_diagnosis(self, ex: Exercise, checks: list, view: LoopView, public) -> str:
        """Exercise 4's root cause, as Exercise 1's: every failing gradient right given the student's own upstream
        'follows'; the first that is not gets the hint. Returns the exercise's line when the root cause is a
        gradient the loop computes on the way (dhprebn, ...), which has no row of its own."""
        Xb = view.values["Xb"].numpy()

        def student(name):  # what the loop gave for d<name> at the step judged: (meta, array)
            key = f"{view.step}/d{name}"
            return public.result["values"].get(key), public.arrays.get(key)

        for check, verdict in zip(ex.checks, checks):
            if verdict.passed:
                continue
            meta, array = student(check.name)
            verdict.locally_correct = check.name != view.root and compare(check, meta, array,
                                                                          view.local[check.name]).passed  # fmt: skip
            if not verdict.locally_correct:
                verdict.hint = hint(check, meta, array, view.local[check.name], Xb)
        if view.root is None or view.root in lecture.PARAMETER_NAMES:
            root = next((c for c in ex.checks if c.name == view.root), None)
            if root is not None:
                verdict = checks[ex.checks.index(root)]
                verdict.hint = slip_hint(root, student(root.name)[1], view.values, view.upstream) or verdict.hint
            return ""
        meta, array = student(view.root)
        root = loop_check(view.root)
        what = slip_hint(root, array, view.values, view.upstream) or hint(root, meta, array, view.local[view.root], Xb)
        return (f"Step {view.step + 1} of your loop first goes wrong at d{view.root}, which it computes on the way "
                f"(not graded itself){': ' + what if what else ''}")  # fmt: skip


def size_names(sizes: Sizes) -> dict[int, str]:
    """What each size the student sees is worth (and that size times the context, embedding or vocabulary width),
    value -> the name to use instead. `sizes`: the public run's."""
    widths = (1, lecture.block_size, lecture.n_embd, lecture.vocab_size, lecture.block_size * lecture.n_embd)
    return {sizes.batch_size * w: "n" for w in widths} | {sizes.n_hidden * w: "n_hidden" for w in widths}
