"""The experiments' runs, each independent of the others, in worker processes when asked."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

Job = TypeVar("Job")
Result = TypeVar("Result")


def each_run(function: Callable[[Job], Result], jobs: Iterable[Job], workers: int) -> Iterator[Result]:
    """`function` of each job, in the jobs' order (so a report's keys come in the same order however the runs
    finish): in this process when `workers` is 1, else in that many spawned processes (each run starts its own
    local cloud, which patches libraries process-wide)."""
    if workers <= 1:
        yield from map(function, jobs)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        yield from pool.map(function, jobs)
