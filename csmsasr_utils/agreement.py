"""How far the four labels of a clip agree: M (multimodal) against T, A, V (unimodal).

All functions work on the label columns of the dataset's metadata (``label_m``,
``label_t``, ``label_a``, ``label_v``: regression values in [-1, 1]) and use
MMSA's SIMS bins (:func:`csmsasr_utils.data.labels.mmsa_bins`) wherever classes
are needed: 5 classes for the confusion matrices and Cohen's κ, 3 classes
(negative / neutral / positive) for polarity.

Worked example — two raters, four clips::

    >>> import numpy as np
    >>> a = np.array([-1.0, -0.5, 0.5, 1.0]); b = np.array([-1.0, 0.0, 0.5, 0.5])
    >>> pair_metrics(a, b)["exact"]          # 5-class bins equal on clips 1 and 3
    0.5
    >>> pair_metrics(a, b)["within_one"]     # every pair of bins differs by at most 1
    1.0
    >>> pair_metrics(a, b)["mean_abs_diff"]  # (0 + 0.5 + 0 + 0.5) / 4
    0.25
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import krippendorff
import numpy as np
import pandas as pd
from scipy.stats import rankdata

from csmsasr_utils.data.labels import CLASS_NAMES, MMSA_BIN_NAMES, mmsa_bins
from csmsasr_utils.errors import InvalidArgument, UnknownName
from csmsasr_utils.progress import progress

#: The four labels, and the metadata column of each.
LABELS: tuple[str, ...] = ("M", "T", "A", "V")
LABEL_COLUMNS: dict[str, str] = {name: f"label_{name.lower()}" for name in LABELS}

#: The six pairs of labels, M's pairs first.
PAIRS: tuple[tuple[str, str], ...] = (("M", "T"), ("M", "A"), ("M", "V"), ("T", "A"), ("T", "V"), ("A", "V"))

#: Metric name → what it measures (the order of the agreement table).
METRICS: dict[str, str] = {
    "kappa": "Cohen's κ on the 5 MMSA classes (unweighted)",
    "kappa_quadratic": "Cohen's κ on the 5 MMSA classes, quadratic weights",
    "alpha_ordinal": "Krippendorff's ordinal α of the two label sets",
    "spearman": "Spearman's rank correlation of the label values",
    "pearson": "Pearson's correlation of the label values",
    "exact": "share of clips in the same 5-class bin",
    "within_one": "share of clips whose 5-class bins differ by at most one",
    "polarity": "share of clips with the same polarity (negative / neutral / positive)",
    "mean_abs_diff": "mean absolute difference of the label values",
}


def label_matrix(metadata: pd.DataFrame) -> pd.DataFrame:
    """The four labels of every clip that has them, as columns ``M, T, A, V`` indexed by clip id."""
    missing = [c for c in LABEL_COLUMNS.values() if c not in metadata]
    if missing:
        raise UnknownName(f"metadata lacks {missing}: load it with csmsasr_utils.data.load_dataset()")
    table = metadata.set_index("clip_id")[list(LABEL_COLUMNS.values())].dropna()
    table.columns = list(LABELS)
    return table.astype(float)


def confusion(a: Sequence[float], b: Sequence[float], n_classes: int = 5) -> pd.DataFrame:
    """Counts of clips by (bin of ``a``, bin of ``b``) under MMSA's ``n_classes`` bins.

    Rows are ``a``'s classes, columns ``b``'s; every class appears, even when empty.

    >>> confusion([-1.0, 0.0, 0.5], [-0.5, 0.0, 1.0], n_classes=3).to_numpy().tolist()
    [[1, 0, 0], [0, 1, 0], [0, 0, 1]]
    """
    a_bins, b_bins = mmsa_bins(a, n_classes), mmsa_bins(b, n_classes)
    counts = np.bincount(a_bins * n_classes + b_bins, minlength=n_classes * n_classes)
    names = list(MMSA_BIN_NAMES[n_classes])
    return pd.DataFrame(counts.reshape(n_classes, n_classes), index=names, columns=names)


def polarity_confusion(a: Sequence[float], b: Sequence[float]) -> pd.DataFrame:
    """:func:`confusion` on the 3 polarity classes (cut at ±0.1)."""
    return confusion(a, b, n_classes=3)


def cohen_kappa(a_bins: np.ndarray, b_bins: np.ndarray, n_classes: int, weights: str | None = None) -> float:
    """Cohen's κ of two integer class arrays: 1 − Σ w·observed / Σ w·expected.

    ``weights=None`` gives the unweighted κ (w = 1 off the diagonal), ``'quadratic'``
    w = (i − j)². Same definition as :func:`sklearn.metrics.cohen_kappa_score`.

    Two raters agree on 3 of 4 items; by chance they would agree on half:

    >>> cohen_kappa(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1]), 2)
    0.5
    """
    observed = np.bincount(a_bins * n_classes + b_bins, minlength=n_classes * n_classes)
    observed = observed.reshape(n_classes, n_classes).astype(float)
    total = observed.sum()
    expected = np.outer(observed.sum(axis=1), observed.sum(axis=0)) / total
    i, j = np.indices((n_classes, n_classes))
    if weights is None:
        w = (i != j).astype(float)
    elif weights == "quadratic":
        w = (i - j) ** 2.0
    else:
        raise InvalidArgument(f"weights must be None or 'quadratic', got {weights!r}")
    denominator = (w * expected).sum()
    if denominator == 0:
        return float("nan")  # both raters use one single class: κ is undefined
    return float(1.0 - (w * observed).sum() / denominator)


def _correlation(x: np.ndarray, y: np.ndarray) -> float:
    if np.std(x) == 0 or np.std(y) == 0:
        return float("nan")
    return float(np.corrcoef(x, y)[0, 1])


def pair_metrics(a: Sequence[float], b: Sequence[float], domain: Sequence[float] | None = None) -> dict[str, float]:
    """Every metric of :data:`METRICS` for two label arrays of the same clips.

    ``domain`` is the ordered set of possible label values for Krippendorff's α
    (default: the values present in ``a`` and ``b``).
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    if a.shape != b.shape or a.ndim != 1 or len(a) == 0:
        raise InvalidArgument(f"need two non-empty 1-d arrays of equal length, got {a.shape} and {b.shape}")
    a5, b5 = mmsa_bins(a, 5), mmsa_bins(b, 5)
    values = np.unique(np.concatenate([a, b])) if domain is None else np.asarray(domain, dtype=float)
    return {
        "kappa": cohen_kappa(a5, b5, 5),
        "kappa_quadratic": cohen_kappa(a5, b5, 5, weights="quadratic"),
        "alpha_ordinal": _alpha(np.column_stack([a, b]), "ordinal", values)
        if len(np.unique(values)) > 1
        else float("nan"),
        "spearman": _correlation(rankdata(a), rankdata(b)),
        "pearson": _correlation(a, b),
        "exact": float(np.mean(a5 == b5)),
        "within_one": float(np.mean(np.abs(a5 - b5) <= 1)),
        "polarity": float(np.mean(mmsa_bins(a, 3) == mmsa_bins(b, 3))),
        "mean_abs_diff": float(np.mean(np.abs(a - b))),
    }


def bootstrap(
    statistic: Callable[[np.ndarray], dict[str, float]],
    n: int,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    desc: str | None = None,
) -> pd.DataFrame:
    """Percentile bootstrap over clips: ``statistic(indices)`` on ``n_boot`` resamples.

    ``statistic`` maps an index array (clips drawn with replacement) to named values.
    Returns one row per name with ``value`` (on all clips), ``ci_low``, ``ci_high``.
    Resamples where a value is undefined (NaN) are left out of its interval.
    """
    rng = np.random.default_rng(seed)
    full = statistic(np.arange(n))
    draws = {name: np.empty(n_boot) for name in full}
    for r in progress(range(n_boot), desc=desc or "bootstrap", disable=True if desc is None else None):
        values = statistic(rng.integers(0, n, size=n))
        for name, value in values.items():
            draws[name][r] = value
    tail = (1.0 - level) / 2.0 * 100.0
    rows = {
        name: {
            "value": full[name],
            "ci_low": float(np.nanpercentile(draws[name], tail)),
            "ci_high": float(np.nanpercentile(draws[name], 100.0 - tail)),
        }
        for name in full
    }
    return pd.DataFrame.from_dict(rows, orient="index")


def pairwise_agreement(labels: pd.DataFrame, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """:func:`pair_metrics` for the six pairs of :data:`PAIRS`, with bootstrap CIs.

    ``labels`` is a :func:`label_matrix`. Returns a long table with columns
    ``pair, metric, value, ci_low, ci_high``; the same resamples of clips are used
    for every metric of a pair (seeded: the same call gives the same table).
    """
    values = labels.to_numpy(dtype=float)
    domain = np.unique(values)
    column = {name: i for i, name in enumerate(labels.columns)}
    frames = []
    for k, (x, y) in enumerate(progress(PAIRS, desc="pairwise agreement (bootstrap)")):
        a, b = values[:, column[x]], values[:, column[y]]
        table = bootstrap(
            lambda idx, a=a, b=b: pair_metrics(a[idx], b[idx], domain), len(values), n_boot, seed + k, level
        )
        frames.append(table.rename_axis("metric").reset_index().assign(pair=f"{x}–{y}"))
    result = pd.concat(frames, ignore_index=True)
    return result[["pair", "metric", "value", "ci_low", "ci_high"]]


def krippendorff_alpha(labels: pd.DataFrame, level: str = "ordinal") -> float:
    """Krippendorff's α of the label sets in ``labels`` (columns = raters, rows = clips).

    ``level`` is ``'ordinal'`` or ``'interval'``; the value domain is the sorted set of
    label values of the whole table, so resamples keep the same scale.

    >>> same = pd.DataFrame({"M": [-1.0, 0.0, 1.0], "T": [-1.0, 0.0, 1.0]})
    >>> round(krippendorff_alpha(same, "interval"), 6)
    1.0
    """
    return _alpha(labels.to_numpy(dtype=float), level, np.unique(labels.to_numpy(dtype=float)))


def _alpha(values: np.ndarray, level: str, domain: np.ndarray) -> float:
    if level not in ("ordinal", "interval"):
        raise InvalidArgument(f"level must be 'ordinal' or 'interval', got {level!r}")
    return float(krippendorff.alpha(reliability_data=values.T, value_domain=domain, level_of_measurement=level))


def alpha_table(labels: pd.DataFrame, n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """Krippendorff's α (ordinal and interval) over all columns of ``labels``, with bootstrap CIs."""
    values = labels.to_numpy(dtype=float)
    domain = np.unique(values)

    def statistic(idx: np.ndarray) -> dict[str, float]:
        return {f"alpha_{lv}": _alpha(values[idx], lv, domain) for lv in ("ordinal", "interval")}

    return bootstrap(statistic, len(values), n_boot, seed, level, desc="Krippendorff's α (bootstrap)")


def agreement_matrix(table: pd.DataFrame, metric: str) -> pd.DataFrame:
    """A symmetric 4 × 4 matrix (M, T, A, V) of one metric of :func:`pairwise_agreement`; NaN diagonal."""
    matrix = pd.DataFrame(np.nan, index=list(LABELS), columns=list(LABELS))
    for row in table[table["metric"] == metric].itertuples():
        x, y = row.pair.split("–")
        matrix.loc[x, y] = matrix.loc[y, x] = row.value
    return matrix


def annotated_matrix(table: pd.DataFrame, metric: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`agreement_matrix` of ``metric`` and, cell by cell, the text ``value\n[low–high]``."""
    values = agreement_matrix(table, metric)
    low = agreement_matrix(table.assign(value=table["ci_low"]), metric)
    high = agreement_matrix(table.assign(value=table["ci_high"]), metric)
    text = pd.DataFrame("", index=values.index, columns=values.columns)
    for x in values.index:
        for y in values.columns:
            if values.loc[x, y] == values.loc[x, y]:  # not NaN
                text.loc[x, y] = f"{values.loc[x, y]:.2f}\n[{low.loc[x, y]:.2f}–{high.loc[x, y]:.2f}]"
    return values, text


def summary_table(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`pairwise_agreement` as one row per pair and one column per metric, ``value [low, high]``."""
    cells = table.assign(
        cell=[f"{v:.2f} [{lo:.2f}, {hi:.2f}]" for v, lo, hi in zip(table["value"], table["ci_low"], table["ci_high"])]
    )
    wide = cells.pivot(index="pair", columns="metric", values="cell")
    return wide.loc[[f"{a}–{b}" for a, b in PAIRS], [m for m in METRICS if m in wide.columns]]


def opposing_polarity(metadata: pd.DataFrame, modality: str) -> pd.DataFrame:
    """Clips where ``modality``'s polarity opposes M's (one negative, the other positive).

    Columns: ``clip_id, video_id, text, label_m, label_t, label_a, label_v``; sorted by
    the size of the disagreement, largest first.
    """
    if modality not in ("T", "A", "V"):
        raise InvalidArgument(f"modality must be 'T', 'A' or 'V', got {modality!r}")
    rows = metadata.dropna(subset=list(LABEL_COLUMNS.values()))
    m = mmsa_bins(rows["label_m"], 3)
    other = mmsa_bins(rows[LABEL_COLUMNS[modality]], 3)
    opposed = rows[(m != other) & (m != 1) & (other != 1)]
    gap = (opposed[LABEL_COLUMNS[modality]] - opposed["label_m"]).abs()
    columns = ["clip_id", "video_id", "text", *LABEL_COLUMNS.values()]
    return (
        opposed.assign(_gap=gap)
        .sort_values(["_gap", "clip_id"], ascending=[False, True])[columns]
        .reset_index(drop=True)
    )


def disagreement_rate(metadata: pd.DataFrame, by: str | pd.Series) -> pd.DataFrame:
    """Share of clips whose T, A and V polarity differs from M's, per group of ``by``.

    ``by`` is a column name or a Series aligned with ``metadata``. Columns: ``T, A, V``
    (shares) and ``n_clips``.
    """
    rows = metadata.dropna(subset=list(LABEL_COLUMNS.values()))
    groups = rows[by] if isinstance(by, str) else by.loc[rows.index]
    m = mmsa_bins(rows["label_m"], 3)
    frame = pd.DataFrame(
        {name: mmsa_bins(rows[LABEL_COLUMNS[name]], 3) != m for name in ("T", "A", "V")}, index=rows.index
    )
    frame["group"] = groups.to_numpy()
    table = frame.groupby("group", observed=True)[["T", "A", "V"]].mean()
    table["n_clips"] = frame.groupby("group", observed=True).size()
    table.index.name = by if isinstance(by, str) else (by.name or "group")
    return table


#: CH-SIMS's annotation statistics (thuiar/MMSA first release): pairwise differences between its
#: label sets. The source does not say which metric the numbers are.
CH_SIMS_ANCHOR: dict[str, float] = {"M–T": 0.25, "M–A": 0.14, "M–V": 0.17, "T–A": 0.28, "T–V": 0.46, "A–V": 0.21}

__all__ = [
    "CH_SIMS_ANCHOR",
    "CLASS_NAMES",
    "LABELS",
    "LABEL_COLUMNS",
    "METRICS",
    "PAIRS",
    "agreement_matrix",
    "annotated_matrix",
    "summary_table",
    "alpha_table",
    "bootstrap",
    "cohen_kappa",
    "confusion",
    "disagreement_rate",
    "krippendorff_alpha",
    "label_matrix",
    "opposing_polarity",
    "pair_metrics",
    "pairwise_agreement",
    "polarity_confusion",
]
