"""The feature space: pooling sequences to vectors, UMAP maps, and how separable the labels are.

Each clip's features are sequences (text 39 × 768, audio 553 × 13, vision 321 × 347 in the
real file, zero-padded). To look at them, or to probe them with a linear model, every clip is
**pooled** to one vector per modality. Two poolings matter:

* :func:`pool_valid` — the mean over the clip's valid frames (``audio_lengths``,
  ``vision_lengths``; for text, the frames before the zero padding);
* :func:`pool_padded` — MMSA's choice for its "normalised" models: the mean over the full
  padded length, zeros included, then NaN → 0. A short clip's vector is shrunk towards 0.

(The schema and validation of the feature file live in :mod:`csmsasr_utils.data.features`.)
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.metrics import silhouette_score
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import StandardScaler

from csmsasr_utils.data.features import MODALITIES, FeatureSet
from csmsasr_utils.data.labels import mmsa_bins
from csmsasr_utils.msa.metrics import sims_regression_metrics
from csmsasr_utils.stats import majority_baseline

_CHUNK = 64  # clips per block: keeps temporaries small on real-size vision arrays

#: Default UMAP parameters of the book (umap-learn's defaults, with a fixed seed).
UMAP_DEFAULTS: dict[str, object] = {"n_neighbors": 15, "min_dist": 0.1, "metric": "euclidean", "random_state": 42}


def text_lengths(features: FeatureSet) -> np.ndarray:
    """Valid length of each clip's text sequence.

    MMSA files have no ``text_lengths``. The attention mask of ``text_bert`` (row 1) gives
    it when present; otherwise it is the index after the last non-zero frame.
    """
    if features.text_bert is not None:
        return np.asarray(features.text_bert[:, 1, :] > 0).sum(axis=1).astype(np.int64)
    lengths = np.zeros(len(features), dtype=np.int64)
    for start in range(0, len(features), _CHUNK):
        nonzero = np.abs(features.text[start : start + _CHUNK]).sum(axis=-1) > 0
        any_frame = nonzero.any(axis=1)
        last = nonzero.shape[1] - np.argmax(nonzero[:, ::-1], axis=1)
        lengths[start : start + _CHUNK] = np.where(any_frame, last, 0)
    return lengths


def valid_lengths(features: FeatureSet) -> dict[str, np.ndarray]:
    """Valid sequence length of every clip, per modality."""
    return {"text": text_lengths(features), "audio": features.audio_lengths, "vision": features.vision_lengths}


def pool_valid(sequences: np.ndarray, lengths: Sequence[int]) -> np.ndarray:
    """Mean over each clip's first ``length`` frames → (N, D) float64; a clip of length 0 gives 0s.

    >>> x = np.array([[[1.0], [3.0], [0.0]]]); pool_valid(x, [2]).tolist()
    [[2.0]]
    """
    lengths = np.asarray(lengths, dtype=np.int64)
    n, steps, dim = sequences.shape
    if lengths.shape != (n,) or (lengths < 0).any() or (lengths > steps).any():
        raise ValueError(f"lengths must be {n} integers in [0, {steps}]")
    out = np.zeros((n, dim))
    frames = np.arange(steps)
    for start in range(0, n, _CHUNK):
        block = sequences[start : start + _CHUNK].astype(np.float64)
        length = lengths[start : start + _CHUNK]
        mask = frames[None, :] < length[:, None]
        sums = np.einsum("nt,ntd->nd", mask, np.nan_to_num(block, nan=0.0, posinf=0.0, neginf=0.0))
        out[start : start + _CHUNK] = sums / np.maximum(length, 1)[:, None]
    return out


def pool_padded(sequences: np.ndarray) -> np.ndarray:
    """MMSA's pooling: mean over the whole padded length (zeros included), then NaN → 0.

    >>> x = np.array([[[1.0], [3.0], [0.0]]]); pool_padded(x).tolist()
    [[1.3333333333333333]]
    """
    out = np.zeros((sequences.shape[0], sequences.shape[2]))
    for start in range(0, len(sequences), _CHUNK):
        out[start : start + _CHUNK] = np.mean(sequences[start : start + _CHUNK], axis=1, dtype=np.float64)
    out[np.isnan(out)] = 0.0
    return out


def pooled_features(features: FeatureSet, how: str = "valid") -> dict[str, np.ndarray]:
    """One (N, D) matrix per modality, pooled with ``how`` = ``'valid'`` or ``'padded'``."""
    if how == "valid":
        lengths = valid_lengths(features)
        return {m: pool_valid(getattr(features, m), lengths[m]) for m in MODALITIES}
    if how == "padded":
        return {m: pool_padded(getattr(features, m)) for m in MODALITIES}
    raise ValueError(f"how must be 'valid' or 'padded', got {how!r}")


def pooling_difference(features: FeatureSet) -> pd.DataFrame:
    """How much MMSA's padded mean differs from the mean over valid frames, per modality.

    Columns: ``median_valid_fraction`` (valid / padded length), ``median_relative_diff``
    (‖valid − padded‖ / ‖valid‖), ``median_cosine`` between the two vectors, and
    ``norm_vs_length_r`` — the correlation of the padded vector's norm with the clip's
    length: close to 1 means the padded mean mostly encodes *how long* the clip is.
    """
    lengths = valid_lengths(features)
    rows = {}
    for modality in MODALITIES:
        sequences = getattr(features, modality)
        valid = pool_valid(sequences, lengths[modality])
        padded = pool_padded(sequences)
        valid_norm = np.linalg.norm(valid, axis=1)
        padded_norm = np.linalg.norm(padded, axis=1)
        ok = valid_norm > 0
        cosine = (valid * padded).sum(axis=1)[ok] / (valid_norm[ok] * padded_norm[ok])
        rows[modality] = {
            "median_valid_fraction": float(np.median(lengths[modality] / sequences.shape[1])),
            "median_relative_diff": float(np.median(np.linalg.norm(valid - padded, axis=1)[ok] / valid_norm[ok])),
            "median_cosine": float(np.median(cosine)),
            "norm_vs_length_r": float(np.corrcoef(padded_norm, lengths[modality])[0, 1]),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def standardize(matrix: np.ndarray) -> np.ndarray:
    """Zero mean and unit variance per column (constant columns become 0)."""
    return StandardScaler().fit_transform(np.asarray(matrix, dtype=np.float64))


def combine_modalities(pooled: Mapping[str, np.ndarray]) -> np.ndarray:
    """Concatenate standardised modality blocks, each scaled by 1/√dim so each has equal weight.

    Without the scaling the 768 text columns would outweigh the 13 audio columns 59 to 1.
    """
    blocks = [standardize(pooled[m]) / np.sqrt(pooled[m].shape[1]) for m in MODALITIES]
    return np.hstack(blocks)


def reduce(matrix: np.ndarray, n_components: int | None = 50, seed: int = 0) -> np.ndarray:
    """Standardise, then PCA to ``n_components`` (skipped when ``None`` or the data is narrower)."""
    scaled = standardize(matrix)
    if n_components is None or scaled.shape[1] <= n_components:
        return scaled
    return PCA(n_components=n_components, random_state=seed).fit_transform(scaled)


def _import_umap():
    """umap-learn, imported without its import-time chatter (tqdm's ipywidgets notice, numba)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import umap
    return umap


def _umap_key(matrix: np.ndarray, params: Mapping[str, object]) -> str:
    umap = _import_umap()

    digest = hashlib.sha256()
    contiguous = np.ascontiguousarray(matrix, dtype=np.float64)
    digest.update(
        json.dumps(
            {"shape": contiguous.shape, "umap": umap.__version__, **params}, sort_keys=True, default=str
        ).encode()
    )
    digest.update(contiguous.tobytes())
    return digest.hexdigest()[:24]


def umap_embedding(matrix: np.ndarray, cache_dir: str | Path | None = None, **params: object) -> np.ndarray:
    """A 2-d UMAP embedding of the rows of ``matrix`` (seeded: :data:`UMAP_DEFAULTS`).

    With ``cache_dir``, the result is stored as ``umap-<key>.npy`` where the key hashes
    the data, the parameters and the umap-learn version: an unchanged rebuild of the
    book does not refit. umap-learn's warning that a fixed ``random_state`` disables
    parallelism is silenced: reproducibility is the point here.
    """
    settings = {**UMAP_DEFAULTS, **params}
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"umap-{_umap_key(matrix, settings)}.npy"
        if path.is_file():
            return np.load(path, allow_pickle=False)
    umap = _import_umap()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the n_jobs=1 notice of a fixed random_state
        embedding = umap.UMAP(n_components=2, **settings).fit_transform(np.asarray(matrix, dtype=np.float64))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, embedding.astype(np.float64), allow_pickle=False)
    return embedding


def knn_purity(matrix: np.ndarray, labels: Sequence, k: int = 10) -> float:
    """Mean share of each point's ``k`` nearest neighbours (itself excluded) with its label.

    Two tight pairs far apart: each point's nearest neighbour shares its label.

    >>> knn_purity(np.array([[0.0], [0.1], [5.0], [5.1]]), [0, 0, 1, 1], k=1)
    1.0
    """
    labels = np.asarray(labels)
    if not 1 <= k < len(labels):
        raise ValueError(f"k must be between 1 and {len(labels) - 1}")
    neighbours = NearestNeighbors(n_neighbors=k + 1).fit(matrix).kneighbors(matrix, return_distance=False)
    others = np.array([row[row != i][:k] for i, row in enumerate(neighbours)])
    return float(np.mean(labels[others] == labels[:, None]))


def chance_purity(labels: Sequence) -> float:
    """k-NN purity expected when neighbours are random: Σ p_c² over the label shares p_c."""
    _, counts = np.unique(np.asarray(labels), return_counts=True)
    shares = counts / counts.sum()
    return float(np.sum(shares**2))


def linear_probe(matrix: np.ndarray, target: np.ndarray, folds: Sequence[tuple[np.ndarray, np.ndarray]]) -> dict:
    """Cross-validated ridge regression from features to a label, scored like MMSA.

    For each (train, test) index pair: standardise on train, fit ridge (α chosen on
    train by leave-one-out, :class:`~sklearn.linear_model.RidgeCV`), predict test,
    clip to [-1, 1]. Returns the mean over folds of ``Mult_acc_2/3/5`` and ``MAE`` (scored by
    :func:`~csmsasr_utils.msa.metrics.sims_regression_metrics`, unrounded), and the same for
    :func:`~csmsasr_utils.stats.majority_baseline` (keys prefixed ``majority_``).
    """
    target = np.asarray(target, dtype=float)
    scores: list[dict[str, float]] = []
    for train, test in folds:
        scaler = StandardScaler().fit(matrix[train])
        model = RidgeCV(alphas=np.logspace(-2, 5, 15)).fit(scaler.transform(matrix[train]), target[train])
        predicted = np.clip(model.predict(scaler.transform(matrix[test])), -1.0, 1.0)
        metrics = sims_regression_metrics(predicted, target[test], decimals=None)
        fold = {key: metrics[key] for key in ("Mult_acc_2", "Mult_acc_3", "Mult_acc_5", "MAE")}
        baseline = majority_baseline(target[train], target[test])
        fold.update({f"majority_{k}": v for k, v in baseline.items() if k != "F1_score"})
        scores.append(fold)
    return {key: float(np.mean([s[key] for s in scores])) for key in scores[0]}


def speaker_probe(matrix: np.ndarray, videos: Sequence, folds: Sequence[tuple[np.ndarray, np.ndarray]]) -> float:
    """Cross-validated accuracy of a logistic regression that predicts the source video."""
    videos = np.asarray(videos)
    accuracies = []
    for train, test in folds:
        scaler = StandardScaler().fit(matrix[train])
        model = LogisticRegression(max_iter=2000).fit(scaler.transform(matrix[train]), videos[train])
        accuracies.append(np.mean(model.predict(scaler.transform(matrix[test])) == videos[test]))
    return float(np.mean(accuracies))


def separability_table(
    matrices: Mapping[str, np.ndarray],
    label_m: np.ndarray,
    own_labels: Mapping[str, np.ndarray],
    videos: Sequence,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    k: int = 10,
) -> pd.DataFrame:
    """How well each feature matrix separates sentiment, and the speaker.

    ``matrices`` maps a row name (``'text'`` … ``'all'``) to reduced features (see
    :func:`reduce`); ``own_labels`` maps the same names to the modality's own label.
    Columns: silhouette and k-NN purity of the 5 M classes (with chance purity), the
    linear probe of M (and of the modality's own label) under MMSA's bins with the
    majority baseline, and the same two measures plus a probe for the source video.
    """
    m_classes = mmsa_bins(label_m, 5)
    videos = np.asarray(videos)
    rows = {}
    for name, matrix in matrices.items():
        probe_m = linear_probe(matrix, label_m, folds)
        probe_own = linear_probe(matrix, own_labels[name], folds)
        rows[name] = {
            "silhouette_M": float(silhouette_score(matrix, m_classes)),
            "knn_purity_M": knn_purity(matrix, m_classes, k),
            "chance_purity_M": chance_purity(m_classes),
            "probe_M_acc2": probe_m["Mult_acc_2"],
            "probe_M_acc5": probe_m["Mult_acc_5"],
            "probe_M_mae": probe_m["MAE"],
            "majority_acc2": probe_m["majority_Mult_acc_2"],
            "majority_acc5": probe_m["majority_Mult_acc_5"],
            "majority_mae": probe_m["majority_MAE"],
            "probe_own_acc5": probe_own["Mult_acc_5"],
            "silhouette_video": float(silhouette_score(matrix, videos)),
            "knn_purity_video": knn_purity(matrix, videos, k),
            "chance_purity_video": chance_purity(videos),
            "probe_video_acc": speaker_probe(matrix, videos, folds),
        }
    return pd.DataFrame.from_dict(rows, orient="index")
