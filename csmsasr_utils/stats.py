"""Descriptive statistics of the clips: counts, durations, characters, dialect markers, labels.

Every function takes the metadata table of :func:`csmsasr_utils.data.load_dataset`
(or a column of it) and returns a :class:`pandas.DataFrame` or a dict, so the
dataset-statistics chapter only calls and shows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from csmsasr_utils.data.labels import CLASS_NAMES, mmsa_bins
from csmsasr_utils.data.splits import official_folds, paper_split


@dataclass(frozen=True)
class DialectMarker:
    """A written form that signals Changsha speech, with an approximate gloss."""

    form: str
    pinyin: str
    gloss: str
    #: Mandarin words that contain ``form`` without being the dialect word (策 in 政策 "policy").
    exclude: tuple[str, ...] = ()

    def count(self, text: str) -> int:
        """Non-overlapping occurrences of the form in ``text``, those inside an excluded word not counted.

        >>> DialectMarker("策", "ce", "to chat", exclude=("政策",)).count("政策好，莫策哒")
        1
        """
        for word in self.exclude:
            text = text.replace(word, "\0" * len(word))
        return text.count(self.form)


#: Dialect particles and words the book tracks. Glosses are approximate; several forms
#: are shared with other Xiang and southwestern varieties, and 咯/晓得/蛮 also occur in
#: colloquial Mandarin, so counts are evidence of dialect style, not proof of it.
DIALECT_MARKERS: tuple[DialectMarker, ...] = (
    DialectMarker("啰", "lo", "final particle: suggestion (≈ 吧/了)"),
    DialectMarker("嘞", "lei", "final particle: assertion (≈ 呢/的)"),
    DialectMarker("噻", "sai", "final particle: obviousness (≈ 嘛)"),
    DialectMarker("咯", "lo / go", "particle; 'this' in 咯个 (≈ 这个)"),
    DialectMarker("咧", "lie", "final particle: emphasis"),
    DialectMarker("哒", "da", "aspect particle (≈ 了)"),
    DialectMarker("冇", "mao", "not have (≈ 没有)"),
    DialectMarker("么子", "mo zi", "what (≈ 什么)"),
    DialectMarker("伢", "ya", "child (伢子, 细伢子)"),
    DialectMarker("要得", "yao de", "OK, fine"),
    DialectMarker("晓得", "xiao de", "to know (≈ 知道)"),
    DialectMarker("蛮", "man", "quite, very (≈ 很)"),
    DialectMarker("策", "ce", "to chat, to kid", exclude=("政策", "决策", "策略", "策划", "对策")),
    DialectMarker("韵味", "yun wei", "satisfying, enjoyable"),
)


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
    table = pd.DataFrame(
        {"char": list(counts), "count": list(counts.values()), "n_clips": [clips[c] for c in counts]}
    )
    table = table.sort_values(["count", "char"], ascending=[False, True], ignore_index=True)
    table["coverage"] = table["count"].cumsum() / table["count"].sum()
    return table


def out_of_vocabulary(inventory: pd.DataFrame, vocabulary: Iterable[str]) -> pd.DataFrame:
    """Rows of a :func:`character_inventory` whose character is not in ``vocabulary``."""
    vocab = set(vocabulary)
    return inventory[~inventory["char"].isin(vocab)].reset_index(drop=True)


def marker_frequencies(
    metadata: pd.DataFrame, markers: Iterable[DialectMarker] = DIALECT_MARKERS
) -> pd.DataFrame:
    """For each marker: ``occurrences`` (non-overlapping, outside its excluded Mandarin words),
    ``n_clips`` containing it, ``share_clips``,
    and the shortest transcript containing it as ``example`` (with its ``example_clip``)."""
    texts = metadata["text"].astype(str)
    rows = []
    for marker in markers:
        occurrences = texts.map(marker.count)
        has = occurrences > 0
        example, example_clip = "", ""
        if has.any():
            candidates = metadata.loc[has, ["clip_id", "text"]]
            best = candidates.loc[candidates["text"].str.len().idxmin()]
            example, example_clip = best["text"], best["clip_id"]
        rows.append(
            {
                "marker": marker.form,
                "pinyin": marker.pinyin,
                "gloss": marker.gloss,
                "occurrences": int(occurrences.sum()),
                "n_clips": int(has.sum()),
                "share_clips": float(has.mean()),
                "example": example,
                "example_clip": example_clip,
            }
        )
    return pd.DataFrame(rows)


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


def majority_baseline(train_labels: np.ndarray, test_labels: np.ndarray) -> dict[str, float]:
    """What a model that ignores its input scores under MMSA's SIMS metrics.

    * ``Mult_acc_k`` (k = 2, 3, 5): accuracy of always predicting the training set's most
      frequent MMSA bin (ties → lower bin);
    * ``F1_score``: weighted F1 of that constant 2-class prediction (MMSA's F1 is the
      weighted F1 of the 2-class bins);
    * ``MAE``: mean absolute error of always predicting the training median (the
      constant that minimises MAE on the training set).
    """
    train = np.asarray(train_labels, dtype=float)
    test = np.asarray(test_labels, dtype=float)
    if len(train) == 0 or len(test) == 0:
        raise ValueError("majority_baseline needs non-empty training and test labels")
    result: dict[str, float] = {}
    for k in (2, 3, 5):
        majority = np.bincount(mmsa_bins(train, k), minlength=k).argmax()
        test_bins = mmsa_bins(test, k)
        result[f"Mult_acc_{k}"] = float(np.mean(test_bins == majority))
        if k == 2:
            predicted = np.full_like(test_bins, majority)
            result["F1_score"] = float(f1_score(test_bins, predicted, average="weighted", zero_division=0))
    result["MAE"] = float(np.mean(np.abs(test - np.median(train))))
    return result


def protocol_baselines(metadata: pd.DataFrame, column: str = "label_m") -> pd.DataFrame:
    """:func:`majority_baseline` on the test set of the paper split and of each official fold.

    Rows: ``paper 8:1:1``, ``fold 1`` … ``fold 5`` and ``folds mean``.
    """
    labels = metadata.set_index("clip_id")[column]
    rows = {}
    split = paper_split(metadata["clip_id"])
    rows["paper 8:1:1"] = majority_baseline(labels[split["train"]], labels[split["test"]])
    for k, fold in enumerate(official_folds(metadata), start=1):
        rows[f"fold {k}"] = majority_baseline(labels[fold["train"]], labels[fold["test"]])
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.loc["folds mean"] = table.loc[[f"fold {k}" for k in range(1, 6)]].mean()
    return table
