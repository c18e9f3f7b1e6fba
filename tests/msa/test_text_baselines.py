"""Text-only baselines: majority, validation-chosen regularisation, class-value logistic."""

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import Ridge

from csmsasr_utils.errors import CsmsasrError
from csmsasr_utils.msa.metrics import sims_regression_metrics
from csmsasr_utils.msa.text_baselines import (
    ALPHAS,
    by_key,
    evaluate_text_baselines,
    fit_tuned,
    majority_value,
    text_baselines,
)


@pytest.fixture(scope="module")
def toy():
    rng = np.random.default_rng(0)
    positive, negative, neutral = "好开心喜欢", "烦死气恼差", "今天我们去"
    texts, labels = [], []
    for i in range(90):
        label = [-1.0, -0.5, 0.0, 0.5, 1.0][i % 5]
        pool = positive if label > 0 else negative if label < 0 else neutral
        texts.append("".join(rng.choice(list(pool + neutral), 6)))
        labels.append(label)
    metadata = pd.DataFrame({"clip_id": [f"c{i}" for i in range(90)], "text": texts, "label_m": labels})
    ids = metadata["clip_id"].to_numpy()
    split = {"train": ids[:60], "valid": ids[60:75], "test": ids[75:]}
    return metadata, split


def test_majority_predicts_the_most_frequent_training_label(toy):
    metadata, split = toy
    rows = evaluate_text_baselines(metadata, {0: split}, "paper", text_baselines()[:1])
    expected = majority_value(metadata.set_index("clip_id").loc[split["train"], "label_m"])
    assert set(rows.loc[0, "test_predictions"]) == {expected}
    assert rows.loc[0, "alpha"] is None or np.isnan(rows.loc[0, "alpha"])


def test_ridge_alpha_is_the_validation_mae_minimum_and_metrics_match(toy):
    metadata, split = toy
    rows = evaluate_text_baselines(metadata, {0: split}, "paper", [text_baselines()[1]])
    frame = metadata.set_index("clip_id")

    def X(k):
        return frame.loc[split[k], "text"]

    def y(k):
        return frame.loc[split[k], "label_m"].to_numpy()

    maes = {}
    for alpha in ALPHAS:
        vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)
        model = Ridge(alpha=alpha).fit(vec.fit_transform(X("train")), y("train"))
        maes[alpha] = np.mean(np.abs(np.clip(model.predict(vec.transform(X("valid"))), -1, 1) - y("valid")))
    best = min(sorted(maes, reverse=True), key=lambda a: maes[a])
    assert rows.loc[0, "alpha"] == best
    vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)
    pred = Ridge(alpha=best).fit(vec.fit_transform(X("train")), y("train")).predict(vec.transform(X("test")))
    np.testing.assert_allclose(rows.loc[0, "test_predictions"], pred)
    assert rows.loc[0, "test_MAE"] == sims_regression_metrics(pred, y("test"))["MAE"]


def test_logistic_predicts_label_values(toy):
    metadata, split = toy
    rows = evaluate_text_baselines(metadata, {0: split}, "paper", [text_baselines()[2]])
    assert set(rows.loc[0, "test_predictions"]) <= {-1.0, -0.5, 0.0, 0.5, 1.0}
    assert rows.loc[0, "test_Mult_acc_2"] > 0.6  # the toy text is separable


def test_bad_input_is_refused(toy):
    metadata, split = toy
    with pytest.raises(CsmsasrError, match="label_m"):
        evaluate_text_baselines(metadata.drop(columns="label_m"), {0: split}, "paper")
    with pytest.raises(CsmsasrError, match="not in the metadata"):
        evaluate_text_baselines(metadata, {0: {**split, "test": np.array(["nope"])}}, "paper")
    with pytest.raises(CsmsasrError):
        majority_value([])


def test_a_validation_set_without_finite_labels_is_a_clear_error(toy):
    """Every candidate strength scores NaN on NaN labels: the search says so instead of returning nothing."""
    metadata, split = toy
    texts, labels = metadata.set_index("clip_id")["text"], metadata.set_index("clip_id")["label_m"]
    ridge = by_key(text_baselines())["char_tfidf_ridge"]
    nan_labels = pd.Series(np.nan, index=split["valid"])
    with pytest.raises(CsmsasrError, match="finite validation MAE"):
        fit_tuned(ridge, texts[split["train"]], labels[split["train"]], texts[split["valid"]], nan_labels)


def test_the_tuned_model_is_the_one_fitted_with_the_chosen_strength(toy):
    """The model kept by the search predicts exactly as a fresh fit with the chosen alpha (fits are
    deterministic, so keeping it instead of refitting changes no number)."""
    metadata, split = toy
    texts, labels = metadata.set_index("clip_id")["text"], metadata.set_index("clip_id")["label_m"]
    for baseline in text_baselines():
        model, alpha = fit_tuned(
            baseline, texts[split["train"]], labels[split["train"]], texts[split["valid"]], labels[split["valid"]]
        )
        fresh = baseline.make(alpha).fit(texts[split["train"]], labels[split["train"]])
        np.testing.assert_array_equal(model.predict(texts[split["test"]]), fresh.predict(texts[split["test"]]))


def test_baselines_have_stable_unique_keys_and_by_key_picks_them():
    from csmsasr_utils.errors import UnknownName
    from csmsasr_utils.msa.text_baselines import TextBaseline, by_key

    baselines = text_baselines(wordpiece_tokenizer=str.split)
    assert [b.key for b in baselines] == ["majority", "char_tfidf_ridge", "char_tfidf_logistic", "wordpiece_ridge"]
    assert [b.name for b in baselines] == [
        "Majority",
        "Char n-gram TF-IDF + ridge",
        "Char n-gram TF-IDF + logistic",
        "WordPiece bag + ridge",
    ]
    keyed = by_key(baselines)
    assert list(keyed) == [b.key for b in baselines]
    assert keyed["char_tfidf_logistic"] is baselines[2]
    with pytest.raises(UnknownName, match="majority"):  # the message lists the keys there are
        keyed["e5_ridge"]
    with pytest.raises(CsmsasrError, match="share the key"):
        by_key([baselines[0], TextBaseline("majority", "Another", baselines[0].make)])


def test_embedding_baselines_are_keyed_by_encoder():
    from csmsasr_utils.msa.text_baselines import EMBEDDING_BASELINES, embedding_ridge

    assert embedding_ridge("e5", EMBEDDING_BASELINES["e5"]).key == "e5_ridge"
    assert embedding_ridge("use", EMBEDDING_BASELINES["use"]).key == "use_ridge"
    assert embedding_ridge("e5", "mine", key="e5_mine").key == "e5_mine"


def test_result_rows_carry_the_key_and_majority_predicts_the_training_mode(toy):
    import statistics

    from csmsasr_utils.stats import majority_floor

    metadata, split = toy
    rows = evaluate_text_baselines(metadata, {0: split}, "paper", text_baselines()[:2])
    assert rows[["model", "key"]].values.tolist() == [
        ["Majority", "majority"],
        ["Char n-gram TF-IDF + ridge", "char_tfidf_ridge"],
    ]
    train = metadata.set_index("clip_id").loc[split["train"], "label_m"].tolist()
    mode = min(statistics.multimode(train))
    assert set(rows.loc[0, "test_predictions"]) == {mode}
    assert majority_value(train) == mode == majority_floor(train).mode
