"""The nbgrader course for backprop-ninja. Run nbgrader commands from this folder.

Paths are relative to this file, so the course keeps working when the repository is copied elsewhere.
solutions/ is the source (instructor notebooks); exercises/ is what `nbgrader generate_assignment` releases.
"""
import os

c = get_config()  # noqa: F821 (provided by nbgrader)
here = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = "backprop-ninja"
c.CourseDirectory.root = here
c.CourseDirectory.source_directory = os.path.join("..", "solutions")
c.CourseDirectory.release_directory = os.path.join("..", "exercises")
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(here, "gradebook.db")
# The graded check cells print a table and end in a number: nbgrader takes that number as partial credit.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
# `nbgrader zip_collect backprop_ninja`: put the files or zips downloaded from the LMS in
# downloaded/backprop_ninja/archive/, each notebook named <student id>_backprop_ninja.ipynb.
c.FileNameCollectorPlugin.named_regexp = r".*/(?P<student_id>[^/]+?)_(?P<file_id>backprop_ninja\.ipynb)$"
