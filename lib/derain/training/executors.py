"""Where the runs of a grid train: one interface, two back-ends.

:func:`executor` gives a :class:`concurrent.futures.Executor` (``submit`` returns
a Future; :func:`concurrent.futures.as_completed` waits on them):

- ``"local"``, the default: this machine. One worker runs each task in this
  process when it is submitted; more workers are the standard library's
  ProcessPoolExecutor, that many spawned processes.
- ``"dask"``: Dask distributed. With a ``scheduler`` address
  (``tcp://host:8786``) the tasks go to that cluster, which must see the run
  folders and the data at the same paths (a shared file system); without one a
  ``LocalCluster`` of ``workers`` processes starts for the grid and stops after
  it.

On a CPU each worker process of this machine trains with an equal share of its
cores as threads (:func:`in_worker`): on a small CPU two single-threaded runs do
more work per second than one run on two threads.

A worker that dies takes its task with it. Dask reschedules such a task on
another worker by itself (up to ``distributed.scheduler.allowed-failures``
times, then :class:`distributed.KilledWorker`); a ProcessPoolExecutor breaks as
a whole instead, and every task it held ends in
:class:`~concurrent.futures.BrokenExecutor`, for the caller to submit again to a
new pool (see :func:`~derain.training.runs.run_all`).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from contextlib import contextmanager

from derain.config import EXECUTORS


class InProcess(Executor):
    """Runs each task in this process as it is submitted: the local back-end
    with one worker (no process to start, the caller's threads)."""

    def submit(self, fn: Callable, /, *args, **kwargs) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as err:  # the Future carries it, as a pool's would
            if isinstance(err, KeyboardInterrupt):
                raise
            future.set_exception(err)
        return future


def worker_threads(workers: int) -> int:
    """Threads per worker process: an equal share of this machine's cores."""
    return max(1, (os.cpu_count() or 1) // max(workers, 1))


def in_worker(threads: int | None, fn: Callable, *args):
    """``fn(*args)`` in a worker process: with ``threads`` torch threads (None:
    the worker's own setting) and no progress bars."""
    import torch

    os.environ["TQDM_DISABLE"] = "1"
    if threads is not None:
        torch.set_num_threads(threads)
    return fn(*args)


@contextmanager
def executor(kind: str = "local", workers: int = 1,
             scheduler: str | None = None) -> Iterator[tuple[Executor, int | None]]:
    """``(the executor, threads per task)`` of back-end ``kind`` (one of
    :data:`EXECUTORS`) with ``workers`` workers (a remote Dask cluster has its
    own), shut down when the block ends. Threads per task is None where the
    task keeps the threads it finds (this process, a remote cluster's
    workers)."""
    if kind not in EXECUTORS:
        raise ValueError(f"executor must be one of {', '.join(EXECUTORS)}, got "
                         f"{kind!r}")
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    if kind == "local" and workers == 1:
        yield InProcess(), None
    elif kind == "local":
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            yield pool, worker_threads(workers)
    else:
        with _dask(workers, scheduler) as (client, threads):
            yield client.get_executor(pure=False), threads


@contextmanager
def _dask(workers: int, scheduler: str | None):
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ValueError("executor 'dask' needs the packages dask and "
                         "distributed (pip install dask distributed)") from None
    if scheduler:
        with Client(scheduler) as client:
            yield client, None
        return
    # Processes, not threads: each run holds the GIL between torch calls. No
    # memory limit: a run's peak is its own, and spilling would not help it.
    # Workers log at CRITICAL only: when the cluster stops, a worker's last
    # heartbeat can meet a closed connection and log it as an error, noise that
    # says nothing about the runs (a failed run raises through its future).
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      memory_limit=0, dashboard_address=":0",
                      silence_logs=logging.CRITICAL) as cluster, \
            Client(cluster) as client:
        yield client, worker_threads(workers)
