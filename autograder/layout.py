"""What a person reads of an exercise's verdict, and in what order: one layout that every view draws.

The verdict leads (its score and one sentence on what to do first); the root causes follow, each a row with its
message and hint; everything else is folded into a line that says what it holds: the gradients that only follow
from a root cause ("12 more follow from dhpreact"), those the code never reached because it stopped, and the
passing ones. An exercise that failed as a whole (not answered, a limit hit, autograd, no gradient set before the
code stopped) is its lead alone: no rows repeat its sentence. render.py draws a layout as text and HTML,
feedback.py as the student's page, results.py adds it to the JSON, class_report.py counts its mistakes.
"""
from dataclasses import dataclass, field

from .results import hidden_only

FOLLOWS, NOT_REACHED, PASSING = "follows", "not reached", "passing"
# Exercise statuses whose message is the whole verdict.
WHOLE_STATUSES = ("not answered", "not gradable", "autograd")
WHOLE_LEADS = {"not answered": "not answered yet: none of its gradients is set"}  # an exercise with no message


@dataclass(frozen=True)
class Fold:
    kind: str  # FOLLOWS, NOT_REACHED or PASSING
    summary: str  # the one line shown while folded
    checks: list = field(default_factory=list)  # the CheckResults it holds, in the lecture's order


@dataclass(frozen=True)
class Layout:
    lead: str
    rows: list  # the root causes, shown open
    folds: list[Fold]
    notes: list[str]  # where a lecture notebook's answer was taken from, what was left out

    def to_dict(self) -> dict:
        return {"lead": self.lead, "rows": [{"check": c.name, "mistake": mistake(c)} for c in self.rows],
                "folds": [{"kind": f.kind, "summary": f.summary, "checks": [c.name for c in f.checks]}
                          for f in self.folds]}  # fmt: skip


def fails_as_a_whole(ex) -> bool:
    """The exercise's message is all there is to say: no check has a verdict of its own."""
    if ex.status in WHOLE_STATUSES:
        return True
    if all(c.message == ex.message for c in ex.checks) and ex.message:
        return True  # a limit hit, a cell not found: every check carries the exercise's sentence
    return ex.stopped and not any(c.assigned for c in ex.checks)


def layout(ex) -> "Layout":
    notes = answer_notes(ex)
    if fails_as_a_whole(ex):
        return Layout(_sentence(ex.message or WHOLE_LEADS.get(ex.status, ex.status), ex), [], [], notes)
    passing = [c for c in ex.checks if c.passed]
    not_reached = [c for c in ex.checks if not c.passed and not c.assigned and ex.stopped]
    follows = [c for c in ex.checks if not c.passed and c.locally_correct and c not in not_reached]
    rows = [c for c in ex.checks if not c.passed and c not in follows and c not in not_reached]
    root = _common_root(ex, rows, follows)
    folds = []
    if follows:
        source = label_of(ex, root) if root else "the mistakes above"
        why = "each is right given your own upstream gradients" if ex.localised or not ex.upstream else (
            f"{'it uses' if len(follows) == 1 else 'they use'} {'it' if root else 'them'}")
        folds.append(Fold(FOLLOWS, f"{_count(follows, 'more follows', 'more follow')} from {source} ({why}): "
                                   f"{_names(follows)}", follows))  # fmt: skip
    if not_reached:
        folds.append(Fold(NOT_REACHED, f"{_count(not_reached, 'was', 'were')} not reached (your code stopped before "
                                       f"setting {'it' if len(not_reached) == 1 else 'them'}): {_names(not_reached)}",
                          not_reached))  # fmt: skip
    if passing:
        folds.append(Fold(PASSING, _passing(passing, len(ex.checks)), passing))
    lead = _sentence(ex.message, ex) if ex.message else _lead(ex, rows, follows, root)
    return Layout(lead, rows, folds, notes)


def shows_numbers(exercises) -> bool:
    """Whether a view of these exercises shows a number the assignment's note explains (a check's row, or the
    maxdiff of a passing fold): the note goes only under such views."""
    return any(view.rows or any(f.kind == PASSING for f in view.folds) for view in map(layout, exercises))


def _common_root(ex, rows: list, follows: list) -> str | None:
    """The one root cause every following gradient follows from, if there is one: the nearest assigned failing row
    it is computed from (ex.upstream, the graph), or before it in the lecture's order where the exercise is a chain
    (Exercise 4's loop names its own, a gradient it computes on the way). A gradient never assigned is none."""
    if ex.root_cause:
        return ex.root_cause
    causes = {r.name for r in rows if r.assigned}
    roots = set()
    for check in follows:
        if ex.upstream:
            roots.add(_nearest_upstream(ex.upstream, check.name, causes))
        else:
            before = [r for r in rows if r.name in causes and ex.checks.index(r) < ex.checks.index(check)]
            roots.add(before[-1].name if before else ex.first_wrong)
    return roots.pop() if len(roots) == 1 else None


def _nearest_upstream(upstream: dict, name: str, causes: set) -> str | None:
    """The first of `causes` met going up the graph from `name`, nearest first; None when none is above it."""
    frontier, seen = list(upstream.get(name, ())), set()
    while frontier:
        found = [node for node in frontier if node in causes]
        if found:  # two at the same distance: no one root (the fold says "the mistakes above")
            return found[0] if len(found) == 1 else None
        seen.update(frontier)
        frontier = [up for node in frontier for up in upstream.get(node, ()) if up not in seen]
    return None


def _lead(ex, rows: list, follows: list, root: str | None) -> str:
    if not rows and not follows:
        subject = ex.checks[0].label if len(ex.checks) == 1 else "Every gradient"
        seeds = "on the values you see and on hidden ones" if ex.hidden_judged else (
            "on the values you see (your grade also checks hidden ones)")
        return f"{subject} matches autograd, {seeds}."
    first = ex.first_wrong or rows[0].name
    wrong, unset = [r for r in rows if r.assigned], [r for r in rows if not r.assigned]
    if not follows and len(rows) == 1:
        return f"{rows[0].label} is wrong: {mistake(rows[0])}." if wrong else _sentence(rows[0].message, ex)
    # Nothing to start at (each mistake as it is), or checks that only use what failed (micrograd's graphs).
    if (not follows and (not ex.localised or len(wrong) <= 1)) or (follows and not ex.localised and ex.upstream):
        said = []
        if len(wrong) == 1:
            said.append(f"{wrong[0].label} is wrong: {mistake(wrong[0])}")
        elif wrong:
            said.append(f"{_count(wrong, 'check fails', 'checks fail')}, each a mistake of its own: {_names(wrong)}")
        if follows:
            said.append(f"{_names(follows)} only {'fails' if len(follows) == 1 else 'fail'} because "
                        f"{'it uses it' if len(follows) == 1 and len(wrong) == 1 else 'of them'}")
        if unset:  # never set: no mistake of its own, it is not answered yet
            said.append(f"not answered yet: {_names(unset)}")
        return _sentence("; ".join(said), ex)
    lead = (f"Start at {label_of(ex, first)}: it is the first gradient that is wrong given your own upstream "
            "gradients.")
    if follows:
        lead += (f" {_count(follows, 'more only follows', 'more only follow')} from "
                 f"{label_of(ex, root) if root else 'the mistakes below'}.")  # fmt: skip
    others = [r for r in wrong if r.name != first]
    if others:
        lead += f" {_count(others, 'other mistake', 'other mistakes')}: {_names(others)}."
    if unset:
        lead += f" Not answered yet: {_names(unset)}."
    return lead


def _passing(passing: list, total: int) -> str:
    largest = max((c.maxdiff for c in passing if c.maxdiff is not None), default=None)
    within = f" (maxdiff at most {largest:.2g})" if largest is not None else ""
    if len(passing) == 1:
        return f"{passing[0].label} passes{within}"
    return f"{'all ' if len(passing) == total else ''}{len(passing)} pass{within}: {_names(passing)}"


def _sentence(text: str, ex) -> str:
    """A message as the lead's sentence: capitalised (unless it starts with a gradient's name) and ended."""
    if text and not any(text.startswith(c.label) for c in ex.checks):
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def answer_notes(ex) -> list[str]:
    """Where in a lecture notebook the answer was taken from, and what was left out (none for our own cell); then
    the assignment's own notes on the exercise."""
    def cell(span) -> str:
        count = f" (In [{span['execution_count']}])" if span["execution_count"] is not None else ""
        first, last = span["lines"]
        return f"cell {span['cell']}{count}, line{f's {first}-{last}' if last > first else f' {first}'}"

    taken = [f"Taken from {'; '.join(map(cell, ex.answer_from))}."] if ex.answer_from else []
    return taken + [f"{why[0].upper()}{why[1:]}." for why in ex.left_out] + list(ex.notes)


def mistake(check) -> str:
    """What kind of mistake a root cause is, in words that are the same for every student who made it (the class
    report counts them): its hint when one was recognised, else what the comparison found."""
    if check.hint:
        return check.hint
    if not check.assigned:
        return "not assigned"
    if hidden_only(check.message):
        return "right on the values you see, wrong on hidden ones"
    if not check.shape_ok:
        return "wrong shape"
    if not check.dtype_ok:
        return "wrong dtype"
    return "wrong values (no known pattern)"


def _count(checks: list, one: str, many: str) -> str:
    return f"{len(checks)} {one if len(checks) == 1 else many}"


def _names(checks: list) -> str:
    return ", ".join(c.label for c in checks)


def label_of(ex, name: str) -> str:
    """A check's label by its name; a root cause that is no check (Exercise 4's dhprebn) as d<name>."""
    return next((c.label for c in ex.checks if c.name == name), f"d{name}")
