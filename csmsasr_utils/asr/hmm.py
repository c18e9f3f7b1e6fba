"""Hidden Markov model machinery: phone HMMs, GMM emissions, forward, Viterbi, the decoder.

The classic recogniser (Rabiner, 1989; Young et al., *The HTK Book*) explains a sequence of
feature frames by a path through **states**:

* every unit (initial, final, silence — :mod:`csmsasr_utils.asr.lexicon`) is a **left-to-right
  HMM of 3 states** (beginning, middle, end of the sound); each state either stays (self-loop
  probability ``a``) or moves on to the next (``1 − a``), never back;
* each state scores a frame with an **emission** model, here a Gaussian mixture with diagonal
  covariances (:func:`gmm_log_likelihoods`) — or anything else that gives a (T, n_states) matrix
  of frame log-scores (the SVM recogniser passes its scaled posteriors);
* a known transcript is a **linear chain** of states: :func:`forward_chain` sums over every path
  (the likelihood), :func:`viterbi_chain` finds the best path (the **forced alignment** that
  labels every frame with a state — the training targets of both recognisers);
* an unknown transcript is found by :func:`decode`, a Viterbi **beam search over a loop of
  characters** (:class:`DecodingGraph`): each character is the concatenation of its units'
  states; after the last state of a character the search may enter any character, paying
  ``lm_weight · log P(next | previous)`` from the bigram LM plus an insertion penalty. A silence
  may come first and last. Every character entry is recorded (frame, character, predecessor),
  so the best final path can be read back as a character string.

All scores are natural logarithms. The two inner loops (chain Viterbi, decoder) are compiled
with numba: in pure Python the decoder would do ~10⁹ state updates for the test split.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from csmsasr_utils.asr.ngram import BigramTables
from csmsasr_utils.errors import CsmsasrError

STATES_PER_UNIT = 3
NEG_INF = -np.inf


class HmmError(CsmsasrError):
    """An HMM computation was asked for something impossible (shapes, too few frames)."""


# ---------------------------------------------------------------- emissions
def gmm_component_log_likelihoods(
    features: np.ndarray, weights: np.ndarray, means: np.ndarray, variances: np.ndarray
) -> np.ndarray:
    """log(w_m · N(x_t; μ_sm, diag σ²_sm)) for every frame, state and mixture: (T, S, M).

    ``weights`` (S, M), ``means`` and ``variances`` (S, M, D). Computed as two matrix products
    (the quadratic form of a diagonal Gaussian expands into x²·(1/σ²) − 2x·(μ/σ²) + μ²/σ²).
    A weight of 0 gives −inf (an unused mixture slot).
    """
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != means.shape[-1]:
        raise HmmError(f"expected features of shape (T, {means.shape[-1]}), found {x.shape}")
    states, mixtures, dim = means.shape
    precision = 1.0 / variances
    with np.errstate(divide="ignore"):
        log_w = np.log(weights)
    const = log_w - 0.5 * (dim * np.log(2 * np.pi) + np.log(variances).sum(-1) + (means**2 * precision).sum(-1))
    quad = (x**2) @ precision.reshape(-1, dim).T - 2.0 * x @ (means * precision).reshape(-1, dim).T
    return (const.reshape(1, -1) - 0.5 * quad).reshape(len(x), states, mixtures)


def gmm_log_likelihoods(
    features: np.ndarray, weights: np.ndarray, means: np.ndarray, variances: np.ndarray
) -> np.ndarray:
    """Frame log-likelihood under each state's diagonal GMM (logsumexp over mixtures): (T, S)."""
    components = gmm_component_log_likelihoods(features, weights, means, variances)
    peak = components.max(axis=2, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0.0)  # (a plain logsumexp; scipy's is ~3× slower here)
    with np.errstate(divide="ignore"):
        return peak[:, :, 0] + np.log(np.exp(components - peak).sum(axis=2))


# ---------------------------------------------------------------- topology
def unit_states(unit_ids: np.ndarray | list[int], states_per_unit: int = STATES_PER_UNIT) -> np.ndarray:
    """Emission-state ids of a unit sequence: unit u owns states u·k … u·k + k − 1."""
    units = np.asarray(unit_ids, dtype=np.int64)
    return (units[:, None] * states_per_unit + np.arange(states_per_unit)[None, :]).reshape(-1)


def _check_chain(log_emissions: np.ndarray, log_self: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    emissions = np.ascontiguousarray(log_emissions, dtype=np.float64)
    stay = np.ascontiguousarray(log_self, dtype=np.float64)
    if emissions.ndim != 2 or stay.shape != (emissions.shape[1],):
        raise HmmError(
            f"expected log-emissions (T, N) and N self-loop log-probabilities, found {emissions.shape} and {stay.shape}"
        )
    if emissions.shape[0] < emissions.shape[1]:
        raise HmmError(
            f"a left-to-right chain of {emissions.shape[1]} states needs at least as many frames, "
            f"found {emissions.shape[0]}; the utterance is too short for its transcript"
        )
    with np.errstate(divide="ignore"):
        move = np.log1p(-np.exp(stay))
    return emissions, stay, move


# ---------------------------------------------------------------- forward / Viterbi on a chain
def forward_chain(log_emissions: np.ndarray, log_self: np.ndarray) -> float:
    """log P(frames | chain): sum over every path that starts in state 0 and ends in state N−1.

    ``log_emissions[t, n]`` is the log-score of frame t in chain state n; ``log_self[n]`` the log
    self-loop probability of chain state n (moving on has probability 1 − exp(log_self)).
    """
    emissions, stay, move = _check_chain(log_emissions, log_self)
    alpha = np.full(emissions.shape[1], NEG_INF)
    alpha[0] = emissions[0, 0]
    for t in range(1, len(emissions)):
        entered = np.concatenate([[NEG_INF], alpha[:-1] + move[:-1]])
        alpha = np.logaddexp(alpha + stay, entered) + emissions[t]
    return float(alpha[-1])


@numba.njit(cache=True)
def _viterbi_chain(emissions, stay, move):  # pragma: no cover - compiled
    frames, states = emissions.shape
    delta = np.full(states, -np.inf)
    delta[0] = emissions[0, 0]
    moved = np.zeros((frames, states), dtype=np.bool_)
    for t in range(1, frames):
        for s in range(states - 1, -1, -1):  # descending: delta[s - 1] still holds frame t − 1
            best = delta[s] + stay[s]
            if s > 0:
                candidate = delta[s - 1] + move[s - 1]
                if candidate > best:
                    best = candidate
                    moved[t, s] = True
            delta[s] = best + emissions[t, s]
    path = np.empty(frames, dtype=np.int64)
    s = states - 1
    for t in range(frames - 1, -1, -1):
        path[t] = s
        if moved[t, s]:
            s -= 1
    return path, delta[states - 1]


def viterbi_chain(log_emissions: np.ndarray, log_self: np.ndarray) -> tuple[np.ndarray, float]:
    """Best path through the chain (starting in state 0, ending in state N−1) and its log-score.

    Returns the chain state of every frame, shape (T,), and the path's log-score.
    """
    emissions, stay, move = _check_chain(log_emissions, log_self)
    path, score = _viterbi_chain(emissions, stay, move)
    return path, float(score)


# ---------------------------------------------------------------- character-loop decoder
@dataclass(frozen=True)
class DecodingGraph:
    """The character loop, as flat arrays the compiled decoder reads.

    Words ``0 … V−1`` are the characters, word ``V`` the optional start silence, word ``V+1`` the
    optional end silence. Word w owns the contiguous graph states ``first[w] … last[w]``;
    ``emission[s]`` is the column of the frame score matrix that graph state s reads, and
    ``log_self[s]`` its self-loop log-probability. ``end_logprob[h]`` is log P(</s> | h).
    """

    n_chars: int
    first: np.ndarray
    last: np.ndarray
    emission: np.ndarray
    log_self: np.ndarray
    lm: BigramTables
    end_logprob: np.ndarray

    @classmethod
    def build(
        cls,
        char_units: list[list[int]],
        lm: BigramTables,
        log_self: np.ndarray,
        silence_unit: int = 0,
        states_per_unit: int = STATES_PER_UNIT,
    ) -> DecodingGraph:
        """Graph of characters whose units are ``char_units[c]`` (unit ids), the bigram ``lm``
        (its vocabulary order = character order) and per-emission-state self-loop log-probabilities."""
        if len(lm.unigram) != len(char_units) + 1:
            raise HmmError(
                f"the LM predicts {len(lm.unigram) - 1} characters, the lexicon has {len(char_units)}; "
                "build both from the same character list"
            )
        words = [*char_units, [silence_unit], [silence_unit]]
        if any(len(w) == 0 for w in words):
            raise HmmError("every character needs at least one unit; found a character with none")
        emission = np.concatenate([unit_states(w, states_per_unit) for w in words])
        lengths = np.array([len(w) * states_per_unit for w in words])
        last = np.cumsum(lengths) - 1
        first = last - lengths + 1
        size = len(char_units)
        end = lm.backoff + lm.unigram[size]
        for h in range(size + 1):
            for k in range(lm.indptr[h], lm.indptr[h + 1]):
                if lm.successors[k] == size:
                    end[h] = lm.logprob[k]
        log_self = np.asarray(log_self, dtype=np.float64)
        if emission.max() >= len(log_self):
            raise HmmError(
                f"the lexicon uses emission state {emission.max()}, but only {len(log_self)} "
                "self-loop probabilities were given"
            )
        return cls(
            size, first.astype(np.int64), last.astype(np.int64), emission.astype(np.int64), log_self[emission], lm, end
        )

    @property
    def n_states(self) -> int:
        """Number of graph states (all characters' states plus the two silences)."""
        return len(self.emission)


@numba.njit(cache=True)
def logprob_of(h, w, unigram, backoff, indptr, successors, logprob):  # pragma: no cover - compiled
    """log P(w | h) from the sparse tables (seen pair, else backoff + unigram)."""
    for k in range(indptr[h], indptr[h + 1]):
        if successors[k] == w:
            return logprob[k]
    return backoff[h] + unigram[w]


@numba.njit(cache=True)
def _decode(
    scores,
    emission,
    log_self,
    first,
    last,
    n_chars,
    unigram,
    backoff,
    indptr,
    successors,
    logprob,
    end_logprob,
    lm_weight,
    penalty,
    beam,
    silence,
):  # pragma: no cover - compiled
    frames = scores.shape[0]
    n_states = emission.shape[0]
    n_words = n_chars + 2
    start_sil, end_sil = n_chars, n_chars + 1
    log_move = np.empty(n_states)
    for s in range(n_states):
        log_move[s] = np.log1p(-np.exp(log_self[s])) if log_self[s] < 0 else -np.inf
    current = np.full(n_states, -np.inf)
    token = np.full(n_states, -1, dtype=np.int64)
    new = np.empty(n_states)
    new_token = np.empty(n_states, dtype=np.int64)
    predecessor = np.full((frames, n_words), -1, dtype=np.int64)  # record (t, w) → token before it
    entry = np.full(n_words, -np.inf)
    entry_token = np.full(n_words, -1, dtype=np.int64)
    exits = np.empty(n_chars + 1)
    exit_token = np.empty(n_chars + 1, dtype=np.int64)
    for t in range(frames):
        entry[:] = -np.inf
        entry_token[:] = -1
        if t == 0:
            for c in range(n_chars):
                entry[c] = lm_weight * logprob_of(n_chars, c, unigram, backoff, indptr, successors, logprob) + penalty
            if silence:
                entry[start_sil] = 0.0
        else:
            # exits of the characters (histories 0 … V−1) and of the start silence (history <s> = V)
            best_backoff, best_backoff_token = -np.inf, -1
            for h in range(n_chars + 1):
                s = last[h]
                exits[h] = current[s] + log_move[s]
                exit_token[h] = token[s]
                if exits[h] > -np.inf and exits[h] + lm_weight * backoff[h] > best_backoff:
                    best_backoff = exits[h] + lm_weight * backoff[h]
                    best_backoff_token = token[s]
            if best_backoff > -np.inf:
                for c in range(n_chars + 1):  # c = V: the sentence end, i.e. the end silence
                    entry[c if c < n_chars else end_sil] = best_backoff + lm_weight * unigram[c]
                    entry_token[c if c < n_chars else end_sil] = best_backoff_token
                for h in range(n_chars + 1):
                    if exits[h] == -np.inf:
                        continue
                    for k in range(indptr[h], indptr[h + 1]):
                        w = successors[k]
                        target = w if w < n_chars else end_sil
                        value = exits[h] + lm_weight * logprob[k]
                        if value > entry[target]:
                            entry[target] = value
                            entry_token[target] = exit_token[h]
                for c in range(n_chars):
                    entry[c] += penalty
            if not silence:
                entry[end_sil] = -np.inf
        best = -np.inf
        for w in range(n_words):
            record = t * n_words + w
            if entry[w] > -np.inf:
                predecessor[t, w] = entry_token[w]
            for s in range(first[w], last[w] + 1):
                stay = current[s] + log_self[s]
                stay_token = token[s]
                if s == first[w]:
                    come, come_token = entry[w], record
                else:
                    come, come_token = current[s - 1] + log_move[s - 1], token[s - 1]
                if come > stay:
                    value, tok = come, come_token
                else:
                    value, tok = stay, stay_token
                if value > -np.inf:
                    value += scores[t, emission[s]]
                new[s] = value
                new_token[s] = tok
                if value > best:
                    best = value
        threshold = best - beam
        for s in range(n_states):
            current[s] = new[s] if new[s] >= threshold else -np.inf
            token[s] = new_token[s]
    # the best complete path: a character (+ sentence end), the end silence, or silence alone
    final, final_token = -np.inf, -1
    for h in range(n_chars + 1):
        value = current[last[h]] + lm_weight * end_logprob[h]
        if h == n_chars and not silence:
            continue
        if value > final:
            final, final_token = value, token[last[h]]
    if silence and current[last[end_sil]] > final:
        final, final_token = current[last[end_sil]], token[last[end_sil]]
    words = []
    starts = []
    record = final_token
    while record >= 0:
        t, w = record // n_words, record % n_words
        if w < n_chars:
            words.append(w)
            starts.append(t)
        record = predecessor[t, w]
    return np.array(words[::-1], dtype=np.int64), np.array(starts[::-1], dtype=np.int64), final


@dataclass(frozen=True)
class DecodeResult:
    """The decoder's answer: character ids, the frame each one starts at, the path's log-score."""

    chars: np.ndarray
    start_frames: np.ndarray
    score: float


def decode(
    frame_scores: np.ndarray,
    graph: DecodingGraph,
    lm_weight: float = 10.0,
    insertion_penalty: float = 0.0,
    beam: float = 200.0,
    silence: bool = True,
) -> DecodeResult:
    """Viterbi beam search for the best character string of one utterance.

    ``frame_scores[t, e]`` is the log-score of frame t in emission state e (GMM log-likelihoods or
    scaled posteriors). A path pays ``lm_weight · log P(c | previous)`` + ``insertion_penalty`` at
    every character it enters (a negative penalty discourages insertions), and
    ``lm_weight · log P(</s> | last)`` at the end. States more than ``beam`` below the best state
    of their frame are dropped. ``silence``: allow an optional silence first and last.
    """
    scores = np.ascontiguousarray(frame_scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape[1] <= graph.emission.max():
        raise HmmError(
            f"expected frame scores (T, ≥{graph.emission.max() + 1}), found shape {scores.shape}; "
            "score the frames with the model the graph was built for"
        )
    if len(scores) == 0:
        raise HmmError("expected at least one frame to decode, found none")
    lm = graph.lm
    chars, starts, score = _decode(
        scores,
        graph.emission,
        graph.log_self,
        graph.first,
        graph.last,
        graph.n_chars,
        lm.unigram,
        lm.backoff,
        lm.indptr,
        lm.successors,
        lm.logprob,
        graph.end_logprob,
        float(lm_weight),
        float(insertion_penalty),
        float(beam),
        bool(silence),
    )
    return DecodeResult(chars, starts, float(score))
