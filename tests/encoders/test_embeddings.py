"""Sentence embeddings by encoder: memoised per text, cached on disk, usable as a scikit-learn step."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import Ridge
from sklearn.preprocessing import StandardScaler

from csmsasr_utils.encoders import embeddings
from csmsasr_utils.errors import CsmsasrError


class _CountingEncoder:
    """A stand-in encoder: a deterministic vector per text, and a record of what it was asked."""

    def __init__(self):
        self.calls: list[list[str]] = []

    def embed(self, texts):
        self.calls.append(list(texts))
        return np.stack([np.random.default_rng(sum(map(ord, t)) + len(t)).normal(size=4) for t in texts]).astype(
            np.float32
        )


@pytest.fixture
def counting(monkeypatch):
    encoder = _CountingEncoder()
    spec = embeddings.Encoder("fake", "a stand-in", 4, lambda: "v1", lambda: encoder)
    monkeypatch.setitem(embeddings.ENCODERS, "fake", spec)
    embeddings._embedder.cache_clear()
    yield encoder
    embeddings._embedder.cache_clear()


def test_each_text_is_embedded_once_and_kept_on_disk(counting, tmp_path):
    first = embeddings.SentenceEmbedder("fake", tmp_path)
    a = first(["甲", "乙", "甲"])
    assert counting.calls == [["乙", "甲"]] and a.shape == (3, 4) and np.array_equal(a[0], a[2])
    first(["乙", "丙"])
    assert counting.calls[-1] == ["丙"]
    again = embeddings.SentenceEmbedder("fake", tmp_path)  # a new process would read the file
    np.testing.assert_array_equal(again(["甲", "乙", "丙"]), first(["甲", "乙", "丙"]))
    assert len(counting.calls) == 2
    assert again.path.name == "fake-v1.npz"


def test_an_unknown_encoder_is_named():
    with pytest.raises(CsmsasrError, match="unknown sentence encoder 'bert'"):
        embeddings.encoder_spec("bert")


def test_embedding_ridge_baseline_is_scaler_and_ridge_on_the_vectors(counting, tmp_path, monkeypatch):
    """evaluate_text_baselines with an embedding baseline = sklearn by hand on the same vectors and alpha."""
    from csmsasr_utils.msa.metrics import sims_regression_metrics
    from csmsasr_utils.msa.text_baselines import embedding_ridge, evaluate_text_baselines

    monkeypatch.setenv("CSMSASR_CACHE_DIR", str(tmp_path))
    rng = np.random.default_rng(1)
    texts = [f"句子{i}" + "好" * (i % 5) for i in range(60)]
    meta = pd.DataFrame(
        {
            "clip_id": [f"c{i}" for i in range(60)],
            "text": texts,
            "label_m": rng.choice([-1.0, -0.5, 0.0, 0.5, 1.0], size=60),
        }
    )
    split = {
        "train": meta["clip_id"][:40].to_numpy(),
        "valid": meta["clip_id"][40:50].to_numpy(),
        "test": meta["clip_id"][50:].to_numpy(),
    }
    row = evaluate_text_baselines(meta, {0: split}, "paper", [embedding_ridge("fake", "fake + ridge")]).iloc[0]

    vectors = counting.embed(texts)
    scaler = StandardScaler().fit(vectors[:40])
    model = Ridge(alpha=row["alpha"]).fit(scaler.transform(vectors[:40]), meta["label_m"][:40])
    expected = model.predict(scaler.transform(vectors[50:]))
    np.testing.assert_allclose(row["test_predictions"], expected, rtol=1e-5, atol=1e-6)
    assert row["test_MAE"] == pytest.approx(sims_regression_metrics(expected, meta["label_m"][50:].to_numpy())["MAE"])
    # the alpha is the grid's best on the validation clips, by hand
    maes = {}
    for alpha in embeddings_alphas():
        fit = Ridge(alpha=alpha).fit(scaler.transform(vectors[:40]), meta["label_m"][:40])
        maes[alpha] = np.mean(
            np.abs(np.clip(fit.predict(scaler.transform(vectors[40:50])), -1, 1) - meta["label_m"][40:50])
        )
    assert maes[row["alpha"]] == pytest.approx(min(maes.values()))


def embeddings_alphas():
    from csmsasr_utils.msa.text_baselines import EMBEDDING_ALPHAS

    return EMBEDDING_ALPHAS


@pytest.mark.slow
def test_use_encoder_gives_unit_vectors_that_tell_texts_apart():
    from csmsasr_utils.encoders.use import USEEncoder

    vectors = USEEncoder(threads=1).embed(["今天天气很好", "今天天气不错", "我不喜欢这个"])
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2]
