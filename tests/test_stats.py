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
    return pd.DataFrame(
        {
            "clip_id": ["01_0001", "01_0002", "02_0001", "02_0002", "02_0003"],
            "video_id": ["01", "01", "02", "02", "02"],
            "text": ["好啰", "要得 啰啰", "冇得事嘞", "嘞", "晓得"],
            "duration_s": [1.0, 2.0, np.nan, 4.0, 3.0],
            "label_m": [-1.0, -0.5, 0.0, 0.5, 0.5],
            "split": ["train", "train", "test", "test", "train"],
        }
    )


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
    assert result["F1_score"] == pytest.approx(
        f1_score([0, 1, 1, 0], [0, 0, 0, 0], average="weighted", zero_division=0)
    )


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


def _bin_by_masks(values, k):
    """MMSA's intervals (lo, hi], written out by hand, independent of csmsasr_utils' binning."""
    inner = {2: [0.0], 3: [-0.1, 0.1], 5: [-0.7, -0.1, 0.1, 0.7]}[k]
    bounds = [-1.01, *inner, 1.01]
    v = np.clip(np.asarray(values, dtype=float), -1, 1)
    out = np.full(v.shape, -1)
    for i in range(len(bounds) - 1):
        out[(v > bounds[i]) & (v <= bounds[i + 1])] = i
    return out


def test_majority_floor_hand_worked():
    floor = stats.majority_floor([-1.0, -0.5, -0.5, 0.5, 1.0, 1.0])
    assert floor.median == 0.0  # mean of the middle pair -0.5, 0.5
    assert floor.mode == -0.5  # -0.5 and 1.0 both twice: the smaller one
    # 2 bins [0,0,0,1,1,1]: a tie → 0; 3 bins [0,0,0,2,2,2] → 0; 5 bins [0,1,1,3,4,4] → 1 (tie with 4)
    assert dict(floor.majority_bins) == {2: 0, 3: 0, 5: 1}


def test_majority_floor_against_the_statistics_module():
    import statistics

    rng = np.random.default_rng(1)
    for _ in range(50):
        labels = rng.choice([-1.0, -0.5, 0.0, 0.5, 1.0], rng.integers(1, 30)).tolist()
        floor = stats.majority_floor(labels)
        assert floor.median == pytest.approx(statistics.median(labels))
        assert floor.mode == min(statistics.multimode(labels))
        for k in (2, 3, 5):
            counts = Counter(_bin_by_masks(labels, k).tolist())
            best = max(counts.values())
            assert floor.majority_bins[k] == min(b for b, c in counts.items() if c == best)


def test_majority_floor_refuses_no_labels():
    from csmsasr_utils.errors import CsmsasrError

    with pytest.raises(CsmsasrError, match="at least one"):
        stats.majority_floor([])
    with pytest.raises(ValueError, match="non-empty"):
        stats.majority_baseline([0.5], [])


def test_majority_baseline_against_sklearn_on_random_labels():
    from sklearn.metrics import accuracy_score

    rng = np.random.default_rng(2)
    for _ in range(40):
        train = np.round(rng.uniform(-1, 1, rng.integers(1, 40)), 1)
        test = np.round(rng.uniform(-1, 1, rng.integers(1, 30)), 1)
        result = stats.majority_baseline(train, test)
        assert list(result) == ["Mult_acc_2", "F1_score", "Mult_acc_3", "Mult_acc_5", "MAE"]
        for k in (2, 3, 5):
            true, majority = _bin_by_masks(test, k), Counter(_bin_by_masks(train, k).tolist())
            top = min(b for b, c in majority.items() if c == max(majority.values()))
            predicted = np.full(len(test), top)
            assert result[f"Mult_acc_{k}"] == pytest.approx(accuracy_score(true, predicted))
            if k == 2:
                assert result["F1_score"] == pytest.approx(
                    f1_score(true, predicted, average="weighted", zero_division=0)
                )
        assert result["MAE"] == pytest.approx(np.mean(np.abs(test - np.median(train))))
