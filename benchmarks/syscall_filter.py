"""What one task under the syscall filter costs a run: a forked child of a torch-warm process, as the zygote forks
one per job, that computes a small backward pass, with and without entering one task (the audit hook that names a
refused call, the grader's package closed, the seccomp filter loaded), alternating, in the same process.

    python benchmarks/syscall_filter.py [--runs N]

The class-level cost, against the tree before the filter, is `benchmarks/class_grading.py --baseline-tree DIR`.
"""
import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
import torch  # noqa: E402

from autograder import student_process, syscall_filter  # noqa: E402


def work():
    """A backward pass by hand of the size of the lecture's (a batch of 32, 64 hidden units), printed once."""
    x, w = torch.randn(32, 64), torch.randn(64, 27)
    logits = x @ w
    probs = torch.softmax(logits, 1)
    dlogits = probs.clone()
    dlogits[range(32), torch.randint(0, 27, (32,))] -= 1
    dx, dw = dlogits @ w.T, x.T @ dlogits
    print(dx.sum(), dw.sum(), file=open(os.devnull, "w"))


def one_run(one_task: bool) -> float:
    """Seconds from fork to the child's exit, as the zygote waits for a job."""
    start = time.perf_counter()
    child = os.fork()
    if child == 0:
        if one_task:
            student_process.enter_one_task("<ex>")
        work()
        os._exit(0)
    _, status = os.waitpid(child, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=200, help="runs of each kind (default 200)")
    args = parser.parse_args()
    refused = syscall_filter.probe()
    if refused:
        sys.exit(f"no syscall filter can be had here: {refused}")
    torch.set_num_threads(1)
    work()  # torch's lazy start-up (and its imports), done before the forks as the zygote's warm-up does
    start = time.perf_counter()
    student_process.prepare()  # as in the zygote, once: the filter built, the grader's modules listed
    built = time.perf_counter() - start
    plain, filtered = [], []
    for _ in range(args.runs):
        plain.append(one_run(False))
        filtered.append(one_run(True))
    p, f = statistics.median(plain), statistics.median(filtered)
    print(f"a zygote's preparation (the filter built and probed, autograd switched off): {built * 1000:.0f} ms")
    print(f"a run without one task: {p * 1000:.2f} ms, with it: {f * 1000:.2f} ms (medians of {args.runs} alternating "
          f"runs): one task costs {(f - p) * 1000:+.2f} ms a run, {f / p:.3f}x")  # fmt: skip


if __name__ == "__main__":
    main()
