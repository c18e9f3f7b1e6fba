"""Where a clip's speech comes from: the real recording when there is one, a synthetic reading otherwise.

The speech-recognition chapters never ask "is there audio?" themselves: :func:`audio_for_clips`
decides, in one place, between the real clips (``CSMSASR_AUDIO_DIR`` or an ``audio_dir`` argument,
read by :mod:`csmsasr_utils.asr.audio`), Kokoro's neural reading of the transcripts
(:mod:`csmsasr_utils.asr.tts`) and espeak-ng's formant voice as the last resort, and returns the
label every number made from that audio must carry. :func:`audio_kind` turns the label into the
short name used in cache file names. (Apart from both modules, so that neither imports the other.)
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from csmsasr_utils import settings
from csmsasr_utils.asr import tts
from csmsasr_utils.asr.audio import (
    SYNTHETIC_LABEL,
    AudioError,
    audio_inventory,
    espeak_available,
    synthesize_clips,
)
from csmsasr_utils.asr.tts import SYNTHETIC_SPEECH_LABEL


def audio_kind(label: str) -> str:
    """``'real'``, ``'kokoro'`` or ``'synthetic'`` (espeak-ng): the short name of an
    :func:`audio_for_clips` label, used in cache names.

    >>> audio_kind(SYNTHETIC_LABEL), audio_kind(SYNTHETIC_SPEECH_LABEL)
    ('synthetic', 'kokoro')
    >>> audio_kind("real audio (2 clip(s) without a readable file left out)")
    'real'
    """
    if label.startswith("real audio"):
        return "real"
    return "kokoro" if label == SYNTHETIC_SPEECH_LABEL else "synthetic"


def audio_for_clips(
    rows: pd.DataFrame,
    cache_dir: str | Path,
    audio_dir: str | Path | None = None,
    show_progress: bool = True,
) -> tuple[pd.DataFrame, str]:
    """Audio files for the clips of ``rows`` (metadata rows: ``clip_id, text, duration_s``).

    Real audio from ``audio_dir`` / ``CSMSASR_AUDIO_DIR`` when set (clips without a readable
    file are left out and listed in the label), otherwise synthetic speech cached under
    ``cache_dir``: Kokoro's neural voice where installed, else espeak-ng. Returns ``(clips with
    clip_id and path, data-source label)``; raises :class:`.AudioError` when neither is possible.
    """
    folder = Path(audio_dir) if audio_dir is not None else settings.audio_dir()
    if folder is not None:
        table = audio_inventory(rows["clip_id"].tolist(), folder, rows["duration_s"].tolist())
        usable = table[table["readable"]][["clip_id", "path"]].reset_index(drop=True)
        skipped = len(table) - len(usable)
        label = "real audio" + (f" ({skipped} clip(s) without a readable file left out)" if skipped else "")
        return usable, label
    if tts.kokoro_available():
        clips = tts.synthesize_speech(
            rows["clip_id"].tolist(), rows["text"].tolist(), cache_dir, engine="kokoro", show_progress=show_progress
        )
        return clips[["clip_id", "path"]], tts.SYNTHETIC_SPEECH_LABEL
    if not espeak_available():
        raise AudioError(
            "no real audio (CSMSASR_AUDIO_DIR unset) and neither Kokoro nor espeak-ng is installed, "
            "so no synthetic speech either: pip install -r requirements.txt (Kokoro) or apt-get "
            "install espeak-ng, or point CSMSASR_AUDIO_DIR at the dataset's <clip_id>.wav files"
        )
    clips = synthesize_clips(rows["clip_id"].tolist(), rows["text"].tolist(), Path(cache_dir) / "tts")
    return clips[["clip_id", "path"]], SYNTHETIC_LABEL
