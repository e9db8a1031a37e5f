"""A class run's grading workers on this machine, forked from a warm server (warm_server.py): the run's own, or the
one `backprop-ninja serve` keeps.

That server imports torch once for the zygotes; forked from it, a worker starts with torch imported too, and a
class run imports torch once in all, where a pool of its own (multiprocessing's fork server) imported it a second
time, about two CPU-seconds. What makes that safe is the server's rule: it holds nothing secret. A worker is given
the hidden seed and the submissions on its own connection after the fork, and no zygote is ever forked from a
worker, so nothing a worker holds reaches a run.

Each worker takes one task at a time. One that dies (killed, out of memory) loses only the task it held: it comes
back as that task's exception, for class_grading.py to grade again in fresh workers.
"""
import os
import threading
from collections import deque
from multiprocessing.connection import wait

from .settings import SEED_VARIABLE
from .warm_server import ForkedWorker, WarmServer, WorkerRequest, WorldRefused

STOPPING_SECONDS = 30  # a worker closing its sandboxes; then it is killed


class WorkerLost(RuntimeError):
    pass


class WorkerPool:
    def __init__(self, server: WarmServer, jobs: int, settings, zygotes_from: str | None):
        """`zygotes_from`: the address the workers' sandboxes fork their zygotes from (the server's), or None for
        bubblewrap's."""
        self.workers: list[ForkedWorker] = []
        self.refused = None  # why a worker could not be had, if one could not
        # Not the seed's variable: the workers are given the seed in the settings, and need nothing else of it.
        environ = {k: v for k, v in os.environ.items() if k != SEED_VARIABLE}
        # Each worker ends when this process does, whichever way: it holds the lifeline's write end, alone.
        lifeline, self.lifeline = os.pipe()
        requests = []
        for _ in range(jobs):
            try:
                requests.append(WorkerRequest(server.address, lifeline))
            except WorldRefused as e:  # no worker: each task comes back lost, and is recorded as such
                self.refused = str(e)
        os.close(lifeline)
        # The server answers once it has imported torch: meanwhile this process reads the course.
        self.starting = threading.Thread(target=self._start, args=(requests, (settings, zygotes_from, environ)))
        self.starting.start()

    def _start(self, requests: list[WorkerRequest], start: tuple):
        for request in requests:
            try:
                worker = request.answer()
                worker.connection.send(start)
            except (WorldRefused, OSError) as e:
                self.refused = str(e)
                continue
            self.workers.append(worker)

    def grade(self, tasks: list):
        """(task, outcome or the exception that lost it), in the order they finish; each worker grades a task
        with class_worker.grade_task."""
        self.starting.join()
        waiting, busy = deque(tasks), {}  # worker -> its task
        idle = [w for w in self.workers if w.poll() is None]
        while waiting or busy:
            while waiting and idle:
                worker, task = idle.pop(), waiting.popleft()
                try:
                    worker.connection.send(task)
                    busy[worker] = task
                except OSError:
                    waiting.appendleft(task)  # this worker is gone; the task waits for another
            if not busy:  # no worker left to give a task to
                why = self.refused or "every grading worker has ended"
                while waiting:
                    yield waiting.popleft(), WorkerLost(why)
                return
            by_connection = {w.connection: w for w in busy}
            for connection in wait(list(by_connection)):
                worker = by_connection[connection]
                task = busy.pop(worker)
                try:
                    outcome = connection.recv()
                except Exception:  # gone (EOF), or a reply that cannot be read: that worker is done with
                    worker.kill()
                    yield task, WorkerLost(f"the grading worker (pid {worker.pid}) ended while it graded this")
                    continue
                idle.append(worker)
                yield task, outcome

    def close(self):
        """Let each worker close its sandboxes and end."""
        self.starting.join()
        for worker in self.workers:
            worker.connection.close()
        for worker in self.workers:
            if worker.wait(STOPPING_SECONDS) is None:
                worker.kill()
                worker.wait()
        self._cut_lifeline()

    def kill(self):
        """End every worker now, with what it was grading (their sandboxes see their connections close)."""
        self.starting.join()
        for worker in self.workers:
            worker.kill()
        for worker in self.workers:
            worker.wait()
        self._cut_lifeline()

    def _cut_lifeline(self):
        """Last, once the workers have closed their sandboxes: a worker that sees it cut ends without closing them."""
        if self.lifeline is not None:
            os.close(self.lifeline)
            self.lifeline = None
