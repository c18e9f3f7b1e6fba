"""The synthetic demo: same schema as the real file, deterministic, with learnable signal."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import cross_val_predict

from csmsasr_utils.data import (
    REQUIRED_KEYS,
    features_from_dict,
    make_demo,
    make_demo_metadata,
)
from csmsasr_utils.data.metadata import METADATA_COLUMNS

LENS = {"text": 10, "audio": 14, "vision": 12}


def test_same_schema_as_the_real_file(small_demo):
    assert set(small_demo) == set(REQUIRED_KEYS)
    n = len(small_demo["id"])
    assert small_demo["text"].shape == (n, 12, 768)
    assert small_demo["audio"].shape == (n, 20, 13)
    assert small_demo["vision"].shape == (n, 16, 347)
    for key in ("text", "audio", "vision"):
        assert small_demo[key].dtype == np.float32
    for key in ("regression_labels", "regression_labels_T", "regression_labels_A", "regression_labels_V"):
        assert set(np.unique(small_demo[key])) <= {-1.0, -0.5, 0.0, 0.5, 1.0}
    assert all(i.startswith("video_") for i in small_demo["id"])


def test_deterministic():
    a = make_demo(seed=3, n_clips=20, seq_lens=LENS)
    b = make_demo(seed=3, n_clips=20, seq_lens=LENS)
    c = make_demo(seed=4, n_clips=20, seq_lens=LENS)
    for key in a:
        assert np.array_equal(a[key], b[key]), key
    assert not np.array_equal(a["text"], c["text"])
    assert make_demo_metadata(5).equals(make_demo_metadata(5))


def test_padding_is_zero_and_valid_frames_are_not(small_demo):
    text_lengths = np.clip([len(t) + 2 for t in small_demo["raw_text"]], 3, 12)
    for modality, lengths in (
        ("text", text_lengths),
        ("audio", small_demo["audio_lengths"]),
        ("vision", small_demo["vision_lengths"]),
    ):
        array = small_demo[modality]
        for i, length in enumerate(lengths):
            assert not array[i, length:].any(), (modality, i)
            assert (np.abs(array[i, :length]).sum(axis=-1) > 0).all(), (modality, i)
    assert (small_demo["audio_lengths"] < 20).any() and (small_demo["vision_lengths"] >= 1).all()


def test_validates_like_a_real_file_and_matches_its_metadata():
    meta = make_demo_metadata(seed=11)
    raw = make_demo(seed=11, n_clips=80, seq_lens=LENS, metadata=meta)
    features = features_from_dict(raw, known_clip_ids=meta["clip_id"])
    assert list(features.clip_ids) == list(meta["clip_id"][:80])
    assert list(features.raw_text) == list(meta["text"][:80])
    assert np.array_equal(features.labels["M"], meta["label_m"][:80].to_numpy(np.float32))


def test_demo_metadata_schema_and_sizes():
    meta = make_demo_metadata()
    assert list(meta.columns) == list(METADATA_COLUMNS) and len(meta) == 1085
    assert meta["video_id"].nunique() == 27 and meta["clip_id"].is_unique
    assert meta["asr_split_original"].value_counts().to_dict() == {"train": 869, "val": 108, "test": 108}
    assert meta["asr_split_official"].value_counts().to_dict() == {"train": 760, "validation": 160, "test": 165}
    for k in range(1, 6):
        assert meta[f"msa_fold{k}_split"].value_counts().to_dict() == {"train": 759, "valid": 109, "test": 217}
    assert meta["duration_s"].isna().sum() == 108
    assert (meta.loc[meta["duration_s"].isna(), "asr_split_original"] == "test").all()


def test_unimodal_labels_disagree_realistically():
    meta = make_demo_metadata()
    raw = make_demo(n_clips=1085, seq_lens=LENS, metadata=meta)
    m = raw["regression_labels"]
    for key in ("regression_labels_T", "regression_labels_A", "regression_labels_V"):
        agreement = float(np.mean(raw[key] == m))
        assert 0.35 < agreement < 0.9, (key, agreement)
        assert np.corrcoef(raw[key], m)[0, 1] > 0.6


@pytest.mark.parametrize(
    "modality,key",
    [("text", "regression_labels_T"), ("audio", "regression_labels_A"), ("vision", "regression_labels_V")],
)
def test_features_carry_their_modality_label(modality, key):
    raw = make_demo(n_clips=400, seq_lens={"text": 39, "audio": 64, "vision": 48})
    lengths = {
        "text": np.clip([len(t) + 2 for t in raw["raw_text"]], 3, 39),
        "audio": raw["audio_lengths"],
        "vision": raw["vision_lengths"],
    }[modality]
    array = np.where(np.isneginf(raw[modality]), 0, raw[modality])
    pooled = array.sum(axis=1) / np.asarray(lengths)[:, None]
    predicted = cross_val_predict(RidgeCV(alphas=np.logspace(-1, 4, 12)), pooled, raw[key], cv=5)
    assert np.corrcoef(predicted, raw[key])[0, 1] > 0.4


def test_bad_arguments():
    with pytest.raises(ValueError, match="n_clips"):
        make_demo(n_clips=0, seq_lens=LENS)
    with pytest.raises(ValueError, match="n_clips"):
        make_demo_metadata(n_clips=5)
    assert isinstance(make_demo_metadata(n_clips=100), pd.DataFrame)
