"""Validation of feature dicts and files: every bad input gets its own clear error."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

from csmsasr_utils.data.features import REQUIRED_KEYS, features_from_dict, load_features
from csmsasr_utils.errors import FeatureFileError, FeatureValidationError, UnknownClipError

DIMS = {"text": 768, "audio": 13, "vision": 347}


@pytest.fixture
def demo(small_demo):
    return copy.deepcopy(small_demo)


def canonical(ids):
    return [f"{int(i.split('_')[1]):02d}_{int(i.split('_')[2]):04d}" for i in ids]


def test_flat_layout_is_read_in_place(demo):
    features = features_from_dict(demo)
    assert features.layout == "flat" and len(features) == 60
    assert features.text is demo["text"]  # no copy of the big arrays
    assert list(features.clip_ids) == canonical(demo["id"])
    assert features.padded_lengths == {"text": 12, "audio": 20, "vision": 16}
    assert features.feature_dims == DIMS
    assert np.array_equal(features.labels["T"], demo["regression_labels_T"])


def test_audio_minus_inf_is_replaced_by_zero_and_reported(demo):
    n_neg_inf = int(np.isneginf(demo["audio"]).sum())
    demo["audio"][3, 0, :4] = -np.inf
    n_neg_inf += 4
    expected = np.where(np.isneginf(demo["audio"]), 0.0, demo["audio"])
    features = features_from_dict(demo)
    assert np.array_equal(features.audio, expected)
    assert any(f"replaced {n_neg_inf:,} audio values of -inf" in note for note in features.notes)


def _to_mmsa(demo, cut=(40, 50)):
    parts = {}
    for name, (lo, hi) in zip(("train", "valid", "test"), [(0, cut[0]), cut, (cut[1], len(demo["id"]))]):
        parts[name] = {k: v[lo:hi] for k, v in demo.items()}
    return parts


def test_mmsa_layout_equals_flat(demo):
    flat = features_from_dict(copy.deepcopy(demo))
    mmsa = features_from_dict(_to_mmsa(demo))
    assert mmsa.layout == "mmsa"
    assert list(mmsa.source_split) == ["train"] * 40 + ["valid"] * 10 + ["test"] * 10
    for name in ("text", "audio", "vision", "audio_lengths", "vision_lengths", "clip_ids"):
        assert np.array_equal(getattr(mmsa, name), getattr(flat, name)), name
    for key in flat.labels:
        assert np.array_equal(mmsa.labels[key], flat.labels[key])


def test_file_round_trip(demo, tmp_path):
    path = tmp_path / "demo.pkl"
    with open(path, "wb") as handle:
        pickle.dump(_to_mmsa(demo), handle, protocol=4)
    features = load_features(path, known_clip_ids=canonical(demo["id"]))
    assert len(features) == 60 and features.layout == "mmsa"


def test_subset_and_label_frame(demo):
    features = features_from_dict(demo)
    ids = list(features.clip_ids[[5, 2]])
    sub = features.subset(ids)
    assert list(sub.clip_ids) == ids and np.array_equal(sub.vision[0], features.vision[5])
    frame = sub.label_frame()
    assert list(frame.columns) == ["clip_id", "label_m", "label_t", "label_a", "label_v"]
    with pytest.raises(UnknownClipError):
        features.subset(["99_9999"])


def _problem(demo, match, **kwargs):
    with pytest.raises(FeatureValidationError) as info:
        features_from_dict(demo, **kwargs)
    assert any(__import__("re").search(match, p) for p in info.value.problems), info.value.problems
    return info.value


def test_not_a_dict():
    _problem([1, 2, 3], "holds a list, not a dict")


def test_foreign_dict():
    _problem({"weights": np.zeros(3), "bias": 1.0}, "neither an MMSA split dict")


@pytest.mark.parametrize("key", ["audio_lengths", "regression_labels_V", "raw_text", "vision"])
def test_missing_key(demo, key):
    del demo[key]
    _problem(demo, rf"missing key\(s\) \['{key}'\]")


def test_mmsa_split_missing_key(demo):
    parts = _to_mmsa(demo)
    del parts["valid"]["id"]
    _problem(parts, r"\[valid\]: missing key\(s\) \['id'\]")


@pytest.mark.parametrize(
    "modality,shape,match",
    [
        ("text", (60, 12, 700), r"'text' has shape \(60, 12, 700\); expected \(N, padded_length, 768\)"),
        ("audio", (60, 20), r"'audio' has shape \(60, 20\)"),
        ("vision", (60, 16, 13), r"'vision' has shape"),
    ],
)
def test_wrong_shapes(demo, modality, shape, match):
    demo[modality] = np.zeros(shape, dtype=np.float32)
    _problem(demo, match)


def test_integer_features_are_refused(demo):
    demo["audio"] = np.zeros(demo["audio"].shape, dtype=np.int32)
    _problem(demo, "'audio' has dtype int32; expected a float dtype")


def test_mismatched_n(demo):
    demo["regression_labels_A"] = demo["regression_labels_A"][:-1]
    _problem(demo, r"disagree on the number of clips N .*regression_labels_A=59")


def test_nan_labels(demo):
    demo["regression_labels"] = demo["regression_labels"].copy()
    demo["regression_labels"][[1, 4]] = np.nan
    _problem(demo, r"'regression_labels' has 2 NaN label")


def test_labels_out_of_range(demo):
    demo["regression_labels_T"] = demo["regression_labels_T"] * 3
    _problem(demo, r"'regression_labels_T' has \d+ label\(s\) outside \[-1, 1\]")


def test_duplicate_ids(demo):
    demo["id"] = demo["id"].copy()
    demo["id"][7] = demo["id"][3]
    _problem(demo, r"1 duplicate clip id\(s\)")


def test_unreadable_ids(demo):
    demo["id"] = demo["id"].copy()
    demo["id"][0] = "clip-one"
    _problem(demo, r"cannot be read as clip ids .*clip-one")


def test_unknown_clip_ids(demo):
    known = canonical(demo["id"])[1:]
    _problem(demo, r"1 clip id\(s\) are not in the metadata's 59 clips", known_clip_ids=known)


def test_lengths_beyond_padding(demo):
    demo["vision_lengths"] = demo["vision_lengths"].copy()
    demo["vision_lengths"][0] = 17
    _problem(demo, r"'vision_lengths': 1 length\(s\) exceed the padded length 16")


def test_non_integer_and_negative_lengths(demo):
    demo["audio_lengths"] = demo["audio_lengths"].astype(float) + 0.5
    _problem(demo, "non-integer lengths")
    demo["audio_lengths"] = -np.ones(60)
    _problem(demo, "negative lengths")


@pytest.mark.parametrize("modality,value", [("vision", np.nan), ("text", np.inf), ("audio", np.nan)])
def test_non_finite_features(demo, modality, value):
    demo[modality][2, 1, 0] = value
    _problem(demo, rf"'{modality}' has 1 NaN/infinite value")


def test_text_bert_shape(demo):
    demo["text_bert"] = np.zeros((60, 3, 11))
    _problem(demo, r"'text_bert' has shape \(60, 3, 11\); expected \(N, 3, 12\)")
    demo["text_bert"] = np.zeros((60, 3, 12))
    assert features_from_dict(demo).text_bert.shape == (60, 3, 12)


def test_every_problem_is_listed_at_once(demo):
    del demo["audio_lengths"]
    demo["regression_labels"] = demo["regression_labels"] + 5
    error = _problem(demo, "missing key")
    assert len(error.problems) == 2 and "2 problems" in str(error)


def test_required_keys_are_mmsa_names():
    assert set(REQUIRED_KEYS) == {
        "raw_text",
        "id",
        "text",
        "audio",
        "vision",
        "audio_lengths",
        "vision_lengths",
        "regression_labels",
        "regression_labels_T",
        "regression_labels_A",
        "regression_labels_V",
    }


def test_load_features_reports_file_errors(tmp_path):
    with pytest.raises(FeatureFileError, match="does not exist"):
        load_features(tmp_path / "CS-MSASR_fulldata.pkl")
