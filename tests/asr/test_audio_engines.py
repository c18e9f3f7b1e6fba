"""Audio sources, the offline Whisper engine and the transcription cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from csmsasr_utils.asr import audio
from csmsasr_utils.asr.transcribe import read_transcripts, transcribe_clips

needs_espeak = pytest.mark.skipif(not audio.espeak_available(), reason="espeak-ng not installed (CI installs it)")


def _tone(path, rate, seconds, channels=1):
    t = np.arange(int(rate * seconds)) / rate
    wave = 0.3 * np.sin(2 * np.pi * 440 * t)
    sf.write(str(path), np.repeat(wave[:, None], channels, axis=1), rate)


def test_load_audio_resamples_and_mixes_down(tmp_path):
    _tone(tmp_path / "a.wav", 44_100, 1.0, channels=2)
    mono = audio.load_audio(tmp_path / "a.wav")
    assert mono.dtype == np.float32 and mono.ndim == 1 and len(mono) == 16_000
    spectrum = np.abs(np.fft.rfft(mono))
    assert np.argmax(spectrum) == pytest.approx(440, abs=1)  # 1 Hz bins for 1 s: the tone survives


def test_audio_inventory_reports_missing_unreadable_and_wrong_durations(tmp_path):
    _tone(tmp_path / "01_0001.wav", 16_000, 2.0)
    _tone(tmp_path / "01_0002.wav", 48_000, 1.0, channels=2)
    (tmp_path / "01_0003.wav").write_bytes(b"not audio at all")
    table = audio.audio_inventory(
        ["01_0001", "01_0002", "01_0003", "01_0004"], tmp_path, durations=[2.0, 3.0, np.nan, 1.0]
    ).set_index("clip_id")
    assert table.loc["01_0001", "problem"] == "" and table.loc["01_0001", "sample_rate"] == 16_000
    assert table.loc["01_0002", "channels"] == 2 and "published 3.00 s" in table.loc["01_0002", "problem"]
    assert table.loc["01_0003", "problem"].startswith("unreadable")
    assert table.loc["01_0004", "problem"] == "missing" and not table.loc["01_0004", "present"]
    with pytest.raises(audio.AudioError, match="does not exist"):
        audio.audio_inventory(["01_0001"], tmp_path / "nope")


def test_unreadable_file_is_a_clear_error(tmp_path):
    (tmp_path / "x.wav").write_bytes(b"RIFF....")
    with pytest.raises(audio.AudioError, match="cannot read audio file"):
        audio.load_audio(tmp_path / "x.wav")
    with pytest.raises(audio.AudioError, match="does not exist"):
        audio.load_audio(tmp_path / "absent.wav")
    with pytest.raises(audio.AudioError, match="is not a file"):
        audio.load_audio(tmp_path)


@needs_espeak
def test_synthetic_speech_is_16k_mono_and_cached(tmp_path):
    texts = ["谢谢大家", "我最开心的事就是买了人生中的第一台车"]
    table = audio.synthesize_clips(["01_0001", "01_0002"], texts, tmp_path)
    info = sf.info(table["path"][0])
    assert info.samplerate == 16_000 and info.channels == 1
    assert 0.3 < table["duration_s"][0] < table["duration_s"][1]  # longer text, longer speech
    stamp = [Path(p).stat().st_mtime_ns for p in table["path"]]
    again = audio.synthesize_clips(["01_0001", "01_0002"], texts, tmp_path)
    assert [Path(p).stat().st_mtime_ns for p in again["path"]] == stamp
    with pytest.raises(audio.AudioError, match="empty"):
        audio.synthesize("  ", tmp_path / "e.wav")


class _FakeEngine:
    name = "fake"

    def __init__(self):
        self.calls = 0

    def timed_transcribe(self, samples):
        self.calls += 1
        return ("這是，測試", 0.01)


def test_transcription_is_cached_and_resumes(tmp_path):
    for clip in ("01_0001", "01_0002", "01_0003"):
        _tone(tmp_path / f"{clip}.wav", 16_000, 0.2)
    clips = pd.DataFrame(
        {"clip_id": ["01_0001", "01_0002"], "path": [str(tmp_path / "01_0001.wav"), str(tmp_path / "01_0002.wav")]}
    )
    refs = {"01_0001": "这是测试", "01_0002": "好", "01_0003": "嘞"}
    engine = _FakeEngine()
    first = transcribe_clips(engine, clips, refs, tmp_path / "out.tsv")
    assert engine.calls == 2 and first["hypothesis"].tolist() == ["这是测试", "这是测试"]
    assert first["hypothesis_raw"][0] == "這是，測試"
    more = pd.concat([clips, pd.DataFrame({"clip_id": ["01_0003"], "path": [str(tmp_path / "01_0003.wav")]})])
    second = transcribe_clips(engine, more, refs, tmp_path / "out.tsv")
    assert engine.calls == 3 and len(second) == 3  # only the new clip was transcribed
    assert len(read_transcripts(tmp_path / "out.tsv")) == 3


@needs_espeak
@pytest.mark.slow
def test_whisper_base_runs_offline_from_the_wheels(tmp_path):
    from csmsasr_utils.asr.engines.whisper_ct2 import WHISPER_BASE_SHA256, default_whisper
    from csmsasr_utils.asr.metrics import corpus_scores
    from csmsasr_utils.data.sources import sha256_of

    engine = default_whisper(tmp_path / "models")
    model = tmp_path / "models" / "whisper-base-ct2" / "model.bin"
    assert sha256_of(model) == WHISPER_BASE_SHA256
    texts = ["今天天气很好", "我们去长沙吃饭"]
    clips = audio.synthesize_clips(["01_0001", "01_0002"], texts, tmp_path / "tts")
    result = transcribe_clips(engine, clips, dict(zip(["01_0001", "01_0002"], texts)), tmp_path / "w.tsv")
    assert result["hypothesis_raw"].map(len).sum() > 0 and (result["seconds"] > 0).all()
    scores = corpus_scores(result["reference"], result["hypothesis_raw"])
    # greedy decoding without fallback can loop ("天天天…"), so the CER has no upper bound
    assert np.isfinite(scores["cer"]) and scores["cer"] >= 0 and scores["ref_chars"] == sum(map(len, texts))


def test_missing_model_folder_is_a_clear_error(tmp_path):
    from csmsasr_utils.asr.engines.whisper_ct2 import ModelNotFound, WhisperEngine, default_whisper

    with pytest.raises(ModelNotFound, match="no model.bin"):
        default_whisper(tmp_path, model_dir=tmp_path)
    with pytest.raises(Exception, match="decoding must be one of"):
        WhisperEngine("base", decoding="sampling")


def test_video_and_compressed_audio_are_decoded(tmp_path):
    import av

    rate, seconds = 44_100, 1.0
    t = np.arange(int(rate * seconds)) / rate
    samples = (0.3 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    path = tmp_path / "01_0001.m4a"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=rate, layout="mono")
        frame_size = 1024
        for start in range(0, len(samples), frame_size):
            frame = av.AudioFrame.from_ndarray(samples[None, start : start + frame_size], format="flt", layout="mono")
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    mono = audio.load_audio(path)
    assert abs(len(mono) / 16_000 - seconds) < 0.1
    spectrum = np.abs(np.fft.rfft(mono[: 16_000 // 2]))
    assert abs(np.argmax(spectrum) * 2 - 440) <= 4
    table = audio.audio_inventory(["01_0001"], tmp_path, durations=[1.0])
    assert table.loc[0, "readable"] and table.loc[0, "problem"] == "" and table.loc[0, "sample_rate"] == rate
    assert audio.find_audio_file(tmp_path, "01_0001") == path
    (tmp_path / "01_0002.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 broken")
    bad = audio.audio_inventory(["01_0002"], tmp_path).loc[0]
    assert not bad["readable"] and bad["problem"].startswith("unreadable")


def test_the_sampler_is_seeded_before_every_clip(monkeypatch):
    """Beam search with temperature fallback samples: each clip is decoded from the same seed, so two
    runs (and two book builds) give the same transcripts whatever was decoded before."""
    ctranslate2 = pytest.importorskip("ctranslate2")
    from csmsasr_utils.asr.engines.whisper_ct2 import WhisperEngine

    events = []

    class FakeModel:
        def transcribe(self, audio, **kwargs):
            events.append(("transcribe", kwargs["temperature"]))
            return iter([]), None

    monkeypatch.setattr(ctranslate2, "set_random_seed", lambda seed: events.append(("seed", seed)))
    engine = WhisperEngine("base", decoding="beam5_fallback", sampling_seed=7)
    engine._model = FakeModel()
    for _ in range(2):
        assert engine.transcribe(np.zeros(1600, dtype=np.float32)) == ""
    assert events == [("seed", 7), ("transcribe", [0.0, 0.2, 0.4, 0.6, 0.8, 1.0])] * 2
