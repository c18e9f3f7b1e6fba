"""Batch transcription with a progress bar, cached as one TSV per engine and audio set."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd

from csmsasr_utils.asr.audio import load_audio
from csmsasr_utils.asr.normalize import normalize_text
from csmsasr_utils.progress import progress

COLUMNS = ["clip_id", "reference", "hypothesis_raw", "hypothesis", "seconds"]

#: The two decodings of Whisper-base the book compares: the authors' and faster-whisper's default.
BOOK_DECODINGS: tuple[str, ...] = ("greedy", "beam5_fallback")

#: How many official test clips the book's build transcribes itself (chapters 5 and 6 share them);
#: the whole test split comes from the committed benchmark results (:mod:`~csmsasr_utils.asr.benchmark`).
BOOK_TEST_CLIPS = 16


def transcribe_clips(engine, clips: pd.DataFrame, references: dict[str, str], cache_file: str | Path) -> pd.DataFrame:
    """Transcribe the audio files of ``clips`` (columns ``clip_id, path``) with ``engine``.

    Results are appended to ``cache_file`` (TSV: clip id, reference, raw hypothesis, normalised
    hypothesis, seconds) as each clip finishes, so an interrupted run resumes where it stopped and
    a rebuild of the book transcribes nothing it has already done.
    """
    path = Path(cache_file)
    done = read_transcripts(path) if path.is_file() else pd.DataFrame(columns=COLUMNS)
    have = set(done["clip_id"])
    todo = clips[~clips["clip_id"].isin(have)]
    path.parent.mkdir(parents=True, exist_ok=True)
    new_file = not path.is_file()
    with open(path, "a", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", quoting=csv.QUOTE_MINIMAL)
        if new_file:
            writer.writerow(COLUMNS)
        for row in progress(list(todo.itertuples()), desc=f"transcribing ({engine.name})"):
            text, seconds = engine.timed_transcribe(load_audio(row.path))
            writer.writerow([row.clip_id, references[row.clip_id], text, normalize_text(text), f"{seconds:.3f}"])
            handle.flush()
    result = read_transcripts(path)
    return result[result["clip_id"].isin(set(clips["clip_id"]))].reset_index(drop=True)


def read_transcripts(path: str | Path) -> pd.DataFrame:
    """Read a transcription TSV written by :func:`transcribe_clips`."""
    frame = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False, quoting=csv.QUOTE_MINIMAL)
    frame["seconds"] = frame["seconds"].astype(float)
    return frame[COLUMNS]


def whisper_book_runs(
    clips: pd.DataFrame,
    references: dict[str, str],
    kind: str,
    cache_dir: str | Path,
    name: str,
    decodings: tuple[str, ...] = BOOK_DECODINGS,
) -> dict[str, pd.DataFrame]:
    """Whisper-base (installed wheels) transcripts of ``clips`` with each decoding, cached.

    The cache file is ``<cache_dir>/asr/<engine name>-<name>-<kind>.tsv`` (``kind``: 'real' or
    'synthetic', see :func:`~csmsasr_utils.asr.speech_source.audio_kind`), so chapters that ask for the
    same clips share one transcription.
    """
    from csmsasr_utils.asr.engines.whisper_ct2 import default_whisper

    runs = {}
    for decoding in decodings:
        engine = default_whisper(Path(cache_dir) / "models", decoding=decoding)
        runs[decoding] = transcribe_clips(
            engine, clips, references, Path(cache_dir) / "asr" / f"{engine.name}-{name}-{kind}.tsv"
        )
    return runs
