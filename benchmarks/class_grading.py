"""How fast a class is graded: `backprop-ninja grade` against `nbgrader autograde`, in the same run, per assignment.

    python benchmarks/class_grading.py [N] [--jobs J] [--repeat R] [--assignment A ...] [--baseline-tree DIR]

For each assignment, N submissions (a third right, a third with wrong gradients, a third whose code raises) go
into copies of the course. `nbgrader autograde` grades one copy and `backprop-ninja grade` another; a third holds
the same submissions three times over (3N). Each command is timed in wall seconds and in CPU seconds of its whole
process tree (a cpuacct cgroup around it where this process may make one, as root; else the CPU of the children
it waited for, which misses processes that were never reaped). The difference between the N and 3N runs
(medians of --repeat alternating runs) splits a class run into its fixed cost and the marginal cost of one more
submission. The same runs are then timed again while `backprop-ninja serve` keeps a warm server (unless
--no-serve): what a run costs when torch is already imported.

The floor is what grading a submission cannot cost less than: the student's code on both seeds (the public and the
hidden inputs, as the grader builds them) plus one fork of a process with torch imported, measured here in a
forked child. The fixed cost's floor, for a run that keeps no process from an earlier one, is one Python that
imports torch (the warm server's) and one that imports what the parent needs to read the course and write the
gradebook (nbgrader's coursedir and api, nbformat), each timed as a command of its own. Then `backprop-ninja check` against `jupyter nbconvert --execute` on one notebook.

Timings depend on this machine: only the ratios, measured in the same run, mean anything elsewhere. With
--baseline-tree (a checkout of an earlier commit: `git worktree add /tmp/base <commit>`), the same submissions
are also graded by that tree's `grade`, for a before/after ratio under the same load.
"""
import argparse
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from courses import gradebook_scores, make_course  # noqa: E402
from micrograd_corpus import solution_cell, training_loop  # noqa: E402
from submissions import answer, solution_region, write_submission  # noqa: E402

SEED = "4242"  # the class's hidden seed (grade needs an instructor's own)


# ------------------------------------------------------------------ the submissions


def backprop_ninja_kinds():
    right = {ex: solution_region(ex) for ex in ("ex1", "ex2", "ex3", "ex4")}
    # a sign slip in the fused cross-entropy, and the batchnorm's n-1 correction forgotten
    wrong = {**right, "ex2": answer("ex2", ("dlogits[range(n), Yb] -= 1", "dlogits[range(n), Yb] += 1")),
             "ex3": answer("ex3", ("n/(n-1)*", ""))}  # fmt: skip
    # Exercise 1 stops half-way; the training loop raises on its first step
    crashing = {**right, "ex1": answer("ex1", ("dhpreact = ", "raise ValueError('stuck here')\ndhpreact = ")),
                "ex4": "raise ValueError('not yet')\n" + solution_region("ex4")}  # fmt: skip
    return {"right": right, "wrong": wrong, "crashing": crashing}


def micrograd_kinds():
    right = {}  # the solutions notebook as it is
    wrong = {"ex1": solution_cell("ex1").replace("dd = f", "dd = -f"),
             "ex5": training_loop("p.data += -0.1 * p.grad", "p.data += 0.1 * p.grad")}  # fmt: skip
    crashing = {"ex1": "raise ValueError('stuck here')\n" + solution_cell("ex1"),
                "ex5": "raise ValueError('not yet')\n" + solution_cell("ex5")}  # fmt: skip
    return {"right": right, "wrong": wrong, "crashing": crashing}


def write_micrograd(path: Path, **answers: str) -> Path:
    nb = json.loads((ROOT / "solutions" / "micrograd" / "micrograd.ipynb").read_text())
    for cell in nb["cells"]:
        cell["source"] = answers.get(cell["metadata"].get("nbgrader", {}).get("grade_id"), cell["source"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(nb))
    return path


ASSIGNMENTS = {"backprop_ninja": (backprop_ninja_kinds, write_submission), "micrograd": (micrograd_kinds, write_micrograd)}


# ------------------------------------------------------------------ measuring


class Meter:
    """Runs a command and measures its wall time and the CPU time of its whole process tree."""

    def __init__(self):
        self.cgroup = self._cpuacct()

    @staticmethod
    def _cpuacct() -> Path | None:
        for root in (Path("/sys/fs/cgroup/cpuacct"), Path("/sys/fs/cgroup/cpu,cpuacct")):
            try:
                group = root / f"backprop-ninja-bench-{secrets.token_hex(4)}"
                group.mkdir()
                return group
            except OSError:
                continue
        return None

    @property
    def how(self) -> str:
        return "a cpuacct cgroup" if self.cgroup else "the children's rusage (processes never reaped are missed)"

    def close(self):
        if self.cgroup:
            for _ in range(100):
                try:
                    self.cgroup.rmdir()
                    return
                except OSError:
                    time.sleep(0.05)

    def cpu_now(self) -> float:
        if self.cgroup:
            return int((self.cgroup / "cpuacct.usage").read_text()) / 1e9
        usage = os.times()
        return usage.children_user + usage.children_system

    def in_cgroup(self, cmd) -> list[str]:
        if self.cgroup:
            return ["/bin/sh", "-c", f'echo $$ > {self.cgroup}/cgroup.procs && exec "$@"', "sh", *map(str, cmd)]
        return list(map(str, cmd))

    def run(self, cmd, cwd, env=None) -> tuple[float, float]:
        cmd = self.in_cgroup(cmd)
        cpu, start = self.cpu_now(), time.perf_counter()
        run = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
        wall = time.perf_counter() - start
        time.sleep(0.3)  # what the command left behind (a server's zygotes) finishes exiting
        if run.returncode:
            errors = [f"{f.stem}: {json.loads(f.read_text()).get('internal_error')}"
                      for f in Path(cwd).glob("results/*/*.json") if json.loads(f.read_text()).get("internal_error")]
            sys.exit(f"{' '.join(map(str, cmd))} failed ({run.returncode}) in {cwd}:\n{run.stderr[-3000:]}\n"
                     + "\n".join(errors[:5]))
        return wall, self.cpu_now() - cpu


def floor_cpu(notebooks: list[Path], assignment_id: str) -> float:
    """CPU seconds per submission of the student's code on both seeds plus one fork (see the module's doc), in a
    fresh process with one thread, as a zygote is (a process whose OpenMP pool has started cannot fork safely)."""
    run = subprocess.run([sys.executable, __file__, "--floor", assignment_id, *map(str, notebooks)], capture_output=True,
                         text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
    if run.returncode:
        sys.exit(f"the floor could not be measured: {run.stderr[-3000:]}")
    return float(run.stdout.split()[-1])


def _floor_cpu(notebooks: list[Path], assignment_id: str) -> float:
    from autograder import array_file, assignments, student_process
    from autograder.checks import HIDDEN, PUBLIC
    from autograder.notebook import read_submission

    assignment = assignments.get(assignment_id)
    part = assignment.grading(int(SEED))
    runs = []  # per submission: [(job, inputs)] on both seeds
    for path in notebooks:
        submission = read_submission(path, assignment)
        jobs = []
        for ex in assignment.exercises:
            cell = submission.cells[ex.id]
            if cell.problem:
                continue
            problems = part.problems_for(cell)
            for label in (PUBLIC, HIDDEN):
                job = dict(run_side=assignment.run_module, exercise=ex.id, code=cell.source, steps=ex.steps, output_cap=20_000,
                           variables=[c.variable for c in ex.checks], constants=part.constants(ex, problems[label]))  # fmt: skip
                jobs.append((job, part.inputs(ex, problems[label])))
        runs.append(jobs)
    student_process.prepare()  # the zygote's state: torch warm, each run side warmed up (and autograd off)
    side = assignment.run_side()
    import io

    total = 0.0
    for jobs in runs:
        before = time.process_time()
        child = os.fork()
        if child == 0:
            sys.stdout = sys.stderr = io.StringIO()
            for job, inputs in jobs:
                arrays = array_file.decode(inputs, 10**7)
                ns = side.namespace(job, arrays)
                values, losses = {}, []
                try:
                    side.execute(compile(job["code"], f"<{job['exercise']}>", "exec"), ns, job, arrays, values, losses)
                except BaseException:
                    pass
                side.collect(job, ns, values)
            os._exit(0)
        _, _, usage = os.wait4(child, 0)
        total += time.process_time() - before + usage.ru_utime + usage.ru_stime
    return total / len(runs)


PARENT_IMPORTS = ("import autograder.cli, autograder.gradebook, autograder.course, autograder.class_grading; "
                  "autograder.course._import_nbgrader()")


def fixed_floor(meter: Meter, repeat: int = 3) -> tuple[float, float]:
    """Median CPU seconds of a Python that imports torch, and of one that imports what a class run's parent needs."""
    cpu = lambda code: statistics.median(meter.run([sys.executable, "-c", code], ROOT)[1] for _ in range(repeat))  # noqa: E731
    return cpu("import torch"), cpu(PARENT_IMPORTS)


def split_costs(runs: list, larger: list, n: int) -> tuple:
    """(wall, cpu) of the N-submission runs (medians), and the marginal and fixed costs (wall, cpu each) that the
    3N runs give: the difference of 2N submissions, and what N of them leave of the N run."""
    wall, cpu = (statistics.median(r[k] for r in runs) for k in (0, 1))
    larger_wall, larger_cpu = (statistics.median(r[k] for r in larger) for k in (0, 1))
    marginal_wall, marginal_cpu = (larger_wall - wall) / (2 * n), (larger_cpu - cpu) / (2 * n)
    return wall, cpu, marginal_wall, marginal_cpu, wall - n * marginal_wall, cpu - n * marginal_cpu


def kept_server_runs(args, command, courses, env, meter) -> tuple[dict, int] | None:
    """The same N and 3N runs (alternating, --repeat of each) while `backprop-ninja serve` keeps a warm server, and
    that server's memory while idle (its proportional share: PSS). None with --no-serve."""
    if args.no_serve:
        return None
    if not meter.cgroup:  # the server's workers are not this process's children: only a cgroup counts them
        print("  (not timed with backprop-ninja serve: that needs a cpuacct cgroup, made as root)")
        return None
    scratch = tempfile.mkdtemp(prefix="backprop-ninja-bench-serve-")
    served_env = {**env, "TMPDIR": scratch}
    # In the meter's cgroup, so that a run's CPU counts the workers and zygotes the server forks for it.
    cpu = meter.cpu_now()
    serve = subprocess.Popen(meter.in_cgroup([sys.executable, "-m", "autograder", "serve"]), cwd=ROOT, env=served_env,
                             text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
    try:
        line = serve.stdout.readline()
        if "Keeping a warm server" not in line:
            sys.exit(f"backprop-ninja serve did not start: {line}{serve.stderr.read()[-2000:]}")
        memory_mib = int(line.split(" MiB)")[0].rsplit(" ", 1)[1])
        print(f"  backprop-ninja serve started in {meter.cpu_now() - cpu:.2f} CPU-s, once for every run after it")
        runs = {"ours": [], "larger": []}
        for _ in range(args.repeat):
            runs["ours"].append(meter.run(command + ["--force"], courses["backprop-ninja"], served_env))
            runs["larger"].append(meter.run(command + ["--force"], courses["larger"], served_env))
        return runs, memory_mib
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait()
        shutil.rmtree(scratch, ignore_errors=True)


# ------------------------------------------------------------------ one assignment


def bench(assignment: str, args, tmp: Path, meter: Meter) -> dict:
    kinds, write = ASSIGNMENTS[assignment]
    made = kinds()
    tools = ("nbgrader", "backprop-ninja") + (("baseline",) if args.baseline_tree else ())
    courses = {tool: make_course(tmp / assignment / tool, assignments=(assignment,)) for tool in (*tools, "larger")}
    notebook = f"{assignment}.ipynb"
    firsts = []
    for i in range(args.n):
        kind = list(made)[i % len(made)]
        student = f"s{i:03d}-{kind}"
        first = write(courses["nbgrader"] / "submitted" / student / assignment / notebook, **made[kind])
        firsts.append(first)
        for tool in tools[1:]:
            shutil.copytree(first.parent, courses[tool] / "submitted" / student / assignment)
        for copy in range(3):
            shutil.copytree(first.parent, courses["larger"] / "submitted" / f"{student}-{copy}" / assignment)
    env = {**os.environ, "BACKPROP_NINJA_HIDDEN_SEED": SEED}
    print(f"\n{assignment}: {args.n} submissions ({', '.join(made)}), {args.jobs} grading workers")

    nbgrader_wall, nbgrader_cpu = meter.run(["nbgrader", "autograde", assignment], courses["nbgrader"], env)
    command = [sys.executable, "-m", "autograder", "grade", assignment, "--jobs", str(args.jobs)]
    baseline_env = {**env, "PYTHONPATH": str(args.baseline_tree.resolve())} if args.baseline_tree else None
    samples = {"ours": [], "larger": [], "baseline": []}
    for i in range(args.repeat):  # alternating: one slow moment of a noisy machine moves one sample, not a ratio
        force = ["--force"] if i else []
        samples["ours"].append(meter.run(command + force, courses["backprop-ninja"], env))
        samples["larger"].append(meter.run(command + force, courses["larger"], env))
        if args.baseline_tree:
            samples["baseline"].append(meter.run(command + force, courses["baseline"], baseline_env))
    served = kept_server_runs(args, command, courses, env, meter)
    n = args.n
    wall, cpu, marginal_wall, marginal_cpu, fixed_wall, fixed_cpu = split_costs(samples["ours"], samples["larger"], n)
    floor = floor_cpu(firsts, assignment)
    torch_import, parent_imports = fixed_floor(meter)
    per_nbgrader_wall, per_nbgrader_cpu = nbgrader_wall / n, nbgrader_cpu / n
    ours, theirs = gradebook_scores(courses["backprop-ninja"], assignment), gradebook_scores(courses["nbgrader"], assignment)
    agree = sum(ours[s] == theirs.get(s) for s in ours)

    print(f"  nbgrader autograde:  {nbgrader_wall:6.1f} s, {per_nbgrader_wall:.3f} s and {per_nbgrader_cpu:.3f} CPU-s "
          "per submission")
    print(f"  backprop-ninja grade: {wall:6.1f} s, {cpu:.1f} CPU-s (medians of {args.repeat}): "
          f"{nbgrader_wall / wall:.1f}x less time than nbgrader")
    print(f"  marginal cost: {marginal_wall * 1000:.1f} ms and {marginal_cpu * 1000:.1f} CPU-ms per submission: "
          f"{per_nbgrader_wall / marginal_wall:.0f}x below nbgrader's time, {per_nbgrader_cpu / marginal_cpu:.0f}x "
          "below its CPU")
    print(f"  floor (the code on both seeds plus one fork): {floor * 1000:.1f} CPU-ms per submission; the marginal "
          f"CPU is {marginal_cpu / floor:.1f}x the floor")
    print(f"  fixed cost: {fixed_wall:.2f} s and {fixed_cpu:.2f} CPU-s: {fixed_cpu / per_nbgrader_cpu:.2f} of one "
          f"nbgrader submission's CPU ({fixed_wall / per_nbgrader_wall:.2f} of its time)")
    print(f"  fixed cost's floor: one import of torch {torch_import:.2f} CPU-s and the parent's imports "
          f"{parent_imports:.2f}: {(torch_import + parent_imports) / per_nbgrader_cpu:.2f} of one nbgrader submission's "
          "CPU")  # fmt: skip
    if args.baseline_tree:
        baseline_wall, baseline_cpu = (statistics.median(r[k] for r in samples["baseline"]) for k in (0, 1))
        same = gradebook_scores(courses["baseline"], assignment) == ours
        print(f"  baseline tree: {baseline_wall:.1f} s and {baseline_cpu:.1f} CPU-s; this tree takes "
              f"{wall / baseline_wall:.2f}x its time and {cpu / baseline_cpu:.2f}x its CPU; per-cell scores "
              f"{'identical' if same else 'DIFFER'}")  # fmt: skip
    if served:
        runs, memory_mib = served
        s_wall, s_cpu, _, s_marginal_cpu, s_fixed_wall, s_fixed_cpu = split_costs(runs["ours"], runs["larger"], n)
        print(f"  with backprop-ninja serve running ({memory_mib} MiB idle): {s_wall:.1f} s, {s_cpu:.1f} CPU-s: "
              f"{nbgrader_wall / s_wall:.1f}x less time than nbgrader; marginal {s_marginal_cpu * 1000:.1f} CPU-ms; "
              f"fixed cost {s_fixed_wall:.2f} s and {s_fixed_cpu:.2f} CPU-s: {s_fixed_cpu / per_nbgrader_cpu:.2f} of one "
              f"nbgrader submission's CPU ({s_fixed_wall / per_nbgrader_wall:.2f} of its time)")  # fmt: skip
    print(f"  score agreement with nbgrader: {agree}/{len(ours)} submissions have the same per-cell scores")
    for s in sorted(ours):
        if ours[s] != theirs.get(s):
            print(f"    {s}: grade {ours[s]} vs nbgrader {theirs.get(s)}")
    return {"first": firsts[0], "tmp": tmp}


def main():
    if sys.argv[1:2] == ["--floor"]:
        print(_floor_cpu([Path(p) for p in sys.argv[3:]], sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=24, help="submissions per assignment (default 24)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes for backprop-ninja grade (default 2)")
    parser.add_argument("--baseline-tree", type=Path, help="also time this checkout's grade, for a before/after ratio")
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs of each grade timed (default 3)")
    parser.add_argument("--no-serve", action="store_true", help="do not also time grade with backprop-ninja serve up")
    parser.add_argument("--assignment", action="append", choices=list(ASSIGNMENTS), help="default: every one")
    args = parser.parse_args()
    meter = Meter()
    print(f"CPU measured by {meter.how}")
    try:
        with tempfile.TemporaryDirectory(prefix="backprop-ninja-bench-") as tmp:
            first = None
            for assignment in args.assignment or list(ASSIGNMENTS):
                made = bench(assignment, args, Path(tmp), meter)["first"]
                first = first or made
            check, nbconvert = [], []
            for _ in range(3):
                check.append(_timed_check(first, tmp))
                nbconvert.append(meter.run(["jupyter", "nbconvert", "--to", "notebook", "--execute", str(first),
                                            "--output-dir", str(Path(tmp) / "executed")], tmp)[0])  # fmt: skip
            check_s, nbconvert_s = statistics.median(check), statistics.median(nbconvert)
            print(f"\none notebook: backprop-ninja check {check_s:.2f} s, jupyter nbconvert --execute {nbconvert_s:.2f} "
                  f"s (check takes {check_s / nbconvert_s:.2f}x the time of nbconvert)")  # fmt: skip
    finally:
        meter.close()


def _timed_check(notebook: Path, cwd) -> float:
    """`check` exits 1 for anything short of full marks, which is not a failure here."""
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "autograder", "check", str(notebook)], cwd=cwd, capture_output=True)
    if run.returncode not in (0, 1):
        sys.exit(f"check failed ({run.returncode}): {run.stderr[-2000:]}")
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
