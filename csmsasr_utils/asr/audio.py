"""Audio for the ASR chapter: the real clips when you have them, synthetic speech otherwise.

* **Real audio** — ``CSMSASR_AUDIO_DIR`` (or the ``audio_dir`` argument) holds ``<clip_id>.wav``
  files (e.g. ``01_0007.wav``). :func:`audio_inventory` reports which clips are present and
  whether each is readable, its sample rate, channels and duration (against the published
  duration where there is one).
* **Synthetic audio** — without real audio, :func:`synthesize_clips` speaks the transcripts with
  Debian's ``espeak-ng`` (voice ``cmn-latn-pinyin``: the plain ``cmn`` voice of Debian 12 reads
  characters as spelled pinyin), resampled to 16 kHz mono. It is Mandarin text-to-speech, not
  Changsha speech: every number computed from it carries :data:`SYNTHETIC_LABEL`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from math import gcd
from pathlib import Path

import numpy as np
import pandas as pd

from csmsasr_utils.errors import CsmsasrError
from csmsasr_utils.progress import progress

SAMPLE_RATE = 16_000
VOICE = "cmn-latn-pinyin"

#: The label every number made from synthetic audio must carry.
SYNTHETIC_LABEL = "synthetic audio, not comparable to the published table"


class AudioError(CsmsasrError):
    """An audio file is missing, unreadable or not what was expected."""


def audio_dir_from_env() -> Path | None:
    """The folder named by ``CSMSASR_AUDIO_DIR``, or ``None`` when unset."""
    value = os.environ.get("CSMSASR_AUDIO_DIR", "").strip()
    return Path(value).expanduser() if value else None


def load_audio(path: str | Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Read a sound file as float32 mono at ``sample_rate`` (channels averaged, polyphase resampling)."""
    import soundfile as sf
    from scipy.signal import resample_poly

    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (RuntimeError, OSError) as err:  # soundfile raises LibsndfileError (a RuntimeError)
        raise AudioError(f"cannot read audio file {path}: {err}") from err
    mono = data.mean(axis=1)
    if rate != sample_rate:
        step = gcd(rate, sample_rate)
        mono = resample_poly(mono, sample_rate // step, rate // step).astype(np.float32)
    return mono


def audio_inventory(
    clip_ids: Sequence[str], audio_dir: str | Path | None = None, durations: Sequence[float] | None = None,
    tolerance_s: float = 0.25,
) -> pd.DataFrame:
    """What the audio folder holds for ``clip_ids``: one row per clip.

    Columns: ``clip_id, path, present, readable, sample_rate, channels, duration_s, problem``.
    With ``durations`` (the published ones, NaN where unknown) a clip whose length differs by
    more than ``tolerance_s`` is flagged.
    """
    import soundfile as sf

    folder = Path(audio_dir) if audio_dir is not None else audio_dir_from_env()
    if folder is None:
        raise AudioError("no audio folder: set CSMSASR_AUDIO_DIR to the folder of <clip_id>.wav files")
    if not folder.is_dir():
        raise AudioError(f"audio folder {folder} does not exist")
    expected = list(durations) if durations is not None else [np.nan] * len(clip_ids)
    rows = []
    for clip_id, published in zip(clip_ids, expected):
        path = folder / f"{clip_id}.wav"
        row = {"clip_id": clip_id, "path": str(path), "present": path.is_file(), "readable": False,
               "sample_rate": np.nan, "channels": np.nan, "duration_s": np.nan, "problem": ""}
        if not row["present"]:
            row["problem"] = "missing"
        else:
            try:
                info = sf.info(str(path))
                row.update(readable=True, sample_rate=info.samplerate, channels=info.channels,
                           duration_s=info.frames / info.samplerate)
                if published == published and abs(row["duration_s"] - published) > tolerance_s:
                    row["problem"] = f"duration {row['duration_s']:.2f} s, published {published:.2f} s"
            except RuntimeError as err:
                row["problem"] = f"unreadable: {err}"
        rows.append(row)
    return pd.DataFrame(rows)


def espeak_available() -> bool:
    """True when ``espeak-ng`` is on the PATH."""
    return shutil.which("espeak-ng") is not None


def _espeak_version() -> str:
    result = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, check=True)
    return result.stdout.strip()


def synthesize(text: str, path: str | Path, voice: str = VOICE, speed_wpm: int = 160) -> Path:
    """Speak ``text`` with espeak-ng and write it as 16 kHz mono 16-bit WAV at ``path``."""
    import soundfile as sf

    if not espeak_available():
        raise AudioError("espeak-ng is not installed (Debian: apt-get install espeak-ng)")
    if not str(text).strip():
        raise AudioError("cannot synthesise an empty text")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "espeak.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed_wpm), "-w", str(raw), "--", str(text)],
                       check=True, capture_output=True)
        sf.write(str(target), load_audio(raw), SAMPLE_RATE, subtype="PCM_16")
    return target


def synthesize_clips(
    clip_ids: Sequence[str], texts: Sequence[str], cache_dir: str | Path, voice: str = VOICE
) -> pd.DataFrame:
    """Synthetic audio of each transcript, cached: ``clip_id, path, duration_s``.

    Files are named by a hash of the text, the voice and the espeak-ng version, so a changed
    transcript or a new espeak-ng gives a new file and an unchanged one is not regenerated.
    """
    version = _espeak_version() if espeak_available() else "none"
    folder = Path(cache_dir)
    rows = []
    for clip_id, text in progress(list(zip(clip_ids, texts)), desc="synthesising speech (espeak-ng)"):
        key = hashlib.sha256(f"{voice}\n{version}\n{text}".encode()).hexdigest()[:16]
        path = folder / f"{clip_id}-{key}.wav"
        if not path.is_file():
            synthesize(text, path, voice)
        rows.append({"clip_id": clip_id, "path": str(path), "duration_s": len(load_audio(path)) / SAMPLE_RATE})
    return pd.DataFrame(rows)


def audio_for_clips(
    rows: pd.DataFrame, cache_dir: str | Path, audio_dir: str | Path | None = None
) -> tuple[pd.DataFrame, str]:
    """Audio files for the clips of ``rows`` (metadata rows: ``clip_id, text, duration_s``).

    Real audio from ``audio_dir`` / ``CSMSASR_AUDIO_DIR`` when set (clips without a readable
    file are left out and listed in the label), otherwise synthetic speech cached under
    ``cache_dir``. Returns ``(clips with clip_id and path, data-source label)``; raises
    :class:`AudioError` when neither is possible.
    """
    folder = Path(audio_dir) if audio_dir is not None else audio_dir_from_env()
    if folder is not None:
        table = audio_inventory(rows["clip_id"].tolist(), folder, rows["duration_s"].tolist())
        usable = table[table["readable"]][["clip_id", "path"]].reset_index(drop=True)
        skipped = len(table) - len(usable)
        label = "real audio" + (f" ({skipped} clip(s) without a readable file left out)" if skipped else "")
        return usable, label
    if not espeak_available():
        raise AudioError("no real audio (CSMSASR_AUDIO_DIR unset) and espeak-ng is not installed, so no "
                         "synthetic speech either: apt-get install espeak-ng, or point CSMSASR_AUDIO_DIR "
                         "at the dataset's <clip_id>.wav files")
    clips = synthesize_clips(rows["clip_id"].tolist(), rows["text"].tolist(), Path(cache_dir) / "tts")
    return clips[["clip_id", "path"]], SYNTHETIC_LABEL
