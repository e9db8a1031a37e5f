"""The kernel's own limits on a sandbox's processes: a control group, where the grader may create one.

A sandbox runs one job at a time, so the cgroup around it (the zygote and every process of the running job) is
reset before each job to what it holds idle plus the job's allowance: memory and processes are then capped per
job by the kernel, for the whole process tree, however fast it allocates or forks. The zygote's own sum of the
tree's memory (zygote.py) stays as the portable mechanism, and the one that names the overrun; this cgroup is
the backstop it cannot race. Both cgroup v2 (memory.max, pids.max) and v1 (memory.limit_in_bytes, pids.max) are
used where mounted and writable (as root, usually); elsewhere `create` returns None and doctor says so.
"""
import os
import secrets
import subprocess
import time
from pathlib import Path

# What each version calls the same things.
V2 = {"memory_limit": "memory.max", "memory_now": "memory.current", "pids_limit": "pids.max",
      "pids_now": "pids.current"}  # fmt: skip
V1 = {"memory_limit": "memory.limit_in_bytes", "memory_now": "memory.usage_in_bytes", "pids_limit": "pids.max",
      "pids_now": "pids.current"}  # fmt: skip


def _mounts() -> dict[str, Path]:
    """Where the memory and pids controllers are mounted: {"v2": path} or {"memory": path, "pids": path}."""
    found = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        left, _, right = line.partition(" - ")
        fstype, _, options = right.split()[:3]
        point = Path(left.split()[4])
        if fstype == "cgroup2":
            found.setdefault("v2", point)
        elif fstype == "cgroup":
            for controller in ("memory", "pids"):
                if controller in options.split(","):
                    found.setdefault(controller, point)
    return found


def _own_paths() -> dict[str, str]:
    """This process's cgroup in each hierarchy: {"v2": "/..."} and/or {"memory": "/...", "pids": "/..."}."""
    paths = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        number, controllers, path = line.split(":", 2)
        if number == "0":
            paths["v2"] = path
        for controller in controllers.split(","):
            if controller in ("memory", "pids"):
                paths[controller] = path
    return paths


class JobCgroup:
    """One sandbox's cgroup: `dirs` are its folders (one in v2, one per controller in v1)."""

    def __init__(self, dirs: dict[str, Path], names: dict[str, str]):
        self.dirs, self.names = dirs, names

    @classmethod
    def create(cls) -> "JobCgroup | None":
        """A new cgroup for a sandbox, or None when this process may not make one with both limits."""
        try:
            mounts, own = _mounts(), _own_paths()
            name = f"backprop-ninja-{os.getpid()}-{secrets.token_hex(4)}"
            if "memory" in mounts and "pids" in mounts:
                dirs = {c: mounts[c] / own.get(c, "/").lstrip("/") / name for c in ("memory", "pids")}
                names = V1
            elif "v2" in mounts:
                parent = mounts["v2"] / own.get("v2", "/").lstrip("/")
                if not {"memory", "pids"} <= set((parent / "cgroup.subtree_control").read_text().split()):
                    return None  # the controllers are not delegated to cgroups made here
                dirs, names = {"memory": parent / name, "pids": parent / name}, V2
            else:
                return None
            for folder in set(dirs.values()):
                folder.mkdir()
            group = cls(dirs, names)
            group._write("pids", "pids_limit", "max")
            # (by its path: a PATH without /bin, as a learner's venv may have, must not cost the sandbox its cgroup)
            if subprocess.run(group.enter(["/bin/sh", "-c", ":"])).returncode != 0:  # a process could not be moved in
                group.remove()
                return None
            return group
        except OSError:
            return None

    def procs_files(self) -> list[str]:
        """The files a process writes its pid into to enter this cgroup."""
        return [str(folder / "cgroup.procs") for folder in dict.fromkeys(self.dirs.values())]

    def enter(self, command: list[str]) -> list[str]:
        """`command`, started inside this cgroup (before it runs, so nothing it forks is outside)."""
        procs = " ".join(self.procs_files())
        return ["/bin/sh", "-c", 'for f in ' + procs + '; do echo $$ > "$f" || exit 97; done; exec "$@"', "sh",
                *command]  # fmt: skip

    def _file(self, controller: str, key: str) -> Path:
        return self.dirs[controller] / self.names[key]

    def _write(self, controller: str, key: str, value):
        self._file(controller, key).write_text(str(value))

    def _read(self, controller: str, key: str) -> int:
        return int(self._file(controller, key).read_text().split()[0])

    def limit(self, memory_bytes: int, tasks: int):
        """Before a job: allow what the idle sandbox holds now plus the job's memory and processes."""
        self._write("memory", "memory_limit", self._read("memory", "memory_now") + memory_bytes)
        self._write("pids", "pids_limit", self._read("pids", "pids_now") + tasks)

    def oom_kills(self) -> int:
        """How many processes the kernel has killed here for memory."""
        folder = self.dirs["memory"]
        events = folder / ("memory.events" if self.names is V2 else "memory.oom_control")
        try:
            fields = dict(line.split() for line in events.read_text().splitlines())
            return int(fields.get("oom_kill", 0))
        except (OSError, ValueError):
            return 0

    def remove(self):
        """Kill what is left inside (the caller has stopped the sandbox) and remove the cgroup."""
        for folder in dict.fromkeys(self.dirs.values()):
            for _ in range(100):
                try:
                    for pid in (folder / "cgroup.procs").read_text().split():
                        try:
                            os.kill(int(pid), 9)
                        except ProcessLookupError:
                            pass
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:  # processes still exiting
                    time.sleep(0.01)


NONE_HERE = ("no cgroup can be made here (as a normal user, usually): a run's memory is held by RLIMIT_AS on its one "
             "process and the zygote's checks, not by the kernel's cgroup")  # fmt: skip


def mechanism() -> str:
    """What doctor says of the kernel's part, and `grade` when there is none."""
    group = JobCgroup.create()
    if group is None:
        return NONE_HERE
    version = "v2" if group.names is V2 else "v1"
    group.remove()
    return f"and a cgroup ({version}) per sandbox, reset before each job, caps its memory and processes in the kernel"
