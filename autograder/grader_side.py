"""Failures on the grader's own side: its scratch space or the course's files could not be written or read (a full
disk, no inodes left, a quota, the gradebook's database). None is the student's doing, so none is ever a grade:
class grading records an internal error for that submission, graded again on the next run (class_grading.py), and
`check` says in one line what to free (cli.py). Imported by the sandbox and by class grading alike, it imports
nothing of either.
"""
import errno
import os
from pathlib import Path

# No room: no space or no inodes left (both ENOSPC), or the user's quota spent.
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
# How a run's process says it could not write its results for want of room (sysexits' EX_TEMPFAIL). A student's
# code can exit so too: the sandbox believes it only while the scratch space is still full once the job's own files
# are gone (scratch_full), which no run can bring about.
RESULTS_UNWRITABLE = 75
# Less room than this in the scratch space once a job's files are removed, and the space is full: a run's results
# are a few MiB at most (sandbox.MAX_ELEMENTS bounds each array).
SCRATCH_ROOM = 64 * 2**20


def scratch_full(folder: Path) -> bool:
    try:
        room = os.statvfs(folder)
    except OSError:
        return True
    return room.f_bavail * room.f_frsize < SCRATCH_ROOM or room.f_favail == 0


class GraderSideError(OSError):
    """The grader could not write or read its own files. The message is one line: where, and what to do."""


def course_unwritable(what: str, folder: Path, error: OSError) -> GraderSideError:
    """The error for a file of the course (a feedback page, a results file) that `folder` could not take."""
    return GraderSideError(f"the grader could not write {what} in {folder} ({error.strerror or error}): free space "
                           "there and run it again")  # fmt: skip


def scratch_seen_by_runs(folder: Path, runtime: str) -> GraderSideError:
    """The error for scratch space inside what every run sees (the runtime): one run would see another's job."""
    return GraderSideError(f"the grader's scratch folder {folder} lies inside {runtime}, which every graded run "
                           "sees: point TMPDIR at a folder outside it and run it again")  # fmt: skip


def scratch_unwritable(folder: Path, error: OSError) -> GraderSideError:
    """The error for scratch files (a submission's copy, a sandbox's job) that `folder` could not take."""
    return GraderSideError(f"the grader could not write its scratch files in {folder} ({error.strerror or error}): "
                           "free space there, or point TMPDIR at a folder with room, and run it again")  # fmt: skip
