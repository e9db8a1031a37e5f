"""The nbgrader course for backprop-ninja. Run nbgrader commands from this folder.

Paths are relative to this file, so the course keeps working when the repository is copied elsewhere.
solutions/ is the source (instructor notebooks); exercises/ is what `nbgrader generate_assignment` releases.
"""
import os
import re

c = get_config()  # noqa: F821 (provided by nbgrader)
here = os.path.dirname(os.path.abspath(__file__))

c.CourseDirectory.course_id = "backprop-ninja"
c.CourseDirectory.root = here
c.CourseDirectory.source_directory = os.path.join("..", "solutions")
c.CourseDirectory.release_directory = os.path.join("..", "exercises")
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(here, "gradebook.db")
# The graded check cells print a table and end in a number: nbgrader takes that number as partial credit.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
# `nbgrader zip_collect ASSIGNMENT` (backprop_ninja, micrograd): put the files or zips downloaded from the LMS in
# downloaded/ASSIGNMENT/archive/, each notebook named <student id>_ASSIGNMENT.ipynb (alice_micrograd.ipynb). The
# assignments are the folders of the course's source, so a new one is collected the same way.
source = os.path.join(here, c.CourseDirectory.source_directory)
assignments = sorted(entry.name for entry in os.scandir(source) if entry.is_dir() and not entry.name.startswith(".")) \
    if os.path.isdir(source) else ["backprop_ninja", "micrograd"]
c.FileNameCollectorPlugin.named_regexp = (r".*/(?P<student_id>[^/]+?)_(?P<file_id>(?:"
                                          + "|".join(map(re.escape, assignments)) + r")\.ipynb)$")
