"""Sentiment labels: the five CS-MSASR classes and MMSA's SIMS bins.

CS-MSASR annotates every clip on a 5-level scale. The official split files
store the multimodal class as an integer 1..5; the feature pickle stores the
same information as a regression value in [-1, 1]. MMSA evaluates regression
outputs on SIMS-style data by cutting the clipped value [-1, 1] into 2, 3 or 5
bins (``MMSA/utils/metricsTop.py``, ``__eval_sims_regression``):

* 2 classes: ``(-1.01, 0]`` negative-or-neutral, ``(0, 1.01]`` positive;
* 3 classes: ``(-1.01, -0.1]``, ``(-0.1, 0.1]``, ``(0.1, 1.01]``;
* 5 classes: edges at -0.7, -0.1, 0.1 and 0.7.

These functions are the only place in the package that knows those numbers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from csmsasr_utils.errors import CsmsasrError, InvalidArgument

#: Class names in order of the official integer class 1..5.
CLASS_NAMES: tuple[str, ...] = (
    "Negative",
    "Weakly negative",
    "Neutral",
    "Weakly positive",
    "Positive",
)

#: Regression value of each official integer class 1..5.
CLASS_VALUES: tuple[float, ...] = (-1.0, -0.5, 0.0, 0.5, 1.0)

#: MMSA's bin edges for SIMS-style regression labels, by number of classes.
MMSA_BIN_EDGES: dict[int, tuple[float, ...]] = {
    2: (-1.01, 0.0, 1.01),
    3: (-1.01, -0.1, 0.1, 1.01),
    5: (-1.01, -0.7, -0.1, 0.1, 0.7, 1.01),
}

#: Readable names of the MMSA bins (index = bin number).
MMSA_BIN_NAMES: dict[int, tuple[str, ...]] = {
    2: ("Non-positive", "Positive"),
    3: ("Negative", "Neutral", "Positive"),
    5: CLASS_NAMES,
}


def class_to_value(classes: np.ndarray | pd.Series | list[int]) -> np.ndarray:
    """Map official integer classes 1..5 to regression values -1, -0.5, 0, 0.5, 1.

    >>> class_to_value([1, 3, 5]).tolist()
    [-1.0, 0.0, 1.0]
    """
    arr = np.asarray(classes)
    if arr.size and (not np.issubdtype(arr.dtype, np.number) or not np.isin(arr, [1, 2, 3, 4, 5]).all()):
        bad = sorted({str(v) for v in arr.ravel() if str(v) not in {"1", "2", "3", "4", "5"}})
        raise CsmsasrError(f"expected integer classes 1..5, found {bad[:5]}")
    return np.asarray(CLASS_VALUES, dtype=float)[arr.astype(int) - 1]


def value_to_class_name(values: np.ndarray | pd.Series | list[float]) -> pd.Categorical:
    """Name the 5-level class of regression values (via MMSA's 5 bins).

    Returns an ordered :class:`pandas.Categorical` so tables sort Negative → Positive.

    >>> list(value_to_class_name([-1.0, 0.0, 0.5]))
    ['Negative', 'Neutral', 'Weakly positive']
    """
    bins = mmsa_bins(values, 5)
    return pd.Categorical.from_codes(bins, categories=list(CLASS_NAMES), ordered=True)


def mmsa_bins(values, n_classes: int) -> np.ndarray:
    """Bin regression values into MMSA's SIMS classes (0-based integers): the one home of the bins.

    Values are first clipped to [-1, 1], as MMSA does before binning. A value equal to an inner
    edge falls in the lower bin (MMSA's ``pred > lo and pred <= hi``). **Precision as in MMSA**:
    MMSA compares its float32 model outputs with the edges in float32 (a numpy float32 array against
    a Python float), so float32 input (numpy or torch) is binned in float32 — ``np.float32(0.1)``
    equals the edge 0.1 there and falls in the lower bin, while in float64 it lies above 0.1. Any
    other input is binned in float64.

    >>> mmsa_bins([-1.0, -0.1, 0.0, 0.05, 0.5, 1.0], 3).tolist()
    [0, 0, 1, 1, 2, 2]
    >>> mmsa_bins(np.float32([0.1]), 3).tolist(), mmsa_bins(np.float64([np.float32(0.1)]), 3).tolist()
    ([1], [2])
    """
    if n_classes not in MMSA_BIN_EDGES:
        raise CsmsasrError(f"n_classes must be 2, 3 or 5 (MMSA's SIMS bins), got {n_classes!r}")
    if hasattr(values, "detach"):  # a torch tensor
        values = values.detach().cpu().numpy()
    arr = np.asarray(values)
    dtype = np.float32 if arr.dtype == np.float32 else np.float64
    arr = arr.astype(dtype, copy=False)
    if not np.isfinite(arr).all():
        raise CsmsasrError("cannot bin labels that contain NaN or infinity")
    clipped = np.clip(arr, dtype(-1.0), dtype(1.0))
    inner_edges = np.asarray(MMSA_BIN_EDGES[n_classes][1:-1], dtype=dtype)
    # side="left": a value equal to an edge belongs to the bin below it.
    return np.searchsorted(inner_edges, clipped, side="left").astype(int)


def mmsa_bin_value(n_classes: int, index: int) -> float:
    """A label value that :func:`mmsa_bins` puts in bin ``index`` of ``n_classes``: the bin's upper
    edge (the bins are right-closed), 1.0 for the top bin.

    What a constant predictor of one bin predicts (the majority floor, in
    :func:`csmsasr_utils.stats.majority_baseline`), so that it is scored by the metrics themselves.

    >>> [mmsa_bin_value(3, b) for b in range(3)]
    [-0.1, 0.1, 1.0]
    """
    if n_classes not in MMSA_BIN_EDGES:
        raise InvalidArgument(f"n_classes must be 2, 3 or 5 (MMSA's SIMS bins), got {n_classes!r}")
    if isinstance(index, bool) or not isinstance(index, (int, np.integer)) or not 0 <= index < n_classes:
        raise InvalidArgument(
            f"bin index must be an integer in 0..{n_classes - 1} for {n_classes} classes, got {index!r}"
        )
    return min(MMSA_BIN_EDGES[n_classes][index + 1], 1.0)
