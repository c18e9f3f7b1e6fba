"""What the cascade costs — a text sentiment model reading a recogniser's output — in tables.

:mod:`csmsasr_utils.msa.text_robustness` fits the text models out of fold and scores them on
other text than the manual transcripts (simulated recognition errors, real hypotheses, deleted
particles). This module puts those scores next to what they are compared with:

* a model's **noise experiment** (:func:`noise_experiment`: fitted out of fold, reading corrupted
  transcripts), the **floor** (:func:`majority_floor_mae`) and the **published CERs**
  (:func:`published_cer_levels`) that its noise curve is read against, and what each model keeps
  there (:func:`costs_at`);
* real **hypotheses** as versions of the clips' text (:func:`hypothesis_variants`), read by several
  models at once (:func:`read_hypotheses`), with how far each prediction moves
  (:func:`prediction_shift`) beside the clip's CER (:func:`clip_cer`);
* small comparisons of curves and readings for the exercises (:func:`curves_side_by_side`,
  :func:`metric_at_cer`, :func:`score_readings`) and of an ablation with its transcript
  (:func:`with_mae_change`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from csmsasr_utils.asr.metrics import utterance_scores
from csmsasr_utils.asr.published import published_table
from csmsasr_utils.errors import CsmsasrError
from csmsasr_utils.msa.text_baselines import TextBaseline, by_key, evaluate_text_baselines, text_baselines
from csmsasr_utils.msa.text_robustness import (
    FoldModels,
    cost_at,
    fit_fold_models,
    noise_curve,
    variant_metrics,
    variant_predictions,
)

#: The name :func:`hypothesis_variants` gives the manual transcripts.
TRANSCRIPT = "manual transcript"


def noise_experiment(
    metadata: pd.DataFrame,
    folds: Sequence[Mapping[str, Sequence[str]]],
    baseline: TextBaseline,
    rates: Sequence[float],
    seeds: Sequence[int] = (0, 1, 2),
) -> tuple[FoldModels, pd.DataFrame]:
    """Fit ``baseline`` out of fold on the manual transcripts, then let it read them corrupted.

    Returns the fold models (:func:`~csmsasr_utils.msa.text_robustness.fit_fold_models`, to read
    other texts later) and their :func:`~csmsasr_utils.msa.text_robustness.noise_curve` over
    ``rates`` × ``seeds`` (no progress bar): the rate-0 rows are the model on clean transcripts.
    """
    fold_models = fit_fold_models(metadata, folds, baseline)
    return fold_models, noise_curve(fold_models, metadata, rates, seeds=seeds, show_progress=False)


def majority_floor_mae(metadata: pd.DataFrame, folds: Sequence[Mapping[str, Sequence[str]]]) -> float:
    """The floor: the majority baseline's test MAE, averaged over ``folds``.

    ``folds`` are ``{'train', 'valid', 'test'}`` clip-id collections (e.g.
    :func:`~csmsasr_utils.data.splits.official_folds`), the same as those of the models compared with it;
    each fold predicts its training labels' most frequent value.
    """
    majority = [by_key(text_baselines())["majority"]]
    rows = evaluate_text_baselines(metadata, dict(enumerate(folds, start=1)), "floor", majority)
    return float(rows["test_MAE"].mean())


def published_cer_levels(max_cer: float = 1.0) -> dict[str, float]:
    """The published CERs on CS-MSASR as fractions, ``'model (setting)'`` → CER, up to ``max_cer``.

    A noise curve of simulated errors stops at a CER of 1, so the published CERs above 100 % (which
    count more insertions than there are reference characters) are left out by default.
    """
    table = published_table()
    return {
        f"{model} ({setting})": cer / 100
        for model, setting, cer in zip(table["model"], table["setting"], table["CER %"])
        if cer <= 100 * max_cer
    }


def seed_means(curve: pd.DataFrame) -> pd.DataFrame:
    """A :func:`~csmsasr_utils.msa.text_robustness.noise_curve` averaged over its seeds, one row per rate.

    Columns ``realised_cer, MAE, Corr, Mult_acc_2``; the index, ``nominal rate``, is the rate
    written with two decimals, for display.
    """
    mean = curve.groupby("rate")[["realised_cer", "MAE", "Corr", "Mult_acc_2"]].mean()
    return mean.set_axis([f"{r:.2f}" for r in mean.index]).rename_axis("nominal rate")


def costs_at(curves: Mapping[str, pd.DataFrame], cer_levels: Mapping[str, float], floor_mae: float) -> pd.DataFrame:
    """:func:`~csmsasr_utils.msa.text_robustness.cost_at` of several models' noise curves, stacked.

    ``curves`` maps a text model's name to its noise curve; the index is ``(text model, at the CER
    of)``: what each model keeps of its advantage over ``floor_mae`` at each CER of ``cer_levels``.
    """
    if not curves:
        raise CsmsasrError("costs_at needs at least one noise curve")
    return pd.concat(
        {name: cost_at(curve, cer_levels, floor_mae) for name, curve in curves.items()}, names=["text model"]
    )


def hypothesis_variants(runs: Mapping[str, pd.DataFrame]) -> tuple[list[str], dict[str, list[str]]]:
    """The clips of the first run, and their texts: the manual transcript, then each run's hypothesis.

    ``runs`` maps a name to transcripts (``clip_id``, ``reference``, normalised ``hypothesis``), e.g.
    :class:`~csmsasr_utils.asr.recogniser_output.RecogniserOutput`'s ``runs``. Every run must have
    the first run's clips; the variants are named :data:`TRANSCRIPT` and ``'hypothesis (<run>)'``,
    each aligned with the returned clip ids (what :func:`read_hypotheses` reads).
    """
    if not runs:
        raise CsmsasrError("hypothesis_variants needs at least one run")
    first = next(iter(runs.values()))
    clip_ids = first["clip_id"].tolist()
    variants = {TRANSCRIPT: first["reference"].tolist()}
    for name, run in runs.items():
        missing = set(clip_ids) - set(run["clip_id"])
        if missing:
            raise CsmsasrError(
                f"run {name!r} lacks {len(missing)} clip(s) of the first run, "
                f"e.g. {sorted(missing)[:3]}: give runs of the same clips"
            )
        variants[f"hypothesis ({name})"] = run.set_index("clip_id").loc[clip_ids, "hypothesis"].tolist()
    return clip_ids, variants


def read_hypotheses(
    fold_models: Mapping[str, FoldModels], runs: Mapping[str, pd.DataFrame], labels: Mapping[str, float] | pd.Series
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Every text model reads the manual transcripts and every run's hypotheses, out of fold.

    The texts are :func:`hypothesis_variants` of ``runs``. Returns each model's
    :func:`~csmsasr_utils.msa.text_robustness.variant_predictions` (by the names of
    ``fold_models``) and their :func:`~csmsasr_utils.msa.text_robustness.variant_metrics` stacked,
    index ``(text model, text read)``; ``labels`` maps clip id to M.
    """
    if not fold_models:
        raise CsmsasrError("read_hypotheses needs at least one text model")
    clip_ids, variants = hypothesis_variants(runs)
    predictions = {name: variant_predictions(models, clip_ids, variants) for name, models in fold_models.items()}
    metrics = pd.concat(
        {name: variant_metrics(frame, labels) for name, frame in predictions.items()}, names=["text model"]
    )
    return predictions, metrics


def prediction_shift(predictions: pd.DataFrame, reference: str = TRANSCRIPT) -> pd.DataFrame:
    """How far each other version's prediction lies from the ``reference`` version's, per clip.

    ``predictions`` is a :func:`~csmsasr_utils.msa.text_robustness.variant_predictions` table; the
    result has one column per other version (signed: positive where the version reads as more
    positive) and one row per clip, indexed by ``clip_id`` in the same order.
    """
    if reference not in predictions:
        raise CsmsasrError(f"no prediction column {reference!r}; columns are {list(predictions.columns)}")
    frame = predictions.set_index("clip_id")
    return frame.drop(columns=reference).sub(frame[reference], axis=0)


def clip_cer(runs: Mapping[str, pd.DataFrame], clip_ids: Sequence[str]) -> pd.DataFrame:
    """Each run's CER per clip (raw hypothesis against the reference, the book's normalisation).

    One column per run, one row per clip of ``clip_ids`` in that order (NaN where a run lacks the
    clip), so that it lines up with :func:`prediction_shift` of the same clips.
    """
    ids = [str(c) for c in clip_ids]
    columns = {}
    for name, run in runs.items():
        scores = utterance_scores(run["reference"], run["hypothesis_raw"])
        columns[name] = pd.Series(scores["cer"].to_numpy(), index=run["clip_id"].astype(str)).reindex(ids).to_numpy()
    return pd.DataFrame(columns, index=pd.Index(ids, name="clip_id"))


def with_mae_change(table: pd.DataFrame, reference: str = "transcript") -> pd.DataFrame:
    """``table`` (rows of versions, e.g. :func:`~csmsasr_utils.msa.text_robustness.deletion_ablation`)
    with ``MAE change``: each row's MAE minus that of the ``reference`` row (positive: worse)."""
    if reference not in table.index:
        raise CsmsasrError(f"no row {reference!r} to compare with; rows are {list(table.index)}")
    return table.assign(**{"MAE change": table["MAE"] - table.loc[reference, "MAE"]})


def curves_side_by_side(
    curves: Mapping[str, pd.DataFrame], columns: Sequence[str] = ("realised_cer", "MAE", "Corr")
) -> pd.DataFrame:
    """Several single-seed noise curves as one table: a row per nominal rate, a column group per curve."""
    return pd.concat({name: curve.set_index("rate")[list(columns)] for name, curve in curves.items()}, axis=1)


def metric_at_cer(curve: pd.DataFrame, cer: float, metric: str) -> float:
    """``metric`` of a noise curve at a realised CER, interpolated linearly between its rates.

    The curve is averaged over seeds per rate first; outside the realised CERs of the curve the
    value of the nearest end is returned (as :func:`numpy.interp` does).
    """
    mean = curve.groupby("rate")[["realised_cer", metric]].mean().sort_values("realised_cer")
    return float(np.interp(cer, mean["realised_cer"], mean[metric]))


def score_readings(
    clip_ids: Sequence[str],
    readings: Mapping[str, tuple[FoldModels, Sequence[str]]],
    labels: Mapping[str, float] | pd.Series,
) -> pd.DataFrame:
    """SIMS metrics of several (fold models, texts) pairings of the same clips, one row each.

    ``readings`` maps a name to the fold models and the texts they read (aligned with
    ``clip_ids``): e.g. models trained on clean or on noisy transcripts, each reading noisy text.
    Same table as :func:`~csmsasr_utils.msa.text_robustness.variant_metrics`.
    """
    if not readings:
        raise CsmsasrError("score_readings needs at least one reading")
    predictions = pd.DataFrame({"clip_id": [str(c) for c in clip_ids]})
    for name, (models, texts) in readings.items():
        predictions[name] = models.predict(predictions["clip_id"], texts)
    return variant_metrics(predictions, labels)
