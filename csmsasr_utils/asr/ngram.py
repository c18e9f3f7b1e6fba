"""A character bigram language model with interpolated absolute discounting.

The decoder needs to know which character sequences are plausible: P(c_i | c_{i-1}). A bigram
estimated on ~760 training transcripts has seen only a small share of all character pairs, so
the raw relative frequency would give every unseen pair probability 0 and forbid it. **Absolute
discounting** (Ney, Essen & Kneser, 1994) subtracts a fixed ``D`` (default 0.75) from every seen
pair count and gives the freed mass to the unigram distribution, interpolated:

    P(w | h) = max(c(h, w) − D, 0) / c(h)  +  λ(h) · P_uni(w),    λ(h) = D · N₁₊(h, ·) / c(h)

where ``N₁₊(h, ·)`` is the number of distinct successors of ``h``. The unigram
``P_uni(w) = c(w) / N`` runs over the characters and the sentence end ``</s>``, so for every
history the probabilities over vocabulary + ``</s>`` sum to 1. Histories are the characters and
the sentence start ``<s>``; an unknown history falls back to the unigram.

Index convention (shared with the decoder): characters are ``0 … V−1``; index ``V`` is ``</s>``
as a *predicted* symbol and ``<s>`` as a *history*.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from csmsasr_utils.errors import CsmsasrError

START, END = "<s>", "</s>"


class LanguageModelError(CsmsasrError):
    """The language model cannot be estimated or queried as asked."""


@dataclass(frozen=True)
class BigramTables:
    """What the decoder needs, all natural-log probabilities, sparse over seen pairs.

    ``unigram`` (V+1,): log P_uni(w), w = characters and ``</s>``.
    ``backoff`` (V+1,): log λ(h), h = characters and ``<s>`` (index V).
    Seen pairs of history ``h`` are ``successors[indptr[h]:indptr[h+1]]`` with the *full*
    interpolated log-probability ``logprob[...]`` (CSR layout). For any other pair,
    log P(w | h) = ``backoff[h] + unigram[w]``.
    """

    unigram: np.ndarray
    backoff: np.ndarray
    indptr: np.ndarray
    successors: np.ndarray
    logprob: np.ndarray


class BigramLM:
    """Character bigram model with interpolated absolute discounting (see module docstring)."""

    def __init__(self, vocabulary: Sequence[str], pair_counts: dict[tuple[int, int], int], discount: float = 0.75):
        if not 0.0 < discount < 1.0:
            raise LanguageModelError(f"expected a discount D in (0, 1), found {discount}; 0.75 is the usual value")
        self.vocabulary = list(vocabulary)
        self.discount = float(discount)
        self.index = {c: i for i, c in enumerate(self.vocabulary)}
        size = len(self.vocabulary)
        self.pair_counts = dict(pair_counts)
        predicted = np.zeros(size + 1)
        history_total = np.zeros(size + 1)
        distinct = np.zeros(size + 1)
        for (h, w), n in self.pair_counts.items():
            predicted[w] += n
            history_total[h] += n
            distinct[h] += 1
        if predicted.sum() == 0:
            raise LanguageModelError("expected at least one training sentence, found none")
        self._unigram = predicted / predicted.sum()
        if np.any(self._unigram[:size] == 0):
            missing = [self.vocabulary[i] for i in np.flatnonzero(self._unigram[:size] == 0)[:5]]
            raise LanguageModelError(
                f"every vocabulary character must occur in the training texts; "
                f"{missing} do not — build the vocabulary from the same texts"
            )
        self._history_total = history_total
        with np.errstate(divide="ignore", invalid="ignore"):
            self._lambda = np.where(history_total > 0, self.discount * distinct / np.maximum(history_total, 1), 1.0)

    @classmethod
    def from_texts(
        cls, texts: Iterable[str], vocabulary: Sequence[str] | None = None, discount: float = 0.75
    ) -> BigramLM:
        """Estimate on character strings (already normalised / filtered to the vocabulary).

        Characters outside ``vocabulary`` (default: every character of ``texts``) are skipped.
        """
        texts = [t for t in texts]
        vocabulary = sorted(set("".join(texts))) if vocabulary is None else list(vocabulary)
        index = {c: i for i, c in enumerate(vocabulary)}
        size = len(vocabulary)
        counts: Counter[tuple[int, int]] = Counter()
        for text in texts:
            ids = [index[c] for c in text if c in index]
            if not ids:
                continue
            sequence = [size, *ids, size]  # <s> … </s> (both index V)
            counts.update(zip(sequence[:-1], sequence[1:]))
        return cls(vocabulary, dict(counts), discount)

    def __len__(self) -> int:
        return len(self.vocabulary)

    def _id(self, symbol: str, role: str) -> int:
        if (role == "history" and symbol == START) or (role == "predicted" and symbol == END):
            return len(self.vocabulary)
        if symbol not in self.index:
            raise LanguageModelError(
                f"expected a {role} symbol of the vocabulary "
                f"({len(self.vocabulary)} characters, {START if role == 'history' else END}), "
                f"found {symbol!r}"
            )
        return self.index[symbol]

    def prob_ids(self, history: int, word: int) -> float:
        """P(word | history) by index (history V = ``<s>``, word V = ``</s>``)."""
        seen = self.pair_counts.get((history, word), 0)
        total = self._history_total[history]
        if total == 0:
            return float(self._unigram[word])
        return max(seen - self.discount, 0.0) / total + self._lambda[history] * self._unigram[word]

    def prob(self, word: str, history: str) -> float:
        """P(word | history); ``history`` may be ``<s>``, ``word`` may be ``</s>``."""
        return self.prob_ids(self._id(history, "history"), self._id(word, "predicted"))

    def logprob(self, word: str, history: str) -> float:
        """Natural log of :meth:`prob`."""
        return float(np.log(self.prob(word, history)))

    def sentence_logprob(self, text: str) -> float:
        """log P(text) including ``<s>`` and ``</s>``; every character must be in the vocabulary."""
        ids = [len(self.vocabulary), *(self._id(c, "predicted") for c in text), len(self.vocabulary)]
        return float(sum(np.log(self.prob_ids(h, w)) for h, w in zip(ids[:-1], ids[1:])))

    def perplexity(self, texts: Sequence[str]) -> float:
        """Per-symbol perplexity (characters + ``</s>``) of in-vocabulary texts."""
        total = sum(self.sentence_logprob(t) for t in texts)
        symbols = sum(len(t) + 1 for t in texts)
        return float(np.exp(-total / symbols))

    def tables(self) -> BigramTables:
        """The decoder's sparse tables (see :class:`BigramTables`)."""
        size = len(self.vocabulary)
        by_history: dict[int, list[int]] = {}
        for h, w in sorted(self.pair_counts):
            by_history.setdefault(h, []).append(w)
        indptr = np.zeros(size + 2, dtype=np.int64)
        successors, logprob = [], []
        for h in range(size + 1):
            words = by_history.get(h, [])
            successors += words
            logprob += [np.log(self.prob_ids(h, w)) for w in words]
            indptr[h + 1] = len(successors)
        return BigramTables(
            np.log(self._unigram),
            np.log(self._lambda),
            indptr,
            np.asarray(successors, dtype=np.int64),
            np.asarray(logprob, dtype=np.float64),
        )

    def to_json(self) -> dict:
        """A JSON-ready description (vocabulary, discount, pair counts)."""
        return {
            "vocabulary": self.vocabulary,
            "discount": self.discount,
            "pairs": [[h, w, n] for (h, w), n in sorted(self.pair_counts.items())],
        }

    @classmethod
    def from_json(cls, data: dict) -> BigramLM:
        """Inverse of :meth:`to_json`."""
        return cls(data["vocabulary"], {(int(h), int(w)): int(n) for h, w, n in data["pairs"]}, data["discount"])
