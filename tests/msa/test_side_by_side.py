"""The side-by-side record (csmsasr beside MMSA): its checks, its arithmetic and the committed one."""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from csmsasr_utils.errors import CsmsasrError  # noqa: E402
from csmsasr_utils.msa import side_by_side  # noqa: E402

LIGHT_MODELS = {"LF_DNN", "LMF", "MLF_DNN", "MLMF", "EF_LSTM", "MFN", "MFM", "Graph_MFN"}


def toy_record() -> dict:
    """Two models, two seeds: numbers chosen so every ratio is worked out by hand below."""
    return {
        "command": "benchmarks/bench_vs_mmsa.py --models A B --record r.json",
        "started": "2026-12-05 00:00:00 UTC",
        "code_version": {"git": "abc1234", "package_sha256": "0123456789ab"},
        "mmsa": "c9125be",
        "machine": {"cpu": "Toy CPU", "vector_unit": "AVX2", "cores": 2, "torch": "2.13.0", "gemm_2048_gflops": 100.0},
        "data": {"features": "toy.pkl", "bytes": 2_000_000, "sha256": "f" * 64, "source": "toy"},
        "seeds": [1, 2],
        "workers": 2,
        "models": [
            {
                "model": "A", "stacks": "1+1", "mmsa_seconds": 100.0, "mmsa_epochs": 10,
                "csmsasr_seconds": 40.0, "csmsasr_epochs": 8, "mmsa_MAE": 0.5, "csmsasr_MAE": 0.51,
                "peak_memory_mb": [300.0, 320.5],
                "same_run": [
                    "seed 1: epochs 5/5, all validation losses equal, test MAE 0.5000/0.5000",
                    "seed 2: epochs 5/3, first different epoch 2, test MAE 0.5000/0.5200",
                ],
            },
            {
                "model": "B", "stacks": "2", "mmsa_seconds": 60.0, "mmsa_epochs": 12,
                "csmsasr_seconds": 30.0, "csmsasr_epochs": 12, "mmsa_MAE": 0.3, "csmsasr_MAE": 0.3,
                "peak_memory_mb": [500.0, 500.0],
                "same_run": [
                    "seed 1: epochs 6/6, all validation losses equal, test MAE 0.3000/0.3000",
                    "seed 2: epochs 6/6, all validation losses equal, test MAE ?/0.3000",
                ],
            },
        ],
    }  # fmt: skip


def write(tmp_path: Path, record) -> Path:
    path = tmp_path / "record.json"
    path.write_text(json.dumps(record), encoding="utf-8")
    return path


def test_cost_table_works_out_the_ratios_by_hand(tmp_path):
    table = side_by_side.cost_table(side_by_side.load_record(write(tmp_path, toy_record())))
    a, b, total = table.loc["A"], table.loc["B"], table.loc["all"]
    assert a["MMSA s/epoch"] == pytest.approx(10.0) and a["csmsasr s/epoch"] == pytest.approx(5.0)
    assert a["wall ratio"] == pytest.approx(0.4)  # 40 / 100
    assert a["per-epoch ratio"] == pytest.approx(0.5)  # (40 / 8) / (100 / 10)
    assert b["wall ratio"] == pytest.approx(0.5) and b["per-epoch ratio"] == pytest.approx(0.5)
    assert a["same runs"] == "1 / 2" and b["same runs"] == "2 / 2"
    assert a["peak memory MB"] == 320.5
    assert total["MMSA s"] == 160.0 and total["csmsasr s"] == 70.0
    assert total["wall ratio"] == pytest.approx(70 / 160)


def test_seed_runs_reads_each_line():
    seeds = side_by_side.seed_runs(toy_record()["models"][0])
    assert seeds["seed"].tolist() == [1, 2]
    assert seeds["same_run"].tolist() == [True, False]
    assert seeds.loc[1, "parted_at"] == 2 and seeds.loc[1, "csmsasr_epochs"] == 3
    assert seeds.loc[1, "csmsasr_MAE"] == pytest.approx(0.52)
    unknown = side_by_side.seed_runs(toy_record()["models"][1])
    assert math.isnan(unknown.loc[1, "mmsa_MAE"]) and unknown.loc[1, "csmsasr_MAE"] == pytest.approx(0.3)


def test_describe_names_machine_code_and_data(tmp_path):
    line = side_by_side.describe(side_by_side.load_record(write(tmp_path, toy_record())))
    for part in ("2026-12-05", "Toy CPU", "AVX2", "100 GFLOP/s", "abc1234", "c9125be", "ffffffffffff", "--workers 2"):
        assert part in line


def test_plot_draws_two_bars_per_model_and_the_target(tmp_path):
    table = side_by_side.cost_table(side_by_side.load_record(write(tmp_path, toy_record())))
    fig, ax = plt.subplots()
    side_by_side.plot_ratios(ax, table)
    heights = sorted(round(p.get_height(), 6) for p in ax.patches)
    assert heights == sorted([0.4, 0.5, 0.5, 0.5])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["A", "B"]
    plt.close(fig)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda r: r.pop("machine"), "lacks machine"),
        (lambda r: r["models"][1].pop("same_run"), "B lacks same_run"),
        (lambda r: r["models"][0].update(csmsasr_epochs=0), "A's csmsasr_epochs must be a positive number"),
        (lambda r: r["models"][0].update(mmsa_seconds="fast"), "A's mmsa_seconds must be a positive number"),
        (lambda r: r["models"][0]["same_run"].append("seed 3 went well"), "cannot read the per-seed line"),
        (lambda r: r.update(models=[]), "non-empty list"),
    ],
)
def test_a_bad_record_is_refused_with_the_file_and_the_problem(tmp_path, change, message):
    record = copy.deepcopy(toy_record())
    change(record)
    path = write(tmp_path, record)
    with pytest.raises(side_by_side.RecordError, match=message) as caught:
        side_by_side.load_record(path)
    assert str(path) in str(caught.value)
    assert json.loads(path.read_text()) == record  # nothing lost: the file is only read


def test_missing_and_non_json_files_are_refused(tmp_path):
    with pytest.raises(CsmsasrError, match="no such record"):
        side_by_side.load_record(tmp_path / "absent.json")
    (tmp_path / "broken.json").write_text('{"command": ', encoding="utf-8")
    with pytest.raises(CsmsasrError, match="not a readable JSON record"):
        side_by_side.load_record(tmp_path / "broken.json")
    (tmp_path / "list.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(CsmsasrError, match="a JSON object, found list"):
        side_by_side.load_record(tmp_path / "list.json")


def test_the_committed_record_holds_the_eight_light_models_and_adds_up():
    record = side_by_side.load_record()
    assert {entry["model"] for entry in record.models} == LIGHT_MODELS
    for entry in record.models:
        seeds = side_by_side.seed_runs(entry)
        assert seeds["seed"].tolist() == record.run["seeds"], entry["model"]
        # the per-seed epochs are the totals the timing divides by
        assert seeds["mmsa_epochs"].sum() == entry["mmsa_epochs"], entry["model"]
        assert seeds["csmsasr_epochs"].sum() == entry["csmsasr_epochs"], entry["model"]
        assert seeds["csmsasr_MAE"].mean() == pytest.approx(entry["csmsasr_MAE"], abs=1e-4), entry["model"]
        assert len(entry["peak_memory_mb"]) == len(record.run["seeds"]), entry["model"]
        assert sum(map(int, entry["stacks"].split("+"))) == len(record.run["seeds"]), entry["model"]


@pytest.mark.slow
def test_a_slice_of_the_committed_record_runs_again(tmp_path, monkeypatch, public_dir):
    """Re-run the record's data and one of its units: the pickle's SHA-256, then LMF's first seed on
    one thread (as each of ``--workers 2``'s workers trained it while both were busy): the same
    epochs and the same test MAE as recorded. The order of a product's sums follows the CPU (its vendor,
    which the math libraries dispatch on, and its vector unit) and torch, so a machine with another
    one may part from the recorded run: skipped there."""
    import sys

    import torch

    from csmsasr_utils.data.sources import sha256_of
    from csmsasr_utils.msa import runner

    record = side_by_side.load_record()
    here, there = side_by_side.cpu_description(), record.run["machine"]
    recorded_with = (there["cpu"], there["vector_unit"], there["torch"])
    if (here["cpu"], here["vector_unit"], torch.__version__) != recorded_with:
        pytest.skip(
            f"recorded on {recorded_with}; here {here['cpu']}, {here['vector_unit']}, torch {torch.__version__}"
        )
    monkeypatch.setenv("CSMSASR_PUBLIC_DIR", str(public_dir))
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "benchmarks"))
    sys.modules.pop("bench_vs_mmsa", None)
    import bench_vs_mmsa

    features = bench_vs_mmsa.write_mmsa_pickle(tmp_path / record.run["data"]["features"])
    assert sha256_of(features) == record.run["data"]["sha256"]

    seed = record.run["seeds"][0]
    entry = next(e for e in record.models if e["model"] == "LMF")
    expected = side_by_side.seed_runs(entry).set_index("seed").loc[seed]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        row = runner.run_unit(
            runner.Unit("LMF", seed, "paper", 0), runner.DataSpec(features_path=str(features)), "full", "cpu", False
        )
    finally:
        torch.set_num_threads(threads)
        runner.load_data.cache_clear()
    assert row["epochs"] == expected["csmsasr_epochs"]
    assert f"{row['test_MAE']:.4f}" == f"{expected['csmsasr_MAE']:.4f}"
