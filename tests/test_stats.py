"""Chapter-1 statistics against hand-worked examples and plain pandas/numpy."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import f1_score

from csmsasr_utils import stats
from csmsasr_utils.data import make_demo_metadata


@pytest.fixture
def tiny():
    return pd.DataFrame({
        "clip_id": ["01_0001", "01_0002", "02_0001", "02_0002", "02_0003"],
        "video_id": ["01", "01", "02", "02", "02"],
        "text": ["好啰", "要得 啰啰", "冇得事嘞", "嘞", "晓得"],
        "duration_s": [1.0, 2.0, np.nan, 4.0, 3.0],
        "label_m": [-1.0, -0.5, 0.0, 0.5, 0.5],
        "split": ["train", "train", "test", "test", "train"],
    })


def test_clips_per_video(tiny):
    table = stats.clips_per_video(tiny)
    assert table["n_clips"].to_dict() == {"01": 2, "02": 3}
    assert table["n_with_duration"].to_dict() == {"01": 2, "02": 2}
    assert table["total_duration_min"].to_dict() == pytest.approx({"01": 3 / 60, "02": 7 / 60})


def test_duration_summary(tiny):
    overall = stats.duration_summary(tiny).loc["all"]
    assert overall["n_clips"] == 5 and overall["n_missing"] == 1
    assert overall["total_h"] == pytest.approx(10 / 3600) and overall["median_s"] == 2.5
    by_split = stats.duration_summary(tiny, by="split")
    assert by_split.loc["test", "n_with_duration"] == 1 and by_split.loc["train", "max_s"] == 3.0


def test_character_inventory(tiny):
    table = stats.character_inventory(tiny["text"]).set_index("char")
    expected = Counter("".join(tiny["text"]).replace(" ", ""))
    assert table["count"].to_dict() == dict(expected)
    assert table.loc["啰", "count"] == 3 and table.loc["啰", "n_clips"] == 2
    assert table["coverage"].iloc[-1] == pytest.approx(1.0)
    assert table.index[0] == "啰"  # most frequent first
    oov = stats.out_of_vocabulary(stats.character_inventory(tiny["text"]), vocabulary=set("好要得"))
    assert "好" not in set(oov["char"]) and "啰" in set(oov["char"])


def test_marker_frequencies(tiny):
    markers = stats.marker_frequencies(tiny).set_index("marker")
    assert markers.loc["啰", "occurrences"] == 3 and markers.loc["啰", "n_clips"] == 2
    assert markers.loc["嘞", "example"] == "嘞" and markers.loc["嘞", "example_clip"] == "02_0002"
    assert markers.loc["冇", "n_clips"] == 1 and markers.loc["要得", "share_clips"] == pytest.approx(0.2)
    assert markers.loc["咧", "n_clips"] == 0 and markers.loc["咧", "example"] == ""


def test_label_counts(tiny):
    table = stats.label_counts(tiny)
    assert table.loc["all"].tolist() == [1, 1, 1, 2, 0]
    by = stats.label_counts(tiny, by="split")
    assert by.loc["train"].tolist() == [1, 1, 0, 1, 0] and by.loc["test"].tolist() == [0, 0, 1, 1, 0]


def test_majority_baseline_hand_worked():
    train = np.array([-1.0, -0.5, -0.5, 0.0, 0.5])
    test = np.array([-0.5, 0.5, 1.0, 0.0])
    result = stats.majority_baseline(train, test)
    # 2-class: train bins [0,0,0,0,1] → majority 0; test bins [0,1,1,0] → 2/4
    assert result["Mult_acc_2"] == pytest.approx(0.5)
    # 3-class: train [0,0,0,1,2] → 0; test [0,2,2,1] → 1/4
    assert result["Mult_acc_3"] == pytest.approx(0.25)
    # 5-class: train [0,1,1,2,3] → 1; test [1,3,4,2] → 1/4
    assert result["Mult_acc_5"] == pytest.approx(0.25)
    # median of train = -0.5 → |0|+|1|+|1.5|+|0.5| = 3 / 4
    assert result["MAE"] == pytest.approx(0.75)
    assert result["F1_score"] == pytest.approx(f1_score([0, 1, 1, 0], [0, 0, 0, 0], average="weighted",
                                                        zero_division=0))


def test_protocol_baselines_rows():
    table = stats.protocol_baselines(make_demo_metadata())
    assert list(table.index) == ["paper 8:1:1"] + [f"fold {k}" for k in range(1, 6)] + ["folds mean"]
    assert table.loc["folds mean", "MAE"] == pytest.approx(table.iloc[1:6]["MAE"].mean())
    assert ((table[["Mult_acc_2", "Mult_acc_3", "Mult_acc_5"]] >= 0) & (table[["Mult_acc_2"]].values <= 1)).all().all()


def test_real_majority_class_is_weakly_negative(public_dir):
    from csmsasr_utils.data import load_metadata

    meta = load_metadata(public_dir)
    table = stats.protocol_baselines(meta)
    labels = meta.set_index("clip_id")["label_m"]
    fold1 = meta[meta["msa_fold1_split"] == "test"]["clip_id"]
    # 5-class majority of fold-1 training clips is Weakly negative (-0.5): accuracy = its share of the test set
    assert table.loc["fold 1", "Mult_acc_5"] == pytest.approx(np.mean(labels[fold1] == -0.5))


def test_marker_count_skips_excluded_mandarin_words():
    frame = pd.DataFrame({"clip_id": ["01_0001", "01_0002", "01_0003"],
                          "text": ["国家政策好", "莫策哒，政策", "决策策略"]})
    table = stats.marker_frequencies(frame, [m for m in stats.DIALECT_MARKERS if m.form == "策"]).iloc[0]
    # by hand: only the 策 of 莫策哒 is the dialect word
    assert table["occurrences"] == 1 and table["n_clips"] == 1 and table["example_clip"] == "01_0002"
    plain = stats.DialectMarker("策", "ce", "no exclusions")
    assert sum(plain.count(t) for t in frame["text"]) == 5
