"""The MSA models' real-text feature mode: e5 token states of the real transcripts as text input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from csmsasr_utils.encoders.text_features import check_text_encoder, text_feature_label
from csmsasr_utils.errors import CsmsasrError


def test_unknown_text_encoder_is_refused():
    assert check_text_encoder(None) is None and check_text_encoder("e5") == "e5"
    with pytest.raises(CsmsasrError, match="unknown text encoder 'bert'"):
        check_text_encoder("bert")


def test_results_say_what_the_features_are():
    assert (
        text_feature_label("demo", "public", "e5") == "e5 features of the real transcripts; audio and vision synthetic"
    )
    assert text_feature_label("real", "public", "e5").endswith("audio and vision real (feature file)")
    assert text_feature_label("demo", "demo", None) == "demo"


@pytest.mark.slow
def test_real_text_mode_trains_every_non_bert_model_for_one_epoch(use_e5_cache, public_dir):
    from csmsasr_utils.encoders.e5 import E5Encoder, e5_model_dir
    from csmsasr_utils.msa.hparams import MODEL_NAMES
    from csmsasr_utils.msa.registry import model_class
    from csmsasr_utils.msa.runner import DataSpec, Unit, load_data, run_unit

    spec = DataSpec(public_dir=str(public_dir), demo_seq_lens=(39, 24, 16), max_clips=12, text_encoder="e5")
    dataset, tensors = load_data(spec)
    assert tuple(tensors.text.shape) == (len(dataset.metadata), 39, 384)
    # the text input is e5's token states of each clip's real transcript, computed independently here
    row = 7
    expected = E5Encoder(e5_model_dir()).token_states([dataset.features.raw_text[row]], 39)[0]
    np.testing.assert_allclose(tensors.text[row].numpy(), expected, atol=1e-5)
    assert tensors.text_bert.shape == (len(dataset.metadata), 3, 39)

    models = [name for name in MODEL_NAMES.values() if not model_class(name).uses_bert_tokens]
    assert len(models) == 11
    for name in models:
        result = run_unit(Unit(name, 1111, "paper", 0), spec, budget="smoke", show_progress=False)
        assert result["epochs"] == 1 and result["n_test"] == 12, name
        assert np.isfinite(result["test_MAE"]), name
        assert result["data_source"] == "e5 features of the real transcripts; audio and vision synthetic"
        assert result["data_fingerprint"].endswith("+e5-text")


@pytest.mark.slow
def test_almt_with_the_e5_encoder_trains_from_the_command_line(use_e5_cache, public_dir, tmp_path, capsys):
    from csmsasr_utils.cli import main

    results = tmp_path / "almt.jsonl"
    assert (
        main(
            [
                "msa",
                "run",
                "--models",
                "ALMT",
                "--seeds",
                "1111",
                "--text-encoder",
                "e5",
                "--budget",
                "smoke",
                "--max-clips",
                "8",
                "--public-dir",
                str(public_dir),
                "--results",
                str(results),
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "skipping" not in out and "1 unit(s) of 1" in out
    row = json.loads(results.read_text().splitlines()[0])
    assert row["model"] == "ALMT" and row["text_encoder"] == "e5" and row["epochs"] == 1
    assert np.isfinite(row["test_MAE"])
    # ALMT fine-tunes e5 (118 M parameters: its 250k-token embeddings are most of them), not BERT (102 M)
    assert row["trainable_parameters"] > 118_000_000
