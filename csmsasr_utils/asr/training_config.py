"""The settings of the book's two speech-recogniser training recipes, and their defaults.

* :class:`TrainConfig`: the small CTC recogniser a student trains from scratch
  (:mod:`csmsasr_utils.asr.ctc`);
* :class:`FinetuneConfig`: fine-tuning Whisper the dataset authors' way
  (:mod:`csmsasr_utils.asr.finetune`, whose docstring says where it departs from their recipe).

They live in a module of their own, with no torch, pandas or transformers import, so that the
command line (``csmsasr asr train --help``, ``csmsasr asr finetune --help``) can show these
defaults without importing the trainers: this is the one place each default is written.
"""

from __future__ import annotations

from dataclasses import dataclass

from csmsasr_utils.errors import CsmsasrError


def _require_positive(recipe: str, **settings: float | None) -> None:
    """Raise a :class:`~csmsasr_utils.errors.CsmsasrError` naming every setting that is not > 0
    (``None`` means "no limit" and passes)."""
    bad = [f"{name}={value}" for name, value in settings.items() if value is not None and value <= 0]
    if bad:
        raise CsmsasrError(f"{recipe} must be positive, got {', '.join(bad)}")


@dataclass
class TrainConfig:
    """Training budget and optimiser settings of the CTC recogniser (CPU-sized defaults; the benchmark uses them).

    ``epochs`` and ``max_steps`` cap the run; with validation clips it stops earlier, once their
    CER has not improved for ``patience`` epochs (``None``: never early).
    """

    epochs: int = 200
    max_steps: int | None = None
    patience: int | None = 15
    batch_size: int = 16
    learning_rate: float = 1e-3
    seed: int = 0
    hidden: int = 128
    channels: int = 32

    def __post_init__(self) -> None:
        _require_positive(
            "the CTC training settings",
            epochs=self.epochs,
            batch_size=self.batch_size,
            hidden=self.hidden,
            channels=self.channels,
            max_steps=self.max_steps,
            patience=self.patience,
            learning_rate=self.learning_rate,
        )


@dataclass(frozen=True)
class FinetuneConfig:
    """Whisper fine-tuning; defaults are the authors' (:mod:`csmsasr_utils.asr.finetune` says where it departs)."""

    epochs: int = 5
    batch_size: int = 8
    learning_rate: float = 1e-5
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    seed: int = 42
    gradient_checkpointing: bool = True
    label_prefix: str = "zh"  # "zh": the Chinese prompt; "authors": tokenizer(text) as is
    select: str = "cer"  # "cer": best validation CER; "last": the last epoch
    max_steps: int | None = None  # stop after this many optimiser steps (a budget)
    eval_batch_size: int = 8
    max_new_tokens: int = 128
    train_encoder: bool = True  # False: the decoder only, on encoder states computed once

    def __post_init__(self) -> None:
        if self.label_prefix not in ("zh", "authors"):
            raise CsmsasrError(f"label_prefix must be 'zh' or 'authors', got {self.label_prefix!r}")
        if self.select not in ("cer", "last"):
            raise CsmsasrError(f"select must be 'cer' or 'last', got {self.select!r}")
        _require_positive(
            "the fine-tuning settings", epochs=self.epochs, batch_size=self.batch_size, max_steps=self.max_steps
        )
