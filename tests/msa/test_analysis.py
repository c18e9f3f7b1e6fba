"""Per-clip error analysis, against hand-worked tables."""

import numpy as np
import pandas as pd
import pytest

from csmsasr_utils.errors import CsmsasrError
from csmsasr_utils.msa.analysis import (
    class_confusion,
    clip_difficulty,
    error_by,
    modality_disagreement,
    prediction_frame,
    unimodal_agreement,
)


@pytest.fixture
def frame():
    metadata = pd.DataFrame({
        "clip_id": ["a", "b", "c", "d"], "video_id": ["01", "01", "02", "02"], "n_chars": [3, 10, 20, 5],
        "label_m": [-1.0, 0.0, 0.5, 1.0], "label_t": [-1.0, 0.5, 0.5, 1.0],
        "label_a": [-0.5, 0.0, 0.5, -1.0], "label_v": [-1.0, 0.0, -0.5, 0.0],
    })
    results = pd.DataFrame({"model": ["X"], "seed": [1], "fold": [0], "test_clip_ids": [["a", "b", "c", "d"]],
                            "test_predictions": [[-0.8, 0.3, 0.6, 1.4]]})
    return prediction_frame(results, metadata)


def test_prediction_frame_joins_and_clips_errors(frame):
    assert list(frame["clip_id"]) == ["a", "b", "c", "d"]
    np.testing.assert_allclose(frame["error"], [0.2, 0.3, 0.1, 0.0], atol=1e-12)  # 1.4 clipped to 1
    assert list(frame["video_id"]) == ["01", "01", "02", "02"]


def test_class_confusion_counts_and_rows(frame):
    counts = class_confusion(frame, normalize=False)
    # a: Negative→Negative (−0.8 ≤ −0.7); b: Neutral→Weakly positive; c, d correct
    assert counts.loc["Negative", "Negative"] == 1
    assert counts.loc["Neutral", "Weakly positive"] == 1
    assert counts.loc["Weakly positive", "Weakly positive"] == 1 and counts.loc["Positive", "Positive"] == 1
    assert counts.to_numpy().sum() == 4
    shares = class_confusion(frame)
    assert shares.loc["Neutral"].sum() == pytest.approx(1.0)
    assert shares.loc["Weakly negative"].sum() == 0.0  # no clip of that class


def test_modality_disagreement_counts(frame):
    # a: A differs; b: T differs; c: V differs; d: A and V differ
    assert modality_disagreement(frame).tolist() == [1, 1, 1, 2]


def test_error_by_video_and_length_bins(frame):
    by_video = error_by(frame, "video_id")
    assert by_video.loc["01", "MAE"] == pytest.approx(0.25)
    assert by_video.loc["01", "Mult_acc_5"] == 0.5 and by_video.loc["02", "clips"] == 2
    by_length = error_by(frame, "n_chars", bins=[0, 5, 30, 80], labels=["short", "long", "very long"])
    assert by_length["clips"].tolist() == [2, 2, 0]  # empty bins are kept
    assert list(by_length.index) == ["short", "long", "very long"] and np.isnan(by_length.loc["very long", "MAE"])
    assert by_length.loc["short", "MAE"] == pytest.approx((0.2 + 0.0) / 2)  # clips a (3 chars) and d (5)


def test_unknown_clip_is_refused(frame):
    results = pd.DataFrame({"model": ["X"], "test_clip_ids": [["zz"]], "test_predictions": [[0.0]]})
    with pytest.raises(CsmsasrError, match="not in the metadata"):
        prediction_frame(results, pd.DataFrame({"clip_id": ["a"], "label_m": [0.0]}))


def test_unimodal_agreement_by_hand(frame):
    # T: a −1/−1 same, b 0.5/0 other, c same, d same; V: a same, b same, c −0.5/0.5 other, d 0/1 other
    assert unimodal_agreement(frame, "t").str.startswith("same").tolist() == [True, False, True, True]
    assert unimodal_agreement(frame, "v").str.startswith("same").tolist() == [True, True, False, False]
    with pytest.raises(CsmsasrError, match="label_x"):
        unimodal_agreement(frame, "x")


def test_clip_difficulty_by_hand(frame):
    metadata = frame[["clip_id", "label_m"]]
    second = pd.DataFrame({"model": ["Y"], "test_clip_ids": [["a", "b", "c", "d"]],
                           "test_predictions": [[0.0, 0.5, -0.5, 0.2]]})
    both = pd.concat([frame, prediction_frame(second, metadata)], ignore_index=True)
    table = clip_difficulty(both)
    # X: only b in the wrong class (Neutral → Weakly positive); Y: all four in the wrong class
    assert table["wrong_class"].tolist() == [1, 2, 1, 1] and table["all_wrong"].tolist() == [False, True, False, False]
    # Y puts a (−1 → 0.0) and c (0.5 → −0.5) on the other side of zero
    assert table["wrong_polarity"].tolist() == [1, 0, 1, 0] and table["models"].tolist() == [2, 2, 2, 2]
    np.testing.assert_allclose(table["mean_abs_error"], [0.6, 0.4, 0.55, 0.4], atol=1e-12)
