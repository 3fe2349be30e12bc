"""CPU worker processes for :func:`pyhcs.plate.run` (``processes=N``).

One process per share of the cores, each reading and computing whole fields with
``cores // N`` kernel threads: CellProfiler's own batch mode (one image set per process), with
pyhcs's threaded kernels inside each process. Parts of a field's pipeline are serial (the first
phase of propagate, Python between kernels), so on a machine with many cores several processes
keep them busier than one process's threads can.

The parent keeps the writer and the bookkeeping; a worker receives ``(well, site,
image_number)``, reads the field itself (only results cross the pipe) and sends back the
field's :class:`~pyhcs.plate._engine._Done`. Results come back in completion order; the writer
commits a well when its last field is in, with its fields sorted, so the outputs are those of
a one-process run.

A worker that dies (a crash inside a kernel, the out-of-memory killer) costs only the field it
was computing, which is recorded as failed; the fields queued behind it go to the others and a
new worker takes its place.
"""

from __future__ import annotations

import collections
import os
import signal
import socket
import subprocess
import sys
import time
import traceback
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any, Iterable, Iterator

import numpy as np

__all__ = ["WorkerPool", "available_cores"]

#: The environment variables that size a worker's thread pools (numba, OpenMP in the C++ core
#: and numba's OpenMP layer, BLAS behind numpy); read when those libraries load, so they are set
#: at the worker's start.
THREAD_VARIABLES = ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "MKL_NUM_THREADS")
#: Fields sent ahead to each worker: it starts the next as soon as it sends a result.
_QUEUED_PER_WORKER = 2
#: Seconds a new worker may take to import pyhcs and report ready.
_START_TIMEOUT = 600.0
#: A worker is a fresh interpreter running this (not multiprocessing's spawn, which would
#: re-import the caller's main script in every worker).
_WORKER_COMMAND = "import sys; from pyhcs.plate._processes import serve; serve(int(sys.argv[1]))"


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS tells it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def serve(fd: int) -> None:
    """A worker's loop on the connection ``fd``: set-up, then fields until told to stop.

    The first message is the parent's ``sys.path`` (so the set-up unpickles as it would
    there), the second ``(plate, pipeline, illumination, save_labels)``; every next one is
    ``(well, site, image_number)``, answered by ``("done", _Done)``; ``None`` or the parent's
    end closing stops the worker.
    """
    # Ctrl-C reaches the whole process group: the parent handles it and stops the workers
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    conn = Connection(fd)
    try:
        from ._engine import _compute, _Field, _field_done

        sys.path[:] = conn.recv()
        plate, pipeline, illumination, save_labels = conn.recv()
        buffer = np.empty(plate.field_shape, plate.dtype)
    except (EOFError, OSError):
        return
    except BaseException:
        conn.send(("failed", traceback.format_exc()))
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if task is None:
            return
        well, site, image_number = task
        item = _Field(well, site, image_number)
        start = time.perf_counter()
        try:
            plate.read(well, site, out=buffer)
            item.buffer = buffer
        except Exception as exc:  # a bad file: recorded, the run goes on
            item.error = exc
        item.read_seconds = time.perf_counter() - start
        started = time.perf_counter()
        result, error, trace = None, item.error, None
        if error is None:
            result, error, trace = _compute(buffer, pipeline, plate, illumination,
                                            lambda exc: False)
        done = _field_done(item, result, error, trace, started, save_labels)
        try:
            conn.send(("done", done))
        except (BrokenPipeError, EOFError, OSError):
            return


@dataclass
class _Worker:
    process: subprocess.Popen
    conn: Connection
    assigned: collections.deque = field(default_factory=collections.deque)


def _exit_description(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by signal {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit code {exitcode}"


class WorkerPool:
    """``processes`` worker processes computing fields of ``plate`` with ``pipeline``.

    Parameters
    ----------
    plate : Plate
        Pickled to every worker (its readers reopen the files there).
    pipeline : Pipeline
    illumination : dict of str to numpy.ndarray
        The illumination functions (host float32), by channel.
    processes : int
        Worker processes (>= 1).
    threads : int
        Kernel threads per worker (numba, OpenMP, BLAS).
    save_labels : bool
        Whether workers send the label images back.
    """

    def __init__(self, plate, pipeline, illumination: dict[str, np.ndarray], processes: int,
                 threads: int, save_labels: bool):
        self._setup = (plate, pipeline, {k: np.asarray(v) for k, v in illumination.items()},
                       save_labels)
        self.threads = threads
        self._workers: list[_Worker] = []
        try:
            for _ in range(processes):
                self._workers.append(self._start())
            for worker in self._workers:
                self._await_ready(worker)
        except BaseException:
            self.close()
            raise

    def _start(self) -> _Worker:
        env = dict(os.environ)
        env.update({name: str(self.threads) for name in THREAD_VARIABLES})
        # the worker finds pyhcs where this process found it
        env["PYTHONPATH"] = os.pathsep.join(path for path in sys.path if path)
        parent_end, child_end = socket.socketpair()
        try:
            process = subprocess.Popen(
                [sys.executable, "-c", _WORKER_COMMAND, str(child_end.fileno())],
                pass_fds=(child_end.fileno(),), env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL)
        finally:
            child_end.close()
        return _Worker(process, Connection(parent_end.detach()))

    def _await_ready(self, worker: _Worker) -> None:
        """Send the set-up (received once the worker has imported pyhcs) and wait for ready."""
        try:
            worker.conn.send(list(sys.path))
            worker.conn.send(self._setup)
        except (BrokenPipeError, OSError):
            pass  # it died: the receive below says how
        if not wait([worker.conn], timeout=_START_TIMEOUT):
            raise RuntimeError(f"a worker process did not start in {_START_TIMEOUT:.0f} s")
        try:
            kind, payload = worker.conn.recv()
        except (EOFError, OSError):
            raise RuntimeError("a worker process died while starting ("
                               f"{_exit_description(self._exit_code(worker))})") from None
        if kind != "ready":
            raise RuntimeError(f"a worker process failed to start:\n{payload}")

    @staticmethod
    def _exit_code(worker: _Worker) -> int | None:
        try:
            return worker.process.wait(5)
        except subprocess.TimeoutExpired:
            return None

    def map(self, items: Iterable[Any]) -> Iterator[Any]:
        """The ``_Done`` of every ``_Field`` in ``items``, in completion order.

        A field whose worker died is given as a failed ``_Done`` (``WorkerDied``).
        """
        from ._engine import _Done

        todo = collections.deque(items)
        while todo or any(w.assigned for w in self._workers):
            for worker in self._workers:
                while todo and len(worker.assigned) < _QUEUED_PER_WORKER:
                    item = todo.popleft()
                    worker.conn.send((item.well, item.site, item.image_number))
                    worker.assigned.append(item)
            ready = wait([w.conn for w in self._workers if w.assigned])
            for index, worker in enumerate(self._workers):
                if not worker.assigned or worker.conn not in ready:
                    continue
                try:
                    kind, done = worker.conn.recv()
                except (EOFError, OSError):
                    item = worker.assigned.popleft()
                    yield self._replace(index, item, todo, _Done)
                    continue
                if kind != "done":  # pragma: no cover - the protocol has no other message
                    raise RuntimeError(f"unexpected message {kind!r} from a worker process")
                worker.assigned.popleft()
                yield done

    def _replace(self, index: int, item, todo: collections.deque, done_type):
        """The worker at ``index`` died computing ``item``: requeue the rest, start another."""
        worker = self._workers[index]
        reason = _exit_description(self._exit_code(worker))
        while worker.assigned:  # sent but never started: to the front, in their order
            todo.appendleft(worker.assigned.pop())
        worker.conn.close()
        replacement = self._start()
        self._workers[index] = replacement
        self._await_ready(replacement)
        message = (f"the worker process computing this field died ({reason}); the field was "
                   "not finished")
        return done_type(well=item.well, site=item.site, image_number=item.image_number,
                         cells=None, image={"ExecutionTime_Read": 0.0, "_traceback": None},
                         error=message, error_type="WorkerDied", labels=None)

    def close(self) -> None:
        """Stop the workers (those still computing are terminated after a grace period)."""
        for worker in self._workers:
            try:
                worker.conn.send(None)
            except (BrokenPipeError, EOFError, OSError):
                pass
        deadline = time.monotonic() + 5.0
        for worker in self._workers:
            try:
                worker.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
            worker.conn.close()
        self._workers = []
