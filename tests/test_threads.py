"""The thread budget and passive wait policy: set on import, before torch, and never over the user's."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from csmsasr_utils import threads

REPO = Path(__file__).resolve().parents[1]
PROBE = (
    "import json, os, csmsasr_utils, torch; "
    "print(json.dumps({'policy': os.environ.get('OMP_WAIT_POLICY'), 'omp': os.environ.get('OMP_NUM_THREADS'), "
    "'torch': torch.get_num_threads()}))"
)


def _probe(**env_overrides: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in (*threads.THREAD_COUNT_VARIABLES, "OMP_WAIT_POLICY")}
    env.update(env_overrides)
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_import_sets_a_passive_policy_and_the_core_budget_before_torch():
    seen = _probe()
    assert seen["policy"] == "PASSIVE"
    assert seen["omp"] == str(threads.available_cores())
    assert seen["torch"] == threads.available_cores()  # torch read the budget when it loaded


def test_the_users_own_variables_win():
    seen = _probe(OMP_WAIT_POLICY="ACTIVE", OMP_NUM_THREADS="1")
    assert seen == {"policy": "ACTIVE", "omp": "1", "torch": 1}


def test_available_cores_follows_affinity_and_cgroup_quota(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2, 3})
    monkeypatch.setattr(threads, "_cgroup_quota_cores", lambda: None)
    assert threads.available_cores() == 4
    monkeypatch.setattr(threads, "_cgroup_quota_cores", lambda: 1.5)
    assert threads.available_cores() == 1  # floor(1.5 cores of quota) beats 4 cores of affinity
    monkeypatch.setattr(threads, "_cgroup_quota_cores", lambda: 0.5)
    assert threads.available_cores() == 1  # never below one


@pytest.mark.parametrize(
    ("text", "cores"), [("max 100000", None), ("200000 100000", 2.0), ("50000 100000", 0.5), ("garbage", None)]
)
def test_cgroup_quota_parsing(tmp_path, text, cores):
    path = tmp_path / "cpu.max"
    path.write_text(text)
    assert threads._cgroup_quota_cores(path) == cores
    assert threads._cgroup_quota_cores(tmp_path / "absent") is None


def test_what_the_package_set_is_recorded_and_a_later_change_is_the_users():
    env = {"OMP_WAIT_POLICY": "ACTIVE"}  # the user's
    added = threads.configure_threads(2, env)
    assert sorted(added) == sorted(threads.THREAD_COUNT_VARIABLES)
    assert threads._package_values(env) == added  # recorded: the four counts, not the user's policy
    assert not any(threads.set_by_user(name, env) for name in threads.THREAD_COUNT_VARIABLES)
    assert threads.set_by_user("OMP_WAIT_POLICY", env)
    assert threads.configure_threads(None, env) == {}  # a child's import: inherited, nothing added …
    assert threads._package_values(env) == added  # … and the record kept
    assert threads.worker_threads(1, env) == 1  # the package's default gives way to the runner's share
    env["OMP_NUM_THREADS"] = "3"  # changed afterwards (a script's own environment for its child)
    assert threads.set_by_user("OMP_NUM_THREADS", env) and threads.worker_threads(1, env) == 3
    assert threads.worker_threads(1, {"OMP_NUM_THREADS": "3"}) == 3  # never marked: the user's


_WORKER_SHARE = (
    "import concurrent.futures as cf, multiprocessing, torch; "
    "from csmsasr_utils import threads; from csmsasr_utils.msa import runner; "
    "ctx = multiprocessing.get_context('spawn'); busy = ctx.Value('i', 2); "
    "pool = cf.ProcessPoolExecutor(1, mp_context=ctx, initializer=runner._init_worker, initargs=(busy,)); "
    "seen = [pool.submit(torch.get_num_threads).result()]; "
    "busy.value = 1; pool.submit(threads.rebalance_threads).result(); "
    "seen.append(pool.submit(torch.get_num_threads).result()); pool.shutdown(); print(seen)"
)


@pytest.mark.parametrize("users", [False, True])
def test_a_spawned_worker_takes_its_share_and_the_freed_cores_unless_the_user_chose(users):
    """A local worker is a fresh interpreter that inherits the parent's ``OMP_NUM_THREADS``. Set by
    the package: while two workers have work it gets cores / 2 threads, and every core once the
    other has finished. Set by the user: the user's count throughout."""
    env = {k: v for k, v in os.environ.items() if k not in (*threads.THREAD_COUNT_VARIABLES, threads.MARKER)}
    if users:
        env["OMP_NUM_THREADS"] = "3"
    out = subprocess.run([sys.executable, "-c", _WORKER_SHARE], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    cores = threads.available_cores()
    expected = [3, 3] if users else [max(1, cores // 2), cores]
    assert out.stdout.strip().splitlines()[-1] == str(expected)


def test_a_core_share_divides_the_cores_by_the_workers_with_work(monkeypatch):
    monkeypatch.setenv(threads.MARKER, "OMP_NUM_THREADS=8")
    monkeypatch.setenv("OMP_NUM_THREADS", "8")  # the package's default, so the share decides
    busy = SimpleNamespace(value=3)
    share = threads.CoreShare(busy, cores=8)
    assert share.threads() == 2  # 8 // 3
    busy.value = 1
    assert share.threads() == 8
    busy.value = 0  # the last group finished: never below one worker
    assert share.threads() == 8
    busy.value = 16
    assert share.threads() == 1  # never below one thread
    monkeypatch.setenv("OMP_NUM_THREADS", "5")  # the user's
    assert share.threads() == 5


def test_rebalancing_outside_a_local_worker_changes_nothing(monkeypatch):
    import torch

    monkeypatch.setattr(threads, "_SHARE", None)
    before = torch.get_num_threads()
    threads.rebalance_threads()
    assert torch.get_num_threads() == before


def _kernel_threads_extension():
    spec = importlib.util.spec_from_file_location("kernel_threads", REPO / "book" / "_ext" / "kernel_threads.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_cell_timeout_becomes_one_clear_message():
    from nbclient.exceptions import CellTimeoutError

    ext = _kernel_threads_extension()
    err = CellTimeoutError(
        "A cell timed out while it was being executed, after 900 seconds.\n"
        "Here is a preview of the cell contents:\n-------------------\ntrain_everything()\n"
    )
    result = ext.explain_timeout(SimpleNamespace(err=err, exc_string="Traceback ..."), "/book/notebooks", 900)
    assert isinstance(result.err, ext.NotebookTimeout)
    assert "900 s" in result.exc_string and "make book" in result.exc_string
    assert "train_everything()" in result.exc_string and "Traceback" not in result.exc_string
    other = SimpleNamespace(err=ValueError("x"), exc_string="Traceback ...")
    assert ext.explain_timeout(other, "/book", 900).exc_string == "Traceback ..."  # other errors untouched


def test_kernels_wait_long_enough_for_a_cells_last_output():
    """nbclient drops a cell's output that lags more than iopub_timeout (4 s) behind its reply; the
    book's kernels wait IOPUB_TIMEOUT, unless the caller chose a value."""
    ext = _kernel_threads_extension()
    calls = []

    def original(nb, cwd, timeout, allow_errors, **kwargs):
        calls.append(kwargs)
        return SimpleNamespace(err=None, exc_string=None)

    module = SimpleNamespace(single_nb_execution=original)
    ext._wrap(module)
    ext._wrap(module)  # wrapping twice wraps once
    module.single_nb_execution({}, cwd="/book", timeout=900, allow_errors=False, meta_override=True)
    module.single_nb_execution({}, cwd="/book", timeout=900, allow_errors=False, iopub_timeout=7)
    assert calls == [{"meta_override": True, "iopub_timeout": ext.IOPUB_TIMEOUT}, {"iopub_timeout": 7}]
    assert ext.IOPUB_TIMEOUT > 4


def test_single_threaded_blas_limits_blas_inside_and_restores_it_after():
    """threadpoolctl reports one thread for every BLAS pool inside the block, the previous sizes after."""
    import numpy  # noqa: F401  (loads numpy's BLAS, so there is a pool to see)
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_threads():
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    with threadpool_limits(limits=2, user_api="blas"):  # what the package sets on a 2-core machine
        before = blas_threads()
        assert before and set(before) == {2}
        with threads.single_threaded_blas():
            assert set(blas_threads()) == {1}
        assert blas_threads() == before
