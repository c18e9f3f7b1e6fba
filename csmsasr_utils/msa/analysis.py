"""Where sentiment models fail: per-clip errors joined with what we know about each clip.

Every runner (multimodal models, text baselines) stores each unit's test clip ids and
predictions. :func:`prediction_frame` turns such rows into one row per (unit, clip), joined with the
clip's metadata (video, transcript length, duration) and labels; the other functions summarise
the errors by true class, by how far the unimodal labels T/A/V part from M, and by any grouping.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from csmsasr_utils.errors import CsmsasrError
from csmsasr_utils.msa.metrics import sims_bins
from csmsasr_utils.msa.text_baselines import TextBaseline, evaluate_text_baselines

#: The 5-level class names of MMSA's bins, in order.
CLASS_LABELS: tuple[str, ...] = ("Negative", "Weakly negative", "Neutral", "Weakly positive", "Positive")


def prediction_frame(results: pd.DataFrame, metadata: pd.DataFrame) -> pd.DataFrame:
    """One row per (result row, test clip): ``model, seed, fold, clip_id, prediction`` + metadata.

    ``results`` needs ``model``, ``test_clip_ids`` and ``test_predictions`` (lists); ``metadata``
    needs ``clip_id`` and ``label_m`` (its other columns are carried along). Adds ``error``
    (prediction − label, after clipping both to [-1, 1] like the metrics) and ``abs_error``.
    """
    for column in ("model", "test_clip_ids", "test_predictions"):
        if column not in results:
            raise CsmsasrError(f"results lack column {column!r}")
    keep = [c for c in ("model", "seed", "protocol", "fold") if c in results]
    exploded = results[keep + ["test_clip_ids", "test_predictions"]].explode(["test_clip_ids", "test_predictions"])
    exploded = exploded.rename(columns={"test_clip_ids": "clip_id", "test_predictions": "prediction"})
    exploded["prediction"] = exploded["prediction"].astype(float)
    unknown = set(exploded["clip_id"]) - set(metadata["clip_id"])
    if unknown:
        raise CsmsasrError(f"{len(unknown)} predicted clip(s) are not in the metadata, e.g. {sorted(unknown)[:3]}")
    frame = exploded.merge(metadata, on="clip_id", how="left", validate="many_to_one")
    frame["error"] = np.clip(frame["prediction"], -1, 1) - np.clip(frame["label_m"].astype(float), -1, 1)
    frame["abs_error"] = frame["error"].abs()
    return frame.reset_index(drop=True)


def class_confusion(frame: pd.DataFrame, normalize: bool = True) -> pd.DataFrame:
    """5 × 5 confusion of true class (rows) against predicted class (columns), MMSA's bins.

    With ``normalize`` each row sums to 1 (the share of that true class predicted as each class).
    """
    true = sims_bins(frame["label_m"].to_numpy(float), 5)
    pred = sims_bins(frame["prediction"].to_numpy(float), 5)
    counts = np.zeros((5, 5))
    np.add.at(counts, (true, pred), 1)
    if normalize:
        totals = counts.sum(axis=1, keepdims=True)
        counts = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    return pd.DataFrame(
        counts, index=pd.Index(CLASS_LABELS, name="true"), columns=pd.Index(CLASS_LABELS, name="predicted")
    )


def modality_disagreement(frame: pd.DataFrame, modalities: Sequence[str] = ("t", "a", "v")) -> pd.Series:
    """How many of the unimodal labels fall in another 5-level class than M (0 to 3), per row."""
    columns = [f"label_{m}" for m in modalities]
    missing = [c for c in columns if c not in frame]
    if missing:
        raise CsmsasrError(f"frame lacks {missing}: join the unimodal labels first")
    m_bins = sims_bins(frame["label_m"].to_numpy(float), 5)
    count = sum((sims_bins(frame[c].to_numpy(float), 5) != m_bins).astype(int) for c in columns)
    return pd.Series(count, index=frame.index, name="modalities_disagreeing")


def error_by(
    frame: pd.DataFrame,
    by: str | pd.Series,
    *,
    bins: Sequence[float] | None = None,
    labels: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Mean absolute error, 5-class accuracy and clip count per group of ``by``.

    ``by`` is a column name or a Series aligned with ``frame``; ``bins`` cuts a numeric ``by``
    into right-closed intervals first (e.g. transcript length), named by ``labels`` if given.
    With bins every interval gets a row, an empty one with 0 clips and no MAE.
    """
    key = frame[by] if isinstance(by, str) else by
    if bins is not None:
        if labels is not None and len(labels) != len(bins) - 1:
            raise CsmsasrError(f"{len(bins) - 1} bins need as many labels, got {len(labels)}")
        key = pd.cut(key, bins=list(bins), labels=None if labels is None else list(labels), include_lowest=True)
    correct = sims_bins(frame["prediction"].to_numpy(float), 5) == sims_bins(frame["label_m"].to_numpy(float), 5)
    table = pd.DataFrame({"abs_error": frame["abs_error"].to_numpy(), "correct_5": correct}, index=frame.index)
    grouped = table.groupby(key.to_numpy() if bins is None else key, observed=bins is None)
    out = pd.DataFrame(
        {"MAE": grouped["abs_error"].mean(), "Mult_acc_5": grouped["correct_5"].mean(), "clips": grouped.size()}
    )
    out.index.name = by if isinstance(by, str) else (by.name or "group")
    return out


def unimodal_agreement(frame: pd.DataFrame, modality: str) -> pd.Series:
    """Per row, whether the unimodal label of ``modality`` ('t', 'a' or 'v') falls in M's 5-level class.

    Returns ``'same class as M'`` or ``'other class than M'``: the grouping for asking whether a
    model errs more where, say, the text alone was labelled differently from the whole clip.
    """
    column = f"label_{modality}"
    if column not in frame:
        raise CsmsasrError(f"frame lacks {column}: join the unimodal labels first")
    same = sims_bins(frame[column].to_numpy(float), 5) == sims_bins(frame["label_m"].to_numpy(float), 5)
    return pd.Series(
        np.where(same, "same class as M", "other class than M"), index=frame.index, name=f"{modality.upper()} vs M"
    )


def clip_difficulty(frame: pd.DataFrame) -> pd.DataFrame:
    """Per clip, over the models (rows) of a :func:`prediction_frame`: how many erred, and by how much.

    Columns: ``models`` (rows for the clip), ``wrong_class`` (models whose 5-level class differs
    from M's), ``wrong_polarity`` (models on the other side of zero — negative vs non-negative, as
    MMSA's ``Has0_acc_2``), ``mean_abs_error``, and ``all_wrong`` (every model in the wrong class).
    Clips that every model gets wrong point at what the inputs cannot tell, or at the labels.
    """
    truth = sims_bins(frame["label_m"].to_numpy(float), 5)
    pred = sims_bins(frame["prediction"].to_numpy(float), 5)
    table = pd.DataFrame(
        {
            "clip_id": frame["clip_id"].to_numpy(),
            "wrong_class": truth != pred,
            "wrong_polarity": (frame["label_m"].to_numpy(float) < 0) != (frame["prediction"].to_numpy(float) < 0),
            "abs_error": frame["abs_error"].to_numpy(),
        }
    )
    grouped = table.groupby("clip_id", sort=True)
    out = pd.DataFrame(
        {
            "models": grouped.size(),
            "wrong_class": grouped["wrong_class"].sum(),
            "wrong_polarity": grouped["wrong_polarity"].sum(),
            "mean_abs_error": grouped["abs_error"].mean(),
        }
    )
    out["all_wrong"] = out["wrong_class"] == out["models"]
    return out


def wrong_class_shares(difficulty: pd.DataFrame, class_column: str = "label_m_class") -> pd.DataFrame:
    """Per true class, the share of its clips that 0, 1, 2 … of the models put in the wrong class.

    ``difficulty`` is :func:`clip_difficulty`'s table joined with each clip's true 5-level class
    name (``class_column``, one of :data:`CLASS_LABELS`). Rows: the five classes in order;
    columns: the numbers of wrong models that occur at all. Each row sums to 1 (a class without
    clips has no shares, NaN), so classes of very different sizes can be compared.
    """
    missing = [c for c in (class_column, "wrong_class") if c not in difficulty]
    if missing:
        raise CsmsasrError(f"difficulty lacks {missing}: join clip_difficulty() with the clips' class names first")
    counts = pd.crosstab(difficulty[class_column], difficulty["wrong_class"]).reindex(
        index=list(CLASS_LABELS), fill_value=0
    )
    return counts.div(counts.sum(axis=1), axis=0)


def wrong_side_for_all(difficulty: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """The clips that every model puts on the wrong side of zero, largest mean error first.

    ``difficulty`` is :func:`clip_difficulty`'s table of ``frame`` (its :func:`prediction_frame`),
    possibly joined with metadata; "every model" is the largest number of models any clip has.
    Adds ``mean prediction``, the clip's prediction averaged over the models: how far, and to
    which side, they agree to be wrong. Empty when no clip is missed by all of them.
    """
    n_models = int(difficulty["models"].max())
    hardest = difficulty[difficulty["wrong_polarity"] == n_models].sort_values("mean_abs_error", ascending=False)
    predicted = frame.groupby("clip_id")["prediction"].mean().rename("mean prediction")
    return hardest.join(predicted)


def mae_by_agreement(frames: Mapping[str, pd.DataFrame], modality: str) -> pd.DataFrame:
    """MAE where the unimodal label of ``modality`` falls in M's class and where it does not.

    ``frames`` maps a name (a group of models) to its :func:`prediction_frame` with the unimodal
    labels joined. Rows ``'same class as M'`` and ``'other class than M'`` (see
    :func:`unimodal_agreement`; NaN when no clip falls in one), one column per frame: does a model
    err more where, say, the text alone was labelled differently from the whole clip?
    """
    table = pd.DataFrame({name: error_by(f, unimodal_agreement(f, modality))["MAE"] for name, f in frames.items()})
    return table.reindex(["same class as M", "other class than M"])


def mae_by_protocol(results: pd.DataFrame, metadata: pd.DataFrame, by: str) -> pd.DataFrame:
    """MAE per group of ``by`` (a metadata column, e.g. ``video_id``), one column per protocol.

    ``results`` are result rows (see :func:`prediction_frame`) with a ``protocol`` column, e.g. one
    model's rows under the official and the video-grouped folds: which videos does the model find
    harder when it has never seen them? Columns in sorted protocol order.
    """
    if "protocol" not in results:
        raise CsmsasrError("results lack column 'protocol'")
    return pd.DataFrame(
        {
            protocol: error_by(prediction_frame(rows, metadata), by)["MAE"]
            for protocol, rows in results.groupby("protocol")
        }
    )


def evaluate_by_protocol(
    metadata: pd.DataFrame,
    protocols: Mapping[str, Mapping[int, Mapping[str, Sequence[str]]]],
    baselines: Sequence[TextBaseline],
) -> pd.DataFrame:
    """:func:`~csmsasr_utils.msa.text_baselines.evaluate_text_baselines` under several protocols, stacked.

    ``protocols`` maps a protocol's name to its numbered folds (fold number → ``{'train', 'valid',
    'test'}`` clip ids), e.g. the official folds and the video-grouped ones; the rows carry the
    name in ``protocol``, ready for :func:`edge_over_floor` and :func:`mae_by_protocol`.
    """
    if not protocols:
        raise CsmsasrError("evaluate_by_protocol needs at least one protocol")
    return pd.concat(
        [evaluate_text_baselines(metadata, splits, name, baselines) for name, splits in protocols.items()],
        ignore_index=True,
    )


def edge_over_floor(results: pd.DataFrame, model: str, floor: str = "majority") -> pd.DataFrame:
    """Per protocol, how far the baseline keyed ``model`` beats the one keyed ``floor``, on the means
    over folds.

    ``results`` are rows with ``protocol``, ``key`` (a text baseline's key), ``test_MAE`` and
    ``test_Mult_acc_2`` (e.g. :func:`~csmsasr_utils.msa.text_baselines.evaluate_text_baselines`
    under several protocols). Columns ``MAE below the floor`` and ``Mult_acc_2 above the floor``,
    both positive where the model is better: an edge that shrinks on unseen videos was partly
    knowledge of the videos.
    """
    keys = set(results["key"])
    missing = [k for k in (model, floor) if k not in keys]
    if missing:
        raise CsmsasrError(f"no result rows for the baseline key(s) {missing}; the rows have keys {sorted(keys)}")
    means = results.groupby(["protocol", "key"])[["test_MAE", "test_Mult_acc_2"]].mean().unstack("key")
    return pd.DataFrame(
        {
            "MAE below the floor": means[("test_MAE", floor)] - means[("test_MAE", model)],
            "Mult_acc_2 above the floor": means[("test_Mult_acc_2", model)] - means[("test_Mult_acc_2", floor)],
        }
    )
