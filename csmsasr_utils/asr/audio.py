"""Audio for the ASR chapter: the real clips when you have them, synthetic speech otherwise.

* **Real audio** — ``CSMSASR_AUDIO_DIR`` (or the ``audio_dir`` argument) holds one file per clip,
  ``<clip_id>.wav`` (e.g. ``01_0007.wav``) or any of :data:`AUDIO_SUFFIXES` — the dataset's video
  clips too: their audio track is decoded with PyAV and resampled to 16 kHz mono.
  :func:`audio_inventory` reports which clips are present and whether each is readable, its
  sample rate, channels and duration (against the published duration where there is one).
* **Synthetic audio** — without real audio, :func:`~csmsasr_utils.asr.speech_source.audio_for_clips`
  has the transcripts read by a neural Mandarin voice, Kokoro-82M, varied per clip (voice, rate, pitch, room, noise: see
  :mod:`csmsasr_utils.asr.tts`); every number made from it carries
  :data:`~csmsasr_utils.asr.tts.SYNTHETIC_SPEECH_LABEL`. Where Kokoro is not installed, the
  fallback is Debian's ``espeak-ng`` (:func:`synthesize_clips`; voice ``cmn-latn-pinyin``: the
  plain ``cmn`` voice of Debian 12 reads characters as spelled pinyin), a formant voice that
  recognisers barely understand, labelled :data:`SYNTHETIC_LABEL`.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from math import gcd
from pathlib import Path

import numpy as np
import pandas as pd

from csmsasr_utils import settings
from csmsasr_utils.errors import CsmsasrError
from csmsasr_utils.progress import progress

SAMPLE_RATE = 16_000
VOICE = "cmn-latn-pinyin"

#: File types looked for, in order, as ``<clip_id><suffix>`` (sound files first, then videos).
AUDIO_SUFFIXES: tuple[str, ...] = (".wav", ".flac", ".mp3", ".m4a", ".mp4", ".mkv", ".avi", ".mov", ".webm")
_SOUNDFILE_SUFFIXES = (".wav", ".flac")

#: The label every number made from espeak-ng's synthetic audio must carry.
SYNTHETIC_LABEL = "synthetic audio, not comparable to the published table"


class AudioError(CsmsasrError):
    """An audio file is missing, unreadable or not what was expected."""


def find_audio_file(folder: str | Path, clip_id: str) -> Path | None:
    """The first ``<clip_id><suffix>`` of :data:`AUDIO_SUFFIXES` in ``folder``, or ``None``."""
    for suffix in AUDIO_SUFFIXES:
        path = Path(folder) / f"{clip_id}{suffix}"
        if path.is_file():
            return path
    return None


def _decode_with_av(path: Path, sample_rate: int) -> np.ndarray:
    """Decode any audio or video file's audio track with PyAV, as float32 mono at ``sample_rate``."""
    import av

    try:
        with av.open(str(path)) as container:
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
            chunks = []
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
    except (av.FFmpegError, IndexError, ValueError) as err:
        raise AudioError(f"cannot decode the audio of {path}: {err}") from err
    if not chunks:
        raise AudioError(f"{path} has no audio samples")
    return np.concatenate(chunks).astype(np.float32)


def load_audio(path: str | Path, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Read a sound or video file as float32 mono at ``sample_rate``.

    WAV and FLAC are read with soundfile (channels averaged, polyphase resampling); other
    formats, video containers included, are decoded with PyAV.
    """
    import soundfile as sf
    from scipy.signal import resample_poly

    if not Path(path).is_file():
        raise AudioError(
            f"audio file {path} does not exist" if not Path(path).exists() else f"audio path {path} is not a file"
        )
    if Path(path).suffix.lower() not in _SOUNDFILE_SUFFIXES:
        return _decode_with_av(Path(path), sample_rate)
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
    clip_ids: Sequence[str],
    audio_dir: str | Path | None = None,
    durations: Sequence[float] | None = None,
    tolerance_s: float = 0.25,
) -> pd.DataFrame:
    """What the audio folder holds for ``clip_ids``: one row per clip.

    Columns: ``clip_id, path, present, readable, sample_rate, channels, duration_s, problem``.
    With ``durations`` (the published ones, NaN where unknown) a clip whose length differs by
    more than ``tolerance_s`` is flagged.
    """
    folder = Path(audio_dir) if audio_dir is not None else settings.audio_dir()
    if folder is None:
        raise AudioError("no audio folder: set CSMSASR_AUDIO_DIR to the folder of <clip_id>.wav (or video) files")
    if not folder.is_dir():
        raise AudioError(f"audio folder {folder} does not exist")
    expected = list(durations) if durations is not None else [np.nan] * len(clip_ids)
    rows = []
    for clip_id, published in zip(clip_ids, expected):
        path = find_audio_file(folder, clip_id)
        row = {
            "clip_id": clip_id,
            "path": str(path) if path else "",
            "present": path is not None,
            "readable": False,
            "sample_rate": np.nan,
            "channels": np.nan,
            "duration_s": np.nan,
            "problem": "",
        }
        if path is None:
            row["problem"] = "missing"
        else:
            try:
                row.update(readable=True, **_describe(path))
                if published == published and abs(row["duration_s"] - published) > tolerance_s:
                    row["problem"] = f"duration {row['duration_s']:.2f} s, published {published:.2f} s"
            except AudioError as err:
                row["readable"] = False
                row["problem"] = f"unreadable: {err}"
        rows.append(row)
    return pd.DataFrame(rows)


def _describe(path: Path) -> dict:
    """Sample rate, channels and duration of a sound file (soundfile) or a video's audio (PyAV)."""
    import soundfile as sf

    if path.suffix.lower() in _SOUNDFILE_SUFFIXES:
        try:
            info = sf.info(str(path))
        except RuntimeError as err:
            raise AudioError(str(err)) from err
        return {"sample_rate": info.samplerate, "channels": info.channels, "duration_s": info.frames / info.samplerate}
    import av

    try:
        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            rate, channels = stream.rate, stream.channels
    except (av.FFmpegError, IndexError) as err:
        raise AudioError(f"no readable audio track: {err}") from err
    duration = len(_decode_with_av(path, SAMPLE_RATE)) / SAMPLE_RATE
    return {"sample_rate": rate, "channels": channels, "duration_s": duration}


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
        subprocess.run(
            ["espeak-ng", "-v", voice, "-s", str(speed_wpm), "-w", str(raw), "--", str(text)],
            check=True,
            capture_output=True,
        )
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
        rows.append({"clip_id": clip_id, "path": str(path), "duration_s": _describe(path)["duration_s"]})
    return pd.DataFrame(rows)
