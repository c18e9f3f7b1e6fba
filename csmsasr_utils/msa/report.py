"""Result tables for the book: mean ± std over runs, bootstrap intervals, the CH-SIMS anchor.

Works on any rows with ``model``, ``test_<metric>``, ``test_clip_ids`` and ``test_predictions``
columns: the runner's multimodal results and the text baselines' rows alike.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from csmsasr_utils.errors import CsmsasrError
from csmsasr_utils.msa.metrics import METRIC_NAMES, bootstrap_metrics
from csmsasr_utils.msa.runner import summarize


def mean_std_table(results: pd.DataFrame, metrics: Sequence[str] = METRIC_NAMES, digits: int = 3) -> pd.DataFrame:
    """``"mean ± std"`` of each test metric per model (std over seeds and folds; the mean alone for
    one run; "—" where the metric is undefined, e.g. the correlation of a constant predictor)."""
    stats = summarize(results, metrics)
    table = pd.DataFrame(index=stats.index)
    for metric in metrics:
        mean, std = stats[f"{metric}_mean"], stats[f"{metric}_std"]
        table[metric] = [
            "—" if not np.isfinite(m) else f"{m:.{digits}f} ± {s:.{digits}f}" if np.isfinite(s) else f"{m:.{digits}f}"
            for m, s in zip(mean, std)
        ]
    table["runs"] = stats["runs"]
    return table


def pooled_predictions(results: pd.DataFrame) -> pd.DataFrame:
    """Each model's prediction per test clip, averaged over the runs that tested that clip.

    Columns ``model, clip_id, prediction, runs``. Under the official protocol each clip is tested
    once per seed, so this is the seed-average over all 1,085 clips.
    """
    exploded = results[["model", "test_clip_ids", "test_predictions"]].explode(["test_clip_ids", "test_predictions"])
    exploded = exploded.rename(columns={"test_clip_ids": "clip_id", "test_predictions": "prediction"})
    exploded["prediction"] = exploded["prediction"].astype(float)
    grouped = exploded.groupby(["model", "clip_id"], sort=False)["prediction"]
    return grouped.agg(prediction="mean", runs="size").reset_index()


def bootstrap_table(
    results: pd.DataFrame,
    labels: pd.Series,
    metrics: Sequence[str] = ("Mult_acc_2", "MAE"),
    n_boot: int = 1000,
    seed: int = 0,
    digits: int = 3,
) -> pd.DataFrame:
    """95 % bootstrap intervals (over clips) of the seed-averaged predictions, ``"low–high"``.

    ``labels`` maps clip id → M label (e.g. ``metadata.set_index('clip_id')['label_m']``).
    """
    pooled = pooled_predictions(results)
    missing = set(pooled["clip_id"]) - set(labels.index)
    if missing:
        raise CsmsasrError(f"no label for {len(missing)} predicted clip(s), e.g. {sorted(missing)[:3]}")
    rows = {}
    for model, group in pooled.groupby("model", sort=False):
        ci = bootstrap_metrics(
            group["prediction"].to_numpy(), labels.loc[group["clip_id"]].to_numpy(float), n_boot=n_boot, seed=seed
        )
        rows[model] = {f"{m} 95% CI": f"{ci.loc[m, 'low']:.{digits}f}–{ci.loc[m, 'high']:.{digits}f}" for m in metrics}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")


def styled(frame: pd.DataFrame, caption: str, precision: int = 3):
    """A compact pandas Styler for the book's wide result tables: small type, no wrapping inside
    numbers, missing values shown as "—", the caption naming the data source."""
    return (
        frame.style.format(precision=precision, na_rep="—", thousands=",")
        .set_caption(caption)
        .set_table_styles(
            [
                {"selector": "th, td", "props": [("font-size", "0.78em"), ("padding", "2px 6px")]},
                {"selector": "td", "props": [("white-space", "nowrap")]},
            ]
        )
    )
