"""Text sentiment models reading other text than the manual transcripts.

A sentiment model trained on CS-MSASR's manual transcripts will, in use, read what a speech
recogniser writes. This module asks what that costs, always **out of fold**: each clip is
predicted by the model of the fold whose test set holds it, so no clip is ever scored by a model
that was trained on it, whatever text of the clip is fed in.

* :func:`fit_fold_models` fits one text baseline per fold (regularisation tuned on the fold's
  validation clips) and returns a :class:`FoldModels` that predicts any text of any tested clip;
* :func:`variant_predictions` and :func:`variant_metrics` score several *versions* of the same
  clips' text side by side — the gold transcripts, ASR hypotheses, transcripts with the dialect
  particles removed;
* :func:`simulate_recognition_errors` corrupts transcripts at a chosen character error rate and
  :func:`noise_curve` sweeps that rate: how fast does the model degrade as recognition gets worse?
* :func:`remove_characters` and :func:`remove_random_characters` delete given characters, or as
  many other characters as a control.

The simulated errors are a deliberately simple channel (independent edits, substitutes drawn by
character frequency), not a model of any recogniser: it shows the shape of the degradation, and
the realised CER of each corrupted set is measured with the book's CER, not assumed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.pipeline import Pipeline

from csmsasr_utils.asr.metrics import cer
from csmsasr_utils.errors import CsmsasrError, UnknownClipError
from csmsasr_utils.msa.metrics import sims_regression_metrics
from csmsasr_utils.msa.text_baselines import TextBaseline, fit_tuned
from csmsasr_utils.progress import progress
from csmsasr_utils.stats import character_inventory


@dataclass(frozen=True)
class FoldModels:
    """One fitted text model per fold, and the fold that tests each clip."""

    baseline: str
    models: tuple[Pipeline, ...]
    alphas: tuple[float | None, ...]
    test_fold: Mapping[str, int]

    def predict(self, clip_ids: Sequence[str], texts: Sequence[str]) -> np.ndarray:
        """Predict M for ``texts``, each by the model of the fold that tests its clip."""
        clip_ids = [str(c) for c in clip_ids]
        if len(clip_ids) != len(texts):
            raise CsmsasrError(f"{len(clip_ids)} clip ids but {len(texts)} texts")
        unknown = [c for c in clip_ids if c not in self.test_fold]
        if unknown:
            raise UnknownClipError(f"{len(unknown)} clip(s) are in no test fold, e.g. {unknown[:3]}")
        folds = np.array([self.test_fold[c] for c in clip_ids], dtype=int)
        texts = pd.Series(list(texts), dtype=object).astype(str)
        prediction = np.empty(len(clip_ids))
        for fold in np.unique(folds):
            rows = np.flatnonzero(folds == fold)
            prediction[rows] = self.models[fold].predict(texts.iloc[rows])
        return prediction


def fit_fold_models(
    metadata: pd.DataFrame, splits: Sequence[Mapping[str, Sequence[str]]], baseline: TextBaseline
) -> FoldModels:
    """Fit ``baseline`` on each fold's training transcripts (``alpha`` tuned on its validation clips).

    ``splits`` is a list of ``{'train', 'valid', 'test'}`` clip-id collections, e.g.
    :func:`~csmsasr_utils.data.splits.official_folds`; a clip may be a test clip of one fold only.
    """
    missing = {"clip_id", "text", "label_m"} - set(metadata.columns)
    if missing:
        raise CsmsasrError(f"metadata lacks column(s) {sorted(missing)}")
    frame = metadata.assign(clip_id=metadata["clip_id"].astype(str)).set_index("clip_id")
    texts, labels = frame["text"].astype(str), frame["label_m"].astype(float)
    models, alphas, test_fold = [], [], {}
    for fold, split in enumerate(splits):
        ids = {k: [str(c) for c in split[k]] for k in ("train", "valid", "test")}
        unknown = sorted(set().union(*ids.values()) - set(frame.index))
        if unknown:
            raise UnknownClipError(f"fold {fold}: {len(unknown)} clip id(s) not in the metadata, e.g. {unknown[:3]}")
        for clip in ids["test"]:
            if clip in test_fold:
                raise CsmsasrError(f"clip {clip} is a test clip of folds {test_fold[clip]} and {fold}")
            test_fold[clip] = fold
        model, alpha = fit_tuned(
            baseline,
            texts.loc[ids["train"]],
            labels.loc[ids["train"]],
            texts.loc[ids["valid"]],
            labels.loc[ids["valid"]],
        )
        models.append(model)
        alphas.append(alpha)
    return FoldModels(baseline.name, tuple(models), tuple(alphas), test_fold)


def variant_predictions(
    fold_models: FoldModels, clip_ids: Sequence[str], variants: Mapping[str, Sequence[str]]
) -> pd.DataFrame:
    """Out-of-fold predictions for several versions of the clips' text: one column per version.

    ``variants`` maps a name (``'gold'``, ``'Whisper greedy'`` …) to texts aligned with ``clip_ids``.
    """
    if not variants:
        raise CsmsasrError("variant_predictions needs at least one variant")
    frame = pd.DataFrame({"clip_id": [str(c) for c in clip_ids]})
    for name, texts in variants.items():
        frame[name] = fold_models.predict(frame["clip_id"], texts)
    return frame


def variant_metrics(predictions: pd.DataFrame, labels: Mapping[str, float] | pd.Series) -> pd.DataFrame:
    """MMSA's SIMS metrics of every prediction column of :func:`variant_predictions`, one row each.

    ``labels`` maps clip id to the multimodal label M. Also gives the mean prediction, which shows
    a systematic shift (toward negative or positive) that the MAE can hide.
    """
    labels = pd.Series(labels)
    truth = labels.reindex(predictions["clip_id"]).to_numpy(dtype=float)
    if np.isnan(truth).any():
        raise UnknownClipError("some predicted clips have no label")
    rows = {}
    for column in predictions.columns.drop("clip_id"):
        prediction = predictions[column].to_numpy(dtype=float)
        rows[column] = {**sims_regression_metrics(prediction, truth), "mean prediction": float(prediction.mean())}
    table = pd.DataFrame(rows).T
    table.index.name = "text read"
    return table


@dataclass(frozen=True)
class ErrorMix:
    """Shares of substitutions, deletions and insertions among simulated recognition errors.

    The default, substitutions first, is a plausible profile for a recogniser that hears the
    syllables but picks the wrong characters; it is a choice, not a measurement.
    """

    substitution: float = 0.6
    deletion: float = 0.25
    insertion: float = 0.15

    def __post_init__(self) -> None:
        shares = (self.substitution, self.deletion, self.insertion)
        if min(shares) < 0 or abs(sum(shares) - 1.0) > 1e-9:
            raise CsmsasrError(f"ErrorMix shares must be non-negative and sum to 1, got {shares}")


def character_distribution(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The characters of ``texts`` (spaces excluded) and their relative frequencies."""
    inventory = character_inventory(texts)
    if inventory.empty:
        raise CsmsasrError("no characters to draw substitutes from")
    counts = inventory["count"].to_numpy(dtype=float)
    return inventory["char"].to_numpy(dtype=object), counts / counts.sum()


def simulate_recognition_errors(
    texts: Sequence[str], rate: float, alphabet: tuple[np.ndarray, np.ndarray], seed: int, mix: ErrorMix = ErrorMix()
) -> list[str]:
    """Corrupt each text with independent character edits, ``rate`` edits per character on average.

    Each non-space character is substituted with probability ``rate × mix.substitution`` (by a
    *different* character drawn from ``alphabet`` — characters and probabilities, see
    :func:`character_distribution`), deleted with probability ``rate × mix.deletion``, and followed
    by an inserted character with probability ``rate × mix.insertion``. Spaces are kept. The CER of
    the result is at most about ``rate``: an alignment can explain some edits more cheaply. Same
    texts, rate and seed → same output.
    """
    if not 0.0 <= rate <= 1.0:
        raise CsmsasrError(f"rate must be in [0, 1], got {rate}")
    chars, probabilities = alphabet
    if len(chars) < 2:
        raise CsmsasrError("the alphabet needs at least two characters to substitute")
    rng = np.random.default_rng([int(seed), round(rate * 1_000_000)])
    corrupted = []
    for text in texts:
        out = []
        for char in str(text):
            if char.isspace():
                out.append(char)
                continue
            draw = rng.random()
            if draw < rate * mix.substitution:
                substitute = char
                while substitute == char:
                    substitute = chars[rng.choice(len(chars), p=probabilities)]
                out.append(substitute)
            elif draw >= rate * (mix.substitution + mix.deletion):
                out.append(char)
            if rng.random() < rate * mix.insertion:
                out.append(chars[rng.choice(len(chars), p=probabilities)])
        corrupted.append("".join(out))
    return corrupted


def noise_curve(
    fold_models: FoldModels,
    metadata: pd.DataFrame,
    rates: Sequence[float],
    seeds: Sequence[int] = (0, 1, 2),
    mix: ErrorMix = ErrorMix(),
    show_progress: bool = True,
) -> pd.DataFrame:
    """Score the fold models on every tested clip's transcript corrupted at each rate, with each seed.

    One row per (rate, seed): the nominal ``rate``, the ``realised_cer`` of the corrupted texts
    against the transcripts (the book's CER), and MMSA's SIMS metrics of the out-of-fold
    predictions pooled over all tested clips. Substitutes are drawn by the character frequencies
    of all transcripts (what a recogniser tends to write), which carry no label information.
    """
    frame = metadata[metadata["clip_id"].astype(str).isin(set(fold_models.test_fold))]
    ids, texts = frame["clip_id"].astype(str).tolist(), frame["text"].astype(str).tolist()
    labels = frame["label_m"].to_numpy(dtype=float)
    alphabet = character_distribution(metadata["text"].astype(str))
    rows = []
    for rate, seed in progress([(r, s) for r in rates for s in seeds], desc="noise curve", disable=not show_progress):
        noisy = simulate_recognition_errors(texts, rate, alphabet, seed, mix)
        metrics = sims_regression_metrics(fold_models.predict(ids, noisy), labels)
        rows.append({"rate": float(rate), "seed": int(seed), "realised_cer": cer(texts, noisy), **metrics})
    return pd.DataFrame(rows)


def cost_at(curve: pd.DataFrame, cer_levels: Mapping[str, float], floor_mae: float) -> pd.DataFrame:
    """What the text model keeps at given character error rates, read off a :func:`noise_curve`.

    The curve is averaged over seeds per rate, then MAE and Corr are interpolated linearly at each
    CER of ``cer_levels`` (name → CER as a fraction) on the mean *realised* CER. ``advantage_left``
    is the share of the clean model's MAE advantage over ``floor_mae`` (e.g. the majority
    baseline's MAE) that remains: 1 at CER 0, 0 at the floor. A level beyond the largest realised
    CER of the curve gives NaN rather than an extrapolation.
    """
    mean = curve.groupby("rate")[["realised_cer", "MAE", "Corr"]].mean().sort_values("realised_cer")
    clean_mae = float(mean["MAE"].iloc[0])
    if not floor_mae > clean_mae:
        raise CsmsasrError(f"the floor's MAE ({floor_mae:.3f}) must exceed the clean model's ({clean_mae:.3f})")
    rows = {}
    for name, level in cer_levels.items():
        inside = mean["realised_cer"].iloc[0] <= level <= mean["realised_cer"].iloc[-1]
        at = {
            m: float(np.interp(level, mean["realised_cer"], mean[m])) if inside else float("nan")
            for m in ("MAE", "Corr")
        }
        rows[name] = {"CER": float(level), **at, "advantage_left": (floor_mae - at["MAE"]) / (floor_mae - clean_mae)}
    table = pd.DataFrame(rows).T
    table.index.name = "at the CER of"
    return table


def deletion_ablation(
    fold_models: FoldModels, metadata: pd.DataFrame, characters: str, seeds: Sequence[int] = (0, 1, 2)
) -> pd.DataFrame:
    """Delete ``characters`` from the clips that contain any, against random deletions as a control.

    Scores the out-of-fold predictions of the clips whose transcript holds at least one of
    ``characters`` three ways: the ``transcript``, the transcript with those characters
    ``removed``, and, once per seed, ``random characters removed (seed s)`` — as many deletions of
    *other* characters. Returns :func:`variant_metrics`' table, plus the column ``clips``.
    """
    if not characters:
        raise CsmsasrError("deletion_ablation needs at least one character to remove")
    texts_all = metadata["text"].astype(str)
    subset = metadata[texts_all.map(lambda t: any(c in t for c in characters))]
    if subset.empty:
        raise CsmsasrError(f"no transcript contains any of {characters!r}")
    texts = subset["text"].astype(str).tolist()
    removed = remove_characters(texts, characters)
    variants = {"transcript": texts, f"{characters} removed": removed}
    counts = [len(t) - len(r) for t, r in zip(texts, removed)]
    for seed in seeds:
        variants[f"random characters removed (seed {seed})"] = remove_random_characters(
            texts, counts, seed, keep=characters
        )
    labels = subset.set_index(subset["clip_id"].astype(str))["label_m"]
    table = variant_metrics(variant_predictions(fold_models, subset["clip_id"], variants), labels)
    table["clips"] = len(subset)
    return table


def remove_characters(texts: Sequence[str], characters: str) -> list[str]:
    """Delete every occurrence of each of ``characters`` from each text."""
    table = str.maketrans("", "", characters)
    return [str(text).translate(table) for text in texts]


def remove_random_characters(texts: Sequence[str], counts: Sequence[int], seed: int, keep: str = "") -> list[str]:
    """Delete ``counts[i]`` randomly chosen non-space characters from text ``i``, never one of ``keep``.

    The control for :func:`remove_characters`: the same number of deletions, elsewhere. Raises
    when a text has fewer deletable characters than asked.
    """
    if len(counts) != len(texts):
        raise CsmsasrError(f"{len(texts)} texts but {len(counts)} counts")
    rng = np.random.default_rng(int(seed))
    out = []
    for text, count in zip(texts, counts):
        text = str(text)
        candidates = [i for i, c in enumerate(text) if not c.isspace() and c not in keep]
        if count > len(candidates):
            raise CsmsasrError(f"cannot delete {count} characters from {text!r}: only {len(candidates)} may go")
        drop = set(rng.choice(candidates, size=int(count), replace=False).tolist()) if count else set()
        out.append("".join(c for i, c in enumerate(text) if i not in drop))
    return out
