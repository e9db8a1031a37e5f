"""Reading a submission: the student's exercise cells, found by their nbgrader grade_id in our notebook, or by
the lecture's headings and markers in the lecture's own notebook (the assignment's lecture_notebook.py).

A notebook's JSON may hold text no file, page or terminal can: a lone surrogate ("\\ud800" is valid JSON, and no
UTF-8 encoder takes it) or NUL. Each becomes U+FFFD as the notebook is read, so nothing downstream meets one: the
grader, the lecture-notebook readers (given the cells read here) and every file class grading writes.

Only the answers are taken from a submission. Everything else a graded run needs (data, parameters, forward
pass) comes from the grader's own copy (the assignment's lecture.py), as nbgrader restores locked cells from the
source, so editing a provided cell changes nothing.
"""
import functools
import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .static_checks import source_nodes

if TYPE_CHECKING:
    from .assignment import Assignment

COURSE, LECTURE = "course", "lecture"
# The status of an exercise the lecture's notebook does not ask (micrograd_exercises.ipynb has no training loop):
# a learner's check leaves it out; a class, graded as the course's assignment, gives it 0.
NOT_ASKED = "not asked"
# Where our notebooks say which assignment they are: metadata["backprop_ninja"]["assignment"].
MARKER = "backprop_ninja"
UNENCODABLE = re.compile("[\x00\ud800-\udfff]")
# Only a JSON escape makes either (the bytes are decoded with errors="replace", and JSON refuses a raw NUL): a
# notebook without one, nearly every notebook, is not walked through.
UNENCODABLE_ESCAPE = re.compile(r"\\u(?:0000|[dD][89a-fA-F])")


class NotGradable(Exception):
    """The notebook cannot be graded at all. The message is one line for the user."""


@dataclass(frozen=True)
class Span:
    """Lines of an answer taken from one cell of a lecture notebook."""

    cell: int  # the cell's place in the notebook, counting every cell from 1
    execution_count: int | None
    first_line: int  # the line of that cell that is line `start` of the answer
    start: int
    count: int

    def to_dict(self) -> dict:
        return {"cell": self.cell, "execution_count": self.execution_count,
                "lines": [self.first_line, self.first_line + self.count - 1]}  # fmt: skip


@dataclass(frozen=True)
class ExerciseCell:
    """One exercise's answer, as the grader runs it: in our notebook the cell itself; from a lecture notebook, the
    answer's lines in our cell's place, with where each came from (`origin`)."""

    source: str | None  # None when the answer cannot be used; `problem` says why
    problem: str | None = None
    status: str = "not gradable"  # the exercise's status when `problem` is set
    origin: tuple[Span, ...] = ()  # empty: the source is the notebook's own cell, line for line
    left_out: tuple[str, ...] = ()  # cells of the exercise that were not taken, with why
    # What the learner's notebook had when this answer was written, in the assignment's own terms, where that
    # differs from its usual public problem (the lecture's Exercise 4 has a wider layer); None: the usual one.
    public_at: object = None
    unanswered: str = "replace `raise NotImplementedError()`"  # how to start, said to an exercise not answered
    answer: str | None = None  # from a lecture notebook: the learner's code alone, before it took our stub's place

    def locate(self, line: int) -> tuple[int | None, int | None]:
        """(cell, line in it) of a line of the source; cell None for our own cell or the grader's loop around an
        answer (then the line is the source's, or None)."""
        if not self.origin:
            return None, line
        for span in self.origin:
            if span.start <= line < span.start + span.count:
                return span.cell, span.first_line + line - span.start
        return None, None

    def where(self, line: int) -> str:
        """A line of the source, said the way the student finds it in their notebook."""
        cell, at = self.locate(line)
        if cell is not None:
            return f"cell {cell}, line {at}"
        return f"line {line}" if at is not None else "the grader's loop around your answer"

    def answer_from(self) -> list[dict]:
        return [span.to_dict() for span in self.origin]


@dataclass(frozen=True)
class Submission:
    format: str  # COURSE: our notebook (cells by grade_id); LECTURE: the lecture's own (lecture_notebook.py)
    cells: dict[str, ExerciseCell]
    assignment: "Assignment"


def read_submission(path, assignment: "Assignment | None" = None) -> Submission:
    """Each exercise's answer, read as `assignment` when given, else as the notebook says it is
    (assignment_of). Raises NotGradable for a file that is neither our notebook nor the lecture's."""
    from . import assignments

    path = Path(path)
    if path.is_dir():
        inside = sorted(path.glob("*.ipynb"))
        example = inside[0] if len(inside) == 1 else path / f"{assignments.all_ids()[0]}.ipynb"
        raise NotGradable(f"{path}: a folder, not a notebook: give the notebook file, e.g. {example}")
    if not path.is_file():
        raise NotGradable(f"{path}: no such file")
    try:
        text = path.read_bytes()
    except OSError as e:
        raise NotGradable(f"{path}: cannot be read ({e.strerror})") from None
    if not text.strip():
        raise NotGradable(f"{path}: the file is empty")
    decoded = text.decode("utf-8", errors="replace")
    try:
        nb = json.loads(decoded)
    except (ValueError, RecursionError):  # RecursionError: JSON nested deeper than any notebook is
        raise NotGradable(f"{path}: not a notebook (not valid notebook JSON)") from None
    if isinstance(nb, dict) and isinstance(nb.get("nbformat"), int) and nb["nbformat"] < 4:
        nb = _upgraded(path, text)
    if UNENCODABLE_ESCAPE.search(decoded):
        nb = _encodable(nb)
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        raise NotGradable(f"{path}: not a notebook (no cells)")
    found: dict[str, list] = {}
    for cell in cells:
        grade_id = _field(cell, "metadata", "nbgrader", "grade_id")
        if isinstance(grade_id, str):
            found.setdefault(grade_id, []).append(cell)
    given, assignment = assignment, assignment or assignment_of(nb, path.stem)
    if given and (other := _other_assignment(nb, found, given)):
        # Graded as the slot's assignment it would score 0 with a page of confusing rows (its Value class's
        # `self.grad = 0.0` read as autograd): say what it is instead.
        raise NotGradable(f"{path}: this is the {other} notebook, handed in as {given.id}: hand in the {given.id} "
                          "notebook")  # fmt: skip
    if _field(nb, "metadata", MARKER, "assignment") != assignment.id and not any(
            ex.id in found for ex in assignment.exercises):  # fmt: skip
        # The lecture notebooks this assignment reads; when the caller did not say which assignment, every one's.
        candidates = [assignment] + ([] if given else [assignments.get(a) for a in assignments.all_ids()
                                                       if a != assignment.id])  # fmt: skip
        readers = [(a, a.lecture_reader()) for a in candidates if a.lecture_reader()]
        for candidate, reader in readers:
            if reader.is_lecture_notebook(cells):
                return Submission(LECTURE, reader.read_lecture_notebook(cells), candidate)
        ours = f"ours, with exercise cells {assignment.exercises[0].id}..{assignment.exercises[-1].id}"
        lectures = "".join(f", nor {reader.DESCRIPTION}" for _, reader in readers)
        raise NotGradable(f"{path}: not a {assignment.id} notebook (neither {ours}{lectures})")
    cells = {ex.id: _exercise_cell(ex.id, found.get(ex.id, [])) for ex in assignment.exercises}
    return Submission(COURSE, cells, assignment)


def _other_assignment(nb, found: dict, given: "Assignment") -> str | None:
    """The id of the other assignment a notebook is, when it is one: its marker names it, or its nbgrader cells
    are that assignment's release's and not all `given`'s (a notebook from before the marker)."""
    from . import assignments

    marker, ids = _field(nb, "metadata", MARKER, "assignment"), assignments.all_ids()
    if marker in ids:
        return marker if marker != given.id else None
    cells = set(found)
    if not cells or cells <= _release_cells(given.id):
        return None
    return next((a for a in ids if a != given.id and cells <= _release_cells(a)), None)


@functools.cache
def _release_cells(assignment_id: str) -> frozenset[str]:
    """The grade ids of an assignment's released notebook's cells."""
    from . import assignments

    cells = assignments.get(assignment_id).released_notebook()["cells"]
    return frozenset(_field(cell, "metadata", "nbgrader", "grade_id") for cell in cells) - {None}


def assignment_of(nb, stem: str) -> "Assignment":
    """Which assignment a notebook is: its marker, else its file's name, else the first assignment (whose early
    notebooks carried no marker)."""
    from . import assignments

    marker, ids = _field(nb, "metadata", MARKER, "assignment"), assignments.all_ids()
    return assignments.get(marker if marker in ids else stem if stem in ids else ids[0])


def _field(value, *keys):
    """value[k1][k2]... where each level is a dict, else None: a submission's JSON may have any shape."""
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _encodable(nb):
    """The notebook with every lone surrogate and NUL in its text (keys too) replaced by U+FFFD. A walk with a
    stack, not recursion: the JSON may be nested as deep as the decoder allowed."""
    def clean(text):
        return UNENCODABLE.sub("\ufffd", text) if isinstance(text, str) else text

    holder = [nb]
    stack = [holder]
    while stack:
        container = stack.pop()
        if isinstance(container, dict) and any(UNENCODABLE.search(k) for k in container if isinstance(k, str)):
            renamed = {clean(key): item for key, item in container.items()}
            container.clear()
            container.update(renamed)
        for key, item in list(container.items() if isinstance(container, dict) else enumerate(container)):
            if isinstance(item, (dict, list)):
                stack.append(item)
            else:
                container[key] = clean(item)
    return holder[0]


def _upgraded(path: Path, text: bytes) -> dict:
    """An nbformat 3 notebook in the current format. Only then is nbformat imported: its schema validation
    costs most of a second to import, and a current notebook needs nothing but its JSON here."""
    import nbformat

    try:
        with warnings.catch_warnings():  # nbformat's validation warnings would break the one-line message
            warnings.simplefilter("ignore")
            return nbformat.reads(text.decode("utf-8", errors="replace"), as_version=4)
    except Exception as e:  # nbformat raises assorted errors for JSON that is not a notebook
        raise NotGradable(f"{path}: not a notebook ({type(e).__name__})") from None


def _exercise_cell(grade_id: str, cells: list) -> ExerciseCell:
    if not cells:
        return ExerciseCell(None, f"the cell with grade_id {grade_id} is missing: restore it from a fresh copy of "
                                  "the notebook and paste your code back in")  # fmt: skip
    if len(cells) > 1:
        return ExerciseCell(None, f"the notebook has {len(cells)} cells with grade_id {grade_id}: delete the "
                                  "copies so that one remains")  # fmt: skip
    cell = cells[0]
    if cell.get("cell_type") != "code":
        return ExerciseCell(None, f"the cell with grade_id {grade_id} is no longer a code cell: change its type "
                                  "back to Code")  # fmt: skip
    source = cell.get("source", "")
    if isinstance(source, list) and all(isinstance(line, str) for line in source):
        source = "".join(source)
    if not isinstance(source, str):
        return ExerciseCell(None, f"the cell with grade_id {grade_id} is damaged (its source is not text): restore "
                                  "it from a fresh copy of the notebook and paste your code back in")  # fmt: skip
    source, magics = without_magics(source)
    return ExerciseCell(source, left_out=tuple(f"line {line} was left out: an IPython command ({code}), which only a "
                                               "notebook's kernel runs" for line, code in magics))  # fmt: skip


# A line the kernel hands to IPython, not to Python, when IPython is not installed to say so itself: a magic
# (%matplotlib inline, %time ...), a shell command (!ls), or help (`logits?`: a question mark ending its code, not
# a comment's `# ?`).
MAGIC_LINE = re.compile(r"^([ \t]*)(?:[%!]|[^#\n]*\?[ \t]*$)")
# Cell magics whose body is Python the kernel runs as it is: the body is kept, the magic's line left out.
PYTHON_CELL_MAGICS = ("time", "timeit", "capture", "prun")
TIMED = re.compile(r"^[ \t]*%time[ \t]+(\S.*)$")


def without_magics(source: str) -> tuple[str, list[tuple[int, str]]]:
    """The cell as Python runs it, each IPython command line a `pass` at its indentation (so the lines keep their
    numbers and the blocks around them parse), and those lines as (number, code). Only when the cell does not parse
    as it is; IPython's own input transformer (the kernel's) says which lines are its commands, so a line that
    starts with % inside a string stays the string's, and `# ?` ends a learner's comment."""
    if source_nodes(source) is not None:  # parsed once for every check that reads the cell (cached there)
        return source, []
    lines, magics = source.split("\n"), []
    first = lines[0].strip()
    if first.startswith("%%"):  # a cell magic: its body is Python for %%time and the like, else not Python at all
        body = first[2:].split()[0] if first[2:].split() else ""
        numbers = [1] if body in PYTHON_CELL_MAGICS else range(1, len(lines) + 1)
    else:
        numbers = _ipython_lines(source, lines)
    for number in numbers:
        line = lines[number - 1]
        indent = line[: len(line) - len(line.lstrip())]
        timed = TIMED.match(line)  # `%time dlogits = ...` runs its statement and keeps what it sets: not left out
        if line.strip() and not timed:
            magics.append((number, line.strip()[:60]))
        lines[number - 1] = indent + (timed.group(1) if timed else "pass")
    return "\n".join(lines), magics


def _ipython_lines(source: str, lines: list[str]) -> list[int]:
    """The numbers of the lines IPython's transformer rewrites (its commands), or, without IPython, the lines
    MAGIC_LINE matches."""
    try:
        from IPython.core.inputtransformer2 import TransformerManager
    except ImportError:
        return [number for number, line in enumerate(lines, 1) if MAGIC_LINE.match(line)]
    try:
        transformed = TransformerManager().transform_cell(source).split("\n")
    except Exception:  # IPython's own error on a cell it cannot read: the cell stays as it is, unparsable
        return []
    if len(transformed) < len(lines):  # a line joined to another: no line-for-line answer
        return [number for number, line in enumerate(lines, 1) if MAGIC_LINE.match(line)]
    return [number for number, (line, after) in enumerate(zip(lines, transformed), 1)
            if line != after and "get_ipython()" in after]
