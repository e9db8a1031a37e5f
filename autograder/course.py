"""Where an nbgrader course keeps an assignment's files, read from the course's own nbgrader_config.py.

nbgrader's CourseDirectory decides the paths (submitted/, autograded/, feedback/, the release folder), so a
course that moves or renames them in its config is graded where nbgrader itself would look. Two folders are
this project's own: results/<assignment>/ (one JSON per student: what grading found, read by the report) and
reports/<assignment>/ (the class report).
"""
import os
from pathlib import Path


class CourseError(Exception):
    """The course folder is not ready for grading. The message is one line saying what to do."""


def _import_nbgrader():
    """nbgrader, imported when a course is first read (not with this module: `grade` starts its workers first),
    lean (lean_imports.py)."""
    from . import lean_imports  # noqa: F401
    from nbgrader.coursedir import CourseDirectory

    return CourseDirectory


class Course:
    def __init__(self, root, assignment: str):
        from traitlets.config import Config
        from traitlets.config.loader import PyFileConfigLoader

        CourseDirectory = _import_nbgrader()
        root = Path(root).resolve()
        config = Config()
        if (root / "nbgrader_config.py").is_file():
            config = PyFileConfigLoader("nbgrader_config.py", path=str(root)).load_config()
        if "root" not in config.get("CourseDirectory", {}):
            config.CourseDirectory.root = str(root)
        self.dir = CourseDirectory(config=config)
        self.assignment = assignment
        self.root = Path(self.dir.root)
        self.db_url = self.dir.db_url
        if not (root / "nbgrader_config.py").is_file():
            raise CourseError(f"{root} is not an nbgrader course (it has no nbgrader_config.py): run this in your "
                              "course folder (course/ in this repository), or pass --course-dir")  # fmt: skip
        known = self.assignments()
        if assignment not in known:
            raise CourseError(f"this course has no assignment {assignment!r} (it has {', '.join(known) or 'none'}; "
                              f"an assignment is a folder in {self.root / self.dir.source_directory})")  # fmt: skip

    def assignments(self) -> list[str]:
        """The course's assignments: the folders of its source (and of its release, where that is all it has)."""
        found = set()
        for step in (self.dir.source_directory, self.dir.release_directory):
            folder = self.root / step
            if folder.is_dir():
                found |= {p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")}
        return sorted(found)

    def _path(self, step: str, student: str) -> Path:
        return Path(self.dir.format_path(step, student, self.assignment))

    def submitted(self, student: str) -> Path:
        return self._path(self.dir.submitted_directory, student)

    def autograded(self, student: str) -> Path:
        return self._path(self.dir.autograded_directory, student)

    def feedback(self, student: str) -> Path:
        return self._path(self.dir.feedback_directory, student)

    def release(self) -> Path:
        return self._path(self.dir.release_directory, ".")

    def results(self) -> Path:
        return self.root / "results" / self.assignment

    def reports(self) -> Path:
        return self.root / "reports" / self.assignment

    def students_submitted(self) -> list[str]:
        """Students with a submission folder for this assignment, sorted."""
        pattern = self.submitted("*")
        base = Path(str(pattern).split("*")[0])
        if not base.is_dir():
            return []
        return sorted(name for name in os.listdir(base) if not name.startswith(".") and self.submitted(name).is_dir())
