"""How many threads the numeric libraries may use, and how their idle threads wait.

**Why.** torch (and numba, and the BLAS under numpy) run their parallel loops on an OpenMP or
pthread pool. By default GNU OpenMP lets an idle worker *spin* for a while before it sleeps, which
is fastest on a quiet machine and ruinous on a busy one: when the cores are shared with other
processes (a laptop, a shared server, ``csmsasr msa run --workers N``, several Dask units on one
machine) the spinning threads steal the very cores the working thread needs. Measured on this
project's 2-core machine beside two busy processes, 8 training batches of MLF_DNN took 6–12 s with
the default wait policy and 0.6–0.9 s with ``OMP_WAIT_POLICY=PASSIVE`` (benchmarks/README.md).

**What.** :func:`configure_threads` puts a *thread budget* that fits the cores this process may
use (its CPU affinity, and a cgroup CPU quota where there is one) and a *passive* wait policy into
the environment — only for variables the user has not set, so the user's own environment always
wins. OpenMP reads these variables once, when the library is loaded, so they must be in place
before ``import torch``: the package does it when it is imported (``csmsasr_utils/__init__.py``),
and the book does it in its Sphinx extension, so every notebook kernel inherits them.
:func:`limit_torch_threads` sets the budget of a process whose torch is already loaded (the
runner's worker processes and Dask tasks, which share a machine's cores between several units);
:class:`CoreShare` lets the runner's local workers take the cores of workers that have finished.

Child processes inherit these variables, and must still tell the package's defaults from the
user's choices (a worker that took the inherited ``OMP_NUM_THREADS=2`` for the user's would give
each of two workers both cores). So :func:`configure_threads` also records what it set, as
``NAME=value`` pairs, in one more variable, :data:`MARKER`, which every descendant inherits with
them; :func:`set_by_user` reads it. A variable whose value differs from the recorded one was
changed after the package set it: the user's again.

The BLAS pool has a second cost, on a quiet machine too: a solver that makes many small vector
operations (scikit-learn's L-BFGS over a TF-IDF matrix: some 50 iterations of products with a
95,000-wide coefficient vector) spends more time handing work to the second thread than it saves.
:func:`single_threaded_blas` is the context for such loops.

This module is the one place that sets these variables and sizes these pools.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

#: How idle OpenMP threads wait: ``PASSIVE`` sleeps at once instead of spinning.
WAIT_POLICY = "PASSIVE"

#: The variables that size a thread pool: OpenMP (torch, numba's omp layer), the BLAS libraries
#: numpy and torch may use, and numba's own pool.
THREAD_COUNT_VARIABLES: tuple[str, ...] = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMBA_NUM_THREADS",
)


def _cgroup_quota_cores(cpu_max: Path = Path("/sys/fs/cgroup/cpu.max")) -> float | None:
    """Cores allowed by a cgroup v2 CPU quota (``"200000 100000"`` → 2.0), or ``None`` without one."""
    try:
        quota, period = cpu_max.read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        return int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        return None


def available_cores() -> int:
    """The cores this process may run on: its CPU affinity, capped by a cgroup quota (at least 1)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        cores = os.cpu_count() or 1
    quota = _cgroup_quota_cores()
    if quota is not None:
        cores = min(cores, max(1, math.floor(quota)))
    return max(1, cores)


def thread_environment(threads: int | None = None) -> dict[str, str]:
    """The variables :func:`configure_threads` sets: ``threads`` (default: every available core)
    for each pool size, and the passive wait policy.

    >>> env = thread_environment(3)
    >>> env["OMP_NUM_THREADS"], env["NUMBA_NUM_THREADS"], env["OMP_WAIT_POLICY"]
    ('3', '3', 'PASSIVE')
    """
    count = str(max(1, int(threads if threads is not None else available_cores())))
    return {**{name: count for name in THREAD_COUNT_VARIABLES}, "OMP_WAIT_POLICY": WAIT_POLICY}


def configure_threads(threads: int | None = None, environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Put the thread budget and the passive wait policy into ``environ`` (default ``os.environ``).

    A variable already set is left as it is (the user's choice wins; a user's ``OMP_NUM_THREADS``
    also sizes the other pools, as torch reads ``MKL_NUM_THREADS`` too). Returns the variables this
    call set. Takes effect for libraries loaded afterwards: call it before ``import torch``.

    >>> env = {"OMP_NUM_THREADS": "1"}
    >>> sorted(configure_threads(2, env))
    ['MKL_NUM_THREADS', 'NUMBA_NUM_THREADS', 'OMP_WAIT_POLICY', 'OPENBLAS_NUM_THREADS']
    >>> env["OMP_NUM_THREADS"], env["OMP_WAIT_POLICY"]
    ('1', 'PASSIVE')
    >>> env = {"OMP_NUM_THREADS": "1"}
    >>> configure_threads(None, env)["MKL_NUM_THREADS"]
    '1'
    """
    target = os.environ if environ is None else environ
    user_count = str(target.get("OMP_NUM_THREADS", "")).strip()
    if threads is None and user_count.isdigit():  # the other pools follow the user's OpenMP size
        threads = int(user_count)
    wanted = thread_environment(threads)
    added = {name: value for name, value in wanted.items() if not str(target.get(name, "")).strip()}
    target.update(added)
    if added:
        recorded = {**_package_values(target), **added}
        target[MARKER] = ",".join(f"{name}={value}" for name, value in sorted(recorded.items()))
    return added


def limit_torch_threads(threads: int) -> None:
    """Let this process's torch use ``threads`` intra-op threads (it may already be loaded).

    Used where one machine's cores are shared between several units: the runner's worker
    processes and Dask tasks. ``OMP_NUM_THREADS`` set by the user wins here too.
    """
    import torch

    torch.set_num_threads(worker_threads(threads))


def worker_threads(threads: int, environ: Mapping[str, str] | None = None) -> int:
    """``threads``, unless the user set ``OMP_NUM_THREADS`` themselves: then theirs (at least 1).

    >>> worker_threads(1, {"OMP_NUM_THREADS": "3"})  # the user's
    3
    >>> worker_threads(1, {"OMP_NUM_THREADS": "3", MARKER: "OMP_NUM_THREADS=3"})  # the package's default
    1
    """
    source = os.environ if environ is None else environ
    user = str(source.get("OMP_NUM_THREADS", "")).strip()
    if user.isdigit() and set_by_user("OMP_NUM_THREADS", source):
        return max(1, int(user))
    return max(1, int(threads))


#: The variable in which :func:`configure_threads` records, as ``NAME=value,…``, what it set, so
#: that child processes, which inherit both, can tell the package's values from the user's. Not a
#: setting for users, so it is named outside the ``CSMSASR_*`` namespace of :mod:`csmsasr_utils.settings`.
MARKER = "THREAD_VARIABLES_SET_BY_CSMSASR"


def _package_values(environ: Mapping[str, str]) -> dict[str, str]:
    """The ``NAME=value`` pairs recorded in ``environ[MARKER]`` (empty without one)."""
    pairs = (item.partition("=") for item in str(environ.get(MARKER, "")).split(",") if "=" in item)
    return {name.strip(): value.strip() for name, _, value in pairs}


def set_by_user(name: str, environ: Mapping[str, str] | None = None) -> bool:
    """Whether ``name`` is set, and not to the value this package put there (in this process or a parent).

    >>> set_by_user("OMP_NUM_THREADS", {"OMP_NUM_THREADS": "2", MARKER: "OMP_NUM_THREADS=2"})
    False
    >>> set_by_user("OMP_NUM_THREADS", {"OMP_NUM_THREADS": "1", MARKER: "OMP_NUM_THREADS=2"})  # changed since
    True
    """
    source = os.environ if environ is None else environ
    value = str(source.get(name, "")).strip()
    return bool(value) and _package_values(source).get(name) != value


class CoreShare:
    """The cores of one machine, shared evenly by the local workers that still have work.

    **Why.** ``csmsasr msa run --workers N`` gives each worker cores / N threads. When the groups
    run out, a worker that finished sits idle while the others keep their share: five seeds of
    Graph_MFN over two workers (groups of three and two) left one core idle for the last quarter of
    the run. The runner counts the workers that still have work in a value shared with them
    (``busy``: the groups not yet finished, at most N), and each worker resizes its torch pool to
    cores / ``busy`` at every epoch (:func:`rebalance_threads`, called by the training loops).

    The user's own ``OMP_NUM_THREADS`` wins, as everywhere (:func:`worker_threads`).
    """

    def __init__(self, busy: Any, cores: int):
        self.busy = busy  # a multiprocessing.Value("i") the parent process keeps up to date
        self.cores = max(1, int(cores))

    def threads(self) -> int:
        """This worker's share: cores / the workers that still have work (at least 1)."""
        return worker_threads(max(1, self.cores // max(1, int(self.busy.value))))


#: The share of the local worker this process is, installed by the runner's worker initializer.
_SHARE: CoreShare | None = None


def join_core_share(share: CoreShare | None) -> None:
    """Make this process a local worker of ``share`` (``None``: not one) and size its pool now."""
    global _SHARE
    _SHARE = share
    rebalance_threads()


def rebalance_threads() -> None:
    """In a local worker, resize torch's pool to the worker's current share; elsewhere do nothing.

    Cheap (one read of a shared integer), so the training loops call it at every epoch. A different
    thread count may change the order in which a product sums: results agree to float tolerance.
    """
    if _SHARE is None:
        return
    import torch

    threads = _SHARE.threads()
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


@contextmanager
def single_threaded_blas() -> Iterator[None]:
    """Run the block with one BLAS thread (OpenBLAS, MKL …), as scikit-learn's small solvers want.

    Measured on this project's 2 cores (2026-12-02): fitting the text baselines of chapter 4 on the
    five official folds took 47.9 s with the default two BLAS threads and 26.0 s with one; the
    logistic model's L-BFGS alone went from 1.5 s to 0.6 s a fit, with the same iterations and the
    same predictions (ridge's differ by < 1e-6, float rounding). The previous limits come back on
    exit. torch's own pool is not touched (its training is faster on every core).
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield
