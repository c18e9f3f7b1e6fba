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
    metadata = pd.DataFrame(
        {
            "clip_id": ["a", "b", "c", "d"],
            "video_id": ["01", "01", "02", "02"],
            "n_chars": [3, 10, 20, 5],
            "label_m": [-1.0, 0.0, 0.5, 1.0],
            "label_t": [-1.0, 0.5, 0.5, 1.0],
            "label_a": [-0.5, 0.0, 0.5, -1.0],
            "label_v": [-1.0, 0.0, -0.5, 0.0],
        }
    )
    results = pd.DataFrame(
        {
            "model": ["X"],
            "seed": [1],
            "fold": [0],
            "test_clip_ids": [["a", "b", "c", "d"]],
            "test_predictions": [[-0.8, 0.3, 0.6, 1.4]],
        }
    )
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
    second = pd.DataFrame(
        {"model": ["Y"], "test_clip_ids": [["a", "b", "c", "d"]], "test_predictions": [[0.0, 0.5, -0.5, 0.2]]}
    )
    both = pd.concat([frame, prediction_frame(second, metadata)], ignore_index=True)
    table = clip_difficulty(both)
    # X: only b in the wrong class (Neutral → Weakly positive); Y: all four in the wrong class
    assert table["wrong_class"].tolist() == [1, 2, 1, 1] and table["all_wrong"].tolist() == [False, True, False, False]
    # Y puts a (−1 → 0.0) and c (0.5 → −0.5) on the other side of zero
    assert table["wrong_polarity"].tolist() == [1, 0, 1, 0] and table["models"].tolist() == [2, 2, 2, 2]
    np.testing.assert_allclose(table["mean_abs_error"], [0.6, 0.4, 0.55, 0.4], atol=1e-12)


def test_wrong_class_shares_by_hand(frame):
    from csmsasr_utils.msa.analysis import CLASS_LABELS, wrong_class_shares

    # Five clips, two of them Neutral: one missed by 0 models, one by 2; the Negative clip by 1,
    # the two Positive clips by 0 and 2. No Weakly negative or Weakly positive clip.
    difficulty = pd.DataFrame(
        {"label_m_class": ["Neutral", "Neutral", "Negative", "Positive", "Positive"], "wrong_class": [0, 2, 1, 0, 2]}
    )
    shares = wrong_class_shares(difficulty)
    assert list(shares.index) == list(CLASS_LABELS) and list(shares.columns) == [0, 1, 2]
    np.testing.assert_allclose(shares.loc["Neutral"], [0.5, 0.0, 0.5])
    np.testing.assert_allclose(shares.loc["Negative"], [0.0, 1.0, 0.0])
    assert shares.loc["Weakly negative"].isna().all()  # no clip of that class: no shares
    with pytest.raises(CsmsasrError, match="label_m_class"):
        wrong_class_shares(difficulty.drop(columns="label_m_class"))


def test_wrong_side_for_all_by_hand(frame):
    from csmsasr_utils.msa.analysis import wrong_side_for_all

    second = pd.DataFrame(
        {"model": ["Y"], "test_clip_ids": [["a", "b", "c", "d"]], "test_predictions": [[0.2, 0.5, -0.5, -0.4]]}
    )
    third = pd.DataFrame(
        {"model": ["Z"], "test_clip_ids": [["a", "b", "c", "d"]], "test_predictions": [[0.4, 0.1, 0.3, -0.6]]}
    )
    metadata = frame[["clip_id", "label_m"]]
    both = pd.concat([prediction_frame(r, metadata) for r in (second, third)], ignore_index=True)
    table = wrong_side_for_all(clip_difficulty(both), both)
    # a (M −1) is predicted 0.2 and 0.4, d (M 1) −0.4 and −0.6: both models on the wrong side;
    # c is wrong for Y only, b for neither. d's mean error (1.4 + 1.6) / 2 = 1.5 beats a's (1.2 + 1.4) / 2 = 1.3.
    assert list(table.index) == ["d", "a"]
    np.testing.assert_allclose(table["mean prediction"], [-0.5, 0.3])
    np.testing.assert_allclose(table["mean_abs_error"], [1.5, 1.3])


def test_mae_by_agreement_by_hand(frame):
    from csmsasr_utils.msa.analysis import mae_by_agreement

    # errors |0.2|, |0.3|, |0.1|, |0.0|; T agrees with M on a, c, d and not on b
    table = mae_by_agreement({"X": frame, "X again": frame}, "t")
    assert list(table.index) == ["same class as M", "other class than M"] and list(table.columns) == ["X", "X again"]
    assert table.loc["same class as M", "X"] == pytest.approx((0.2 + 0.1 + 0.0) / 3)
    assert table.loc["other class than M", "X again"] == pytest.approx(0.3)
    # A agrees on b and c only (a: −0.5 is Weakly negative, d: −1 is Negative)
    assert mae_by_agreement({"X": frame}, "a").loc["other class than M", "X"] == pytest.approx((0.2 + 0.0) / 2)


def test_mae_by_protocol_by_hand(frame):
    from csmsasr_utils.msa.analysis import mae_by_protocol

    metadata = frame[["clip_id", "video_id", "label_m"]]
    rows = pd.DataFrame(
        {
            "model": ["X", "X"],
            "protocol": ["unseen", "seen"],
            "test_clip_ids": [["a", "b", "c", "d"], ["a", "b", "c", "d"]],
            "test_predictions": [[-1.0, 0.0, 0.5, 0.0], [-0.8, 0.3, 0.6, 1.4]],
        }
    )
    table = mae_by_protocol(rows, metadata, "video_id")
    assert list(table.columns) == ["seen", "unseen"]  # sorted
    # seen: video 01 errors 0.2, 0.3; video 02 errors 0.1, 0 (1.4 clipped to 1); unseen: 0, 0 and 0, 1
    np.testing.assert_allclose(table.loc[["01", "02"], "seen"], [0.25, 0.05])
    np.testing.assert_allclose(table.loc[["01", "02"], "unseen"], [0.0, 0.5])
    with pytest.raises(CsmsasrError, match="protocol"):
        mae_by_protocol(rows.drop(columns="protocol"), metadata, "video_id")


def test_edge_over_floor_by_hand():
    from csmsasr_utils.msa.analysis import edge_over_floor

    rows = pd.DataFrame(
        {
            "protocol": ["seen"] * 4 + ["unseen"] * 4,
            "key": ["majority", "majority", "ridge", "ridge"] * 2,
            "test_MAE": [0.6, 0.8, 0.4, 0.5, 0.7, 0.7, 0.6, 0.7],
            "test_Mult_acc_2": [0.5, 0.5, 0.7, 0.8, 0.6, 0.6, 0.6, 0.5],
        }
    )
    edge = edge_over_floor(rows, "ridge")
    # seen: MAE 0.7 vs 0.45, accuracy 0.5 vs 0.75; unseen: MAE 0.7 vs 0.65, accuracy 0.6 vs 0.55
    np.testing.assert_allclose(edge.loc[["seen", "unseen"], "MAE below the floor"], [0.25, 0.05])
    np.testing.assert_allclose(edge.loc[["seen", "unseen"], "Mult_acc_2 above the floor"], [0.25, -0.05])
    with pytest.raises(CsmsasrError, match="lasso"):
        edge_over_floor(rows, "lasso")


def test_evaluate_by_protocol_stacks_protocols():
    from csmsasr_utils.msa.analysis import evaluate_by_protocol
    from csmsasr_utils.msa.text_baselines import by_key, text_baselines

    metadata = pd.DataFrame(
        {"clip_id": list("abcdefgh"), "text": ["好"] * 8, "label_m": [0.5, 0.5, 0.5, -1.0, 1.0, 1.0, 0.0, -0.5]}
    )
    one = {1: {"train": ["a", "b", "c", "d"], "valid": ["e"], "test": ["f", "g", "h"]}}
    two = {
        1: {"train": ["d", "e", "f", "g"], "valid": ["h"], "test": ["a", "b"]},
        2: {"train": ["a", "e", "f", "h"], "valid": ["b"], "test": ["c", "d"]},
    }
    majority = [by_key(text_baselines())["majority"]]
    rows = evaluate_by_protocol(metadata, {"one": one, "two": two}, majority)
    assert rows["protocol"].tolist() == ["one", "two", "two"] and rows["fold"].tolist() == [1, 1, 2]
    # the majority of a, b, c, d is 0.5: |1 − 0.5|, |0 − 0.5|, |−0.5 − 0.5| on f, g, h
    assert rows["test_MAE"].iloc[0] == pytest.approx((0.5 + 0.5 + 1.0) / 3, abs=1e-4)  # MMSA rounds to 4 places
    # fold 2 of "two": a, e, f, h → 1.0 (twice) predicted for c (0.5) and d (−1)
    assert rows["test_MAE"].iloc[2] == pytest.approx((0.5 + 2.0) / 2, abs=1e-4)
