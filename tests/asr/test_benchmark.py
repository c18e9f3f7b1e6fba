"""The speech-recognition benchmark: its table against hand-worked scores, its results rows, and the
committed results file re-checked by re-synthesising and re-decoding some of its clips."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from csmsasr_utils.asr import benchmark, tts
from csmsasr_utils.asr.audio import SAMPLE_RATE
from csmsasr_utils.asr.engines.base import TimedTranscription
from csmsasr_utils.asr.normalize import normalize_text
from tests.conftest import needs_public

needs_kokoro = pytest.mark.skipif(not tts.kokoro_available(), reason="Kokoro packages not installed")


def _row(key: str, ids: list[str], hyps: list[str], texts: dict[str, str], train: list[str] = ()) -> dict:
    train = list(train)
    return {
        "recogniser": key,
        "clip_ids": ids,
        "hypotheses_raw": hyps,
        "train_clip_ids": train,
        "transcripts_fingerprint": benchmark.transcripts_fingerprint(train + ids, [texts[c] for c in train + ids]),
        "rtf": 0.5,
        "train_seconds": 120.0 if train else None,
    }


def test_the_table_scores_each_row_as_worked_by_hand():
    texts = {"a": "长沙话", "b": "好", "t": "训练"}
    rows = [
        _row("whisper-greedy", ["a", "b"], ["长花话", ""], texts),
        _row("hmm-gmm", ["a", "b"], ["长沙话！", "好好"], texts, train=["t"]),
    ]
    table = benchmark.benchmark_table(rows, texts).set_index("setting")
    whisper = table.loc["direct inference (greedy, as the authors)"]
    # 长沙话 → 长花话: 1 substitution; 好 → "": 1 deletion; 2 edits over 4 reference characters
    assert (whisper["S"], whisper["D"], whisper["I"], whisper["CER"]) == (1, 1, 0, 0.5)
    assert whisper["sentence error rate"] == 1.0 and np.isnan(whisper["training (min)"])
    assert whisper["published CER"] == pytest.approx(0.7762)
    hmm = table.reset_index().set_index("model").loc["HMM-GMM"]
    # punctuation is normalised away; 好 → 好好 is one insertion
    assert (hmm["S"], hmm["D"], hmm["I"], hmm["CER"], hmm["training (min)"]) == (0, 0, 1, 0.25, 2.0)
    needs = benchmark.benchmark_table(rows, texts)
    assert set(needs.loc[needs["needs"].notna(), "model"]) == {"wav2vec 2.0", "Paraformer"}
    assert needs["needs"].dropna().str.contains("csmsasr asr").all()


def test_rows_made_on_other_transcripts_are_left_out():
    texts = {"a": "长沙话", "b": "好"}
    good, stale = _row("whisper-greedy", ["a"], ["长沙话"], texts), _row("ctc", ["b"], ["好"], {"b": "坏"})
    kept, note = benchmark.rows_for_transcripts(
        [good, stale], pd.DataFrame({"clip_id": ["a", "b"], "text": ["长沙话", "好"]})
    )
    assert kept == [good] and "ctc" in note
    kept, note = benchmark.rows_for_transcripts([good], pd.DataFrame({"clip_id": ["b"], "text": ["好"]}))
    assert kept == [] and "whisper-greedy" in note


def test_split_rows_is_a_seeded_order_that_spans_the_split():
    meta = pd.DataFrame({"clip_id": [f"c{i}" for i in range(50)], "asr_split_official": ["train"] * 40 + ["test"] * 10})
    first, again = benchmark.split_rows(meta, "train", 10), benchmark.split_rows(meta, "train", 10)
    assert first["clip_id"].tolist() == again["clip_id"].tolist()
    assert first["clip_id"].tolist() != [f"c{i}" for i in range(10)]  # not the first clips of the file
    assert set(benchmark.split_rows(meta, "test")["clip_id"]) == {f"c{i}" for i in range(40, 50)}
    with pytest.raises(benchmark.CsmsasrError, match="no clips in ASR split"):
        benchmark.split_rows(meta, "validation")


class _Echo(TimedTranscription):
    name = "echo"

    def transcribe(self, audio: np.ndarray) -> str:
        return "长沙" if len(audio) > SAMPLE_RATE else "好"


def test_run_benchmark_writes_one_resumable_row_per_recogniser(tmp_path, monkeypatch):
    meta = pd.DataFrame(
        {
            "clip_id": ["x1", "x2", "t1"],
            "text": ["长沙", "好", "训练"],
            "asr_split_official": ["test", "test", "train"],
            "duration_s": [2.0, 0.5, 1.0],
        }
    )
    files = {}
    for clip_id, seconds in (("x1", 2.0), ("x2", 0.5), ("t1", 1.0)):
        files[clip_id] = tmp_path / f"{clip_id}.wav"
        sf.write(files[clip_id], 0.1 * np.sin(np.arange(int(seconds * SAMPLE_RATE)) / 5.0), SAMPLE_RATE)

    def fake_audio(rows, cache, audio_dir=None, show_progress=True):
        return pd.DataFrame(
            {"clip_id": rows["clip_id"], "path": [str(files[c]) for c in rows["clip_id"]]}
        ), "fake audio"

    monkeypatch.setattr("csmsasr_utils.asr.speech_source.audio_for_clips", fake_audio)
    monkeypatch.setattr(benchmark, "_whisper", lambda decoding, cache: _Echo())
    results = tmp_path / "bench.jsonl"
    written = benchmark.run_benchmark(["whisper-greedy"], results, meta, tmp_path, command="csmsasr asr benchmark")
    assert len(written) == 1
    row = written[0]
    assert row["n_test"] == 2 and row["n_train"] == 0 and row["audio"] == "fake audio"
    assert sorted(zip(row["clip_ids"], row["hypotheses_raw"])) == [("x1", "长沙"), ("x2", "好")]
    assert row["audio_seconds"] == pytest.approx(2.5, abs=1e-3)
    assert row["rtf"] == pytest.approx(row["decode_seconds"] / row["audio_seconds"], abs=1e-3)
    assert [s[0] for s in row["audio_stats"]] == [2.0 if c == "x1" else 0.5 for c in row["clip_ids"]]
    assert row["command"] == "csmsasr asr benchmark" and row["code"]["asr_sources"]
    assert benchmark.run_benchmark(["whisper-greedy"], results, meta, tmp_path) == []  # resumed: nothing to do
    assert len(benchmark.BenchmarkResults(results).rows()) == 1
    table = benchmark.benchmark_table(
        benchmark.BenchmarkResults(results).rows(), dict(zip(meta["clip_id"], meta["text"]))
    )
    assert table.loc[0, "CER"] == 0.0
    with pytest.raises(benchmark.CsmsasrError, match="unknown recogniser"):
        benchmark.run_benchmark(["whisper-large"], results, meta, tmp_path)


def _committed(key: str) -> dict:
    rows = {r["recogniser"]: r for r in benchmark.BenchmarkResults(benchmark.BOOK_RESULTS).rows()}
    if key not in rows:
        pytest.skip(f"no {key} row in {benchmark.BOOK_RESULTS}")
    return rows[key]


@needs_public
@needs_kokoro
@pytest.mark.slow
def test_the_committed_results_come_back_from_the_same_audio_and_decoder(public_dir, tmp_path):
    """Re-synthesise three test clips of the committed benchmark: the same audio (duration, level),
    and Whisper-base greedy writes the same hypotheses as recorded — the same text the book scores,
    i.e. after its normalisation. CTranslate2's int8 kernels differ between processors (AVX2 or
    AVX-512, Intel or AMD), which can tip a near tie between a character and its traditional form
    (别 / 別 on an AMD EPYC with AVX-512); normalisation maps both to one, as the CER protocol does."""
    from csmsasr_utils.asr.audio import load_audio
    from csmsasr_utils.asr.engines.whisper_ct2 import default_whisper
    from csmsasr_utils.data import load_metadata

    row = _committed("whisper-greedy")
    meta = load_metadata(public_dir)
    kept, note = benchmark.rows_for_transcripts([row], meta)
    assert kept, note  # made on these very transcripts
    texts = dict(zip(meta["clip_id"], meta["text"]))
    picks = [0, len(row["clip_ids"]) // 2, len(row["clip_ids"]) - 1]
    ids = [row["clip_ids"][i] for i in picks]
    clips = tts.synthesize_speech(ids, [texts[c] for c in ids], tmp_path, engine="kokoro", show_progress=False)
    for i, stats in zip(picks, benchmark.audio_stats(clips["path"].tolist())):
        duration, rms = row["audio_stats"][i]
        assert stats[0] == pytest.approx(duration, abs=1e-3)
        assert stats[1] == pytest.approx(rms, rel=0.02)
    whisper = default_whisper(tmp_path / "models", decoding="greedy")
    again = [whisper.transcribe(load_audio(p)) for p in clips["path"]]
    assert [normalize_text(h) for h in again] == [normalize_text(row["hypotheses_raw"][i]) for i in picks]


@needs_public
@needs_kokoro
@pytest.mark.slow
def test_the_committed_hmm_gmm_decodes_its_clips_as_recorded(public_dir, tmp_path):
    """The HMM-GMM saved with the benchmark (``results/asr/models/hmm-gmm``, arrays + JSON) writes
    the recorded hypotheses for three test clips again."""
    from csmsasr_utils.asr.audio import load_audio
    from csmsasr_utils.asr.hmm_gmm import HmmGmmRecognizer
    from csmsasr_utils.data import load_metadata

    row = _committed("hmm-gmm")
    folder = benchmark.REPO / row["model_file"]
    if not folder.exists():
        pytest.skip(f"{folder} is not in this checkout")
    model = HmmGmmRecognizer.load(folder)
    assert (model.lm_weight, model.insertion_penalty) == (
        row["decoder"]["lm_weight"],
        row["decoder"]["insertion_penalty"],
    )
    texts = dict(zip(load_metadata(public_dir)["clip_id"], load_metadata(public_dir)["text"]))
    picks = [0, 1, len(row["clip_ids"]) - 1]
    ids = [row["clip_ids"][i] for i in picks]
    clips = tts.synthesize_speech(ids, [texts[c] for c in ids], tmp_path, engine="kokoro", show_progress=False)
    assert [model.transcribe(load_audio(p)) for p in clips["path"]] == [row["hypotheses_raw"][i] for i in picks]


@needs_public
@needs_kokoro
@pytest.mark.slow
def test_the_committed_fine_tuning_starts_as_recorded(public_dir, tmp_path):
    """A slice of the committed Whisper-base fine-tuning run again: its first batch (the seeded
    shuffle over the recorded training clips), re-synthesised and encoded, gives the recorded first
    training loss; and the model before fine-tuning writes the recorded 'before' hypothesis of a
    test clip. (The fine-tuned weights, ~290 MB, are not committed; this checks what the run
    started from and how it started.)"""
    import torch
    import transformers

    from csmsasr_utils.asr import finetune
    from csmsasr_utils.asr.audio import load_audio
    from csmsasr_utils.asr.ct2_to_hf import whisper_base_hf
    from csmsasr_utils.asr.engines.hf import HFWhisperEngine
    from csmsasr_utils.data import load_metadata

    row = _committed("whisper-ft")
    config = finetune.FinetuneConfig(**row["finetune"]["config"])
    texts = dict(zip(load_metadata(public_dir)["clip_id"], load_metadata(public_dir)["text"]))
    train_ids = row["train_clip_ids"]
    order = torch.randperm(len(train_ids), generator=torch.Generator().manual_seed(config.seed * 1000 + 1)).tolist()
    first = [train_ids[i] for i in order[: config.batch_size]]
    clips = tts.synthesize_speech(first, [texts[c] for c in first], tmp_path, engine="kokoro", show_progress=False)
    base = whisper_base_hf(tmp_path)
    processor = transformers.WhisperProcessor.from_pretrained(base)
    model = transformers.WhisperForConditionalGeneration.from_pretrained(base)
    model.config.use_cache = False
    states = finetune.encoder_states(model, processor, [load_audio(p) for p in clips["path"]])
    labels = finetune._label_batch(processor.tokenizer, [texts[c] for c in first], config.label_prefix)
    model.train()
    with torch.no_grad():
        loss = model(encoder_outputs=(states,), labels=labels).loss.item()
    assert loss == pytest.approx(row["finetune"]["history"][0]["step_losses"][0], rel=1e-4)

    test_id = row["clip_ids"][0]
    test_clip = tts.synthesize_speech([test_id], [texts[test_id]], tmp_path, engine="kokoro", show_progress=False)
    before = HFWhisperEngine(base, num_beams=1).transcribe(load_audio(test_clip["path"].iloc[0]))
    assert before == row["hypotheses_before"][0]
