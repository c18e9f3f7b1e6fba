"""MMSA's regression metrics for SIMS-style labels, exactly as its ``MetricsTop`` computes them.

Predictions and labels are clipped to [-1, 1], then binned into right-closed intervals:

* 2 classes: [-1, 0], (0, 1]  (so a neutral 0 counts as negative, as in MMSA)
* 3 classes: [-1, -0.1], (-0.1, 0.1], (0.1, 1]
* 5 classes: [-1, -0.7], (-0.7, -0.1], (-0.1, 0.1], (0.1, 0.7], (0.7, 1]

``Mult_acc_k`` is the share of clips whose predicted bin equals the true bin, ``F1_score`` the
weighted F1 of the 2-class bins, ``MAE`` the mean absolute error and ``Corr`` Pearson's r of the
clipped values. MMSA rounds every value to 4 decimals; so does :func:`sims_regression_metrics`
unless ``decimals=None``.

:func:`sims_regression_metrics` is the one place the package computes these metrics: the trainer,
the text baselines, the majority floor (:func:`csmsasr_utils.stats.majority_baseline`) and the
linear probes (:func:`csmsasr_utils.feature_space.linear_probe`) all call it; the bins come from
:func:`csmsasr_utils.data.labels.mmsa_bins`. (:func:`bootstrap_metrics` vectorises the same
definitions over resamples, tested equal.) This module imports numpy and scikit-learn only — no
torch — so the descriptive chapters can use it.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.metrics import f1_score

from csmsasr_utils.data.labels import mmsa_bins
from csmsasr_utils.errors import CsmsasrError

METRIC_NAMES: tuple[str, ...] = ("Mult_acc_2", "Mult_acc_3", "Mult_acc_5", "F1_score", "MAE", "Corr")
#: Metrics where lower is better (all others: higher is better).
LOWER_IS_BETTER: frozenset[str] = frozenset({"MAE"})


def sims_bins(values, n_classes: int) -> np.ndarray:
    """MMSA's bin index of each value for ``n_classes`` in {2, 3, 5}: :func:`csmsasr_utils.data.labels.mmsa_bins`
    (clipped, right-closed, float32 input binned in float32 as MMSA does).

    >>> sims_bins(np.array([-1.0, -0.1, 0.0, 0.1, 0.2, 1.0]), 3).tolist()
    [0, 0, 1, 1, 2, 2]
    """
    try:
        return mmsa_bins(values, n_classes)
    except CsmsasrError as err:
        raise ValueError(str(err)) from err


def _as_vector(values, what: str) -> np.ndarray:
    """A flat float array: float32 stays float32 (MMSA bins float32 outputs in float32), the rest float64."""
    if hasattr(values, "detach"):  # a torch tensor
        values = values.detach().cpu().numpy()
    array = np.asarray(values)
    array = array.astype(np.float32 if array.dtype == np.float32 else np.float64, copy=False).reshape(-1)
    if array.size == 0:
        raise ValueError(f"{what} is empty")
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{what} contains NaN or infinite values")
    return array


def sims_regression_metrics(y_pred, y_true, decimals: int | None = 4) -> dict[str, float]:
    """``Mult_acc_2/3/5``, ``F1_score``, ``MAE``, ``Corr`` of predictions against labels.

    Accepts numpy arrays, lists or torch tensors of any shape with the same number of values.
    ``Corr`` is NaN when either side is constant (as numpy's ``corrcoef`` gives).

    >>> m = sims_regression_metrics([0.5, -0.5, 0.05, 0.9], [0.6, -0.2, -0.05, 0.2])
    >>> m["Mult_acc_2"], m["Mult_acc_3"], m["Mult_acc_5"], m["MAE"]
    (0.75, 1.0, 0.75, 0.3)
    """
    pred, true = _as_vector(y_pred, "y_pred"), _as_vector(y_true, "y_true")
    if pred.shape != true.shape:
        raise ValueError(f"y_pred has {pred.size} values but y_true has {true.size}")
    bins = {k: (sims_bins(pred, k), sims_bins(true, k)) for k in (2, 3, 5)}  # in the inputs' own precision
    pred, true = np.clip(pred.astype(np.float64), -1.0, 1.0), np.clip(true.astype(np.float64), -1.0, 1.0)
    result: dict[str, float] = {}
    for k in (2, 3, 5):
        result[f"Mult_acc_{k}"] = float(np.mean(bins[k][0] == bins[k][1]))
    result["F1_score"] = float(f1_score(bins[2][1], bins[2][0], average="weighted"))
    result["MAE"] = float(np.mean(np.abs(pred - true)))
    with np.errstate(invalid="ignore", divide="ignore"):
        result["Corr"] = float(np.corrcoef(pred, true)[0, 1]) if pred.size > 1 else float("nan")
    if decimals is not None:
        result = {k: round(v, decimals) for k, v in result.items()}
    return {k: result[k] for k in METRIC_NAMES}


def _resampled_metrics(pred: np.ndarray, true: np.ndarray, index: np.ndarray) -> np.ndarray:
    """The six metrics of every resample ``index[b]`` at once, ``(n_resamples, 6)``, unrounded.

    The same definitions as :func:`sims_regression_metrics` (tested equal), vectorised: bins are
    computed once per clip, weighted binary F1 from per-class counts, Pearson r from sums.
    """
    columns = [np.mean(sims_bins(pred, k)[index] == sims_bins(true, k)[index], axis=1) for k in (2, 3, 5)]
    p2, t2 = sims_bins(pred, 2)[index], sims_bins(true, 2)[index]
    pred, true = np.clip(pred.astype(np.float64), -1.0, 1.0), np.clip(true.astype(np.float64), -1.0, 1.0)
    f1 = np.zeros(len(index))
    for c in (0, 1):
        tp = np.sum((p2 == c) & (t2 == c), axis=1)
        fp = np.sum((p2 == c) & (t2 != c), axis=1)
        fn = np.sum((p2 != c) & (t2 == c), axis=1)
        support = tp + fn
        with np.errstate(invalid="ignore", divide="ignore"):
            f1 += np.where(support > 0, 2 * tp / (2 * tp + fp + fn), 0.0) * support / index.shape[1]
    columns.append(f1)
    p, t = pred[index], true[index]
    columns.append(np.mean(np.abs(p - t), axis=1))
    pc, tc = p - p.mean(axis=1, keepdims=True), t - t.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        columns.append(np.sum(pc * tc, axis=1) / np.sqrt(np.sum(pc**2, axis=1) * np.sum(tc**2, axis=1)))
    return np.column_stack(columns)


def bootstrap_metrics(y_pred, y_true, n_boot: int = 1000, seed: int = 0, level: float = 0.95):
    """Percentile bootstrap intervals of every SIMS metric, resampling clips with replacement.

    Returns a DataFrame indexed by metric with columns ``value`` (on all clips, unrounded),
    ``low``, ``high``. Resamples where ``Corr`` is undefined (a constant side) are left out of its
    interval.
    """
    import pandas as pd

    pred, true = _as_vector(y_pred, "y_pred"), _as_vector(y_true, "y_true")
    if pred.shape != true.shape:
        raise ValueError(f"y_pred has {pred.size} values but y_true has {true.size}")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    index = np.random.default_rng(seed).integers(0, pred.size, size=(n_boot, pred.size))
    samples = _resampled_metrics(pred, true, index)
    tail = (1 - level) / 2 * 100
    value = sims_regression_metrics(pred, true, decimals=None)
    with warnings.catch_warnings():  # Corr of a constant predictor is NaN in every resample
        warnings.simplefilter("ignore", RuntimeWarning)
        low, high = np.nanpercentile(samples, [tail, 100 - tail], axis=0)
    return pd.DataFrame(
        {"value": [value[m] for m in METRIC_NAMES], "low": low, "high": high},
        index=pd.Index(METRIC_NAMES, name="metric"),
    )
