"""The assignments a course can hold, each one place (a package here) behind assignment.Assignment.

To add one: a package with its table of exercises, its Grading subclass, its run side and its notebook, and a line
in ASSIGNMENT_MODULES (README, "Adding an assignment").
"""
import importlib

from ..assignment import Assignment

# assignment id -> the package whose ASSIGNMENT it is. The first is what a notebook without a marker is taken for.
ASSIGNMENT_MODULES = {
    "backprop_ninja": "autograder.assignments.backprop_ninja",
    "micrograd": "autograder.assignments.micrograd",
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
