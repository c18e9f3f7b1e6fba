"""The runner: planning, resumable results, other data refused, local processes and Dask."""

import json

import numpy as np
import pandas as pd
import pytest

from csmsasr_utils.errors import CsmsasrError
from csmsasr_utils.msa.runner import (
    DataSpec,
    ResultsFile,
    Unit,
    load_data,
    plan_units,
    run_units,
    summarize,
    unit_split_rows,
)

SPEC = DataSpec(max_clips=24)


def test_plan_units_covers_models_seeds_and_folds():
    units = plan_units(["lf_dnn", "MLF_DNN"], [1, 2], "official")
    assert len(units) == 2 * 2 * 5
    assert units[0] == Unit("LF_DNN", 1, "official", 1) and units[-1] == Unit("MLF_DNN", 2, "official", 5)
    assert {u.fold for u in plan_units(["TFN"], [1], "paper")} == {0}
    with pytest.raises(CsmsasrError, match="protocol"):
        plan_units(["TFN"], [1], "kfold")
    with pytest.raises(KeyError, match="unknown model"):
        plan_units(["BERT"], [1])


def test_split_rows_follow_the_protocols(public_dir):
    dataset, tensors = load_data(DataSpec(public_dir=str(public_dir)))
    paper = unit_split_rows(dataset, tensors, "paper", 0)
    assert [len(paper[k]) for k in ("train", "valid", "test")] == [868, 108, 109]
    tests = np.concatenate([unit_split_rows(dataset, tensors, "official", k)["test"] for k in range(1, 6)])
    assert sorted(tests) == list(range(len(tensors)))  # every clip is a test clip exactly once
    fold = unit_split_rows(dataset, tensors, "official", 2)
    assert not set(fold["train"]) & set(fold["test"]) and not set(fold["valid"]) & set(fold["test"])


def test_run_resume_and_summary(tmp_path):
    path = tmp_path / "results.jsonl"
    units = plan_units(["LF_DNN", "MLF_DNN"], [1111, 1112], "paper")
    first = run_units(units[:3], path, SPEC, budget="smoke", show_progress=False)
    assert len(first) == 3
    row = first.iloc[0]
    assert row["epochs"] == 1 and row["data_source"] == "demo" and row["n_train"] == 24
    assert {"torch_version", "package_version", "code_fingerprint", "device", "wall_seconds"} <= set(first.columns)
    before = path.read_text()
    second = run_units(units, path, SPEC, budget="smoke", show_progress=False)  # only the 4th is new
    assert len(second) == 4 and path.read_text().startswith(before)
    assert len(ResultsFile(path).rows()) == 4
    table = summarize(second)
    lf = second[second["model"] == "LF_DNN"]["test_MAE"]
    assert table.loc["LF_DNN", "MAE_mean"] == pytest.approx(lf.mean())
    assert table.loc["LF_DNN", "MAE_std"] == pytest.approx(lf.std(ddof=1))
    assert list(table.index) == ["LF_DNN", "MLF_DNN"] and table["runs"].tolist() == [2, 2]


def _run_in_another_process(units, path, started, done):
    started.set()
    run_units(units, path, SPEC, budget="smoke", show_progress=False)
    done.set()


def test_two_processes_on_one_results_file_take_turns_and_each_unit_is_one_row(tmp_path):
    """Two builds sharing a cache once both trained the same units and wrote them twice (chapter 4
    then saw 11 rows for 6 models). With the file's lock the second waits and finds them done."""
    import multiprocessing

    path = tmp_path / "shared.jsonl"
    units = plan_units(["LF_DNN", "MLF_DNN"], [1114], "paper")
    context = multiprocessing.get_context("spawn")
    started, done = context.Event(), context.Event()
    other = context.Process(target=_run_in_another_process, args=(units, path, started, done))
    other.start()
    started.wait(60)
    mine = run_units(units, path, SPEC, budget="smoke", show_progress=False)
    other.join(120)
    assert other.exitcode == 0 and done.is_set()
    rows = ResultsFile(path).rows()
    assert sorted(r["key"] for r in rows) == sorted(u.key for u in units)  # each unit trained once
    assert sorted(mine["key"]) == sorted(u.key for u in units)


def test_a_unit_written_twice_is_returned_once(tmp_path):
    path = tmp_path / "r.jsonl"
    unit = plan_units(["MLF_DNN"], [1115])
    first = run_units(unit, path, SPEC, budget="smoke", show_progress=False)
    row = ResultsFile(path).rows()[0]
    ResultsFile(path).append({**row, "test_MAE": 99.0})  # a repeat, as an unlocked writer could leave
    again = run_units(unit, path, SPEC, budget="smoke", show_progress=False)
    assert len(again) == 1 and again.iloc[0]["test_MAE"] == first.iloc[0]["test_MAE"]  # the first row wins


def test_same_unit_twice_gives_the_same_row(tmp_path):
    unit = plan_units(["MLF_DNN"], [1113])
    a = run_units(unit, tmp_path / "a.jsonl", SPEC, budget="smoke", show_progress=False).iloc[0]
    b = run_units(unit, tmp_path / "b.jsonl", SPEC, budget="smoke", show_progress=False).iloc[0]
    assert a["test_predictions"] == b["test_predictions"] and a["test_MAE"] == b["test_MAE"]


def test_results_of_other_data_are_refused_and_bad_lines_reported(tmp_path):
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps({"key": "x", "budget": "smoke", "data_fingerprint": "other"}) + "\n")
    with pytest.raises(CsmsasrError, match="other data"):
        run_units(plan_units(["LF_DNN"], [1]), path, SPEC, budget="smoke", show_progress=False)
    assert len(path.read_text().splitlines()) == 1  # nothing lost
    path.write_text("{not json\n")
    with pytest.raises(CsmsasrError, match=r"r.jsonl:1"):
        ResultsFile(path).rows()


@pytest.mark.slow
def test_local_processes_and_dask_give_the_same_rows(tmp_path):
    distributed = pytest.importorskip("distributed")
    units = plan_units(["LF_DNN"], [1111, 1112])
    serial = run_units(units, tmp_path / "serial.jsonl", SPEC, budget="smoke", show_progress=False)
    pooled = run_units(units, tmp_path / "pool.jsonl", SPEC, budget="smoke", workers=2, show_progress=False)
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        dasked = run_units(
            units,
            tmp_path / "dask.jsonl",
            SPEC,
            budget="smoke",
            dask_address=cluster.scheduler_address,
            show_progress=False,
        )

    def key(frame):
        return frame.sort_values("key").reset_index(drop=True)

    # The same runs: the same epochs and best epochs. Serial, pooled (cores / 2 threads each) and
    # Dask (1 thread) sum their products in other orders, ~3e-8 apart (measured), so a prediction
    # stored to 6 decimals may round the other way: compared to one unit in the 6th decimal.
    for other in (pooled, dasked):
        for column in ("epochs", "best_epoch"):
            assert key(serial)[column].tolist() == key(other)[column].tolist()
        pd.testing.assert_series_equal(key(serial)["test_MAE"], key(other)["test_MAE"])
        np.testing.assert_allclose(
            np.array(key(serial)["test_predictions"].tolist()),
            np.array(key(other)["test_predictions"].tolist()),
            rtol=0,
            atol=1.5e-6,
        )


_WORKERS_AFTER_THREADED_TORCH = """
import json, sys
import torch
from csmsasr_utils.msa.runner import DataSpec, plan_units, run_units

torch.set_num_threads(2)
torch.ones(4_000_000).mul_(2)  # a parallel loop: GNU OpenMP's pool is now running in this process
units = plan_units(["MFN"], [1111, 1112])
rows = run_units(units, sys.argv[1], DataSpec(max_clips=24), budget="smoke", workers=2,
                 units_at_once="auto", show_progress=False)
print(json.dumps(rows[["key", "units_at_once", "test_MAE"]].to_dict("records")))
"""


@pytest.mark.slow
def test_local_workers_start_after_the_parent_ran_torch_on_several_threads(tmp_path):
    """The runner chooses stacked groups in the parent (data loaded, a model probed) before it
    starts its workers. Workers forked after a threaded torch loop hung at their first threaded
    loop (GNU OpenMP's pool does not survive a fork): here the user's ``OMP_NUM_THREADS=2`` gives
    each worker two threads, as it did in the benchmark that hung. They must finish, each seed in
    its own worker, with the rows a one-process run writes."""
    import os
    import subprocess
    import sys

    from csmsasr_utils.threads import MARKER

    done = subprocess.run(
        [sys.executable, "-c", _WORKERS_AFTER_THREADED_TORCH, str(tmp_path / "pool.jsonl")],
        capture_output=True,
        text=True,
        timeout=300,  # a fork hangs forever; the spawned workers take ≈ 30 s
        env={**{k: v for k, v in os.environ.items() if k != MARKER}, "OMP_NUM_THREADS": "2"},  # the user's
    )
    assert done.returncode == 0, done.stderr[-2000:]
    pooled = pd.DataFrame(json.loads(done.stdout.strip().splitlines()[-1])).sort_values("key")
    assert pooled["units_at_once"].tolist() == [1, 1]  # two seeds spread over the two workers
    units = plan_units(["MFN"], [1111, 1112])
    alone = run_units(units, tmp_path / "alone.jsonl", SPEC, budget="smoke", units_at_once=1, show_progress=False)
    np.testing.assert_allclose(pooled["test_MAE"], alone.sort_values("key")["test_MAE"], atol=1e-5)


def test_book_results_are_shared_per_data_and_kept_apart_across_data(tmp_path, monkeypatch, public_dir):
    """Chapters 4 and 6 ask for the same runs (one results file per data and code version, whose
    resuming run_units tests above); other data gets another file, never a mixed-data error."""
    from csmsasr_utils.msa import runner

    calls = []
    monkeypatch.setattr(runner, "run_units", lambda units, path, **kwargs: calls.append((units, path, kwargs)))
    monkeypatch.setenv("CSMSASR_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("CSMSASR_FEATURES", raising=False)
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv("CSMSASR_PUBLIC_DIR", str(tmp_path / "empty"))  # the demo metadata
    runner.book_results(["LF_DNN", "MLMF"], seed=1111, show_progress=False)
    runner.book_results(["LF_DNN", "MLMF"], seed=1111, show_progress=False)
    monkeypatch.setenv("CSMSASR_PUBLIC_DIR", str(public_dir))  # the real metadata
    runner.book_results(["LF_DNN", "MLMF"], seed=1111, show_progress=False)
    (units, path, kwargs), second, third = calls
    assert units == plan_units(["LF_DNN", "MLMF"], [1111], "paper") and kwargs["budget"] == "book"
    assert path.parent == tmp_path / "cache" / "msa" and path.name.endswith(f"-{runner.code_fingerprint()}.jsonl")
    assert second[1] == path and third[1] != path
