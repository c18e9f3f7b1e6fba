"""The recogniser output a chapter analyses: a transcripts file if one is given, else the book's runs.

An analysis of recognition errors (which characters are recalled, what a text model makes of the
hypotheses) needs hypotheses for clips whose manual transcripts are known. Two sources exist:

* a transcription TSV of :func:`~csmsasr_utils.asr.transcribe.transcribe_clips` (e.g. written by
  ``csmsasr asr transcribe`` for the whole test split), named by the caller;
* otherwise the Whisper-base runs of chapter 5 on the first :data:`.BOOK_TEST_CLIPS` clips of the
  official ASR test split, read from the cache (nothing is transcribed twice), on real audio
  where it is installed and on synthetic speech where it is not.

When neither is possible (no audio and no speech synthesiser, or no Whisper model), the book still
builds: :func:`load` says why there is no output instead of raising.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from csmsasr_utils.asr import speech_source
from csmsasr_utils.asr.audio import AudioError
from csmsasr_utils.asr.engines.whisper_ct2 import ModelNotFound
from csmsasr_utils.asr.transcribe import BOOK_TEST_CLIPS, read_transcripts, whisper_book_runs
from csmsasr_utils.errors import CsmsasrError


@dataclass(frozen=True)
class RecogniserOutput:
    """Recogniser runs to analyse, where they come from, and why there are none if so.

    ``runs`` maps a name (a decoding, ``'transcripts file'``) to transcripts with the columns of
    :func:`~csmsasr_utils.asr.transcribe.read_transcripts`; ``source`` names the data for
    captions (``'none'`` without runs); ``unavailable`` is the reason there are no runs.
    """

    runs: dict[str, pd.DataFrame] = field(default_factory=dict)
    source: str = "none"
    unavailable: str | None = None

    def describe(self) -> str:
        """What a chapter prints about the output: its source, after the reason it is missing if so."""
        lines = [f"No recogniser output in this build: {self.unavailable}"] if self.unavailable else []
        return "\n".join([*lines, f"recogniser output: {self.source}"])


def from_transcripts_file(path: str | Path, via: str = "CSMSASR_ASR_TRANSCRIPTS") -> RecogniserOutput:
    """The runs of one transcription TSV, named ``'transcripts file'``; ``via`` says who named the file."""
    if not Path(path).is_file():
        raise CsmsasrError(
            f"transcripts file {path} not found: point {via} at the TSV that "
            "`csmsasr asr transcribe` wrote, or unset it to use the book's own runs"
        )
    return RecogniserOutput({"transcripts file": read_transcripts(path)}, f"{Path(path).name} (from {via})")


def from_book_runs(metadata: pd.DataFrame, cache: str | Path, clips: int = BOOK_TEST_CLIPS) -> RecogniserOutput:
    """Whisper-base's cached runs (every book decoding) on the first ``clips`` official ASR test clips.

    ``metadata`` needs ``clip_id``, ``text``, ``duration_s`` and ``asr_split_official``. Raises
    :class:`~csmsasr_utils.asr.audio.AudioError` without audio (see
    :func:`~csmsasr_utils.asr.speech_source.audio_for_clips`) and
    :class:`~csmsasr_utils.asr.engines.whisper_ct2.ModelNotFound` without the model.
    """
    if "asr_split_official" not in metadata:
        raise CsmsasrError("metadata lacks column 'asr_split_official': load it with load_dataset()")
    references = dict(zip(metadata["clip_id"], metadata["text"]))
    test_rows = metadata[metadata["asr_split_official"] == "test"].head(clips)
    test_clips, audio_label = speech_source.audio_for_clips(test_rows, cache, show_progress=False)
    runs = whisper_book_runs(test_clips, references, speech_source.audio_kind(audio_label), cache, name=f"test{clips}")
    return RecogniserOutput(runs, f"Whisper-base on {len(test_clips)} official test clips, {audio_label}")


def load(metadata: pd.DataFrame, transcripts_file: str | Path | None, cache: str | Path) -> RecogniserOutput:
    """The transcripts file if one is given, else :func:`from_book_runs`; no runs, and why, when
    audio or the Whisper model is missing."""
    if transcripts_file:
        return from_transcripts_file(transcripts_file)
    try:
        return from_book_runs(metadata, cache)
    except (AudioError, ModelNotFound) as err:
        return RecogniserOutput(unavailable=str(err))
