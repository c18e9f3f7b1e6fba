"""Which recogniser output a chapter analyses: a transcripts file, the book's runs, or none and why."""

from __future__ import annotations

import pandas as pd
import pytest

from csmsasr_utils.asr import recogniser_output, speech_source
from csmsasr_utils.asr.audio import AudioError
from csmsasr_utils.asr.transcribe import COLUMNS
from csmsasr_utils.errors import CsmsasrError


def _metadata() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "clip_id": ["c1", "c2", "c3", "c4"],
            "text": ["好啰", "要得", "冇得", "蛮好"],
            "duration_s": [1.0, 1.0, 1.0, 1.0],
            "asr_split_official": ["train", "test", "test", "test"],
        }
    )


def test_transcripts_file(tmp_path):
    path = tmp_path / "whisper-test.tsv"
    rows = [["c2", "要得", "要的。", "要的", "0.5"], ["c3", "冇得", "没得", "没得", "0.4"]]
    path.write_text("\n".join("\t".join(r) for r in [COLUMNS, *rows]) + "\n", encoding="utf-8")
    output = recogniser_output.load(_metadata(), str(path), tmp_path)
    assert list(output.runs) == ["transcripts file"] and output.unavailable is None
    assert output.runs["transcripts file"]["hypothesis"].tolist() == ["要的", "没得"]
    assert output.source == "whisper-test.tsv (from CSMSASR_ASR_TRANSCRIPTS)"
    assert output.describe() == "recogniser output: whisper-test.tsv (from CSMSASR_ASR_TRANSCRIPTS)"
    with pytest.raises(CsmsasrError, match="not found"):
        recogniser_output.from_transcripts_file(tmp_path / "missing.tsv")


def test_book_runs_take_the_first_official_test_clips(monkeypatch, tmp_path):
    asked = {}

    def fake_audio(rows, cache, show_progress=True):
        asked["clips"] = rows["clip_id"].tolist()
        return rows[["clip_id"]].assign(path="x.wav"), "synthetic speech (espeak-ng)"

    def fake_runs(clips, references, kind, cache, name):
        asked.update(references=references, kind=kind, name=name)
        return {"greedy": pd.DataFrame({"clip_id": clips["clip_id"]})}

    monkeypatch.setattr(recogniser_output.speech_source, "audio_for_clips", fake_audio)
    monkeypatch.setattr(recogniser_output, "whisper_book_runs", fake_runs)
    output = recogniser_output.from_book_runs(_metadata(), tmp_path, clips=2)
    assert asked["clips"] == ["c2", "c3"]  # c1 is a training clip
    assert asked["references"]["c4"] == "蛮好" and asked["name"] == "test2"
    assert asked["kind"] == speech_source.audio_kind("synthetic speech (espeak-ng)")
    assert output.source == "Whisper-base on 2 official test clips, synthetic speech (espeak-ng)"


def test_no_audio_is_a_reason_not_an_error(monkeypatch, tmp_path):
    def no_audio(rows, cache, show_progress=True):
        raise AudioError("no speech synthesiser")

    monkeypatch.setattr(recogniser_output.speech_source, "audio_for_clips", no_audio)
    output = recogniser_output.load(_metadata(), None, tmp_path)
    assert output.runs == {} and output.source == "none"
    assert output.describe() == "No recogniser output in this build: no speech synthesiser\nrecogniser output: none"


def _benchmark_row(recogniser: str, clip_ids: list[str], hypotheses: list[str], git: str = "abc1234") -> dict:
    return {
        "recogniser": recogniser,
        "clip_ids": clip_ids,
        "hypotheses_raw": hypotheses,
        "audio": "synthetic reading",
        "code": {"git": git},
    }


def test_benchmark_rows_become_runs_named_by_recogniser_the_last_row_winning(monkeypatch, tmp_path):
    monkeypatch.delenv("CSMSASR_AUDIO_DIR", raising=False)
    rows = [
        _benchmark_row("hmm-gmm", ["c2", "c3"], ["要的", "没"], git="old"),
        _benchmark_row("whisper-greedy", ["c2", "c3"], ["要得。", "冇得"]),
        _benchmark_row("hmm-gmm", ["c2", "c3"], ["要得", "没得"], git="new"),
    ]
    output = recogniser_output.load(_metadata(), None, tmp_path, benchmark_rows=rows)
    assert list(output.runs) == ["hmm-gmm", "whisper-greedy"]
    run = output.runs["hmm-gmm"]
    assert list(run.columns) == COLUMNS
    assert run["hypothesis_raw"].tolist() == ["要得", "没得"]  # the later row of hmm-gmm
    assert run["reference"].tolist() == ["要得", "冇得"]  # from the metadata, by clip id
    assert output.runs["whisper-greedy"]["hypothesis"].tolist() == ["要得", "冇得"]  # normalised: no 。
    assert output.source == "synthetic reading; 2 official test clips, committed benchmark (code new, abc1234)"


def test_whisper_runs_take_the_benchmarks_two_decodings_under_the_books_names(monkeypatch, tmp_path):
    monkeypatch.delenv("CSMSASR_AUDIO_DIR", raising=False)
    rows = [
        _benchmark_row("hmm-gmm", ["c2"], ["要得"]),
        _benchmark_row("whisper-beam5", ["c2"], ["要的"]),
        _benchmark_row("whisper-greedy", ["c2"], ["要得"]),
    ]
    output = recogniser_output.whisper_runs(_metadata(), tmp_path, benchmark_rows=rows)
    assert sorted(output.runs) == ["beam5_fallback", "greedy"]
    assert output.runs["beam5_fallback"]["hypothesis_raw"].tolist() == ["要的"]


def test_real_audio_or_no_benchmark_rows_means_the_books_own_runs(monkeypatch, tmp_path):
    """With recordings installed the synthetic benchmark is not used; without rows (the demo) neither."""
    called = []
    monkeypatch.setattr(
        recogniser_output,
        "from_book_runs",
        lambda meta, cache: called.append(1) or recogniser_output.RecogniserOutput(),
    )
    rows = [_benchmark_row("whisper-greedy", ["c2"], ["要得"])]
    monkeypatch.setenv("CSMSASR_AUDIO_DIR", str(tmp_path))
    recogniser_output.whisper_runs(_metadata(), tmp_path, benchmark_rows=rows)
    monkeypatch.delenv("CSMSASR_AUDIO_DIR")
    recogniser_output.load(_metadata(), None, tmp_path, benchmark_rows=[])
    assert called == [1, 1]


def test_the_committed_benchmark_is_for_the_real_transcripts_only():
    """The demo's made-up transcripts match none of the committed rows (their fingerprints differ)."""
    assert recogniser_output.committed_benchmark_rows(_metadata()) == []
