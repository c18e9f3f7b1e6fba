"""The recogniser output a chapter analyses: a transcripts file if one is given, else the book's runs.

An analysis of recognition errors (which characters are recalled, what a text model makes of the
hypotheses) needs hypotheses for clips whose manual transcripts are known. Three sources exist, in
this order of preference:

* a transcription TSV of :func:`~csmsasr_utils.asr.transcribe.transcribe_clips` (e.g. written by
  ``csmsasr asr transcribe`` for the whole test split), named by the caller;
* the committed speech benchmark (:mod:`~csmsasr_utils.asr.benchmark`): every recogniser on the
  whole official test split, when it was made on the transcripts loaded here and no real audio is
  installed — its audio is the synthetic reading this build would make itself (a test
  re-synthesises and re-decodes some of its clips and checks them against it), so transcribing
  again would only repeat it;
* otherwise the Whisper-base runs of chapter 5 on the first :data:`.BOOK_TEST_CLIPS` clips of the
  official ASR test split, transcribed in the build and cached (nothing is transcribed twice): on
  real audio where it is installed (the recordings say more than any synthetic benchmark), and on
  synthetic speech for transcripts the benchmark was not made on (the demo's).

When none is possible (no audio and no speech synthesiser, or no Whisper model), the book still
builds: :func:`load` and :func:`whisper_runs` say why there is no output instead of raising.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from csmsasr_utils import settings
from csmsasr_utils.asr import speech_source
from csmsasr_utils.asr.audio import AudioError
from csmsasr_utils.asr.benchmark import BOOK_RESULTS, BenchmarkResults, hypotheses_frame, rows_for_transcripts
from csmsasr_utils.asr.engines.whisper_ct2 import ModelNotFound
from csmsasr_utils.asr.transcribe import BOOK_TEST_CLIPS, COLUMNS, read_transcripts, whisper_book_runs
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


#: The benchmark's Whisper-base rows under the names of the book's own decodings
#: (:data:`~csmsasr_utils.asr.transcribe.BOOK_DECODINGS`).
BENCHMARK_DECODINGS: dict[str, str] = {"whisper-greedy": "greedy", "whisper-beam5": "beam5_fallback"}


def committed_benchmark_rows(metadata: pd.DataFrame) -> list[dict]:
    """The rows of the committed benchmark file made on the transcripts of ``metadata`` (none for the demo's)."""
    return rows_for_transcripts(BenchmarkResults(BOOK_RESULTS).rows(), metadata)[0]


def from_benchmark(rows: list[dict], metadata: pd.DataFrame, names: dict[str, str] | None = None) -> RecogniserOutput:
    """The runs of benchmark ``rows`` (the last row of each recogniser), as transcripts tables.

    ``names`` picks recogniser keys and renames them (default: every recogniser, by its key);
    ``seconds`` is NaN (the benchmark records decoding time per run, not per clip). No runs when
    no row is left.
    """
    latest = {row["recogniser"]: row for row in rows}
    names = names if names is not None else {key: key for key in latest}
    chosen = {names[key]: row for key, row in latest.items() if key in names}
    if not chosen:
        return RecogniserOutput(unavailable="no committed benchmark rows for these transcripts")
    references = dict(zip(metadata["clip_id"], metadata["text"]))
    runs = {
        name: hypotheses_frame([row], references).assign(seconds=float("nan"))[COLUMNS] for name, row in chosen.items()
    }
    first = next(iter(chosen.values()))
    codes = ", ".join(dict.fromkeys(row["code"]["git"] for row in chosen.values()))
    return RecogniserOutput(
        runs, f"{first['audio']}; {len(first['clip_ids'])} official test clips, committed benchmark (code {codes})"
    )


def whisper_runs(
    metadata: pd.DataFrame, cache: str | Path, benchmark_rows: list[dict] | None = None
) -> RecogniserOutput:
    """Whisper-base's two book decodings: the committed benchmark's, on the whole test split, where
    it applies (see the module docstring), else :func:`from_book_runs`; no runs, and why, when
    neither is possible. ``benchmark_rows`` defaults to :func:`committed_benchmark_rows`."""
    return _benchmark_else_book_runs(metadata, cache, benchmark_rows, BENCHMARK_DECODINGS)


def load(
    metadata: pd.DataFrame,
    transcripts_file: str | Path | None,
    cache: str | Path,
    benchmark_rows: list[dict] | None = None,
) -> RecogniserOutput:
    """The transcripts file if one is given; else every recogniser of the committed benchmark where
    it applies (see the module docstring; ``benchmark_rows`` defaults to
    :func:`committed_benchmark_rows`); else :func:`from_book_runs`. No runs, and why, when audio
    or the Whisper model is missing."""
    if transcripts_file:
        return from_transcripts_file(transcripts_file)
    return _benchmark_else_book_runs(metadata, cache, benchmark_rows, None)


def _benchmark_else_book_runs(
    metadata: pd.DataFrame, cache: str | Path, benchmark_rows: list[dict] | None, names: dict[str, str] | None
) -> RecogniserOutput:
    if settings.audio_dir() is None:  # no recordings: the benchmark's audio is what this build would make
        rows = committed_benchmark_rows(metadata) if benchmark_rows is None else benchmark_rows
        output = from_benchmark(rows, metadata, names)
        if output.runs:
            return output
    try:
        return from_book_runs(metadata, cache)
    except (AudioError, ModelNotFound) as err:
        return RecogniserOutput(unavailable=str(err))
