"""Synthetic speech: the per-clip variation (pitch, room, noise) against direct computations, and
Kokoro's neural voice — cached, clear errors, and intelligible to Whisper-base."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from csmsasr_utils.asr import augment, tts
from csmsasr_utils.asr.audio import SAMPLE_RATE

needs_kokoro = pytest.mark.skipif(not tts.kokoro_available(), reason="Kokoro packages not installed")


def _dominant_hz(signal: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    return float(np.fft.rfftfreq(len(signal), 1 / rate)[np.argmax(spectrum)])


def test_an_octave_up_doubles_the_frequency_and_halves_the_length():
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    tone = 0.5 * np.sin(2 * np.pi * 200 * t)
    shifted = augment.apply_variation(tone, SAMPLE_RATE, SAMPLE_RATE, augment.Variation(pitch_semitones=12.0))
    assert abs(len(shifted) - SAMPLE_RATE / 2) <= 2
    assert abs(_dominant_hz(shifted, SAMPLE_RATE) - 400.0) <= 4.0
    # no variation: only the rate conversion (24 kHz → 16 kHz keeps the tone's frequency)
    t24 = np.arange(24_000) / 24_000
    plain = augment.apply_variation(0.5 * np.sin(2 * np.pi * 300 * t24), 24_000, SAMPLE_RATE, augment.Variation())
    assert len(plain) == SAMPLE_RATE and abs(_dominant_hz(plain, SAMPLE_RATE) - 300.0) <= 2.0


def test_noise_is_added_at_the_requested_snr():
    rng = np.random.default_rng(0)
    speech = rng.standard_normal(SAMPLE_RATE * 4) * 0.1
    for snr in (10.0, 25.0):
        noisy = augment.apply_variation(speech, SAMPLE_RATE, SAMPLE_RATE, augment.Variation(snr_db=snr, seed=3))
        noise = noisy - speech
        measured = 10 * np.log10(np.mean(speech**2) / np.mean(noise**2))
        assert abs(measured - snr) < 0.2


def test_the_room_decays_by_60_db_in_rt60():
    rt60 = 0.3
    tail = augment.room_impulse_response(rt60, SAMPLE_RATE, np.random.default_rng(1))
    assert len(tail) == int(rt60 * SAMPLE_RATE) and tail[0] == 0.0
    assert np.isclose(np.sum(tail**2), 1.0)
    energy = tail**2
    early, late = energy[: len(tail) // 10].mean(), energy[-len(tail) // 10 :].mean()
    # the envelope exp(-6.9 t / rt60) squared: 60 dB over rt60, so ≈ 48 dB between the first and last tenth
    assert 40 < 10 * np.log10(early / late) < 56


def test_reverberation_keeps_the_power_and_mixes_in_the_share_asked():
    rng = np.random.default_rng(2)
    speech = rng.standard_normal(SAMPLE_RATE) * 0.1
    out = augment.apply_variation(
        speech, SAMPLE_RATE, SAMPLE_RATE, augment.Variation(rt60_s=0.2, reverb_mix=0.25, seed=4)
    )
    assert out.shape == speech.shape
    assert abs(np.mean(out**2) / np.mean(speech**2) - 1.0) < 0.1  # dry and wet are uncorrelated, powers add
    dry_share = np.dot(out, speech) ** 2 / (np.dot(speech, speech) * np.dot(out, out))
    assert abs(dry_share - 0.75) < 0.05


def test_each_clip_has_its_own_fixed_variation_within_the_ranges():
    ranges = tts.VariationRanges()
    first = [tts.clip_variation(f"01_{i:04d}", tts.KOKORO_VOICES, ranges) for i in range(200)]
    again = [tts.clip_variation(f"01_{i:04d}", tts.KOKORO_VOICES, ranges) for i in reversed(range(200))][::-1]
    assert first == again  # order of synthesis does not matter
    assert {v.voice for v in first} == set(tts.KOKORO_VOICES)
    for v in first:
        assert ranges.rate[0] <= v.rate <= ranges.rate[1]
        assert ranges.pitch_semitones[0] <= v.pitch_semitones <= ranges.pitch_semitones[1]
        assert ranges.snr_db[0] <= v.snr_db <= ranges.snr_db[1]
    other_seed = tts.clip_variation("01_0000", tts.KOKORO_VOICES, tts.VariationRanges(seed=1))
    assert other_seed != first[0]
    assert tts.VariationRanges(seed=1).key() != ranges.key()


def test_unknown_engine_is_a_clear_error():
    with pytest.raises(tts.SpeechSynthesisError, match="kokoro.*espeak"):
        tts.engine_key("festival", None)


@needs_kokoro
@pytest.mark.slow
def test_kokoro_reads_mandarin_that_whisper_understands(tmp_path):
    from csmsasr_utils.asr import metrics
    from csmsasr_utils.asr.audio import load_audio
    from csmsasr_utils.asr.engines.whisper_ct2 import default_whisper

    texts = ["今天天气很好我们去公园", "这个菜太好吃了"]
    clips = tts.synthesize_speech(["a", "b"], texts, tmp_path, engine="kokoro", ranges=None, show_progress=False)
    assert (clips["voice"] == "jm_kumo").all()
    assert ((clips["duration_s"] > 0.8) & (clips["duration_s"] < 8)).all()
    stamp = [p.stat().st_mtime_ns for p in map(Path, clips["path"])]
    again = tts.synthesize_speech(["a", "b"], texts, tmp_path, engine="kokoro", ranges=None, show_progress=False)
    assert [p.stat().st_mtime_ns for p in map(Path, again["path"])] == stamp  # cached
    whisper = default_whisper(tmp_path / "models")
    hypotheses = [whisper.transcribe(load_audio(p)) for p in clips["path"]]
    assert metrics.cer(texts, hypotheses) < 0.35, hypotheses


@needs_kokoro
def test_kokoro_refuses_text_it_cannot_read(tmp_path):
    voice = tts.KokoroVoice(tmp_path)
    with pytest.raises(tts.SpeechSynthesisError, match="nothing Kokoro can read"):
        voice.speak("，。！", "jm_kumo")
    with pytest.raises(tts.SpeechSynthesisError, match="unknown Kokoro voice"):
        voice.speak("你好", "zf_xiaobei")
