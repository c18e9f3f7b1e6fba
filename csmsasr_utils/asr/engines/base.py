"""What every recogniser offers: ``name``, ``transcribe(audio) -> str`` and a timed variant."""

from __future__ import annotations

import time

import numpy as np


class TimedTranscription:
    """Mixin: :meth:`timed_transcribe` from the class's own ``transcribe``."""

    def transcribe(self, audio: np.ndarray) -> str:  # pragma: no cover - implemented by each engine
        raise NotImplementedError

    def timed_transcribe(self, audio: np.ndarray) -> tuple[str, float]:
        """``transcribe(audio)`` and the wall-clock seconds it took."""
        start = time.perf_counter()
        text = self.transcribe(audio)
        return text, time.perf_counter() - start
