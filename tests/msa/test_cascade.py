"""The cascade's tables against hand-worked values: a majority floor, toy curves, toy text models."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from csmsasr_utils.errors import CsmsasrError
from csmsasr_utils.msa import cascade
from csmsasr_utils.msa.text_baselines import text_baselines
from csmsasr_utils.msa.text_robustness import FoldModels


class _LengthModel:
    """A stand-in for a fitted pipeline: predicts (number of characters − 2) / 4."""

    def predict(self, texts):
        return np.array([(len(t) - 2) / 4 for t in texts])


def _fold_models(test_fold: dict[str, int]) -> FoldModels:
    n = max(test_fold.values()) + 1
    return FoldModels("length", tuple(_LengthModel() for _ in range(n)), (None,) * n, test_fold)


@pytest.fixture
def metadata() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "clip_id": list("abcdef"),
            "text": ["好啰", "要得啰", "冇得", "蛮好的", "好", "长沙话"],
            "label_m": [0.5, 0.5, -1.0, 1.0, 1.0, 0.5],
        }
    )


@pytest.fixture
def folds() -> list[dict[str, list[str]]]:
    return [
        {"train": ["a", "b", "c"], "valid": ["d"], "test": ["e", "f"]},
        {"train": ["d", "e", "f"], "valid": ["a"], "test": ["b", "c"]},
    ]


def test_majority_floor_mae_by_hand(metadata, folds):
    # fold 1 trains on 0.5, 0.5, −1 → predicts 0.5 for e (1) and f (0.5); fold 2 on 1, 1, 0.5 → predicts 1
    # for b (0.5) and c (−1)
    assert cascade.majority_floor_mae(metadata, folds) == pytest.approx(((0.5 + 0.0) / 2 + (0.5 + 2.0) / 2) / 2)


def test_noise_experiment_of_the_majority_baseline(metadata, folds):
    majority = next(b for b in text_baselines() if b.name == "Majority")
    fold_models, curve = cascade.noise_experiment(metadata, folds, majority, [0.0, 0.5], seeds=(0, 1))
    assert set(fold_models.test_fold) == set("bcef")
    assert list(zip(curve["rate"], curve["seed"])) == [(0.0, 0), (0.0, 1), (0.5, 0), (0.5, 1)]
    assert (curve.loc[curve["rate"] == 0.0, "realised_cer"] == 0.0).all()
    # the majority ignores the text: the same MAE at every rate, that of the floor on these folds
    np.testing.assert_allclose(curve["MAE"], [(0.5 + 0.0 + 0.5 + 2.0) / 4] * 4, atol=1e-4)


def test_published_cer_levels_from_the_readme():
    levels = cascade.published_cer_levels()
    assert levels == pytest.approx(
        {
            "Whisper-base (direct inference)": 0.7762,
            "Whisper-small (fine-tuned on CS-MSASR)": 0.4836,
            "Paraformer (fine-tuned on CS-MSASR)": 0.3424,
        }
    )
    assert cascade.published_cer_levels(1.4)["HMM-GMM (trained on CS-MSASR)"] == pytest.approx(1.3344)
    assert len(cascade.published_cer_levels(1.4)) == 6


def _curve(realised, mae, corr, seeds=(0,)) -> pd.DataFrame:
    rates = [0.0, 0.5, 1.0][: len(realised)]
    return pd.DataFrame(
        [
            {"rate": r, "seed": s, "realised_cer": c, "MAE": m, "Corr": k, "Mult_acc_2": 0.5}
            for s in seeds
            for r, c, m, k in zip(rates, realised, mae, corr)
        ]
    )


def test_seed_means_by_hand():
    curve = pd.concat(
        [_curve([0.0, 0.4], [0.4, 0.6], [0.6, 0.2], seeds=(0,)), _curve([0.0, 0.6], [0.4, 0.8], [0.6, 0.0], seeds=(1,))]
    )
    table = cascade.seed_means(curve)
    assert list(table.index) == ["0.00", "0.50"] and table.index.name == "nominal rate"
    np.testing.assert_allclose(table.loc["0.50", ["realised_cer", "MAE", "Corr"]], [0.5, 0.7, 0.1])


def test_costs_at_by_hand():
    curves = {"A": _curve([0.0, 0.5], [0.4, 0.6], [0.6, 0.2]), "B": _curve([0.0, 1.0], [0.5, 0.7], [0.5, 0.1])}
    table = cascade.costs_at(curves, {"half": 0.25}, floor_mae=0.8)
    assert table.index.names == ["text model", "at the CER of"]
    # A at 0.25: MAE 0.5, Corr 0.4, (0.8 − 0.5) / (0.8 − 0.4) of its advantage left
    np.testing.assert_allclose(table.loc[("A", "half"), ["MAE", "Corr", "advantage_left"]], [0.5, 0.4, 0.75])
    # B at 0.25: MAE 0.55, Corr 0.4, (0.8 − 0.55) / (0.8 − 0.5)
    np.testing.assert_allclose(table.loc[("B", "half"), ["MAE", "Corr", "advantage_left"]], [0.55, 0.4, 0.25 / 0.3])


def test_metric_at_cer_and_curves_side_by_side():
    curve = pd.concat(
        [
            _curve([0.0, 0.4, 0.8], [0.4, 0.6, 0.7], [0.6, 0.2, 0.0], seeds=(0,)),
            _curve([0.0, 0.6, 1.0], [0.4, 0.8, 0.9], [0.6, 0.0, 0.0], seeds=(1,)),
        ]
    )
    # seed means: realised 0, 0.5, 0.9; Corr 0.6, 0.1, 0 → at 0.25 halfway between 0.6 and 0.1
    assert cascade.metric_at_cer(curve, 0.25, "Corr") == pytest.approx(0.35)
    assert cascade.metric_at_cer(curve, 2.0, "MAE") == pytest.approx(0.8)  # beyond the curve: its last value
    one, two = _curve([0.0, 0.4], [0.4, 0.6], [0.6, 0.2]), _curve([0.0, 0.3], [0.4, 0.5], [0.6, 0.4])
    table = cascade.curves_side_by_side({"one": one, "two": two})
    assert list(table.columns) == [(n, c) for n in ("one", "two") for c in ("realised_cer", "MAE", "Corr")]
    assert table.loc[0.5, ("two", "MAE")] == 0.5 and table.loc[0.5, ("one", "realised_cer")] == 0.4


def _runs() -> dict[str, pd.DataFrame]:
    first = pd.DataFrame(
        {
            "clip_id": ["a", "b"],
            "reference": ["好啰", "要得啰"],
            "hypothesis_raw": ["好了", "要得啰啰啰"],
            "hypothesis": ["好了", "要得啰啰啰"],
        }
    )
    second = pd.DataFrame(
        {
            "clip_id": ["b", "a"],
            "reference": ["要得啰", "好啰"],
            "hypothesis_raw": ["要的", "好啰"],
            "hypothesis": ["要的", "好啰"],
        }
    )
    return {"greedy": first, "beam": second}


def test_hypothesis_variants_follow_the_first_run():
    clip_ids, variants = cascade.hypothesis_variants(_runs())
    assert clip_ids == ["a", "b"]
    assert variants == {
        "manual transcript": ["好啰", "要得啰"],
        "hypothesis (greedy)": ["好了", "要得啰啰啰"],
        "hypothesis (beam)": ["好啰", "要的"],
    }  # beam's rows reordered to a, b
    runs = _runs()
    runs["beam"] = runs["beam"].iloc[:1]
    with pytest.raises(CsmsasrError, match="lacks 1 clip"):
        cascade.hypothesis_variants(runs)


def test_read_hypotheses_and_prediction_shift_by_hand():
    labels = pd.Series({"a": 0.0, "b": 1.0})
    models = _fold_models({"a": 0, "b": 1})
    predictions, metrics = cascade.read_hypotheses({"length": models, "again": models}, _runs(), labels)
    # (len − 2) / 4: transcripts 好啰 → 0, 要得啰 → 0.25; greedy 好了 → 0, 要得啰啰啰 → 0.75; beam 好啰 → 0, 要的 → 0
    np.testing.assert_allclose(predictions["length"]["hypothesis (greedy)"], [0.0, 0.75])
    assert metrics.index.names == ["text model", "text read"]
    assert metrics.loc[("again", "manual transcript"), "MAE"] == pytest.approx((0.0 + 0.75) / 2)
    assert metrics.loc[("length", "hypothesis (beam)"), "MAE"] == pytest.approx((0.0 + 1.0) / 2)
    assert metrics.loc[("length", "hypothesis (greedy)"), "mean prediction"] == pytest.approx(0.375)
    shift = cascade.prediction_shift(predictions["length"])
    assert list(shift.index) == ["a", "b"] and list(shift.columns) == ["hypothesis (greedy)", "hypothesis (beam)"]
    np.testing.assert_allclose(shift.to_numpy(), [[0.0, 0.0], [0.5, -0.25]])
    with pytest.raises(CsmsasrError, match="no prediction column"):
        cascade.prediction_shift(predictions["length"], reference="gold")


def test_clip_cer_lines_up_with_the_clips():
    table = cascade.clip_cer(_runs(), ["b", "a", "z"])
    assert list(table.columns) == ["greedy", "beam"] and list(table.index) == ["b", "a", "z"]
    # greedy: b gains two inserted 啰 (2 / 3), a one substitution (1 / 2); beam: b 得→的 and 啰 lost (2 / 3)
    np.testing.assert_allclose(table.loc[["b", "a"]].to_numpy(), [[2 / 3, 2 / 3], [1 / 2, 0.0]])
    assert table.loc["z"].isna().all()


def test_with_mae_change_by_hand():
    ablation = pd.DataFrame({"MAE": [0.5, 0.55, 0.45]}, index=["transcript", "啰 removed", "random"])
    np.testing.assert_allclose(cascade.with_mae_change(ablation)["MAE change"], [0.0, 0.05, -0.05])
    with pytest.raises(CsmsasrError, match="no row 'gold'"):
        cascade.with_mae_change(ablation, reference="gold")


def test_score_readings_pairs_models_and_texts():
    labels = pd.Series({"a": 0.0, "b": 0.5})
    models = _fold_models({"a": 0, "b": 0})
    table = cascade.score_readings(
        ["a", "b"], {"short": (models, ["好啰", "要得"]), "long": (models, ["好啰啰啰", "要得啰啰"])}, labels
    )
    # short: 0, 0 → errors 0, 0.5; long: 0.5, 0.5 → errors 0.5, 0
    assert table.loc["short", "MAE"] == pytest.approx(0.25) and table.loc["long", "MAE"] == pytest.approx(0.25)
    assert table.loc["long", "mean prediction"] == pytest.approx(0.5)
