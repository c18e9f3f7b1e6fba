"""load_dataset(): the three data modes and their provenance."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from csmsasr_utils.data import PROVENANCE_FIELDS, load_dataset, make_demo
from csmsasr_utils.data.dataset import data_fingerprint
from csmsasr_utils.errors import FeatureFileError, FeatureValidationError, PublicDataUnavailable, UnknownClipError
from csmsasr_utils.settings import SettingError
from tests.conftest import PUBLIC_DIR

LENS = {"text": 8, "audio": 10, "vision": 9}


def test_no_public_data_at_all_falls_back_to_demo(tmp_path, monkeypatch):
    monkeypatch.setenv("CSMSASR_PUBLIC_DIR", str(tmp_path))  # an empty folder
    dataset = load_dataset(demo_seq_lens=LENS)
    assert set(dataset.provenance) == set(PROVENANCE_FIELDS)
    assert set(dataset.provenance.values()) == {"demo"}
    assert dataset.is_demo and "public metadata unavailable" in dataset.notes[0]
    assert len(dataset.metadata) == 1085 == len(dataset.features)
    assert "synthetic demo" in dataset.source_of("label_m")


def test_downloads_disabled_gives_demo():
    dataset = load_dataset(allow_download=False, demo_seq_lens=LENS)
    assert dataset.provenance["label_m"] == "demo" and "downloads disabled" in dataset.notes[0]


def test_public_metadata_with_demo_features(public_dir, monkeypatch):
    monkeypatch.setenv("CSMSASR_PUBLIC_DIR", str(public_dir))
    dataset = load_dataset(demo_seq_lens=LENS)
    assert dataset.provenance == {
        "text": "public",
        "label_m": "public",
        "labels_tav": "demo",
        "features": "demo",
        "durations": "public",
    }
    meta = dataset.metadata
    assert meta["has_features"].all() and list(dataset.features.clip_ids) == list(meta["clip_id"])
    # the demo keeps the real multimodal labels
    assert np.array_equal(dataset.features.labels["M"], meta["label_m"].to_numpy(np.float32))
    assert dataset.source_of("text", "labels_tav") == (
        "text: public metadata (real); labels_tav: synthetic demo data (not results)"
    )
    with pytest.raises(KeyError):
        dataset.source_of("nonsense")


def _write(obj, path):
    with open(path, "wb") as handle:
        pickle.dump(obj, handle, protocol=4)
    return path


def test_real_feature_file_via_environment(public_dir, tmp_path, monkeypatch):
    from csmsasr_utils.data import load_metadata

    meta = load_metadata(public_dir)
    raw = make_demo(seed=1, n_clips=50, seq_lens=LENS, metadata=meta)  # stands in for the user's file
    raw["regression_labels"] = raw["regression_labels"].copy()
    raw["regression_labels"][0] = -raw["regression_labels"][0] if raw["regression_labels"][0] else 1.0
    monkeypatch.setenv("CSMSASR_FEATURES", str(_write(raw, tmp_path / "CS-MSASR_fulldata.pkl")))
    dataset = load_dataset(public_dir=public_dir)
    assert dataset.provenance == {
        "text": "public",
        "label_m": "real",
        "labels_tav": "real",
        "features": "real",
        "durations": "public",
    }
    assert len(dataset.features) == 50 and dataset.metadata["has_features"].sum() == 50
    assert any("1 clip(s) have a different M label" in n for n in dataset.notes)
    first = dataset.metadata.iloc[0]
    assert first["label_m"] == raw["regression_labels"][0]
    assert np.isnan(dataset.metadata["label_t"].iloc[60])


def test_a_file_that_says_it_is_a_demo_is_labelled_demo(public_dir, tmp_path):
    """``csmsasr data demo`` writes a file that says what it is: results made from it say "demo"."""
    from csmsasr_utils.cli import main
    from csmsasr_utils.data.features import DATA_SOURCE_KEY

    path = tmp_path / "demo.pkl"
    assert main(["data", "demo", str(path), "--n-clips", "40"]) == 0
    dataset = load_dataset(features_path=path, public_dir=public_dir)
    assert dataset.provenance == {
        "text": "public",
        "label_m": "demo",
        "labels_tav": "demo",
        "features": "demo",
        "durations": "public",
    }
    assert "synthetic demo data" in dataset.source_of("features")
    assert any("says it holds synthetic demo features" in n for n in dataset.notes)
    raw = make_demo(seed=1, n_clips=30, seq_lens=LENS)
    bad = _write({**raw, DATA_SOURCE_KEY: "synthetic"}, tmp_path / "bad.pkl")
    with pytest.raises(FeatureValidationError, match=DATA_SOURCE_KEY):
        load_dataset(features_path=bad, public_dir=public_dir)


def test_real_features_need_the_public_metadata(tmp_path):
    raw = make_demo(seed=2, n_clips=30, seq_lens=LENS)
    path = _write(raw, tmp_path / "f.pkl")
    with pytest.raises(PublicDataUnavailable, match="csmsasr data fetch"):
        load_dataset(features_path=path, allow_download=False)


def test_features_keep_the_file_order(public_dir, tmp_path):
    from csmsasr_utils.data import load_metadata

    meta = load_metadata(public_dir)
    first, last = meta["clip_id"].iloc[0], meta["clip_id"].iloc[39]
    raw = make_demo(seed=1, n_clips=40, seq_lens=LENS, metadata=meta)
    order = np.arange(40)[::-1]  # a file whose clips are not sorted
    shuffled = {k: v[order] for k, v in raw.items()}
    dataset = load_dataset(features_path=_write(shuffled, tmp_path / "f.pkl"), public_dir=public_dir)
    assert dataset.features.clip_ids[0] == last
    rows = dataset.feature_rows([first, last])
    assert rows.tolist() == [39, 0]
    assert np.array_equal(dataset.features.vision[rows[0]], raw["vision"][0])
    with pytest.raises(UnknownClipError):
        dataset.feature_rows(["27_0054"])


def test_errors_in_the_users_file_are_raised_not_hidden(tmp_path, monkeypatch):
    monkeypatch.setenv("CSMSASR_PUBLIC_DIR", str(PUBLIC_DIR or tmp_path))
    if PUBLIC_DIR is None:
        pytest.skip("real public metadata not found")
    monkeypatch.setenv("CSMSASR_FEATURES", str(tmp_path / "missing.pkl"))
    with pytest.raises(SettingError, match="CSMSASR_FEATURES.*does not exist"):  # never a silent fall-back to the demo
        load_dataset()
    with pytest.raises(FeatureFileError):
        load_dataset(features_path=tmp_path / "missing.pkl")
    bad = make_demo(seed=2, n_clips=10, seq_lens=LENS)
    bad["id"] = np.array(["99_0001"] * 10, dtype=object)
    monkeypatch.setenv("CSMSASR_FEATURES", str(_write(bad, tmp_path / "bad.pkl")))
    with pytest.raises(FeatureValidationError, match="duplicate"):
        load_dataset()


def test_fingerprint_changes_with_the_data(tmp_path, monkeypatch):
    base = data_fingerprint()
    path = _write({"x": 1}, tmp_path / "a.pkl")
    monkeypatch.setenv("CSMSASR_FEATURES", str(path))
    with_file = data_fingerprint()
    assert with_file != base and data_fingerprint() == with_file
    _write({"x": 2, "y": 3}, path)
    assert data_fingerprint() != with_file


def test_fingerprint_changes_with_the_results_files_the_chapters_show(tmp_path, monkeypatch):
    monkeypatch.delenv("CSMSASR_MSA_RESULTS", raising=False)
    monkeypatch.delenv("CSMSASR_ASR_TRANSCRIPTS", raising=False)
    base = data_fingerprint()
    transcripts = tmp_path / "whisper-test-real.tsv"
    transcripts.write_text("clip_id\treference\n", encoding="utf-8")
    monkeypatch.setenv("CSMSASR_ASR_TRANSCRIPTS", str(transcripts))
    named = data_fingerprint()
    assert named != base and data_fingerprint() == named
    transcripts.write_text("clip_id\treference\n01_0001\t好\n", encoding="utf-8")  # rewritten: new size
    assert data_fingerprint() != named
    results = tmp_path / "msa.jsonl"
    monkeypatch.setenv("CSMSASR_MSA_RESULTS", str(results))  # named, not yet written: a clear error
    with pytest.raises(SettingError, match="CSMSASR_MSA_RESULTS"):
        data_fingerprint()
    results.write_text("{}\n", encoding="utf-8")
    assert data_fingerprint() not in (base, named)
