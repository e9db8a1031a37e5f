"""Text from a submission, in the form every view may show it.

A submission chooses the text of its source lines, its printout, its errors and its file's name, and the views
quote them: the terminal, the notebook, the feedback page, the class report and its CSV, the JSON. A terminal
obeys escape sequences (ESC, CSI: clear the screen, move the cursor, print "52/52" over the score), and bidi
controls reorder what a reader sees (a flagged line can read as harmless, as in "Trojan Source"). Each such
character becomes U+FFFD once, where submission text enters a result (results.py), so no view meets one. Honest
Unicode (accents, CJK, emoji, Greek letters in names) is kept as written.
"""
import re

REPLACEMENT = "\ufffd"
# C0 controls but tab and newline, DEL, C1 controls (ESC and CSI among them); Arabic letter mark, the
# left-to-right and right-to-left marks, the bidi embeddings and overrides, the bidi isolates; and lone
# surrogates, which no file, page or terminal can encode.
UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
# What breaks a line, for text that must stay on one (fields a run reports back).
LINE_BREAKS = str.maketrans(dict.fromkeys("\r\n\t\x85\u2028\u2029", " "))


def safe_text(text: str) -> str:
    return UNSAFE.sub(REPLACEMENT, text)


def safe_values(value):
    """`value` with every string in it made safe, through lists and dicts (changed in place, so that whoever
    holds them sees the safe form too). Anything else is left as it is."""
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, list):
        value[:] = [safe_values(item) for item in value]
    elif isinstance(value, dict):
        for key, item in list(value.items()):
            value[key] = safe_values(item)
    return value


def plain_text(text, limit: int) -> str:
    """Safe text on one line, of at most `limit` characters, or "" for anything that is not a string (a field a
    run reported back: run_result.py)."""
    if not isinstance(text, str):
        return ""
    text = safe_text(text[: limit * 2].translate(LINE_BREAKS))
    return text if len(text) <= limit else text[: limit - 1] + "…"
