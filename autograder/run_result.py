"""What a run may report back, and nothing more: the closed schema every field read from a run passes through.

The child that wrote result.json ran the student's code, so any field of it may be forged: a call name that
is a message, a line number of 2,000 digits, a dtype that is a sentence. Each field is kept only in the form the
child itself writes (known names, lines within the cell, finite numbers in a sane range, short plain text) and
anything else is dropped, so no message, table or picture can carry what a submission chose to put there. Text
is kept as safe_text.plain_text makes it: one line, no terminal or bidi controls.
"""
import math
import re

from .autograd_guard import CALL_NAMES
from .static_checks import GRADER_PACKAGE_CALL
from .safe_text import plain_text

DTYPES = frozenset(f"torch.{t}" for t in ("float32", "float64", "float16", "bfloat16", "int64", "int32", "int16",
                                          "int8", "uint8", "bool", "complex64", "complex128"))  # fmt: skip
MAX_LOSS = 1e12  # no training step of this network gets near; beyond it a "loss" is noise or a message
MAX_TEXT = 300
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_.]{0,99}")


def clean_result(result: dict | None, names: set[str], lines: int) -> dict:
    """The child's result, reduced to the closed schema. `names`: the value names the run may report (dlogits,
    or 0/dC, 1/dC ... for a training loop); `lines`: how many lines the exercise's cell has."""
    result = result if isinstance(result, dict) else {}
    values = result.get("values") if isinstance(result.get("values"), dict) else {}
    losses = result.get("losses") if isinstance(result.get("losses"), list) else []
    calls = result.get("autograd_calls") if isinstance(result.get("autograd_calls"), list) else []
    aliases = result.get("aliases") if isinstance(result.get("aliases"), list) else []
    return {
        "values": {name: _meta(meta) for name, meta in values.items() if name in names and isinstance(meta, dict)},
        "losses": [_loss(x) for x in losses[:100]],
        "error": _error(result.get("error"), lines),
        "autograd_calls": [{"call": c["call"], "line": _line(c.get("line"), lines)} for c in calls[:50]
                           if isinstance(c, dict) and c.get("call") in CALL_NAMES | {GRADER_PACKAGE_CALL}],
        "aliases": [pair for pair in aliases[:50] if isinstance(pair, list) and len(pair) == 2
                    and all(isinstance(n, str) and n in names for n in pair) and pair[0] != pair[1]],
    }  # fmt: skip


def _meta(meta: dict) -> dict:
    shape = meta.get("shape")
    if (meta.get("kind") == "tensor" and meta.get("dtype") in DTYPES and isinstance(shape, list) and len(shape) <= 8
            and all(type(d) is int and 0 <= d <= 10**8 for d in shape)):  # fmt: skip
        return {"kind": "tensor", "dtype": meta["dtype"], "shape": shape, "has_graph": meta.get("has_graph") is True}
    if meta.get("kind") == "failed":
        return {"kind": "failed", "why": plain_text(meta.get("why"), MAX_TEXT) or "raised an error",
                "unanswered": meta.get("unanswered") is True}  # fmt: skip
    return {"kind": "other", "type": plain_text(meta.get("type"), 80) or "something else"}


def _loss(x) -> float | None:
    return float(x) if type(x) in (int, float) and math.isfinite(x) and abs(x) <= MAX_LOSS else None


def _line(line, lines: int) -> int | None:
    return line if type(line) is int and 1 <= line <= lines else None


def _error(error, lines: int) -> dict | None:
    if not isinstance(error, dict):
        return None
    kind = error.get("type")
    return {"type": kind if isinstance(kind, str) and IDENTIFIER.fullmatch(kind) else "Exception",
            "message": plain_text(error.get("message"), MAX_TEXT) or "an error", "line": _line(error.get("line"), lines),
            "memory": error.get("memory") is True}  # fmt: skip
