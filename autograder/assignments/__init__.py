"""The assignments a course can hold, each one place (a package here) behind assignment.Assignment.

To add one: a package that declares it (declared/, as gpt2_block does), and a line in ASSIGNMENT_MODULES (README,
"Adding an assignment").
"""
import importlib

from ..assignment import Assignment

# assignment id -> the package whose ASSIGNMENT it is. The first is what a notebook without a marker is taken for.
ASSIGNMENT_MODULES = {
    "backprop_ninja": "autograder.assignments.backprop_ninja",
    "micrograd": "autograder.assignments.micrograd",
    "gpt2_block": "autograder.assignments.gpt2_block",
}


class UnknownAssignment(Exception):
    """No assignment of that id. The message is one line for the user."""


def get(assignment_id: str) -> Assignment:
    module = ASSIGNMENT_MODULES.get(assignment_id)
    if module is None:
        known = ", ".join(ASSIGNMENT_MODULES)
        raise UnknownAssignment(f"no assignment called {assignment_id!r} (the assignments are {known})")
    return importlib.import_module(module).ASSIGNMENT


def all_ids() -> tuple[str, ...]:
    return tuple(ASSIGNMENT_MODULES)


def datasets() -> dict[str, object]:
    """{assignment id: its data} for every assignment that has data (Assignment.dataset). Raises RuntimeError
    with a one-line message when one cannot be had."""
    loaded = {a: get(a).load_dataset() for a in ASSIGNMENT_MODULES}
    return {a: data for a, data in loaded.items() if data is not None}


def dataset_identity(loaded: dict) -> str:
    """What a run records of the data its grades are computed on, and every worker must match (settings.py)."""
    return "; ".join(f"{a}: {data.identity}" if len(loaded) > 1 else data.identity for a, data in loaded.items())
