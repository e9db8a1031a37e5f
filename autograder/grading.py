"""Grading a notebook: its exercise cells → isolated runs on the public and hidden seed → comparison → verdicts.

A Grader computes the reference once (per seed) and keeps one sandbox, so grading many notebooks with one
Grader costs one process fork per exercise each.
"""
import time
from dataclasses import dataclass
from pathlib import Path

from . import array_file, data, lecture, settings
from .checks import EXERCISES, HIDDEN, HIDDEN_SIZES, PUBLIC, PUBLIC_SEED, PUBLIC_SIZES, Exercise
from .compare import Comparison, compare
from .hints import aliasing_hint, diagnose, hint, slip_hint
from .localise import LoopView, SeedRun, earns_local_credit, forward_values, loop_check, loop_view
from .naming import assigned_names, did_you_mean
from .notebook import ExerciseCell, read_submission
from .reference import loop_batches, make_problem, reference_losses, training_references
from .results import (HIDDEN_FAILURE, LIMIT_ENDED, LIMIT_KILLED, LIMIT_MEMORY, LIMIT_TIME, CheckResult,
                      ExerciseResult, Report, score_status)
from .sandbox import Limits, Sandbox, isolation_in_force
from .run_result import clean_result
from .static_checks import autograd_uses, hard_coded_size, placeholder_after_answer, review_flags, source_nodes


class Grader:
    def __init__(self, limits: Limits = Limits(), hidden_seed: int | None = None, words: "data.Words | None" = None,
                 credit: str = "strict", sandboxes: dict | None = None):
        # "strict": a check scores when its gradient is right, as in the lecture. "local": also when it is right
        # given the student's own upstream gradients (Exercise 1), so one early slip costs one point.
        self.credit = credit
        # A library caller may leave the seed out (the environment's, else the published default); a class run
        # resolves it once in its parent (settings.py) and passes it, so no worker reads its own environment.
        hidden, _ = settings.hidden_seed(hidden_seed, for_class=False)
        self.hidden_seed = hidden
        # One sandbox per seed: the process whose output a student sees never holds the hidden seed's inputs, not
        # even in a file an earlier run left in its scratch space. Both start now and import torch side by side
        # while the references are computed here.
        self.limits = limits
        # `sandboxes`: ones already started (a class worker starts them before it imports torch itself).
        self.sandboxes = sandboxes or {label: Sandbox(limits) for label in (PUBLIC, HIDDEN)}
        for sandbox in self.sandboxes.values():
            sandbox.start()
        try:
            self.words = words or data.load_words()
            (self.Xtr, self.Ytr), _, _ = lecture.split_dataset(self.words.words)
            # The public seed is what the student saw; the hidden one (other values, other sizes) catches
            # pasted values and hard-coded sizes.
            self.problems = {PUBLIC: make_problem(PUBLIC_SEED, self.Xtr, self.Ytr, PUBLIC_SIZES),
                             HIDDEN: make_problem(hidden, self.Xtr, self.Ytr, HIDDEN_SIZES)}  # fmt: skip
            self._public_at = {PUBLIC_SIZES: self.problems[PUBLIC]}
            self._losses_at: dict = {}
            self._encoded_inputs: dict = {}
        except BaseException:
            self.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        for sandbox in self.sandboxes.values():
            sandbox.close()

    def grade(self, path) -> Report:
        """Grade one notebook. Raises notebook.NotGradable when it is not a gradable notebook at all."""
        submission = read_submission(path)
        exercises = [self.grade_exercise(ex, submission.cells[ex.id]) for ex in EXERCISES]
        return Report(
            format=submission.format,
            notebook=str(Path(path)),
            score=sum(e.score for e in exercises),
            max_score=sum(e.max_score for e in exercises),
            exercises=exercises,
            isolation=isolation_in_force(),
            dataset=self.words.source,
        )

    def grade_exercise(self, ex: Exercise, cell: ExerciseCell) -> ExerciseResult:
        if cell.problem:
            return _all_failed(ex, cell.status, cell.problem, failure=cell.status)
        problems = self._problems(cell.public_sizes)
        runs = self._run(ex, cell.source, problems)
        public = runs[PUBLIC]
        limit, failure = _limit_message(public, self.limits, cell)
        if limit:
            return _all_failed(ex, "failed", limit, failure)
        error = public.result["error"]
        if ex.trains:
            comparisons, loop = self._training_comparisons(ex, runs, problems)
        else:
            comparisons = {
                check.name: {label: compare(check, run.result["values"].get(check.variable),
                                            run.arrays.get(check.variable), problems[label].grads[check.name],
                                            problems[label].truth[check.name])
                             for label, run in runs.items()}
                for check in ex.checks
            }  # fmt: skip
        checks = [CheckResult.from_comparisons(c, comparisons[c.name]) for c in ex.checks]
        loop_root = ""
        if ex.trains:
            if loop:
                loop_root = self._loop_diagnosis(ex, checks, loop, public)
        else:
            views = diagnose(ex, checks, [SeedRun(problems[label], run.result["values"], run.arrays)
                                          for label, run in runs.items()])  # fmt: skip
            for check, verdict in zip(ex.checks, checks):  # what no other hint explains, sharing a tensor may
                if not verdict.passed and verdict.shape_ok and not verdict.hint:
                    verdict.hint = aliasing_hint(check.variable, public.result["aliases"], cell.source, cell.where)
            if self.credit == "local" and views:
                for check, result in zip(ex.checks, checks):
                    if not result.passed and result.locally_correct:
                        credited = earns_local_credit(check, views, list(problems.values()))
                        result.points = result.max_points if credited else 0.0
        never_set_grads = ex.trains and not error and not public.result["values"]
        assigned = assigned_names(cell.source)
        for check, verdict in zip(ex.checks, checks):
            if verdict.assigned:
                continue
            if error:
                verdict.message += f": your code stopped{_at_line(error, cell)} with {error['message']}"
            elif never_set_grads:
                verdict.message = GRADS_NEVER_SET
            else:
                meant = did_you_mean(check.variable, check.name, assigned)
                verdict.message += f": {meant}" if meant else ""
        flags = autograd_uses(cell.source) + _runtime_autograd(public.result, cell.source)
        result = ExerciseResult(ex.id, ex.title, sum(c.points for c in checks), ex.max_score, "", "",
                                _located(flags, cell), checks, output=public.output, losses=public.result["losses"],
                                review=_located(review_flags(cell.source), cell), answer_from=cell.answer_from(),
                                left_out=list(cell.left_out), stopped=bool(error))  # fmt: skip
        if ex.trains and result.losses:
            result.reference_losses = self._reference_losses(problems[PUBLIC])[: len(result.losses)]
        if loop_root:
            result.root_cause = loop.root
        if flags:
            first = flags[0]
            result.score, result.status, result.failure = 0.0, "autograd", "uses autograd"
            for check in checks:
                check.points = 0.0
            at = f"{cell.where(first['line'])}: " if first["line"] else ""
            result.message = (f"uses autograd ({at}{first['code'] or first['what']}): this "
                              "exercise asks for the backward pass by hand, so it scores 0")  # fmt: skip
        elif not any(c.assigned for c in checks) and (line := placeholder_after_answer(cell.source)):
            result.failure = "gradients set back to None by the notebook's placeholder"
            result.message = (f"{cell.where(line)} sets your gradients back to None after your code computed them "
                              "(the notebook's placeholder): delete that line")  # fmt: skip
        elif _not_answered(checks, public.result, cell):
            result.status, result.message = "not answered", f"not answered yet: {cell.unanswered}"
            result.failure = "not answered"
        elif error and error["type"] in ("SyntaxError", "IndentationError", "TabError"):
            result.message = f"your code has a syntax error{_at_line(error, cell)}, so none of it ran: {error['message']}"
            result.failure = "a syntax error"
        elif error and not any(c.assigned for c in checks):
            result.message = f"your code stopped{_at_line(error, cell)} with {error['message']}, before it set any gradient"
            result.failure = f"stopped with {error['type']} before setting any gradient"
        elif error:
            result.message = (f"your code stopped{_at_line(error, cell)} with {error['message']}; "
                              "the gradients assigned before it are graded")  # fmt: skip
        elif never_set_grads:
            result.failure = GRADS_NEVER_SET
            result.message = (f"{GRADS_NEVER_SET}: each step of the loop must set grads = [dC, dW1, db1, dW2, db2, "
                              "dbngain, dbnbias] (the loop applies them), so none of your gradients could be graded")  # fmt: skip
        elif loop_root:
            result.message = loop_root
        elif any(c.message == HIDDEN_FAILURE for c in checks):
            result.message = ("right on the values you see but not on the hidden ones: compute every gradient from "
                              "the tensors you are given (no pasted values, no hard-coded sizes)")  # fmt: skip
            # The hidden run said one bit per check; the source alone says why, when it holds one of the sizes.
            size = hard_coded_size(cell.source, cell.public_sizes)
            if size:
                line, value, name = size
                result.message = (f"right at the sizes you see, wrong at others: look for the hard-coded {value} at "
                                  f"{cell.where(line)} (use {name}, or the tensors' shapes)")  # fmt: skip
                for check in checks:
                    if check.message == HIDDEN_FAILURE:
                        check.message = f"right at the sizes you see, wrong at others (the hard-coded {value}?)"
        result.status = result.status or score_status(result.score, ex.max_score)
        return result

    def _problems(self, public_sizes) -> dict:
        """The public problem at the sizes the student's notebook had (the lecture's Exercise 4 has a wider layer
        than ours), beside the hidden one. Each is made once per Grader."""
        if public_sizes not in self._public_at:
            self._public_at[public_sizes] = make_problem(PUBLIC_SEED, self.Xtr, self.Ytr, public_sizes)
        return {PUBLIC: self._public_at[public_sizes], HIDDEN: self.problems[HIDDEN]}

    def _inputs(self, ex: Exercise, problem) -> bytes:
        """What a run of `ex` on `problem` starts from, encoded once per Grader (Exercise 4's holds the training set)."""
        key = (ex.id, id(problem))  # the problems live as long as the Grader
        if key not in self._encoded_inputs:
            self._encoded_inputs[key] = array_file.encode(problem.inputs(ex, self.Xtr, self.Ytr))
        return self._encoded_inputs[key]

    def _reference_losses(self, problem) -> list[float]:
        """The reference solution's loss at each graded training step: the same for every submission."""
        if problem.sizes not in self._losses_at:
            steps = max(ex.steps for ex in EXERCISES)
            self._losses_at[problem.sizes] = reference_losses(problem, self.Xtr, self.Ytr, steps)
        return self._losses_at[problem.sizes]

    def _run(self, ex: Exercise, source: str, problems: dict) -> dict[str, "SeedOutcome"]:
        """The student's code on each seed, public first, each in its own sandbox, all within one time limit.

        The hidden run is read for one thing only, each check's pass or fail: a hidden run that did not finish or
        asked for autograd reports no values at all, and nothing else of it (its error, exit status, printout,
        time) is kept. The hidden seed is not run when the public one did not finish, nor when it set none of the
        gradients: every check has failed already, and the hidden seed can only fail what the public one passes
        (an untouched exercise, or code that stops before its first gradient, costs one run, not two).
        """
        deadline = time.monotonic() + self.limits.timeout
        loop = [c.variable for c in ex.checks] + [f"d{name}" for name in lecture.LOOP_INTERMEDIATES]
        names = {f"{k}/{name}" for k in range(ex.steps) for name in loop} if ex.trains else {c.variable for c in ex.checks}
        lines = len(source.splitlines())
        runs = {}
        for label, problem in problems.items():
            run = self.sandboxes[label].run(ex.id, source, self._inputs(ex, problem),
                                            [c.variable for c in ex.checks], ex.steps, deadline - time.monotonic(),
                                            problem.constants())  # fmt: skip
            reply = run.reply
            if reply.get("status") == "finished" and run.result is None:
                # Every run that reaches the end of the code writes its result: with none, the code ended its
                # own process first (os._exit(0)), and nothing it computed can be read.
                reply = {"status": "died", "exit_code": 0}
            result = clean_result(run.result, names, lines)
            arrays = {name: a for name, a in run.arrays.items() if name in result["values"]}
            if label == PUBLIC:
                runs[label] = SeedOutcome(reply, result, arrays, run.output)
                if reply.get("status") != "finished" or not result["values"]:
                    break
            else:
                finished = reply.get("status") == "finished" and not result["autograd_calls"] and not any(
                    meta.get("has_graph") for meta in result["values"].values())  # fmt: skip
                values_only = {"values": result["values"] if finished else {}, "losses": [], "error": None,
                               "autograd_calls": [], "aliases": []}  # fmt: skip
                runs[label] = SeedOutcome({"status": "finished"}, values_only, arrays if finished else {})
        return runs

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

    def _loop_diagnosis(self, ex: Exercise, checks: list, view: LoopView, public: "SeedOutcome") -> str:
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
                f"(not graded itself){': ' + what if what else ''}")


@dataclass
class SeedOutcome:
    """One seed's run, as the grader keeps it: the supervisor's reply, the result in its closed form (run_result.py),
    the arrays it names, and what the code printed (the public seed's only)."""

    reply: dict
    result: dict
    arrays: dict
    output: str = ""


GRADS_NEVER_SET = "grads was never set"


def _limit_message(public: SeedOutcome, limits: Limits, cell: ExerciseCell) -> tuple[str | None, str]:
    """Why the public run hit a limit or ended its own process, in a sentence, and which limit in a few words (the
    class report's review list); None when it did not."""
    status = public.reply.get("status")
    memory = f"used more than {limits.memory_gib:g} GiB of memory"
    if status == "timeout":
        return f"timed out after {limits.timeout:g} s: look for a loop that never ends", LIMIT_TIME
    if status == "memory":
        return f"{memory}, so it was stopped", LIMIT_MEMORY
    if status == "died":
        reply = public.reply
        how = reply.get("signal") or (f"exit code {reply['exit_code']}" if "exit_code" in reply else None)
        if how:
            return (f"your code ended its own process ({how}) before its gradients could be read, so nothing could "
                    "be graded", LIMIT_ENDED)  # fmt: skip
        return f"{reply.get('detail', 'the grading process was killed')}, so nothing could be graded", LIMIT_KILLED
    # Under the memory limit an allocation fails with MemoryError or torch's "can't allocate memory".
    error = public.result["error"]
    if error and error["memory"]:
        return f"{memory}{_at_line(error, cell)}: allocate less", LIMIT_MEMORY
    return None, ""



def _at_line(error: dict, cell: ExerciseCell) -> str:
    if not error.get("line"):
        return ""
    return f" {'at' if _in_answer(error, cell) else 'in'} {cell.where(error['line'])}"


def _not_answered(checks: list, result: dict, cell: ExerciseCell) -> bool:
    """Nothing graded was set, and nothing was tried: the stub raised NotImplementedError, the cell holds no
    statement, or what it set is still the notebook's placeholder (None; the lecture's `dlogits = None # TODO`),
    whatever the grader's own loop around it then made of that."""
    if any(c.assigned for c in checks):
        return False
    error = result["error"]
    if error and error["type"] == "NotImplementedError":
        return True
    values = result["values"].values()
    placeholders = bool(values) and all(meta.get("type") == "NoneType" for meta in values)
    return (placeholders or not _has_statements(cell.source)) and not (error and _in_answer(error, cell))


def _has_statements(source: str) -> bool:
    nodes = source_nodes(source)
    return nodes is None or bool(nodes[0].body)  # nodes[0]: the module


def _in_answer(error: dict, cell: ExerciseCell) -> bool:
    """Whether the error's line is the student's own (not the grader's loop around a lecture notebook's answer)."""
    return bool(error.get("line")) and cell.locate(error["line"])[1] is not None


def _located(flags: list[dict], cell: ExerciseCell) -> list[dict]:
    """Flags with their line as the student finds it: in a lecture notebook, the cell and its line."""
    if not cell.origin:
        return flags
    located = []
    for flag in flags:
        where, line = cell.locate(flag["line"]) if flag["line"] else (None, None)
        located.append({**flag, "cell": where, "line": line})
    return located


def _runtime_autograd(result: dict, source: str) -> list[dict]:
    """Flags for what the public run refused, each with the cell's line that asked (as the static ones have)."""
    lines = source.splitlines()
    flags, seen = [], set()
    for call in result["autograd_calls"]:
        if call["call"] not in seen:
            seen.add(call["call"])
            line = call["line"]
            code = lines[line - 1].strip() if line else ""
            flags.append({"flag": "autograd", "line": line, "code": code, "what": call["call"]})
    graphs = [name for name, meta in result["values"].items() if meta.get("has_graph")]
    if graphs:
        flags.append({"flag": "autograd", "line": None, "code": "", "what": f"{graphs[0]} carries an autograd graph"})
    return flags


def _all_failed(ex: Exercise, status: str, message: str, failure: str) -> ExerciseResult:
    failed = Comparison(problem=message)
    checks = [CheckResult.from_comparisons(c, {"": failed}) for c in ex.checks]
    return ExerciseResult(ex.id, ex.title, 0.0, ex.max_score, status, message, [], checks, failure=failure)
