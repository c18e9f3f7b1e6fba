"""A small speech recogniser a student can train on a laptop: log-mel → CNN → BiGRU → CTC.

The dataset authors' classic baselines (HMM-GMM, MFCC + SVM) were never published as code. This
is the book's from-scratch stand-in, small enough to read in one sitting:

1. **features** — 80-band log-mel spectrogram, 25 ms windows every 10 ms (:func:`log_mel`);
2. **front-end** — two stride-2 convolutions (4× fewer frames, local patterns across bands);
3. **encoder** — a bidirectional GRU over time;
4. **output** — one score per character of the training transcripts plus the CTC *blank*;
5. **training** — CTC loss (Graves et al., 2006), which sums over every alignment of the
   transcript to the frames, so no frame-level labels are needed;
6. **decoding** — greedy: the best symbol per frame, repeats merged, blanks dropped;
7. **when to stop** — given validation clips, training runs until their CER has not improved for
   ``patience`` epochs after it first fell below 100 % (or ``epochs`` is reached), and returns the
   weights of the best epoch: "trained to convergence" is a measured fact of the run, not a
   guessed budget.

Characters that never occur in the training transcripts cannot be produced:
:func:`unseen_character_share` measures that floor on the test set.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path

import numpy as np
import torch
from torch import nn

from csmsasr_utils.asr.audio import SAMPLE_RATE, load_audio
from csmsasr_utils.asr.engines.base import TimedTranscription
from csmsasr_utils.asr.metrics import cer
from csmsasr_utils.asr.normalize import normalize_text
from csmsasr_utils.asr.training_config import TrainConfig
from csmsasr_utils.errors import CsmsasrError
from csmsasr_utils.progress import progress
from csmsasr_utils.seeding import seed_everything

N_MELS = 80
WINDOW = 400  # 25 ms at 16 kHz
HOP = 160  # 10 ms


def mel_filterbank(n_mels: int = N_MELS, n_fft: int = WINDOW, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """Triangular filters on the HTK mel scale, shape (n_mels, n_fft // 2 + 1)."""

    def hz_to_mel(hz):
        return 2595.0 * np.log10(1.0 + np.asarray(hz) / 700.0)

    def mel_to_hz(mel):
        return 700.0 * (10.0 ** (np.asarray(mel) / 2595.0) - 1.0)

    bins = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    edges = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(sample_rate / 2), n_mels + 2))
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (bins[None, :] - lower) / (centre - lower)
    falling = (upper - bins[None, :]) / (upper - centre)
    return np.clip(np.minimum(rising, falling), 0.0, None)


def log_mel(audio: np.ndarray, n_mels: int = N_MELS) -> np.ndarray:
    """Log-mel spectrogram of 16 kHz audio: (frames, n_mels) float32, ``log(power + 1e-6)``."""
    signal = torch.as_tensor(np.asarray(audio, dtype=np.float32))
    if signal.numel() < WINDOW:
        signal = torch.nn.functional.pad(signal, (0, WINDOW - signal.numel()))
    spectrum = torch.stft(
        signal,
        n_fft=WINDOW,
        hop_length=HOP,
        win_length=WINDOW,
        window=torch.hann_window(WINDOW),
        center=True,
        return_complex=True,
    )
    power = spectrum.abs() ** 2  # (freq, frames)
    mel = torch.as_tensor(mel_filterbank(n_mels), dtype=torch.float32) @ power
    return torch.log(mel + 1e-6).T.numpy().astype(np.float32)


@dataclass
class CharVocabulary:
    """Characters of the training transcripts; index 0 is the CTC blank."""

    chars: list[str]

    @classmethod
    def from_texts(cls, texts: Sequence[str]) -> CharVocabulary:
        return cls(sorted(set("".join(normalize_text(t) for t in texts))))

    def __len__(self) -> int:
        return len(self.chars) + 1

    @cached_property
    def _index(self) -> dict[str, int]:
        return {c: i + 1 for i, c in enumerate(self.chars)}

    def encode(self, text: str) -> list[int]:
        """Indices of the characters of ``text`` (normalised) that are in the vocabulary."""
        return [self._index[c] for c in normalize_text(text) if c in self._index]

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.chars[i - 1] for i in ids if i > 0)


def unseen_character_share(train_texts: Sequence[str], test_texts: Sequence[str]) -> float:
    """Share of test characters (tokens, normalised) that never occur in the training texts."""
    seen = set("".join(normalize_text(t) for t in train_texts))
    test = "".join(normalize_text(t) for t in test_texts)
    if not test:
        raise CsmsasrError("no test characters")
    return sum(c not in seen for c in test) / len(test)


class CTCRecognizer(nn.Module):
    """Conv front-end (2 × stride 2) → BiGRU → linear over characters + blank."""

    def __init__(
        self,
        vocab_size: int,
        n_mels: int = N_MELS,
        channels: int = 32,
        hidden: int = 128,
        layers: int = 2,
        dropout: float = 0.1,
    ):
        super().__init__()
        self.frontend = nn.Sequential(
            nn.Conv2d(1, channels, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(channels, channels, 3, stride=2, padding=1),
            nn.ReLU(),
        )
        reduced = math.ceil(math.ceil(n_mels / 2) / 2)
        self.rnn = nn.GRU(
            channels * reduced,
            hidden,
            num_layers=layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.output = nn.Linear(2 * hidden, vocab_size)

    @staticmethod
    def output_lengths(lengths: torch.Tensor) -> torch.Tensor:
        """Frames after the two stride-2 convolutions."""
        for _ in range(2):
            lengths = (lengths + 2 * 1 - 3) // 2 + 1
        return lengths

    def forward(self, features: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(batch, frames, n_mels) → log-probabilities (batch, frames', vocab).

        ``lengths``: each utterance's frames in a zero-padded batch. The GRU then reads only the
        real frames (packed sequences): its backward direction starts at each utterance's own end,
        not in the padding, so an utterance gets the same output in a batch as alone (up to the
        front-end's border frame) — and the padding costs no recurrent steps.
        """
        x = self.frontend(features.unsqueeze(1))  # (batch, channels, frames', mels')
        batch, channels, frames, mels = x.shape
        x = x.permute(0, 2, 1, 3).reshape(batch, frames, channels * mels)
        if lengths is None:
            x, _ = self.rnn(x)
        else:
            packed = nn.utils.rnn.pack_padded_sequence(
                x, self.output_lengths(lengths).clamp(max=frames).cpu(), batch_first=True, enforce_sorted=False
            )
            x, _ = nn.utils.rnn.pad_packed_sequence(self.rnn(packed)[0], batch_first=True, total_length=frames)
        return self.output(x).log_softmax(dim=-1)


def greedy_decode(log_probs: torch.Tensor, lengths: torch.Tensor) -> list[list[int]]:
    """Best symbol per frame, repeats merged, blanks (0) dropped."""
    best = log_probs.argmax(dim=-1)
    sequences = []
    for row, length in zip(best, lengths):
        previous, out = 0, []
        for symbol in row[: int(length)].tolist():
            if symbol != previous and symbol != 0:
                out.append(symbol)
            previous = symbol
        sequences.append(out)
    return sequences


@dataclass
class TrainedCTC(TimedTranscription):
    """A trained recogniser with its vocabulary, normalisation and training history."""

    model: CTCRecognizer
    vocabulary: CharVocabulary
    mean: float
    std: float
    history: list[dict]
    config: TrainConfig
    step_losses: list[float] = field(default_factory=list)
    best_epoch: int | None = None  # the epoch whose weights these are (validation CER), else the last
    name: str = "ctc-bigru"

    def _features(self, audio: np.ndarray) -> torch.Tensor:
        return torch.as_tensor((log_mel(audio) - self.mean) / self.std)

    def transcribe(self, audio: np.ndarray) -> str:
        return _decode_one(self.model, self.vocabulary, self._features(audio))

    def save(self, path: str | Path) -> Path:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        torch.save(
            {
                "state": self.model.state_dict(),
                "chars": self.vocabulary.chars,
                "mean": self.mean,
                "std": self.std,
                "history": self.history,
                "best_epoch": self.best_epoch,
                "config": asdict(self.config),
            },
            target,
        )
        return target


def _decode_one(model: CTCRecognizer, vocabulary: CharVocabulary, features: torch.Tensor) -> str:
    """Greedy transcript of one utterance's normalised log-mel ``(frames, n_mels)``, in eval mode."""
    model.eval()
    with torch.no_grad():
        log_probs = model(features[None])
        lengths = model.output_lengths(torch.tensor([features.shape[0]]))
        return vocabulary.decode(greedy_decode(log_probs, lengths)[0])


def _batches(n: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    order = rng.permutation(n)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


def train_ctc(
    audio_paths: Sequence[str],
    texts: Sequence[str],
    config: TrainConfig | None = None,
    validation: tuple[Sequence[str], Sequence[str]] | None = None,
) -> TrainedCTC:
    """Train :class:`CTCRecognizer` on (audio file, transcript) pairs, seeded, on the CPU.

    Stops after ``config.epochs`` epochs or ``config.max_steps`` optimiser steps, whichever comes
    first. With ``validation`` = (audio files, transcripts), each epoch ends by decoding them
    greedily; training stops once their CER has not improved for ``config.patience`` epochs, and
    the model returned holds the weights of the best epoch (the first of equals). The patience
    counts only once the model writes something (a CER below 100 %): a CTC model first outputs
    nothing but blanks, for an unknown number of epochs, a plateau that says nothing about
    convergence. Decoding uses no random numbers, so the best epoch's weights are exactly those
    of a run stopped there.
    ``history`` records per epoch the mean CTC loss, the steps so far and the validation CER;
    ``step_losses`` the loss of every optimiser step.
    """
    config = config or TrainConfig()
    if len(audio_paths) != len(texts) or not texts:
        raise CsmsasrError("train_ctc needs as many transcripts as audio files, and at least one")
    if validation is not None and (len(validation[0]) != len(validation[1]) or not validation[1]):
        raise CsmsasrError("train_ctc's validation needs as many transcripts as audio files, and at least one")
    seed_everything(config.seed)
    rng = np.random.default_rng(config.seed)
    vocabulary = CharVocabulary.from_texts(texts)
    features = [log_mel(load_audio(p)) for p in progress(list(audio_paths), desc="log-mel features")]
    stacked = np.concatenate(features)
    mean, std = float(stacked.mean()), float(stacked.std() + 1e-6)
    valid_features = (
        [torch.as_tensor((log_mel(load_audio(p)) - mean) / std) for p in validation[0]] if validation else []
    )
    targets = [vocabulary.encode(t) for t in texts]
    keep = [i for i, t in enumerate(targets) if t]
    model = CTCRecognizer(len(vocabulary), hidden=config.hidden, channels=config.channels)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.learning_rate)
    loss_fn = nn.CTCLoss(blank=0, zero_infinity=True)
    history: list[dict] = []
    step_losses: list[float] = []
    steps = 0
    best: tuple[float, int, dict] | None = None  # (validation CER, epoch, weights)
    bar = progress(range(config.epochs), desc="training (CTC)")
    for epoch in bar:
        model.train()
        losses = []
        for batch in _batches(len(keep), config.batch_size, rng):
            index = [keep[i] for i in batch]
            lengths = torch.tensor([len(features[i]) for i in index])
            padded = torch.zeros(len(index), int(lengths.max()), N_MELS)
            for row, i in enumerate(index):
                padded[row, : len(features[i])] = torch.as_tensor((features[i] - mean) / std)
            log_probs = model(padded, lengths)
            out_lengths = model.output_lengths(lengths)
            target = torch.tensor([s for i in index for s in targets[i]])
            target_lengths = torch.tensor([len(targets[i]) for i in index])
            loss = loss_fn(log_probs.transpose(0, 1), target, out_lengths, target_lengths)
            optimiser.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            optimiser.step()
            losses.append(float(loss.detach()))
            step_losses.append(losses[-1])
            steps += 1
            if config.max_steps is not None and steps >= config.max_steps:
                break
        entry: dict = {"epoch": epoch + 1, "steps": steps, "loss": float(np.mean(losses))}
        if validation:
            hypotheses = [_decode_one(model, vocabulary, f) for f in valid_features]
            entry["valid_cer"] = cer(list(validation[1]), hypotheses)
            if best is None or entry["valid_cer"] < best[0]:
                best = (entry["valid_cer"], epoch + 1, copy.deepcopy(model.state_dict()))
        history.append(entry)
        bar.set_postfix({k: round(v, 3) for k, v in entry.items() if k in ("loss", "valid_cer")})
        if config.max_steps is not None and steps >= config.max_steps:
            break
        if (
            best is not None
            and best[0] < 1.0
            and config.patience is not None
            and epoch + 1 - best[1] >= config.patience
        ):
            break
    best_epoch = len(history)
    if best is not None:
        model.load_state_dict(best[2])
        best_epoch = best[1]
    return TrainedCTC(model, vocabulary, mean, std, history, config, step_losses, best_epoch)


def load_ctc(path: str | Path) -> TrainedCTC:
    """Load a model written by ``TrainedCTC.save`` (weights only; no pickle of code)."""
    checkpoint = torch.load(Path(path), map_location="cpu", weights_only=True)
    config = TrainConfig(**checkpoint["config"])
    vocabulary = CharVocabulary(list(checkpoint["chars"]))
    model = CTCRecognizer(len(vocabulary), hidden=config.hidden, channels=config.channels)
    model.load_state_dict(checkpoint["state"])
    return TrainedCTC(
        model,
        vocabulary,
        checkpoint["mean"],
        checkpoint["std"],
        checkpoint["history"],
        config,
        best_epoch=checkpoint.get("best_epoch"),
    )
