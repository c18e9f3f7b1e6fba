"""The dataset authors' second classic baseline, rebuilt: MFCC frames classified by an SVM.

A support vector machine cannot read a sequence; it labels one vector. The recipe that makes it
a recogniser is the **hybrid** one (Bourlard & Morgan, 1994, with neural networks in the SVM's
place; Ganapathiraju et al., 2004, with SVMs):

1. **targets** — every training frame gets the unit (initial / final / silence) that the
   HMM-GMM's forced alignment assigns it (:meth:`.HmmGmmRecognizer.align`);
2. **inputs** — each MFCC frame spliced with its ±2 neighbours (5 × 39 = 195 numbers), so the
   classifier sees 50 ms of context, as the HMM-GMM's Δ features do;
3. **classifier** — scikit-learn's RBF ``SVC`` on a stratified subsample of at most
   ``SvmConfig.frames_per_unit`` frames per unit, calibrated by
   ``CalibratedClassifierCV(method="sigmoid", cv=3, ensemble=False)``. Why this choice: an RBF
   SVM costs between quadratic and cubic time in its training set, so 340 000 frames are out of
   reach on 2 cores, while ~200 frames × ~60 units ≈ 12 000 frames train in a few minutes
   (one-vs-one: 1 770 small two-class problems of ~400 frames). Platt sigmoids (one per class,
   fitted on 3-fold cross-validated decision values) turn the SVM's margins into posteriors;
   ``SVC(probability=True)``, libsvm's built-in variant, is deprecated since scikit-learn 1.9
   and would fit 5 internal folds instead of 3. ``ensemble=False`` keeps one SVC (fitted on all
   the frames) and so one set of support vectors to store and evaluate;
4. **decoding** — the posteriors become *scaled likelihoods* ``log p(unit | x) − log p(unit)``
   (Bayes: p(x | unit) ∝ p(unit | x) / p(unit)), copied to the unit's 3 HMM states, and the very
   same character-loop Viterbi decoder, lexicon and bigram LM as the HMM-GMM search them. The
   prior ``p(unit)`` is the class share *in the SVM's training sample* (close to uniform after
   the stratified subsample) — the prior the posteriors were actually trained under.

**Saving without pickle.** A fitted ``SVC`` is libsvm state. We store the arrays that define
its decisions — support vectors, dual coefficients, intercepts, support counts per class, γ —
and the Platt parameters of every class in ``arrays.npz``, and compute the decision values,
the one-vs-rest scores and the calibrated posteriors ourselves (:func:`svm_posteriors`, a numpy
replica of ``CalibratedClassifierCV.predict_proba``; the tests check it against scikit-learn).
That is also faster: the RBF kernel becomes a matrix product.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy.special import expit

from csmsasr_utils.asr.hmm import STATES_PER_UNIT, HmmError
from csmsasr_utils.asr.hmm_gmm import (
    FORMAT_VERSION,
    CharLoopRecognizer,
    HmmGmmRecognizer,
    as_features,
    read_model_folder,
)
from csmsasr_utils.asr.lexicon import Lexicon, LexiconError
from csmsasr_utils.asr.ngram import BigramLM
from csmsasr_utils.errors import CsmsasrError
from csmsasr_utils.progress import progress

#: Posteriors below this are floored before taking logs.
POSTERIOR_FLOOR = 1e-7


class SvmTrainingError(CsmsasrError):
    """The SVM recogniser cannot be trained on the data given."""


@dataclass
class SvmConfig:
    """SVM recogniser settings (sized for a couple of minutes of training on 2 cores)."""

    context: int = 2  # frames spliced on each side
    frames_per_unit: int = 200
    C: float = 10.0
    gamma: float | str = "scale"
    calibration_folds: int = 3
    lm_weight: float = 3.0
    insertion_penalty: float = 0.0
    beam: float = 100.0
    chunk_frames: int = 2000  # frames per kernel block when scoring
    seed: int = 0


def splice(features: np.ndarray, context: int) -> np.ndarray:
    """Each frame concatenated with its ``context`` neighbours on each side (edges repeated): (T, (2c+1)·D)."""
    features = np.asarray(features, dtype=np.float32)
    padded = np.pad(features, ((context, context), (0, 0)), mode="edge")
    return np.concatenate([padded[k : k + len(features)] for k in range(2 * context + 1)], axis=1)


@dataclass(frozen=True)
class SvmArrays:
    """The arrays that define a fitted multi-class RBF ``SVC`` and its Platt calibration.

    SVC layout as in libsvm / scikit-learn: support vectors grouped by class (``n_support`` per
    class), ``dual_coef`` (k − 1, n_SV), one ``intercept`` per class pair (0,1), (0,2) … (k−2,k−1).
    Calibration: one sigmoid per class, p_c ∝ 1 / (1 + exp(a_c · f_c + b_c)) on the SVC's
    one-vs-rest decision value f_c (for 2 classes: one sigmoid, for class 1).
    """

    support_vectors: np.ndarray
    dual_coef: np.ndarray
    intercept: np.ndarray
    n_support: np.ndarray
    platt_a: np.ndarray
    platt_b: np.ndarray
    gamma: float

    @classmethod
    def from_calibrated(cls, calibrated) -> SvmArrays:
        """Copy the arrays out of a fitted ``CalibratedClassifierCV(SVC(kernel="rbf"), method="sigmoid",
        ensemble=False)``."""
        if getattr(calibrated, "ensemble", True) or calibrated.method != "sigmoid":
            raise SvmTrainingError(
                "expected CalibratedClassifierCV(..., method='sigmoid', ensemble=False), found "
                f"method={calibrated.method!r}, ensemble={calibrated.ensemble!r}"
            )
        inner = calibrated.calibrated_classifiers_[0]
        svc = inner.estimator
        if svc.kernel != "rbf" or len(svc.classes_) < 2:
            raise SvmTrainingError(
                f"expected an RBF SVC with ≥ 2 classes, found kernel={svc.kernel!r} and {len(svc.classes_)} classes"
            )
        sign = -1.0 if len(svc.classes_) == 2 else 1.0  # scikit-learn flips libsvm's signs for 2 classes
        return cls(
            svc.support_vectors_.astype(np.float64),
            sign * svc.dual_coef_.astype(np.float64),
            sign * svc.intercept_.astype(np.float64),
            svc.n_support_.astype(np.int64),
            np.array([c.a_ for c in inner.calibrators], dtype=np.float64),
            np.array([c.b_ for c in inner.calibrators], dtype=np.float64),
            float(svc._gamma),
        )

    @property
    def n_classes(self) -> int:
        return len(self.n_support)


def svm_decision_values(arrays: SvmArrays, x: np.ndarray) -> np.ndarray:
    """One-vs-one decision values (T, k(k−1)/2), pair order (0,1), (0,2) …; positive favours the first class.

    The RBF kernel exp(−γ‖x − sv‖²) is computed for all frames and support vectors at once as
    ‖x‖² − 2 x·sv + ‖sv‖² (one matrix product).
    """
    x = np.asarray(x, dtype=np.float64)
    sv = arrays.support_vectors
    distances = (x**2).sum(1)[:, None] - 2.0 * x @ sv.T + (sv**2).sum(1)[None, :]
    kernel = np.exp(-arrays.gamma * np.maximum(distances, 0.0))
    starts = np.concatenate([[0], np.cumsum(arrays.n_support)])
    k = arrays.n_classes
    # contributions[i][:, m]: class i's support vectors in the pairs of class i with the m-th other class
    contributions = [
        kernel[:, starts[i] : starts[i + 1]] @ arrays.dual_coef[:, starts[i] : starts[i + 1]].T for i in range(k)
    ]
    values = np.empty((len(x), k * (k - 1) // 2))
    p = 0
    for i in range(k):
        for j in range(i + 1, k):
            values[:, p] = contributions[i][:, j - 1] + contributions[j][:, i] + arrays.intercept[p]
            p += 1
    return values


def one_vs_rest(values: np.ndarray, n_classes: int) -> np.ndarray:
    """scikit-learn's one-vs-rest view of one-vs-one decisions: votes + confidences / (3 (``|conf|`` + 1))."""
    votes = np.zeros((len(values), n_classes))
    confidence = np.zeros((len(values), n_classes))
    p = 0
    for i in range(n_classes):
        for j in range(i + 1, n_classes):
            confidence[:, i] += values[:, p]
            confidence[:, j] -= values[:, p]
            votes[:, i] += values[:, p] >= 0
            votes[:, j] += values[:, p] < 0
            p += 1
    return votes + confidence / (3 * (np.abs(confidence) + 1))


def svm_posteriors(arrays: SvmArrays, x: np.ndarray) -> np.ndarray:
    """Calibrated class posteriors (T, k), as ``CalibratedClassifierCV.predict_proba`` computes them.

    One-vs-one decision values → one-vs-rest scores → Platt sigmoid per class → normalised to
    sum 1 (uniform where every sigmoid is 0).
    """
    values = svm_decision_values(arrays, x)
    k = arrays.n_classes
    if k == 2:
        positive = expit(-(arrays.platt_a[0] * -values[:, 0] + arrays.platt_b[0]))
        return np.stack([1.0 - positive, positive], axis=1)
    proba = expit(-(arrays.platt_a * one_vs_rest(values, k) + arrays.platt_b))
    total = proba.sum(axis=1, keepdims=True)
    return np.divide(proba, total, out=np.full_like(proba, 1.0 / k), where=total != 0)


class SvmRecognizer(CharLoopRecognizer):
    """MFCC + SVM frame classifier + the HMM-GMM's lexicon, LM, topology and loop decoder."""

    name = "mfcc-svm"

    def __init__(
        self,
        lexicon: Lexicon,
        lm: BigramLM,
        log_self: np.ndarray,
        arrays: SvmArrays,
        classes: np.ndarray,
        log_priors: np.ndarray,
        config: SvmConfig,
        history: dict | None = None,
    ):
        super().__init__(lexicon, lm, log_self, config.lm_weight, config.insertion_penalty, config.beam)
        self.arrays = arrays
        self.classes = np.asarray(classes, dtype=np.int64)
        self.log_priors = np.asarray(log_priors, dtype=np.float64)
        self.config = config
        self.history = dict(history or {})

    def unit_posteriors(self, features: np.ndarray) -> np.ndarray:
        """p(class | spliced frame) for every frame: (T, k), columns = ``classes`` (unit ids)."""
        spliced = splice(features, self.config.context)
        step = self.config.chunk_frames
        return np.concatenate(
            [svm_posteriors(self.arrays, spliced[i : i + step]) for i in range(0, len(spliced), step)]
        )

    def frame_scores(self, features: np.ndarray) -> np.ndarray:
        """Scaled log-likelihoods ``log p(u|x) − log p(u)`` copied to each unit's 3 states: (T, n_states).

        Units the SVM never saw get the floor ``log 1e-7`` minus the largest log-prior.
        """
        posteriors = np.maximum(self.unit_posteriors(features), POSTERIOR_FLOOR)
        n_units = len(self.lexicon.units)
        unit_scores = np.full((len(posteriors), n_units), np.log(POSTERIOR_FLOOR) - self.log_priors.max())
        unit_scores[:, self.classes] = np.log(posteriors) - self.log_priors
        return np.repeat(unit_scores, STATES_PER_UNIT, axis=1)

    def save(self, path: str | Path) -> Path:
        """Write the model to the folder ``path`` (``arrays.npz`` + ``model.json``; no pickle)."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        a = self.arrays
        np.savez(
            folder / "arrays.npz",
            support_vectors=a.support_vectors,
            dual_coef=a.dual_coef,
            intercept=a.intercept,
            n_support=a.n_support,
            platt_a=a.platt_a,
            platt_b=a.platt_b,
            classes=self.classes,
            log_priors=self.log_priors,
            log_self=self.log_self,
        )
        meta = {
            "kind": self.name,
            "format": FORMAT_VERSION,
            "config": asdict(self.config),
            "gamma": a.gamma,
            "decoder": self.decoder_settings(),
            "lexicon": self.lexicon.to_json(),
            "lm": self.lm.to_json(),
            "history": self.history,
        }
        (folder / "model.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        return folder

    @classmethod
    def load(cls, path: str | Path) -> SvmRecognizer:
        """Read a model written by :meth:`save`."""
        meta, z = read_model_folder(path, cls.name)
        arrays = SvmArrays(
            z["support_vectors"],
            z["dual_coef"],
            z["intercept"],
            z["n_support"],
            z["platt_a"],
            z["platt_b"],
            float(meta["gamma"]),
        )
        model = cls(
            Lexicon.from_json(meta["lexicon"]),
            BigramLM.from_json(meta["lm"]),
            z["log_self"],
            arrays,
            z["classes"],
            z["log_priors"],
            SvmConfig(**meta["config"]),
            meta["history"],
        )
        model.set_decoder(**meta["decoder"])
        return model


def train_svm_recognizer(
    hmm_gmm: HmmGmmRecognizer,
    audio_or_features: Sequence[np.ndarray],
    texts: Sequence[str],
    config: SvmConfig | None = None,
) -> SvmRecognizer:
    """Train the SVM frame classifier on the HMM-GMM's forced alignment of (audio, transcript) pairs.

    Utterances the HMM-GMM cannot align (no known character, too short) are skipped and counted
    in ``history['skipped']``. Seeded (subsample and Platt cross-validation).
    """
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import SVC

    config = config or SvmConfig()
    if len(audio_or_features) != len(texts) or not texts:
        raise SvmTrainingError(
            f"expected as many transcripts as utterances and at least one, found "
            f"{len(audio_or_features)} utterances and {len(texts)} transcripts"
        )
    rng = np.random.default_rng(config.seed)
    inputs, labels, skipped = [], [], 0
    for x, text in progress(list(zip(audio_or_features, texts)), desc="aligning (HMM-GMM)"):
        features = as_features(x)
        try:
            alignment = hmm_gmm.align(features, text)
        except (LexiconError, HmmError):
            skipped += 1
            continue
        inputs.append(splice(features, config.context))
        labels.append(alignment.units)
    if not inputs:
        raise SvmTrainingError(
            "expected at least one utterance the HMM-GMM can align, found none; "
            "check that audio and transcripts belong together"
        )
    x_all, y_all = np.concatenate(inputs), np.concatenate(labels)
    chosen, rare = [], 0
    for unit in np.unique(y_all):
        rows = np.flatnonzero(y_all == unit)
        if len(rows) < 2 * config.calibration_folds:
            rare += 1  # too few frames to cross-validate the calibration: the unit gets the floor score
            continue
        chosen.append(rng.choice(rows, min(len(rows), config.frames_per_unit), replace=False))
    if len(chosen) < 2:
        raise SvmTrainingError(
            f"expected frames of at least 2 units with ≥ {2 * config.calibration_folds} frames "
            f"each, found {len(chosen)}; train on more (or longer) utterances"
        )
    chosen = np.sort(np.concatenate(chosen))
    x_train, y_train = x_all[chosen].astype(np.float64), y_all[chosen]
    start = time.perf_counter()
    model = CalibratedClassifierCV(
        SVC(kernel="rbf", C=config.C, gamma=config.gamma, cache_size=500),
        method="sigmoid",
        cv=config.calibration_folds,
        ensemble=False,
    )
    model.fit(x_train, y_train)
    svc = model.calibrated_classifiers_[0].estimator
    classes, counts = np.unique(y_train, return_counts=True)
    history = {
        "frames_total": int(len(y_all)),
        "frames_trained": int(len(y_train)),
        "classes": int(len(classes)),
        "support_vectors": int(len(svc.support_vectors_)),
        "fit_seconds": time.perf_counter() - start,
        "skipped": skipped,
        "rare_units_left_out": rare,
    }
    return SvmRecognizer(
        hmm_gmm.lexicon,
        hmm_gmm.lm,
        hmm_gmm.log_self,
        SvmArrays.from_calibrated(model),
        svc.classes_,
        np.log(counts / counts.sum()),
        config,
        history,
    )
