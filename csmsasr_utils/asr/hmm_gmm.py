"""The dataset authors' first classic baseline, rebuilt: an HMM-GMM recogniser on MFCC features.

What it is: 3-state left-to-right HMMs for every Mandarin initial, final and silence
(:mod:`~csmsasr_utils.asr.lexicon`), diagonal-covariance Gaussian mixtures as emission models
(:mod:`~csmsasr_utils.asr.hmm`), a character bigram language model
(:mod:`~csmsasr_utils.asr.ngram`), and a Viterbi beam search over a loop of characters.

How it is trained (:func:`train_hmm_gmm`), the recipe of HTK's HCompV / HInit / HERest in its
Viterbi form:

1. **flat start** — the global mean and variance of all training frames (and its variance floor);
   every utterance's state chain (silence, units, silence) is cut into equal segments, one per
   state, and each state's first Gaussian is estimated on its segments;
2. **embedded Viterbi training** — align every utterance to its chain with the current models
   (forced alignment), then re-estimate each state's GMM on the frames aligned to it (a few EM
   steps, variances floored) and each state's self-loop probability from the durations;
3. **mixture splitting** — every Gaussian is split in two (means ± 0.2 σ) at each stage of
   ``HmmGmmConfig.mixtures`` (1 → 2 → 4 → 8), with a few realignments per stage.

The language model is estimated on the same training transcripts; the LM weight and the
character insertion penalty can be tuned on validation data with :func:`tune_decoder`.

**Why our own code rather than CMU Sphinx (sphinxtrain + pocketsphinx) or Kaldi?** This is a
teaching book: the whole recogniser is a few hundred readable lines of numpy / numba that a
reader can step through, it needs no external binaries or recipe scripts, it runs the same on
every platform, and the SVM recogniser (:mod:`~csmsasr_utils.asr.svm_asr`) reuses exactly the
same features, lexicon, language model, alignments and decoder — so the two baselines differ
only in the frame classifier. A toolkit would give better numbers (triphones, LDA/MLLT,
speaker adaptation); matching the paper's 133 % CER is not the goal, explaining it is.

Models are saved as ``arrays.npz`` + ``model.json`` in a folder — never pickle.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from csmsasr_utils.asr.engines.base import TimedTranscription
from csmsasr_utils.asr.hmm import (
    STATES_PER_UNIT,
    DecodingGraph,
    HmmError,
    decode,
    gmm_component_log_likelihoods,
    gmm_log_likelihoods,
    unit_states,
    viterbi_chain,
)
from csmsasr_utils.asr.lexicon import Lexicon, LexiconError
from csmsasr_utils.asr.metrics import cer
from csmsasr_utils.asr.mfcc import N_FEATURES, mfcc
from csmsasr_utils.asr.ngram import BigramLM
from csmsasr_utils.errors import CsmsasrError
from csmsasr_utils.progress import progress

FORMAT_VERSION = 1


class ModelFileError(CsmsasrError):
    """A saved recogniser folder is missing, incomplete or of another kind / version."""


@dataclass
class HmmGmmConfig:
    """Training and decoding settings (sized for ~760 clips on 2 CPU cores)."""

    mixtures: tuple[int, ...] = (1, 2, 4, 8)
    iterations_per_stage: int = 2
    em_iterations: int = 2
    variance_floor: float = 0.01  # × the global variance of each dimension
    max_frames_per_state: int = 20_000  # EM on a random subsample of larger states (speed)
    self_loop_range: tuple[float, float] = (0.1, 0.95)
    lm_discount: float = 0.75
    lm_weight: float = 8.0
    insertion_penalty: float = 0.0
    beam: float = 300.0
    seed: int = 0


@dataclass(frozen=True)
class Alignment:
    """A forced alignment: the emission state and unit of every frame, and its log-score."""

    states: np.ndarray
    units: np.ndarray
    chars: str
    score: float


def as_features(audio_or_features: np.ndarray) -> np.ndarray:
    """MFCC features of 1-D audio, or (T, 39) features passed through."""
    array = np.asarray(audio_or_features)
    if array.ndim == 1:
        return mfcc(array)
    if array.ndim == 2 and array.shape[1] == N_FEATURES:
        return array.astype(np.float32)
    raise HmmError(f"expected 16 kHz mono audio (1-D) or MFCC features (T, {N_FEATURES}), found shape {array.shape}")


def _chain_units(units: Sequence[int], frames: int, silence: int = 0) -> list[int] | None:
    """Silence + units + silence, without the silences when the utterance is too short; None if still too short."""
    with_silence = [silence, *units, silence]
    if frames >= len(with_silence) * STATES_PER_UNIT:
        return with_silence
    return list(units) if frames >= len(units) * STATES_PER_UNIT else None


class CharLoopRecognizer(TimedTranscription):
    """What both classic recognisers share: lexicon, bigram LM, HMM topology, the loop decoder.

    Subclasses provide ``frame_scores`` — (T, n_emission_states) log-scores of MFCC frames.
    """

    name = "char-loop"

    def __init__(
        self,
        lexicon: Lexicon,
        lm: BigramLM,
        log_self: np.ndarray,
        lm_weight: float,
        insertion_penalty: float,
        beam: float,
    ):
        self.lexicon = lexicon
        self.lm = lm
        self.log_self = np.asarray(log_self, dtype=np.float64)
        self.lm_weight = float(lm_weight)
        self.insertion_penalty = float(insertion_penalty)
        self.beam = float(beam)

    def frame_scores(self, features: np.ndarray) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    def decoder_settings(self) -> dict[str, float]:
        """LM weight, insertion penalty and beam (what :func:`tune_decoder` tunes)."""
        return {"lm_weight": self.lm_weight, "insertion_penalty": self.insertion_penalty, "beam": self.beam}

    def set_decoder(
        self, lm_weight: float | None = None, insertion_penalty: float | None = None, beam: float | None = None
    ) -> None:
        """Change the decoder settings given (the others stay)."""
        self.lm_weight = self.lm_weight if lm_weight is None else float(lm_weight)
        self.insertion_penalty = self.insertion_penalty if insertion_penalty is None else float(insertion_penalty)
        self.beam = self.beam if beam is None else float(beam)

    @cached_property
    def graph(self) -> DecodingGraph:
        """The character-loop decoding graph (built once)."""
        return DecodingGraph.build(self.lexicon.char_unit_ids(), self.lm.tables(), self.log_self)

    def decode_scores(
        self, scores: np.ndarray, lm_weight: float | None = None, insertion_penalty: float | None = None
    ) -> str:
        """The best character string for a frame score matrix (defaults: the recogniser's settings)."""
        result = decode(
            scores,
            self.graph,
            self.lm_weight if lm_weight is None else lm_weight,
            self.insertion_penalty if insertion_penalty is None else insertion_penalty,
            self.beam,
        )
        chars = self.lexicon.chars
        return "".join(chars[i] for i in result.chars)

    def transcribe_features(self, features: np.ndarray) -> str:
        """Transcribe MFCC features (T, 39)."""
        return self.decode_scores(self.frame_scores(features))

    def transcribe(self, audio: np.ndarray) -> str:
        """Transcribe 16 kHz mono float32 audio."""
        return self.transcribe_features(as_features(audio))


class HmmGmmRecognizer(CharLoopRecognizer):
    """A trained HMM-GMM recogniser (see module docstring). ``history`` has one row per iteration."""

    name = "hmm-gmm"

    def __init__(
        self,
        lexicon: Lexicon,
        lm: BigramLM,
        weights: np.ndarray,
        means: np.ndarray,
        variances: np.ndarray,
        log_self: np.ndarray,
        config: HmmGmmConfig,
        history: list[dict] | None = None,
    ):
        super().__init__(lexicon, lm, log_self, config.lm_weight, config.insertion_penalty, config.beam)
        self.weights, self.means, self.variances = weights, means, variances
        self.config = config
        self.history = list(history or [])

    @property
    def n_states(self) -> int:
        """Number of emission states (units × 3)."""
        return len(self.weights)

    def frame_scores(self, features: np.ndarray) -> np.ndarray:
        """GMM log-likelihood of every frame in every emission state: (T, n_states)."""
        return gmm_log_likelihoods(features, self.weights, self.means, self.variances)

    def align(self, audio_or_features: np.ndarray, text: str) -> Alignment:
        """Forced alignment of ``text`` (silence, its units, silence) to the audio or features.

        Raises :class:`~csmsasr_utils.asr.lexicon.LexiconError` when no character of the text is
        known and :class:`~csmsasr_utils.asr.hmm.HmmError` when the audio is too short for it.
        """
        features = as_features(audio_or_features)
        transcription = self.lexicon.transcribe(text)
        index = self.lexicon.unit_index()
        units = _chain_units([index[u] for u in transcription.flat_units], len(features))
        if units is None:
            raise HmmError(
                f"expected at least {STATES_PER_UNIT * len(transcription.flat_units)} frames to align "
                f"{transcription.chars!r}, found {len(features)}; the audio is too short for its text"
            )
        states = unit_states(units)
        path, score = viterbi_chain(self.frame_scores(features)[:, states], self.log_self[states])
        return Alignment(states[path], states[path] // STATES_PER_UNIT, transcription.chars, score)

    def save(self, path: str | Path) -> Path:
        """Write the model to the folder ``path`` (``arrays.npz`` + ``model.json``; no pickle)."""
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        np.savez(
            folder / "arrays.npz",
            weights=self.weights,
            means=self.means,
            variances=self.variances,
            log_self=self.log_self,
        )
        meta = {
            "kind": self.name,
            "format": FORMAT_VERSION,
            "config": asdict(self.config),
            "decoder": self.decoder_settings(),
            "lexicon": self.lexicon.to_json(),
            "lm": self.lm.to_json(),
            "history": self.history,
        }
        (folder / "model.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        return folder

    @classmethod
    def load(cls, path: str | Path) -> HmmGmmRecognizer:
        """Read a model written by :meth:`save`."""
        meta, arrays = read_model_folder(path, cls.name)
        config = HmmGmmConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in meta["config"].items()})
        model = cls(
            Lexicon.from_json(meta["lexicon"]),
            BigramLM.from_json(meta["lm"]),
            arrays["weights"],
            arrays["means"],
            arrays["variances"],
            arrays["log_self"],
            config,
            meta["history"],
        )
        model.set_decoder(**meta["decoder"])
        return model


def read_model_folder(path: str | Path, kind: str) -> tuple[dict, dict[str, np.ndarray]]:
    """``model.json`` and ``arrays.npz`` of a saved recogniser folder, checked to be of ``kind``."""
    folder = Path(path)
    meta_path, array_path = folder / "model.json", folder / "arrays.npz"
    if not meta_path.is_file() or not array_path.is_file():
        raise ModelFileError(
            f"expected a model folder with model.json and arrays.npz, found {folder} "
            f"without {'model.json' if not meta_path.is_file() else 'arrays.npz'}; "
            "save the model with its save() method first"
        )
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("kind") != kind or meta.get("format") != FORMAT_VERSION:
        raise ModelFileError(
            f"expected a {kind!r} model, format {FORMAT_VERSION}; found kind {meta.get('kind')!r}, "
            f"format {meta.get('format')!r} in {meta_path}; load it with the matching class"
        )
    with np.load(array_path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    return meta, arrays


# ---------------------------------------------------------------- training
def _split_mixtures(
    weights: np.ndarray, means: np.ndarray, variances: np.ndarray, target: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split the heaviest Gaussian of every state (means ± 0.2 σ, weight halved) until ``target`` mixtures."""
    while weights.shape[1] < target:
        heaviest = weights.argmax(axis=1)
        rows = np.arange(len(weights))
        offset = 0.2 * np.sqrt(variances[rows, heaviest])
        new_mean = means[rows, heaviest] + offset
        means = means.copy()
        means[rows, heaviest] -= offset
        weights = weights.copy()
        weights[rows, heaviest] /= 2
        weights = np.concatenate([weights, weights[rows, heaviest][:, None]], axis=1)
        means = np.concatenate([means, new_mean[:, None]], axis=1)
        variances = np.concatenate([variances, variances[rows, heaviest][:, None]], axis=1)
    return weights, means, variances


def _em_state(
    frames: np.ndarray,
    weights: np.ndarray,
    means: np.ndarray,
    variances: np.ndarray,
    floor: np.ndarray,
    iterations: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A few EM steps of one state's diagonal GMM on its aligned frames (variance floored)."""
    x = frames.astype(np.float64)
    for _ in range(iterations):
        log_resp = gmm_component_log_likelihoods(x, weights[None], means[None], variances[None])[:, 0]
        log_resp -= log_resp.max(axis=1, keepdims=True)
        resp = np.exp(log_resp)
        resp /= resp.sum(axis=1, keepdims=True)
        counts = resp.sum(axis=0)
        alive = counts > 2.0  # a component with (almost) no frames keeps its old parameters
        if not alive.any():
            break
        new_means = (resp.T @ x) / np.maximum(counts, 1e-10)[:, None]
        new_vars = (resp.T @ (x**2)) / np.maximum(counts, 1e-10)[:, None] - new_means**2
        means = np.where(alive[:, None], new_means, means)
        variances = np.where(alive[:, None], np.maximum(new_vars, floor), variances)
        weights = np.maximum(counts / counts.sum(), 1e-5)
        weights /= weights.sum()
    return weights, means, variances


def _reestimate(
    features: list[np.ndarray],
    state_paths: list[np.ndarray],
    model: dict,
    floor: np.ndarray,
    config: HmmGmmConfig,
    rng: np.random.Generator,
) -> None:
    """Re-estimate every state's GMM and self-loop probability from the frame → state labels (in place)."""
    n_states = len(model["weights"])
    labels = np.concatenate(state_paths)
    frames = np.concatenate(features)
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(n_states + 1))
    for s in range(n_states):
        rows = order[bounds[s] : bounds[s + 1]]
        if len(rows) < 2:
            continue  # unseen state: keep its parameters
        if len(rows) > config.max_frames_per_state:
            rows = rng.choice(rows, config.max_frames_per_state, replace=False)
        model["weights"][s], model["means"][s], model["variances"][s] = _em_state(
            frames[rows], model["weights"][s], model["means"][s], model["variances"][s], floor, config.em_iterations
        )
    # self-loops: a visit of d frames has d − 1 self-transitions and one exit
    occupancy = np.bincount(labels, minlength=n_states)
    visits = np.zeros(n_states)
    for path in state_paths:
        starts = np.concatenate([[True], path[1:] != path[:-1]])
        visits += np.bincount(path[starts], minlength=n_states)
    low, high = config.self_loop_range
    seen = occupancy > 0
    stay = np.where(seen, (occupancy - visits) / np.maximum(occupancy, 1), 0.6)
    model["log_self"] = np.log(np.clip(stay, low, high))


def train_hmm_gmm(
    audio_or_features: Sequence[np.ndarray], texts: Sequence[str], config: HmmGmmConfig | None = None
) -> HmmGmmRecognizer:
    """Train the HMM-GMM recogniser on (audio or MFCC features, transcript) pairs; seeded.

    Utterances whose transcript has no known character, or that are too short for their chain
    of states, are skipped (their number is in ``history[0]['skipped']``).
    """
    config = config or HmmGmmConfig()
    if len(audio_or_features) != len(texts) or not texts:
        raise CsmsasrError(
            f"train_hmm_gmm expects as many transcripts as utterances and at least one, found "
            f"{len(audio_or_features)} utterances and {len(texts)} transcripts"
        )
    if list(config.mixtures) != sorted(config.mixtures) or config.mixtures[0] < 1:
        raise CsmsasrError(f"expected increasing mixture counts starting at ≥ 1, found {config.mixtures}")
    rng = np.random.default_rng(config.seed)
    features = [as_features(x) for x in progress(list(audio_or_features), desc="MFCC features")]
    lexicon = Lexicon.from_texts(texts)
    index = lexicon.unit_index()
    chains, kept, kept_texts = [], [], []
    for feats, text in zip(features, texts):
        try:
            transcription = lexicon.transcribe(text)
        except LexiconError:
            continue
        units = _chain_units([index[u] for u in transcription.flat_units], len(feats))
        if units is not None:
            chains.append(unit_states(units))
            kept.append(feats)
            kept_texts.append(transcription.chars)
    if not kept:
        raise CsmsasrError(
            "expected at least one utterance long enough for its transcript, found none; "
            "check that audio and transcripts belong together"
        )
    skipped = len(texts) - len(kept)
    lm = BigramLM.from_texts(kept_texts, vocabulary=lexicon.chars, discount=config.lm_discount)

    # 1. flat start: global statistics, then one Gaussian per state from a uniform segmentation
    n_states = len(lexicon.units) * STATES_PER_UNIT
    stacked = np.concatenate(kept).astype(np.float64)
    global_mean, global_var = stacked.mean(axis=0), stacked.var(axis=0)
    floor = config.variance_floor * global_var
    model = {
        "weights": np.ones((n_states, 1)),
        "means": np.tile(global_mean, (n_states, 1, 1)),
        "variances": np.tile(global_var, (n_states, 1, 1)),
        "log_self": np.full(n_states, np.log(0.6)),
    }
    uniform = [
        chain[np.minimum((np.arange(len(f)) * len(chain)) // len(f), len(chain) - 1)] for f, chain in zip(kept, chains)
    ]
    _reestimate(kept, uniform, model, floor, config, rng)

    # 2.–3. embedded Viterbi training, splitting mixtures stage by stage
    history: list[dict] = []
    steps = [(m, i) for m in config.mixtures for i in range(config.iterations_per_stage)]
    for mixtures, iteration in progress(steps, desc="Viterbi training (HMM-GMM)"):
        if model["weights"].shape[1] < mixtures:
            model["weights"], model["means"], model["variances"] = _split_mixtures(
                model["weights"], model["means"], model["variances"], mixtures
            )
        paths, total = [], 0.0
        for feats, chain in zip(kept, chains):
            used, position = np.unique(chain, return_inverse=True)  # score only the chain's states
            scores = gmm_log_likelihoods(feats, model["weights"][used], model["means"][used], model["variances"][used])
            path, score = viterbi_chain(scores[:, position], model["log_self"][chain])
            paths.append(chain[path])
            total += score
        history.append(
            {
                "mixtures": mixtures,
                "iteration": iteration + 1,
                "log_likelihood_per_frame": total / len(stacked),
                "skipped": skipped,
            }
        )
        _reestimate(kept, paths, model, floor, config, rng)
    return HmmGmmRecognizer(
        lexicon, lm, model["weights"], model["means"], model["variances"], model["log_self"], config, history
    )


# ---------------------------------------------------------------- decoder tuning
def tune_decoder(
    recognizer: CharLoopRecognizer,
    audio_or_features: Sequence[np.ndarray],
    texts: Sequence[str],
    lm_weights: Sequence[float] = (2.0, 4.0, 8.0, 12.0),
    insertion_penalties: Sequence[float] = (-10.0, 0.0, 10.0),
    apply: bool = True,
) -> pd.DataFrame:
    """Grid search of LM weight × insertion penalty on validation data; CER of every grid point.

    Frame scores are computed once per utterance, then decoded once per grid point. With
    ``apply`` the best pair is set on the recogniser. Returns ``lm_weight``,
    ``insertion_penalty``, ``cer``, best first.
    """
    scores = [recognizer.frame_scores(as_features(x)) for x in progress(list(audio_or_features), desc="frame scores")]
    rows = []
    grid = [(w, p) for w in lm_weights for p in insertion_penalties]
    for weight, penalty in progress(grid, desc="decoder grid"):
        hyps = [recognizer.decode_scores(s, weight, penalty) for s in scores]
        rows.append({"lm_weight": weight, "insertion_penalty": penalty, "cer": cer(list(texts), hyps)})
    table = pd.DataFrame(rows).sort_values("cer", kind="stable").reset_index(drop=True)
    if apply:
        recognizer.set_decoder(table.loc[0, "lm_weight"], table.loc[0, "insertion_penalty"])
    return table
