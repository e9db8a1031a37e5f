"""Grades into nbgrader: per-cell scores in the gradebook, and the autograded notebook its tools read.

Scores are written through nbgrader's own Gradebook API, one grade per graded check cell (ex1_check ...), so
formgrader, `nbgrader export` and `nbgrader generate_feedback` show them as if `nbgrader autograde` had run.
The autograded notebook is what the grader graded: the release notebook with the student's exercise cells put
in, and each check cell holding the table and, as its last value, the score, so nbgrader's determine_grade
reads the same number from the notebook that the gradebook holds.

A gradebook that fails while a grade is written (a full disk, a locked or damaged database) fails that one
submission (grader_side.GraderSideError: class grading records an internal error), and its session is rolled
back so the next submission finds it usable.
"""
import copy
import logging
import warnings

from . import lean_imports  # noqa: F401  (first: nbgrader without its server extensions)

import nbformat
from nbgrader.api import Gradebook, InvalidEntry, MissingEntry
from sqlalchemy.exc import SAWarning, SQLAlchemyError

from .course import Course, CourseError
from .grader_side import GraderSideError
from .notebook import NotGradable, assignment_of, read_submission


def grade_cells(assignment) -> dict[str, str]:
    """exercise id -> the nbgrader grade cell that holds its score (ex1 -> ex1_check)."""
    return {ex.id: f"{ex.id}_check" for ex in assignment.exercises}


# nbgrader logs a database error with its traceback before it raises it; record() says it in one line instead.
logging.getLogger("tornado.application").addHandler(logging.NullHandler())


class GradebookWriter:
    """The course's gradebook, open for one grading run. Only the parent process writes to it."""

    def __init__(self, course: Course):
        self.assignment, self.db_url = course.assignment, course.db_url
        try:
            self.gb = Gradebook(course.db_url, course_id=course.dir.course_id)
        except (SQLAlchemyError, InvalidEntry) as e:
            raise CourseError(f"cannot open the gradebook {course.db_url} ({_cause(e)}): free space or repair it, "
                              "then grade again") from None  # fmt: skip
        try:
            notebooks = self.gb.find_assignment(self.assignment).notebooks
        except MissingEntry:
            self.gb.close()
            # nbgrader skips an assignment whose release folder exists (ours is in the repository) and then enters
            # nothing in the gradebook: --force is what fills it.
            raise CourseError(f"the gradebook has no assignment {self.assignment}: run `nbgrader generate_assignment "
                              f"{self.assignment} --force` in {course.root} first") from None  # fmt: skip
        self.notebook = notebooks[0].name if len(notebooks) == 1 else None
        release = course.release() / f"{self.notebook}.ipynb"
        if self.notebook is None or not release.is_file():  # the autograded notebooks are made from it
            self.gb.close()
            raise CourseError(f"no release notebook {release}: run `nbgrader generate_assignment {self.assignment} "
                              f"--force` in {course.root} first")  # fmt: skip
        self.release = nbformat.read(release, as_version=4)
        # What the course's notebook is decides how every submission is graded, whatever theirs say.
        self.graded_as = assignment_of(self.release, self.notebook)
        self.grade_cells = grade_cells(self.graded_as)
        cells = {cell.name for nb in notebooks for cell in nb.grade_cells}
        if cells != set(self.grade_cells.values()):
            self.gb.close()
            raise CourseError(f"{self.assignment} in the gradebook is not the {self.graded_as.id} notebook (grade "
                              f"cells {', '.join(sorted(cells))}): regenerate it with `nbgrader generate_assignment`")  # fmt: skip

    def close(self):
        self.gb.close()

    def has_submission(self, student: str) -> bool:
        """Whether the gradebook holds this student's submission; False also when it cannot say (then the
        submission is graded again, never skipped)."""
        try:
            self.gb.find_submission(self.assignment, student)
        except MissingEntry:
            return False
        except (SQLAlchemyError, InvalidEntry):
            self.gb.db.rollback()
            return False
        return True

    def record(self, student: str, scores: dict[str, float], timestamp=None):
        """Set the auto score of each grade cell (scores by exercise id); adds the student if new. Raises
        GraderSideError when the database fails, with nothing of this student's written."""
        try:
            self.gb.update_or_create_student(student)
            with warnings.catch_warnings():  # nbgrader's add_submission trips SQLAlchemy's autoflush warning
                warnings.simplefilter("ignore", SAWarning)
                self.gb.update_or_create_submission(self.assignment, student, timestamp=timestamp)
            for exercise_id, cell in self.grade_cells.items():
                grade = self.gb.find_grade(cell, self.notebook, self.assignment, student)
                grade.auto_score = float(scores.get(exercise_id, 0.0))
                grade.manual_score = None
                grade.needs_manual_grade = False
            self.gb.db.commit()
        except (SQLAlchemyError, InvalidEntry) as e:  # nbgrader turns some database errors into InvalidEntry
            self.gb.db.rollback()
            raise GraderSideError(f"the gradebook {self.db_url} could not be written ({_cause(e)}): fix that, "
                                  "then grade again") from e  # fmt: skip


def _cause(error: Exception) -> str:
    """The database's own words ("database or disk is full"), without the SQL statement SQLAlchemy adds."""
    while not hasattr(error, "orig") and error.__context__ is not None:  # InvalidEntry: the SQLAlchemy error inside
        error = error.__context__
    return (str(getattr(error, "orig", None) or error).splitlines() or [type(error).__name__])[0]


def autograded_notebook(release: "nbformat.NotebookNode", submission_path,
                        check_outputs: dict[str, tuple[str, str, float]], graded_as):
    """The release notebook (read once per run, left as it is) with the student's exercise cells and each check
    cell's output filled in.

    check_outputs: exercise id -> (html, text, score). Cells the student added, or provided cells they edited,
    are not carried over: the grader never read them, and nbgrader restores provided cells the same way.
    The outputs are validated once, with the whole notebook, as nbformat.write writes it.
    """
    nb = copy.deepcopy(release)
    try:
        student_cells = read_submission(submission_path, graded_as).cells
    except NotGradable:  # an ungradable file: the release's stubs stand in, and the check cells say why
        student_cells = {}
    for count, cell in enumerate((c for c in nb.cells if c.cell_type == "code"), start=1):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in student_cells and student_cells[grade_id].source is not None:
            cell.source = student_cells[grade_id].source
        for exercise_id, check_cell in grade_cells(graded_as).items():
            if grade_id == check_cell and exercise_id in check_outputs:
                html, text, score = check_outputs[exercise_id]
                cell.outputs = [
                    nbformat.from_dict({"output_type": "display_data", "metadata": {},
                                        "data": {"text/html": html, "text/plain": text}}),
                    nbformat.from_dict({"output_type": "execute_result", "metadata": {}, "execution_count": count,
                                        "data": {"text/plain": f"{score:g}"}}),
                ]  # fmt: skip
                cell.execution_count = count
    return nb
