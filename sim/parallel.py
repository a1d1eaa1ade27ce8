"""Spreading regression jobs over cores, or over a Dask cluster: one interface, no job queue
of our own.

:func:`run_tasks` calls ``function(*shared, task)`` for every task and yields
``(index, result)`` as tasks finish. ``jobs = 1`` runs them in this process;
``jobs > 1`` in a :class:`concurrent.futures.ProcessPoolExecutor`; a Dask client
(:func:`dask_client`, from a scheduler address) sends them to an existing Dask distributed
cluster (``pip install "qkspike[distributed]"``), where ``shared`` is scattered to every
worker once instead of travelling with each task.
"""

from __future__ import annotations

import multiprocessing
import os
from contextlib import contextmanager
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, Callable, Iterator, Optional, Sequence

__all__ = ["default_jobs", "dask_client", "run_tasks", "SchedulerError"]


class SchedulerError(RuntimeError):
    """The Dask scheduler cannot be used (not installed, or not reachable)."""


def default_jobs() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _call(function, shared, task):
    return function(*shared, task)


@contextmanager
def dask_client(address: Optional[str]) -> Iterator[Any]:
    """A connected ``distributed.Client`` for ``address`` (``None``: no client, yields None).

    Connect before the long work starts, so that a wrong address fails in seconds.
    """
    if not address:
        yield None
        return
    try:
        from distributed import Client
    except ImportError:
        raise SchedulerError('--scheduler needs Dask: pip install "qkspike[distributed]"') \
            from None
    try:
        client = Client(address, timeout="10s")
    except (OSError, TimeoutError) as error:
        raise SchedulerError(f"cannot reach the Dask scheduler at {address}: {error}") \
            from None
    with client:
        yield client


def _worker_context():
    """Workers from a fork server where the platform has one: a child forked straight from
    a process whose PyTorch (OpenMP) threads have run can hang in its first parallel
    region (a fold trained in parallel after one trained here did); the server's children
    start from a clean, single-threaded process and import what their task needs."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("forkserver")
    return None


def run_tasks(function: Callable, shared: Sequence[Any], tasks: Sequence[Any], *,
              jobs: int = 1, client: Any = None) -> Iterator[tuple[int, Any]]:
    """``(index, function(*shared, tasks[index]))`` for every task, in the order they finish.

    ``client``: a Dask client (:func:`dask_client`) to run them on; else ``jobs`` local
    processes. ``function`` must be importable by name (a module-level function) for the
    process pool and for Dask. An exception in a task propagates here.
    """
    if client is not None:
        from distributed import as_completed as dask_completed
        shared_futures = [client.scatter(value, broadcast=True) for value in shared]
        futures = {client.submit(function, *shared_futures, task, pure=False): index
                   for index, task in enumerate(tasks)}
        for future in dask_completed(futures):
            yield futures[future], future.result()
        return
    if jobs <= 1 or len(tasks) <= 1:
        for index, task in enumerate(tasks):
            yield index, function(*shared, task)
        return
    with ProcessPoolExecutor(max_workers=min(jobs, len(tasks)),
                             mp_context=_worker_context()) as pool:
        futures = {pool.submit(_call, function, shared, task): index
                   for index, task in enumerate(tasks)}
        for future in as_completed(futures):
            yield futures[future], future.result()
