"""The benchmarks' one stopwatch: ``with timed(label, results): ...`` appends ``(label, seconds)``."""

from __future__ import annotations

import time
from contextlib import contextmanager


@contextmanager
def timed(label: str, results: list[tuple[str, float]]):
    start = time.perf_counter()
    yield
    results.append((label, time.perf_counter() - start))


def print_timings(results: list[tuple[str, float]]) -> None:
    """One aligned line per timing."""
    width = max(len(label) for label, _ in results)
    for label, seconds in results:
        print(f"{label:<{width}}  {seconds:7.2f} s")
