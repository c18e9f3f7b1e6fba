"""Text models on other texts than the transcripts: out-of-fold routing, simulated errors, deletions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from csmsasr_utils.asr.metrics import cer
from csmsasr_utils.data import make_demo_metadata, official_folds
from csmsasr_utils.errors import CsmsasrError, UnknownClipError
from csmsasr_utils.msa import text_robustness as tr
from csmsasr_utils.msa.metrics import sims_regression_metrics
from csmsasr_utils.msa.text_baselines import evaluate_text_baselines, text_baselines

MAJORITY, RIDGE = text_baselines()[0], text_baselines()[1]


@pytest.fixture(scope="module")
def meta():
    return make_demo_metadata()


def _two_fold_frame():
    """20 clips; fold 0 trains on mostly-positive clips, fold 1 on mostly-negative ones."""
    ids = [f"01_{i:04d}" for i in range(20)]
    labels = [0.0] * 10 + [1.0] * 6 + [0.0] * 2 + [-1.0] * 2
    labels[:6] = [-1.0] * 6  # fold 1 trains on clips 0–7: mostly -1
    frame = pd.DataFrame({"clip_id": ids, "text": ["好"] * 20, "label_m": labels})
    folds = [
        {"train": ids[10:18], "valid": ids[18:], "test": ids[:10]},
        {"train": ids[:8], "valid": ids[8:10], "test": ids[10:]},
    ]
    return frame, folds


def test_each_clip_is_predicted_by_the_fold_that_tests_it():
    frame, folds = _two_fold_frame()
    models = tr.fit_fold_models(frame, folds, MAJORITY)
    # by hand: fold 0's training labels are six 1.0 and two 0.0 → 1.0; fold 1's six -1.0, two 0.0 → -1.0
    prediction = models.predict(["01_0000", "01_0015", "01_0009"], ["x", "y", "z"])
    assert prediction.tolist() == [1.0, -1.0, 1.0]
    with pytest.raises(UnknownClipError):
        models.predict(["99_0001"], ["x"])
    with pytest.raises(CsmsasrError, match="texts"):
        models.predict(["01_0000"], [])


def test_fold_models_refuse_overlapping_test_sets_and_unknown_clips():
    frame, folds = _two_fold_frame()
    overlapping = [folds[0], {**folds[1], "test": folds[1]["test"] + ["01_0000"]}]
    with pytest.raises(CsmsasrError, match="test clip of folds 0 and 1"):
        tr.fit_fold_models(frame, overlapping, MAJORITY)
    with pytest.raises(UnknownClipError):
        tr.fit_fold_models(frame, [{**folds[0], "train": ["nope"]}], MAJORITY)


def test_out_of_fold_gold_predictions_equal_the_baseline_evaluation(meta):
    """On the transcripts themselves the fold models reproduce evaluate_text_baselines exactly."""
    folds = official_folds(meta)
    expected = evaluate_text_baselines(meta, dict(enumerate(folds)), "official", [RIDGE])
    models = tr.fit_fold_models(meta, folds, RIDGE)
    texts = meta.set_index("clip_id")["text"]
    for row in expected.itertuples():
        got = models.predict(row.test_clip_ids, texts.loc[row.test_clip_ids].tolist())
        np.testing.assert_allclose(got, row.test_predictions, rtol=0, atol=1e-12)
        assert models.alphas[row.fold] == row.alpha


def test_variant_metrics_are_the_sims_metrics_of_each_column(meta):
    models = tr.fit_fold_models(meta, official_folds(meta), RIDGE)
    ids, texts = meta["clip_id"].tolist(), meta["text"].tolist()
    variants = {"gold": texts, "no 啰": tr.remove_characters(texts, "啰")}
    predictions = tr.variant_predictions(models, ids, variants)
    labels = meta.set_index("clip_id")["label_m"]
    table = tr.variant_metrics(predictions, labels)
    assert list(table.index) == ["gold", "no 啰"]
    for name in variants:
        direct = sims_regression_metrics(predictions[name].to_numpy(), labels.loc[ids].to_numpy())
        for key, value in direct.items():
            assert table.loc[name, key] == pytest.approx(value)
        assert table.loc[name, "mean prediction"] == pytest.approx(predictions[name].mean())
    with pytest.raises(UnknownClipError):
        tr.variant_metrics(predictions, labels.iloc[:3])


def test_no_errors_at_rate_zero_and_determinism():
    alphabet = tr.character_distribution(["长沙话好韵味", "要得啰"])
    texts = ["长沙 话", "要得啰"]
    assert tr.simulate_recognition_errors(texts, 0.0, alphabet, seed=1) == texts
    once = tr.simulate_recognition_errors(texts * 50, 0.5, alphabet, seed=1)
    assert once == tr.simulate_recognition_errors(texts * 50, 0.5, alphabet, seed=1)
    assert once != tr.simulate_recognition_errors(texts * 50, 0.5, alphabet, seed=2)


def test_each_kind_of_edit_alone():
    chars, probabilities = tr.character_distribution(["甲乙丙丁戊"])
    assert set(chars) == set("甲乙丙丁戊") and probabilities.sum() == pytest.approx(1.0)
    texts = ["甲乙 丙丁戊" * 4] * 200
    deleted = tr.simulate_recognition_errors(texts, 1.0, (chars, probabilities), 0, tr.ErrorMix(0, 1, 0))
    assert set(deleted) == {"    "}  # every character deleted, the four spaces kept
    substituted = tr.simulate_recognition_errors(texts, 1.0, (chars, probabilities), 0, tr.ErrorMix(1, 0, 0))
    for before, after in zip(texts, substituted):
        assert len(after) == len(before)
        assert all((a == b == " ") or (a != b and a in "甲乙丙丁戊") for a, b in zip(after, before))
    # substitutions only at rate 0.3: the share of changed characters is binomial around 0.3
    partly = tr.simulate_recognition_errors(texts, 0.3, (chars, probabilities), 0, tr.ErrorMix(1, 0, 0))
    changed = sum(a != b for x, y in zip(texts, partly) for a, b in zip(x, y))
    n = sum(len(t.replace(" ", "")) for t in texts)
    assert abs(changed / n - 0.3) < 4 * np.sqrt(0.3 * 0.7 / n)
    inserted = tr.simulate_recognition_errors(texts, 0.5, (chars, probabilities), 0, tr.ErrorMix(0, 0, 1))
    extra = sum(len(a) - len(b) for a, b in zip(inserted, texts))
    assert abs(extra / n - 0.5) < 4 * np.sqrt(0.25 / n)


def test_error_mix_and_rate_are_validated():
    with pytest.raises(CsmsasrError, match="sum to 1"):
        tr.ErrorMix(0.5, 0.5, 0.5)
    with pytest.raises(CsmsasrError, match="rate"):
        tr.simulate_recognition_errors(["好"], 1.5, tr.character_distribution(["好的"]), 0)
    with pytest.raises(CsmsasrError, match="two characters"):
        tr.simulate_recognition_errors(["好"], 0.5, tr.character_distribution(["好"]), 0)


def test_noise_curve_starts_at_the_gold_scores_and_realised_cer_grows(meta):
    models = tr.fit_fold_models(meta, official_folds(meta), RIDGE)
    curve = tr.noise_curve(models, meta, rates=[0.0, 0.3, 0.9], seeds=[0, 1], show_progress=False)
    assert len(curve) == 6
    gold = tr.variant_metrics(
        tr.variant_predictions(models, meta["clip_id"], {"gold": meta["text"].tolist()}),
        meta.set_index("clip_id")["label_m"],
    ).loc["gold"]
    at_zero = curve[curve["rate"] == 0.0]
    assert (at_zero["realised_cer"] == 0).all()
    assert at_zero["MAE"].tolist() == pytest.approx([gold["MAE"]] * 2)
    realised = curve.groupby("rate")["realised_cer"].mean()
    assert realised.loc[0.0] < realised.loc[0.3] < realised.loc[0.9] <= 0.9 + 0.05


def test_realised_cer_of_a_substitution_channel_is_at_most_its_edits():
    """The edit distance never exceeds the substitutions made, and an alignment rarely finds much
    cheaper paths (a shifted run of characters can cost less than its substitutions)."""
    alphabet = tr.character_distribution(["甲乙丙丁戊己庚辛"])
    texts = ["甲乙丙丁戊己庚辛"] * 100
    noisy = tr.simulate_recognition_errors(texts, 0.4, alphabet, 3, tr.ErrorMix(1, 0, 0))
    changed = sum(a != b for x, y in zip(texts, noisy) for a, b in zip(x, y))
    assert 0.9 * changed / 800 <= cer(texts, noisy) <= changed / 800


def test_removing_characters_and_the_random_control():
    assert tr.remove_characters(["好啰要得啰", "嘞 嘞"], "啰嘞") == ["好要得", " "]
    texts = ["好啰要得啰", "长沙话嘞"]
    control = tr.remove_random_characters(texts, [2, 1], seed=0, keep="啰嘞")
    assert [len(t) for t in control] == [3, 3]
    assert control[0].count("啰") == 2 and control[1].endswith("嘞")
    assert control == tr.remove_random_characters(texts, [2, 1], seed=0, keep="啰嘞")
    with pytest.raises(CsmsasrError, match="cannot delete"):
        tr.remove_random_characters(["啰啰好"], [2], seed=0, keep="啰")
    with pytest.raises(CsmsasrError, match="counts"):
        tr.remove_random_characters(["好"], [], seed=0)


def test_cost_at_interpolates_the_mean_curve_by_hand():
    # two seeds per rate; means: CER 0 → MAE 0.40, CER 0.5 → MAE 0.50, CER 1.0 → MAE 0.60
    curve = pd.DataFrame(
        {
            "rate": [0, 0, 0.5, 0.5, 1, 1],
            "seed": [0, 1] * 3,
            "realised_cer": [0, 0, 0.4, 0.6, 1.0, 1.0],
            "MAE": [0.4, 0.4, 0.45, 0.55, 0.6, 0.6],
            "Corr": [0.4, 0.4, 0.2, 0.2, 0.0, 0.0],
        }
    )
    table = tr.cost_at(curve, {"A": 0.25, "B": 0.75, "beyond": 1.2}, floor_mae=0.6)
    assert table.loc["A", "MAE"] == pytest.approx(0.45) and table.loc["A", "Corr"] == pytest.approx(0.3)
    assert table.loc["A", "advantage_left"] == pytest.approx(0.75)  # (0.6 − 0.45) / (0.6 − 0.4)
    assert table.loc["B", "MAE"] == pytest.approx(0.55) and table.loc["B", "advantage_left"] == pytest.approx(0.25)
    assert np.isnan(table.loc["beyond", "MAE"]) and table.loc["beyond", "CER"] == 1.2
    with pytest.raises(CsmsasrError, match="floor"):
        tr.cost_at(curve, {"A": 0.25}, floor_mae=0.3)


def test_deletion_ablation_scores_the_three_kinds_of_text(meta):
    models = tr.fit_fold_models(meta, official_folds(meta), RIDGE)
    table = tr.deletion_ablation(models, meta, "啰嘞", seeds=(0, 1))
    has = meta[meta["text"].str.contains("[啰嘞]")]
    assert list(table.index) == [
        "transcript",
        "啰嘞 removed",
        "random characters removed (seed 0)",
        "random characters removed (seed 1)",
    ]
    assert (table["clips"] == len(has)).all()
    # by hand for the removal row: the same models on the texts without the two characters
    labels = has["label_m"].to_numpy()
    direct = models.predict(has["clip_id"], [t.replace("啰", "").replace("嘞", "") for t in has["text"]])
    assert table.loc["啰嘞 removed", "MAE"] == pytest.approx(sims_regression_metrics(direct, labels)["MAE"])
    with pytest.raises(CsmsasrError, match="no transcript"):
        tr.deletion_ablation(models, meta, "𠀀")
