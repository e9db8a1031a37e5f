"""How fast a class is graded: `backprop-ninja grade` against `nbgrader autograde`, in the same run.

    python benchmarks/class_grading.py [N] [--jobs J] [--baseline-tree DIR]

Generates N submissions (a third right, a third with a wrong gradient, a third whose code raises) into two
copies of the course, grades one with `nbgrader autograde` and the other with `backprop-ninja grade`, and
compares seconds per submission and each student's scores. A third course holds the same kinds three times over
(3N): the difference of the two `grade` times (medians of --repeat alternating runs) splits a class run into its fixed cost (start-up) and the marginal
cost of one more submission. Then `backprop-ninja check` against
`jupyter nbconvert --execute` on one notebook (the median of three runs each). Timings are wall clock on
this machine, so only the ratios mean anything elsewhere.

With --baseline-tree (a checkout of an earlier commit, e.g. `git worktree add /tmp/base <commit>`), the same
submissions are also graded by that tree's `backprop-ninja grade`, in the same run, so a change's cost is a ratio
measured under the same load.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from courses import ASSIGNMENT, gradebook_scores, make_course  # noqa: E402
from submissions import answer, solution_region, write_submission  # noqa: E402

NOTEBOOK = f"{ASSIGNMENT}.ipynb"


def right():
    return {ex: solution_region(ex) for ex in ("ex1", "ex2", "ex3", "ex4")}


def wrong():  # a sign slip in the fused cross-entropy, and the batchnorm's n-1 correction forgotten
    return {**right(), "ex2": answer("ex2", ("dlogits[range(n), Yb] -= 1", "dlogits[range(n), Yb] += 1")),
            "ex3": answer("ex3", ("n/(n-1)*", ""))}  # fmt: skip


def crashing():
    """Exercise 1 stops half-way with an exception; the training loop raises on its first step.

    Not a crash in Exercise 2 or 3: under plain nbgrader the kernel still holds Exercise 1's dlogits and
    dhprebn, so the notebook's check would credit a crashed cell; the isolated grader does not.
    """
    return {**right(), "ex1": answer("ex1", ("dhpreact = ", "raise ValueError('stuck here')\ndhpreact = ")),
            "ex4": "raise ValueError('not yet')\n" + solution_region("ex4")}  # fmt: skip


KINDS = (right, wrong, crashing)


def timed(cmd, cwd, env=None) -> float:
    start = time.perf_counter()
    run = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, env=env)
    if run.returncode:  # what went wrong, and each internal error the results recorded
        errors = [f"{f.stem}: {json.loads(f.read_text()).get('internal_error')}"
                  for f in Path(cwd).glob("results/*/*.json") if json.loads(f.read_text()).get("internal_error")]
        sys.exit(f"{' '.join(map(str, cmd))} failed ({run.returncode}) in {cwd}:\n{run.stderr[-3000:]}\n"
                 + "\n".join(errors[:5]))
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=30, help="submissions (default 30)")
    parser.add_argument("--jobs", type=int, default=2, help="worker processes for backprop-ninja grade (default 2)")
    parser.add_argument("--baseline-tree", type=Path, help="also time this checkout's grade, for a before/after ratio")
    parser.add_argument("--repeat", type=int, default=3, help="alternating runs of each grade timed (default 3)")
    args = parser.parse_args()
    os.environ.setdefault("BACKPROP_NINJA_HIDDEN_SEED", "4242")  # grade needs an instructor's own hidden seed
    with tempfile.TemporaryDirectory(prefix="backprop-ninja-bench-") as tmp:
        tmp = Path(tmp)
        tools = ("nbgrader", "backprop-ninja") + (("baseline",) if args.baseline_tree else ())
        courses = {tool: make_course(tmp / tool) for tool in (*tools, "larger")}
        for i in range(args.n):
            kind = KINDS[i % len(KINDS)]
            first = write_submission(courses["nbgrader"] / "submitted" / f"s{i:03d}-{kind.__name__}" / ASSIGNMENT / NOTEBOOK,
                                     **kind())  # fmt: skip
            for tool in tools[1:]:
                shutil.copytree(first.parent, courses[tool] / "submitted" / first.parent.parent.name / ASSIGNMENT)
            for copy in range(3):
                shutil.copytree(first.parent, courses["larger"] / "submitted" / f"{first.parent.parent.name}-{copy}"
                                / ASSIGNMENT)  # fmt: skip
        print(f"{args.n} submissions ({', '.join(k.__name__ for k in KINDS)}), {args.jobs} grading workers")

        autograde = timed(["nbgrader", "autograde", ASSIGNMENT], courses["nbgrader"])
        command = [sys.executable, "-m", "autograder", "grade", ASSIGNMENT, "--jobs", str(args.jobs)]
        # Alternating runs (--force regrades), the median of each: one slow moment of a noisy machine then moves
        # one sample, not a ratio. The first of each is the class's first grading.
        env = {**os.environ, "PYTHONPATH": str(args.baseline_tree.resolve())} if args.baseline_tree else None
        samples = {"ours": [], "larger": [], "baseline": []}
        for i in range(args.repeat):
            force = ["--force"] if i else []
            samples["ours"].append(timed(command + force, courses["backprop-ninja"]))
            samples["larger"].append(timed(command + force, courses["larger"]))
            if args.baseline_tree:
                samples["baseline"].append(timed(command + force, courses["baseline"], env))
        grade, larger = statistics.median(samples["ours"]), statistics.median(samples["larger"])
        marginal = (larger - grade) / (2 * args.n)
        fixed = grade - args.n * marginal
        if args.baseline_tree:
            baseline, grade_median = statistics.median(samples["baseline"]), grade
        ours, theirs = gradebook_scores(courses["backprop-ninja"]), gradebook_scores(courses["nbgrader"])
        agree = sum(ours[s] == theirs.get(s) for s in ours)
        results = [json.loads(p.read_text()) for p in (courses["backprop-ninja"] / "results" / ASSIGNMENT).glob("*.json")]
        peaks = {}
        for r in results:
            peaks[r["worker"]["pid"]] = max(peaks.get(r["worker"]["pid"], 0), r["worker"]["peak_memory_mib"])
        print(f"nbgrader autograde:    {autograde / args.n:6.3f} s per submission ({autograde:.1f} s)")
        print(f"backprop-ninja grade:  {grade / args.n:6.3f} s per submission ({grade:.1f} s, the median of {args.repeat}, "
              f"worker start included; "
              f"{statistics.median(r['seconds'] for r in results):.3f} s median inside a worker)")  # fmt: skip
        print(f"ratio: grade is {autograde / grade:.1f}x faster than nbgrader autograde")
        print(f"grade of {3 * args.n} submissions: {larger:.1f} s (median), so a class run costs {fixed:.1f} s fixed (start-up) "
              f"and {marginal:.3f} s per submission more: {autograde / args.n / marginal:.0f}x below nbgrader "
              f"autograde's {autograde / args.n:.2f} s per submission")  # fmt: skip
        if args.baseline_tree:
            same = gradebook_scores(courses["baseline"]) == ours
            print(f"baseline tree's grade: {baseline:.1f} s against this tree's {grade_median:.1f} s (medians of "
                  f"{args.repeat} alternating runs each): this tree takes {grade_median / baseline:.2f}x its time; "
                  f"per-cell scores {'identical' if same else 'DIFFER'}")  # fmt: skip
        print(f"peak memory per worker (worker + its sandbox): "
              f"{', '.join(f'{m:.0f} MiB' for m in sorted(peaks.values()))}")  # fmt: skip
        print(f"score agreement: {agree}/{len(ours)} submissions have the same per-cell scores")
        for s in sorted(ours):
            if ours[s] != theirs.get(s):
                print(f"  {s}: grade {ours[s]} vs nbgrader {theirs.get(s)}")

        one = next((courses["nbgrader"] / "submitted").glob(f"*-right/{ASSIGNMENT}/{NOTEBOOK}"))
        check, nbconvert = [], []
        for _ in range(3):
            check.append(timed([sys.executable, "-m", "autograder", "check", str(one)], tmp))
            nbconvert.append(timed(["jupyter", "nbconvert", "--to", "notebook", "--execute", str(one),
                                    "--output-dir", str(tmp / "executed")], tmp))  # fmt: skip
        check_s, nbconvert_s = statistics.median(check), statistics.median(nbconvert)
        print(f"one notebook: backprop-ninja check {check_s:.2f} s, jupyter nbconvert --execute {nbconvert_s:.2f} s "
              f"(check takes {check_s / nbconvert_s:.2f}x the time of nbconvert)")  # fmt: skip


if __name__ == "__main__":
    main()
