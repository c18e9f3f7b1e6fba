"""The trainable CTC baseline: features, decoding, vocabulary, and that it actually learns."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from csmsasr_utils.asr import audio, ctc
from csmsasr_utils.asr.metrics import cer

needs_espeak = pytest.mark.skipif(not audio.espeak_available(), reason="espeak-ng not installed (CI installs it)")


def test_filterbank_peaks_where_the_mel_scale_says():
    bank = ctc.mel_filterbank()
    assert bank.shape == (80, 201) and (bank >= 0).all() and bank.max() <= 1.0
    tone = np.sin(2 * np.pi * 1000 * np.arange(16_000) / 16_000).astype(np.float32)
    spectrum = ctc.log_mel(tone)
    assert spectrum.shape == (101, 80)  # 1 s at a 10 ms hop, centred frames
    # independent: the band whose centre is nearest to 1000 Hz on the HTK mel scale
    mel = 2595 * np.log10(1 + np.array([0.0, 8000.0]) / 700)
    centres = 700 * (10 ** (np.linspace(mel[0], mel[1], 82)[1:-1] / 2595) - 1)
    assert abs(int(np.argmax(spectrum.mean(axis=0))) - int(np.argmin(np.abs(centres - 1000)))) <= 1


def test_greedy_decoding_merges_repeats_and_drops_blanks():
    frames = [1, 1, 0, 1, 2, 2, 0, 0, 3, 3]
    log_probs = torch.full((1, len(frames), 4), -10.0)
    log_probs[0, torch.arange(len(frames)), torch.tensor(frames)] = 0.0
    assert ctc.greedy_decode(log_probs, torch.tensor([10])) == [[1, 1, 2, 3]]
    assert ctc.greedy_decode(log_probs, torch.tensor([4])) == [[1, 1]]


def test_vocabulary_and_unseen_share():
    vocab = ctc.CharVocabulary.from_texts(["長沙話", "好啰"])
    assert vocab.chars == sorted("长沙话好啰") and len(vocab) == 6
    assert vocab.decode(vocab.encode("长沙好，嘞")) == "长沙好"  # 嘞 unseen, punctuation dropped
    assert ctc.unseen_character_share(["长沙话"], ["长沙嘞", "话"]) == pytest.approx(1 / 4)


def test_output_lengths_match_the_network():
    model = ctc.CTCRecognizer(vocab_size=7, hidden=8, channels=4)
    for frames in (1, 7, 50, 101):
        out = model(torch.zeros(2, frames, ctc.N_MELS))
        assert out.shape[1] == int(model.output_lengths(torch.tensor([frames]))[0])
        assert torch.allclose(out.exp().sum(-1), torch.ones(2, out.shape[1]), atol=1e-5)


@needs_espeak
@pytest.mark.slow
def test_it_learns_a_tiny_corpus_and_round_trips(tmp_path):
    texts = ["谢谢大家", "太贵了啰", "要得开始吧"]
    clips = audio.synthesize_clips(["a", "b", "c"], texts, tmp_path / "tts")
    config = ctc.TrainConfig(epochs=60, batch_size=4, learning_rate=3e-3, hidden=64, channels=16, seed=1)
    trained = ctc.train_ctc(list(clips["path"]) * 4, texts * 4, config)
    assert trained.history[-1]["loss"] < trained.history[0]["loss"] / 10
    hypotheses = [trained.transcribe(audio.load_audio(p)) for p in clips["path"]]
    assert cer(texts, hypotheses) < 0.5
    again = ctc.load_ctc(trained.save(tmp_path / "model.pt"))
    assert [again.transcribe(audio.load_audio(p)) for p in clips["path"]] == hypotheses
    same = ctc.train_ctc(list(clips["path"]) * 4, texts * 4, ctc.TrainConfig(**{**config.__dict__, "epochs": 2}))
    repeat = ctc.train_ctc(list(clips["path"]) * 4, texts * 4, ctc.TrainConfig(**{**config.__dict__, "epochs": 2}))
    assert same.history == repeat.history  # seeded


def test_max_steps_stops_training(tmp_path):
    import soundfile as sf

    sf.write(str(tmp_path / "x.wav"), np.random.default_rng(0).normal(0, 0.1, 8000), 16_000)
    trained = ctc.train_ctc(
        [str(tmp_path / "x.wav")] * 3,
        ["好", "好的", "要得"],
        ctc.TrainConfig(epochs=50, max_steps=4, batch_size=1, hidden=8, channels=4),
    )
    assert trained.history[-1]["steps"] == 4 and len(trained.history) == 2


def test_step_losses_are_recorded(tmp_path):
    import soundfile as sf

    sf.write(str(tmp_path / "x.wav"), np.random.default_rng(1).normal(0, 0.1, 8000), 16_000)
    trained = ctc.train_ctc(
        [str(tmp_path / "x.wav")] * 4,
        ["好", "好的", "要得", "嘞"],
        ctc.TrainConfig(epochs=2, batch_size=2, hidden=8, channels=4),
    )
    assert len(trained.step_losses) == 4
    assert trained.history[0]["loss"] == pytest.approx(np.mean(trained.step_losses[:2]))


def _tone_corpus(folder, texts: list[str], tones: dict[str, float]) -> list[str]:
    """One file per text: each character a 0.2 s tone of its own pitch, 0.1 s of silence between."""
    import soundfile as sf

    rate, paths = 16_000, []
    t = np.arange(int(0.2 * rate)) / rate
    for k, text in enumerate(texts):
        parts = [np.zeros(int(0.1 * rate))]
        for char in text:
            parts += [0.3 * np.sin(2 * np.pi * tones[char] * t), np.zeros(int(0.1 * rate))]
        paths.append(str(folder / f"{k}.wav"))
        sf.write(paths[-1], np.concatenate(parts).astype(np.float32), rate)
    return paths


@pytest.mark.slow
def test_validation_stops_early_and_keeps_the_best_epoch(tmp_path):
    """The stopping rule against the history it wrote, and the weights returned against an
    independent run stopped at the best epoch without validation. Pure tones, one pitch per
    character: after an all-blank plateau of about 14 epochs (CER 100 %, during which the patience
    must not count) the model learns them."""
    tones = {"好": 300.0, "的": 900.0, "要": 2000.0}
    train_texts = ["好的", "要好", "的要", "好要的", "要的好", "的的好"]
    valid_texts = ["好的要", "要要"]
    train = _tone_corpus(tmp_path, train_texts, tones)
    (tmp_path / "v").mkdir()
    valid = _tone_corpus(tmp_path / "v", valid_texts, tones)
    train, train_texts = train * 4, train_texts * 4
    config = ctc.TrainConfig(epochs=40, patience=4, batch_size=4, learning_rate=3e-3, hidden=32, channels=4, seed=3)
    trained = ctc.train_ctc(train, train_texts, config, validation=(valid, valid_texts))
    curve = [h["valid_cer"] for h in trained.history]
    best = int(np.argmin(curve)) + 1  # the first of equals
    assert trained.best_epoch == best
    assert curve[: config.patience + 1] == [1.0] * (config.patience + 1)  # the plateau outlasted the patience
    assert curve[best - 1] < 1.0  # and it learned: the best epoch writes something
    assert len(trained.history) == min(config.epochs, best + config.patience)
    again = [trained.transcribe(audio.load_audio(p)) for p in valid]
    assert cer(valid_texts, again) == pytest.approx(curve[best - 1])
    stopped = ctc.train_ctc(train, train_texts, ctc.TrainConfig(**{**config.__dict__, "epochs": best}))
    for name, weights in stopped.model.state_dict().items():
        assert torch.equal(weights, trained.model.state_dict()[name]), name
    reloaded = ctc.load_ctc(trained.save(tmp_path / "model.pt"))
    assert reloaded.best_epoch == best and reloaded.history == trained.history


def test_validation_must_pair_files_and_transcripts(tmp_path):
    paths = _tone_corpus(tmp_path, ["好"], {"好": 300.0})
    with pytest.raises(ctc.CsmsasrError, match="validation"):
        ctc.train_ctc(paths, ["好"], ctc.TrainConfig(epochs=1, hidden=8, channels=4), validation=(paths, []))


def test_a_padded_batch_reads_each_utterance_as_alone():
    """With lengths, the GRU skips the padding: every utterance's outputs equal those of the
    utterance run alone. (Lengths are multiples of 4, so that no front-end window of a kept frame
    reaches into the padding; otherwise the border frame would see the first convolution's bias
    where a lone utterance sees zeros.) Without lengths, the backward GRU starts in the padding."""
    torch.manual_seed(0)
    model = ctc.CTCRecognizer(vocab_size=5, hidden=8, channels=4).eval()
    lengths = torch.tensor([36, 20, 8])
    batch = torch.zeros(3, 36, ctc.N_MELS)
    for row, n in enumerate(lengths.tolist()):
        batch[row, :n] = torch.randn(n, ctc.N_MELS)
    with torch.no_grad():
        together = model(batch, lengths)
        unpacked = model(batch)
        for row, n in enumerate(lengths.tolist()):
            alone = model(batch[row : row + 1, :n])
            assert alone.shape[1] == n // 4
            assert torch.allclose(together[row, : n // 4], alone[0], atol=1e-5), row
        assert not torch.allclose(unpacked[2, :2], model(batch[2:3, :8])[0], atol=1e-3)  # without: padding leaks in
