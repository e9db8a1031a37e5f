"""Grading a notebook: its exercise cells → isolated runs on the public and hidden seed → comparison → verdicts.

The engine's side of every assignment: it reads the answers, runs them in the sandboxes, and turns comparisons
into verdicts and messages. What an exercise's inputs, answers and hints are, it asks the notebook's assignment
(assignment.py). A Grader makes each assignment's references once and keeps one sandbox per seed, so grading many
notebooks with one Grader costs one process fork per exercise and seed.
"""
import time
from dataclasses import dataclass
from pathlib import Path

from . import assignments, settings
from .checks import HIDDEN, PUBLIC, Exercise
from .compare import Comparison
from .naming import assigned_names, did_you_mean
from .notebook import NOT_ASKED, ExerciseCell, read_submission
from .results import (LIMIT_ENDED, LIMIT_KILLED, LIMIT_MEMORY, LIMIT_TIME, CheckResult, ExerciseResult, Report,
                      hidden_only, score_status)
from .run_result import clean_result
from .sandbox import Limits, Sandbox, isolation_in_force, start_warm_server
from .static_checks import (GRADER_PACKAGE_CALL, grader_package_imports, placeholder_after_answer, review_flags,
                            source_nodes)

DEFAULT_ASSIGNMENT = assignments.all_ids()[0]


class Grader:
    def __init__(self, limits: Limits = Limits(), hidden_seed: int | None = None, credit: str = "strict",
                 sandboxes: dict | None = None, datasets: dict | None = None, first: str | None = None, **options):
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
        # `sandboxes`: ones already started (a class worker starts them before it imports torch itself). Else both
        # zygotes are forked from a warm server of this Grader's, where the kernel allows it (warm_server.py).
        self.warm = None if sandboxes else start_warm_server()
        try:
            self.sandboxes = sandboxes or {label: Sandbox(limits, self.warm) for label in (PUBLIC, HIDDEN)}
        except BaseException:  # no scratch space for a job root: nothing of this Grader is left running
            if self.warm:
                self.warm.close()
            raise
        for sandbox in self.sandboxes.values():
            sandbox.start()
        # `datasets`: {assignment id: its data} already loaded (a class worker's, which mismatch() checked); each
        # assignment loads its own otherwise. `options` go to every assignment's Grading (the first assignment's
        # `words`, its tests' small dataset).
        self.datasets, self.options, self._gradings = datasets or {}, options, {}
        try:
            # References made while the zygotes start: of the assignment a class grades, else of the first.
            self.grading(first or DEFAULT_ASSIGNMENT)
        except BaseException:
            self.close()
            raise

    def grading(self, assignment_id: str):
        """This Grader's side of an assignment (its problems and references), made on first use."""
        if assignment_id not in self._gradings:
            data = {"data": self.datasets[assignment_id]} if assignment_id in self.datasets else {}
            self._gradings[assignment_id] = assignments.get(assignment_id).grading(self.hidden_seed, **data,
                                                                                   **self.options)
        return self._gradings[assignment_id]

    def ready_for(self, assignment_id: str):
        """Make the assignment's references and wait for the sandboxes to start: a class worker does this before
        timing a submission, so its seconds are its own and not the worker's start-up."""
        self.grading(assignment_id)
        for sandbox in self.sandboxes.values():
            sandbox.wait_until_ready()

    def __getattr__(self, name):
        # The first assignment's own attributes (problems, Xtr, Ytr, words), which its tests and tools read.
        if name.startswith("_") or name in ("options", "sandboxes", "datasets"):
            raise AttributeError(name)
        return getattr(self.grading(DEFAULT_ASSIGNMENT), name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        for sandbox in self.sandboxes.values():
            sandbox.close()
        if self.warm:
            self.warm.close()

    def grade(self, path, assignment_id: str | None = None) -> Report:
        """Grade one notebook, as `assignment_id` when given (a class: the course decides), else as the notebook
        says it is. Raises notebook.NotGradable when it is not a gradable notebook at all."""
        submission = read_submission(path, assignments.get(assignment_id) if assignment_id else None)
        part = self.grading(submission.assignment.id)
        runs = self._run_submission(part, submission)
        # What a lecture notebook does not ask is left out of a learner's report; a class's gradebook has it at 0.
        exercises = [self.grade_exercise(ex, submission.cells[ex.id], part, runs.get(ex.id))
                     for ex in submission.assignment.exercises
                     if assignment_id or submission.cells[ex.id].status != NOT_ASKED]  # fmt: skip
        return Report(
            format=submission.format,
            notebook=str(Path(path)),
            score=sum(e.score for e in exercises),
            max_score=sum(e.max_score for e in exercises),
            exercises=exercises,
            isolation=isolation_in_force(self.sandboxes[PUBLIC].isolation),
            dataset=part.dataset,
            assignment=submission.assignment.id,
        )

    def grade_exercise(self, ex: Exercise, cell: ExerciseCell, part=None,
                       runs: dict | None = None) -> ExerciseResult:
        """One exercise's verdict; `runs`: its seeds' runs when the caller made them (grade), else made here."""
        part = part or self.grading(DEFAULT_ASSIGNMENT)
        if cell.problem:
            return _all_failed(ex, cell.status, cell.problem, failure=cell.status)
        problems = part.problems_for(cell)
        runs = runs or self._run(part, ex, cell.source, problems)
        public = runs[PUBLIC]
        limit, failure = _limit_message(public, self.limits, cell)
        if limit:
            return _all_failed(ex, "failed", limit, failure)
        return judge(part, ex, cell, runs, problems, self.credit)

    def _run_submission(self, part, submission) -> dict[str, dict[str, "SeedOutcome"]]:
        """Every exercise's runs: each exercise's public run first, then the hidden ones. A hidden run's time would
        otherwise lie between two public runs, whose printouts and errors the student reads: a clock read in each
        would tell how long the hidden run between them took, and the hidden code can choose that time.

        Each run is a job of its own. (Jobs of several exercises, each still in a process of its own, were tried
        and measured: they cost 1.03-1.04x the CPU, for a fork per exercise remains and the job adds one.)"""
        cells = {ex.id: submission.cells[ex.id] for ex in submission.assignment.exercises}
        gradable = [ex for ex in submission.assignment.exercises if not cells[ex.id].problem]
        problems = {ex.id: part.problems_for(cells[ex.id]) for ex in gradable}
        runs, spent = {}, {}
        for ex in gradable:
            start = time.monotonic()
            runs[ex.id] = self._run(part, ex, cells[ex.id].source, {PUBLIC: problems[ex.id][PUBLIC]})
            spent[ex.id] = time.monotonic() - start
        for ex in gradable:
            if HIDDEN in problems[ex.id] and _hidden_run_needed(runs[ex.id][PUBLIC]):
                hidden, left = {HIDDEN: problems[ex.id][HIDDEN]}, self.limits.timeout - spent[ex.id]
                runs[ex.id].update(self._run(part, ex, cells[ex.id].source, hidden, left))
        return runs

    def _run(self, part, ex: Exercise, source: str, problems: dict,
             timeout: float | None = None) -> dict[str, "SeedOutcome"]:
        """The student's code on each seed, public first, each in a job of its own, all within one time limit."""
        deadline = time.monotonic() + (self.limits.timeout if timeout is None else timeout)
        runs = {}
        for label, problem in problems.items():
            run = self.sandboxes[label].run(part.assignment.run_module, self._job(part, ex, source, problem),
                                            part.inputs(ex, problem), deadline - time.monotonic())  # fmt: skip
            runs[label] = self._seed_outcome(part, ex, source, label, run)
            if label == PUBLIC and not _hidden_run_needed(runs[label]):
                break
        return runs

    @staticmethod
    def _job(part, ex: Exercise, source: str, problem) -> dict:
        return dict(exercise=ex.id, code=source, variables=part.variables(ex), steps=ex.steps,
                    constants=part.constants(ex, problem))  # fmt: skip

    @staticmethod
    def _seed_outcome(part, ex: Exercise, source: str, label: str, run) -> "SeedOutcome":
        """One exercise's run on one seed, as the grader keeps it.

        The hidden run is read for one thing only, each check's pass or fail: a hidden run that did not finish or
        asked for autograd reports no values at all, and nothing else of it (its error, exit status, printout,
        time) is kept. The hidden seed is not run when the public one did not finish, nor when it set none of the
        gradients: every check has failed already, and the hidden seed can only fail what the public one passes
        (an untouched exercise, or code that stops before its first gradient, costs one run, not two).
        """
        reply = run.reply
        if reply.get("status") == "finished" and run.result is None:
            # Every run that reaches the end of the code writes its result: with none, the code ended its own
            # process first (os._exit(0)), and nothing it computed can be read.
            reply = {"status": "died", "exit_code": 0}
        result = clean_result(run.result, part.value_names(ex), len(source.splitlines()))
        arrays = {name: a for name, a in run.arrays.items() if name in result["values"]}
        if label == PUBLIC:
            return SeedOutcome(reply, result, arrays, run.output)
        finished = reply.get("status") == "finished" and not result["autograd_calls"] and not any(
            meta.get("has_graph") for meta in result["values"].values())  # fmt: skip
        values_only = {"values": result["values"] if finished else {}, "losses": [], "error": None,
                       "autograd_calls": [], "aliases": []}  # fmt: skip
        return SeedOutcome({"status": "finished"}, values_only, arrays if finished else {})


def judge(part, ex: Exercise, cell: ExerciseCell, runs: dict, problems: dict, credit: str = "strict",
          hidden_judged: bool = True, comparisons: dict | None = None) -> ExerciseResult:
    """An exercise's verdict from its runs, wherever they ran: the sandboxes' seeds (a grade, `backprop-ninja
    check`, a class), or the kernel's values on the public seed (the notebook's check(), Validate; then
    `hidden_judged` is False). Every view's verdict and messages come from here; only its values differ.
    `comparisons`: made by the caller where its values are of another kind than a run's (the kernel's last
    training step, where a run records the first ones)."""
    public = runs[PUBLIC]
    error = public.result["error"]
    comparisons, context = (comparisons, None) if comparisons is not None else part.comparisons(ex, runs, problems)
    checks = [CheckResult.from_comparisons(c, comparisons[c.name]) for c in ex.checks]
    root = part.diagnose(ex, cell, checks, runs, problems, context, credit)
    unset = None if error else part.unset_message(ex, public)
    assigned = assigned_names(cell.source)
    for check, verdict in zip(ex.checks, checks):
        if verdict.assigned:
            continue
        if error:
            verdict.message += f": your code stopped{_at_line(error, cell)} with {error['message']}"
        elif unset:
            verdict.message = unset
        else:
            meant = did_you_mean(check.variable, check.name, assigned, part.assignment.answer_names)
            verdict.message += f": {meant}" if meant else ""
    # The same use seen in the source and refused at run time is one flag.
    flags = list({(f["line"], f["what"]): f for f in grader_package_imports(cell.source)
                  + part.autograd_flags(cell.source) + _runtime_autograd(public.result, cell.source)}.values())
    result = ExerciseResult(ex.id, ex.title, sum(c.points for c in checks), ex.max_score, "", "",
                            _located(flags, cell), checks, output=public.output, losses=public.result["losses"],
                            review=_located(review_flags(cell.source), cell), answer_from=cell.answer_from(),
                            left_out=list(cell.left_out), stopped=bool(error),
                            hidden_judged=hidden_judged)  # fmt: skip
    part.finish(ex, result, runs, problems, context, root)
    if flags:
        first = flags[0]
        result.score, result.status, result.failure = 0.0, "autograd", "uses autograd"
        for check in checks:
            check.points = 0.0
        at = f"{cell.where(first['line'])}: " if first["line"] else ""
        if first["what"] == GRADER_PACKAGE_CALL:
            result.message = (f"imports the grader's package ({at}{first['code']}): it holds the answers, "
                              "so this exercise scores 0")  # fmt: skip
        else:
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
    elif error and _at_placeholder(error, cell):
        result.message = (f"not finished yet: {cell.where(error['line'])} is still the notebook's `raise "
                          "NotImplementedError()`; the gradients set before it are graded")  # fmt: skip
    elif error:
        result.message = (f"your code stopped{_at_line(error, cell)} with {error['message']}; "
                          "the gradients assigned before it are graded")  # fmt: skip
    elif said := part.explain(ex, cell, result, public):
        result.failure, result.message = said
    elif root:
        result.message = root
    elif (failing := [c for c in checks if not c.passed]) and all(hidden_only(c.message) for c in failing):
        result.message = part.hidden_message(ex, cell, result) or (
            "right on the values you see but not on the hidden ones: compute every gradient from the tensors "
            "you are given (no pasted values, no hard-coded sizes)")  # fmt: skip
    result.status = result.status or score_status(result.score, ex.max_score)
    return result


def _hidden_run_needed(public: "SeedOutcome") -> bool:
    """Whether the hidden seed can still fail a check: only when the public run finished and set a value."""
    return public.reply.get("status") == "finished" and bool(public.result["values"])


@dataclass
class SeedOutcome:
    """One seed's run, as the grader keeps it: the supervisor's reply, the result in its closed form (run_result.py),
    the arrays it names, and what the code printed (the public seed's only)."""

    reply: dict
    result: dict
    arrays: dict
    output: str = ""


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


def _at_placeholder(error: dict, cell: ExerciseCell) -> bool:
    """The code stopped at the notebook's own `raise NotImplementedError()`, left below what the student wrote."""
    lines = cell.source.splitlines()
    line = error.get("line") or 0
    return (error["type"] == "NotImplementedError" and _in_answer(error, cell) and 0 < line <= len(lines)
            and lines[line - 1].strip() == "raise NotImplementedError()")  # fmt: skip


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
