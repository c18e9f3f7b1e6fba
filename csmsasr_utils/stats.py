"""Descriptive statistics of the clips: counts, durations, characters, labels.

The dialect markers and their counts live in :mod:`csmsasr_utils.dialect`.

Every function takes the metadata table of :func:`csmsasr_utils.data.load_dataset <.load_dataset>`
(or a column of it) and returns a :class:`pandas.DataFrame` or a dict, so the
dataset-statistics chapter only calls and shows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from csmsasr_utils.data.labels import CLASS_NAMES, MMSA_BIN_EDGES, mmsa_bin_value, mmsa_bins
from csmsasr_utils.data.metadata import N_FOLDS
from csmsasr_utils.data.splits import fold_name, named_splits
from csmsasr_utils.errors import InvalidArgument
from csmsasr_utils.msa.metrics import sims_regression_metrics


def clips_per_video(metadata: pd.DataFrame) -> pd.DataFrame:
    """One row per video: ``n_clips``, ``n_with_duration``, ``total_duration_min`` (known durations only)."""
    grouped = metadata.groupby("video_id", sort=True)
    return pd.DataFrame(
        {
            "n_clips": grouped.size(),
            "n_with_duration": grouped["duration_s"].count(),
            "total_duration_min": grouped["duration_s"].sum(min_count=1) / 60.0,
        }
    )


def duration_summary(metadata: pd.DataFrame, by: str | None = None) -> pd.DataFrame:
    """Durations overall (``by=None``) or per value of a column: clips, how many have a duration, totals.

    Columns: ``n_clips``, ``n_with_duration``, ``n_missing``, ``total_h``, ``mean_s``,
    ``median_s``, ``min_s``, ``max_s``. Missing durations are counted, never filled in.
    """
    groups = [("all", metadata)] if by is None else list(metadata.groupby(by, sort=True, observed=True))
    rows = {}
    for name, part in groups:
        known = part["duration_s"].dropna()
        rows[name] = {
            "n_clips": len(part),
            "n_with_duration": len(known),
            "n_missing": len(part) - len(known),
            "total_h": known.sum() / 3600.0,
            "mean_s": known.mean(),
            "median_s": known.median(),
            "min_s": known.min(),
            "max_s": known.max(),
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = by or ""
    return table


def character_inventory(texts: Iterable[str]) -> pd.DataFrame:
    """Every character (whitespace excluded) with ``count``, ``n_clips`` and cumulative ``coverage``.

    Sorted by count (ties by character), so ``coverage`` at row ``k`` is the share of all
    character tokens covered by the ``k+1`` most frequent characters.
    """
    texts = list(texts)
    counts: Counter[str] = Counter()
    clips: Counter[str] = Counter()
    for text in texts:
        chars = [ch for ch in text if not ch.isspace()]
        counts.update(chars)
        clips.update(set(chars))
    table = pd.DataFrame({"char": list(counts), "count": list(counts.values()), "n_clips": [clips[c] for c in counts]})
    table = table.sort_values(["count", "char"], ascending=[False, True], ignore_index=True)
    table["coverage"] = table["count"].cumsum() / table["count"].sum()
    return table


def out_of_vocabulary(inventory: pd.DataFrame, vocabulary: Iterable[str]) -> pd.DataFrame:
    """Rows of a :func:`character_inventory` whose character is not in ``vocabulary``."""
    vocab = set(vocabulary)
    return inventory[~inventory["char"].isin(vocab)].reset_index(drop=True)


def label_counts(metadata: pd.DataFrame, by: str | None = None, column: str = "label_m") -> pd.DataFrame:
    """Counts of the five classes of a label column, overall or per value of ``by``.

    Columns are the class names Negative … Positive (all five, zeros included).
    """
    names = pd.Categorical.from_codes(mmsa_bins(metadata[column], 5), categories=list(CLASS_NAMES), ordered=True)
    frame = pd.DataFrame({"class": names, "group": "all" if by is None else metadata[by].to_numpy()})
    table = pd.crosstab(frame["group"], frame["class"], dropna=False).reindex(columns=list(CLASS_NAMES), fill_value=0)
    table.columns.name = None
    table.index.name = by or ""
    return table


@dataclass(frozen=True)
class MajorityFloor:
    """The constants a model that ignores its input predicts, all from the training labels.

    * ``median`` — the constant with the lowest MAE on the training labels: the MAE floor of
      :func:`majority_baseline` (chapter 1);
    * ``mode`` — the most frequent training label value (the smallest on a tie): what the
      ``Majority`` text baseline predicts (chapter 4). On a 5-level scale it can differ from
      the median, and then so do the two floors' MAEs;
    * ``majority_bins`` — per number of MMSA classes k (2, 3, 5), the most frequent training bin
      (the lowest on a tie): the ``Mult_acc_k`` floor of :func:`majority_baseline`.
    """

    median: float
    mode: float
    majority_bins: Mapping[int, int]


def majority_floor(train_labels) -> MajorityFloor:
    """The floors of the training labels ``train_labels``: one home for both constants.

    >>> floor = majority_floor([-1.0, -0.5, -0.5, 0.5, 1.0, 1.0])
    >>> floor.median, floor.mode, dict(floor.majority_bins)
    (0.0, -0.5, {2: 0, 3: 0, 5: 1})
    """
    labels = np.asarray(train_labels, dtype=float).reshape(-1)
    if labels.size == 0:
        raise InvalidArgument(
            "majority_floor needs at least one training label, got none: check that the training split is not empty"
        )
    bins = {k: int(np.bincount(mmsa_bins(labels, k), minlength=k).argmax()) for k in MMSA_BIN_EDGES}
    values, counts = np.unique(labels, return_counts=True)
    return MajorityFloor(median=float(np.median(labels)), mode=float(values[np.argmax(counts)]), majority_bins=bins)


def majority_baseline(train_labels: np.ndarray, test_labels: np.ndarray) -> dict[str, float]:
    """What a model that ignores its input scores under MMSA's SIMS metrics.

    The constants come from :func:`majority_floor`, the scores from
    :func:`~csmsasr_utils.msa.metrics.sims_regression_metrics` (unrounded):

    * ``Mult_acc_k`` (k = 2, 3, 5): accuracy of always predicting the training set's most
      frequent MMSA bin (ties → lower bin);
    * ``F1_score``: weighted F1 of that constant 2-class prediction (MMSA's F1 is the
      weighted F1 of the 2-class bins);
    * ``MAE``: mean absolute error of always predicting the training median (the
      constant that minimises MAE on the training set).

    Labels are on MMSA's scale [-1, 1] (the metrics clip to it).
    """
    train = np.asarray(train_labels, dtype=float)
    test = np.asarray(test_labels, dtype=float)
    if len(train) == 0 or len(test) == 0:
        raise InvalidArgument(
            f"majority_baseline needs non-empty training and test labels, got {len(train)} "
            f"training and {len(test)} test labels"
        )
    floor = majority_floor(train)

    def constant(value: float) -> dict[str, float]:
        return sims_regression_metrics(np.full(test.shape, value), test, decimals=None)

    result: dict[str, float] = {}
    for k in (2, 3, 5):
        metrics = constant(mmsa_bin_value(k, floor.majority_bins[k]))
        result[f"Mult_acc_{k}"] = metrics[f"Mult_acc_{k}"]
        if k == 2:
            result["F1_score"] = metrics["F1_score"]
    result["MAE"] = constant(floor.median)["MAE"]
    return result


def protocol_baselines(metadata: pd.DataFrame, column: str = "label_m") -> pd.DataFrame:
    """:func:`majority_baseline` on the test set of the paper split and of each official fold.

    Rows (named by :func:`~csmsasr_utils.data.splits.fold_name`): ``paper 8:1:1``, ``fold 1`` …
    ``fold 5`` and ``folds mean``.
    """
    labels = metadata.set_index("clip_id")[column]
    rows = {
        name: majority_baseline(labels[split["train"]], labels[split["test"]])
        for name, split in named_splits(metadata).items()
    }
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.loc["folds mean"] = table.loc[[fold_name(k) for k in range(1, N_FOLDS + 1)]].mean()
    return table
