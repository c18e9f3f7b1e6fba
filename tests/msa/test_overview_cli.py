"""The model overview, shape walk-throughs and the ``csmsasr msa`` commands."""

import json

import pytest
import torch

from csmsasr_utils.cli import main
from csmsasr_utils.msa.inspect_model import layer_shapes
from csmsasr_utils.msa.registry import build_model, model_overview, unavailable_reason


@pytest.mark.slow
def test_overview_counts_and_rates_come_from_the_built_models(public_dir):
    table = model_overview(public_dir)
    assert len(table) == 12
    assert table.loc["LF_DNN", "trainable parameters"] == build_model("LF_DNN").count_trainable_parameters()
    assert table.loc["ALMT", "trainable parameters"] == 104_914_689  # test_almt.py pins how it was counted
    assert table.loc["MFM", "learning rates"] == "0.001"  # MMSA's MFM trainer ignores the table's 0.002
    assert table.loc["LMF", "learning rates"] == "0.0005 / 0.002"
    assert table.loc["MFN", "audio/vision input"] == "mean, repeated ×39"
    assert table.loc["MTFN", "heads"] == "M, T, A, V" and table.loc["TFN", "heads"] == "M"


def test_layer_shapes_walk_through_tfn():
    model = build_model("TFN")
    inputs = (torch.zeros(2, 39, 768), torch.zeros(2, 1, 13), torch.zeros(2, 1, 347))
    table = layer_shapes(model, inputs).set_index("module")
    assert table.loc["audio_subnet", "output"] == "2×32"
    assert table.loc["(model output)", "parameters"] == model.count_trainable_parameters()
    assert table["parameters"].drop("(model output)").sum() == model.count_trainable_parameters()
    assert model.training  # the walk-through leaves the mode as it found it


def test_almt_needs_its_weights(monkeypatch, tmp_path):
    assert unavailable_reason("LF_DNN") is None
    assert "CSMSASR_BERT_DIR" in unavailable_reason("ALMT")
    monkeypatch.setenv("CSMSASR_BERT_DIR", str(tmp_path))
    assert unavailable_reason("ALMT") is None


def test_cli_run_summary_and_skip(tmp_path, capsys):
    results = tmp_path / "r.jsonl"
    argv = [
        "msa",
        "run",
        "--models",
        "LF_DNN",
        "ALMT",
        "--seeds",
        "1",
        "2",
        "--budget",
        "smoke",
        "--max-clips",
        "16",
        "--results",
        str(results),
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "skipping ALMT" in out and "2 unit(s) of 2" in out
    rows = [json.loads(line) for line in results.read_text().splitlines()]
    assert [r["seed"] for r in rows] == [1, 2] and {r["model"] for r in rows} == {"LF_DNN"}
    assert main(["msa", "summary", str(results)]) == 0
    assert "LF_DNN" in capsys.readouterr().out


@pytest.mark.slow
def test_cli_text_baselines_on_the_real_transcripts(public_dir, tmp_path, capsys):
    out_file = tmp_path / "text.jsonl"
    assert (
        main(
            [
                "msa",
                "text-baselines",
                "--protocol",
                "paper",
                "--public-dir",
                str(public_dir),
                "--encoders",
                "--output",
                str(out_file),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "real transcripts" in out and "WordPiece bag + ridge" in out
    rows = [json.loads(line) for line in out_file.read_text().splitlines()]
    assert {r["model"] for r in rows} == {
        "Majority",
        "Char n-gram TF-IDF + ridge",
        "Char n-gram TF-IDF + logistic",
        "WordPiece bag + ridge",
    }
    assert all(len(r["test_predictions"]) == 109 for r in rows)
