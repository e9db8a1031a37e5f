"""Gradients under other names: a typo (dlogits_maxes for dlogit_maxes) or a scheme of the student's own
(dL_dlogprobs, logprobs_grad). The grader reads the lecture's names; when one is missing, the names the cell
assigns, read from its source (never from the run), may show what the student meant.
"""
import ast
import difflib
import re

from .static_checks import source_nodes


def assigned_names(source: str) -> set[str]:
    """Every plain name the cell assigns (=, +=, for targets, with ... as, :=)."""
    nodes = source_nodes(source)
    return {node.id for node in nodes or () if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store)}


def _same_tensor_other_scheme(name: str, tensor: str) -> bool:
    """dL_dlogprobs, d_logprobs, dloss_dlogprobs, logprobs_grad, grad_logprobs: all name logprobs's gradient."""
    t = re.escape(tensor)
    return bool(re.fullmatch(rf"(?:\w*_)?d_?{t}|{t}_?grad|grad_?{t}", name))


def did_you_mean(variable: str, tensor: str, assigned: set[str], known: frozenset) -> str | None:
    """A sentence for a missing `variable` (the gradient of `tensor`) when the cell assigned something like it.
    `known`: the assignment's own answer names (Assignment.answer_names): another of them is never what a missing
    one meant (dprobs for dlogprobs)."""
    others = sorted(set(assigned) - known - {variable})
    scheme = [name for name in others if _same_tensor_other_scheme(name, tensor)]
    if scheme:
        return f"you named it {scheme[0]}: the grader reads the lecture's name, {variable}"
    close = difflib.get_close_matches(variable, others, n=1, cutoff=0.8)
    if close:
        return f"did you mean {close[0]}? The grader reads the lecture's name, {variable}"
    return None
