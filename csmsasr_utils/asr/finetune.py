"""Fine-tune a Whisper model on CS-MSASR's training clips, the dataset authors' way.

The authors fine-tuned ``openai/whisper-small`` with transformers' ``Trainer``
(``speech-recognize/whisper-small/finetune-whisper.py`` in Yaoooyu/CS-MSASR). Their recipe, which
:class:`~csmsasr_utils.asr.training_config.FinetuneConfig` reproduces by default:

* 5 epochs, batch 8, learning rate 1e-5; the ``Trainer``'s defaults for the rest — AdamW
  (β = 0.9/0.999, ε = 1e-8, no weight decay), a linear decay of the learning rate to 0 with no
  warm-up, gradient clipping at norm 1.0, shuffling seeded with 42;
* log-mel features of each clip padded or cut to 3,000 frames (30 s), gradient checkpointing,
  the decoder's key/value cache off during training;
* cross-entropy on the transcript's tokens, padding ignored (label −100).

Where this module departs, and why:

* **Labels carry the Chinese prompt.** The authors' labels are ``tokenizer(text)`` with no
  language or task set: ``<|startoftranscript|><|notimestamps|> text <|endoftext|>``, and the
  model's own ``decoder_start_token_id`` is prepended again when the labels are shifted. Here the
  labels are ``<|zh|><|transcribe|><|notimestamps|> text <|endoftext|>`` after the start token,
  the very prompt the book decodes with (:data:`~csmsasr_utils.asr.engines.hf.CHINESE_PROMPT`).
  ``label_prefix="authors"`` restores their labels exactly.
* **Selection by CER.** Their ``Trainer`` evaluated the validation *loss* each epoch and kept the
  last epoch (``save_total_limit=1`` without ``load_best_model_at_end``). Here every epoch is
  scored with the book's CER protocol on the validation clips (greedy decoding, the authors'), the
  best epoch is kept, and the test CER is reported for the model before fine-tuning and for the
  best epoch; ``select="last"`` keeps the last epoch as they did.
* ``max_steps`` stops early (a budget for the book and CI); the learning-rate schedule then
  spans ``max_steps``, as the ``Trainer`` does when given ``max_steps``.
* ``train_encoder=False`` (not the authors') freezes the encoder and fine-tunes the decoder only.
  Each training clip then goes through the encoder once, before the first step, and every step
  reuses its states: a step costs the decoder alone. Why: the encoder pass over the 30 s window
  (1,500 positions, forward, backward and the checkpointing's recomputation) is almost all of a
  step's cost; on 2 CPU cores the authors' full recipe on the 760 training clips runs for hours,
  the decoder alone for minutes (figures in ``benchmarks/README.md``). It is also the part of the
  model the synthetic benchmark can teach: the audio is a Mandarin voice, so what there is to
  learn is the dialect's characters and particles — the decoder's language model — not its
  sounds. whisper-base has no dropout and no SpecAugment, so the frozen states are exactly what a
  trainable-but-unchanged encoder would produce (a model with SpecAugment is refused here).

Checkpoints: ``out_dir/last`` after every epoch (weights, processor, optimiser, schedule, random
state, history), ``out_dir/best`` for the selected epoch; a run started again with the same
configuration resumes after the last finished epoch. ``out_dir/results.jsonl`` gets one row per
epoch and a final row, with the data source, versions and device, like the book's other runners.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from csmsasr_utils.asr.audio import SAMPLE_RATE, load_audio
from csmsasr_utils.asr.engines.hf import whisper_prompt_ids, whisper_transcribe
from csmsasr_utils.asr.metrics import cer
from csmsasr_utils.asr.training_config import FinetuneConfig
from csmsasr_utils.errors import CsmsasrError
from csmsasr_utils.jsonl import JsonLines
from csmsasr_utils.optional import import_transformers
from csmsasr_utils.progress import progress
from csmsasr_utils.seeding import seed_everything

#: Mel frames the authors pad or cut every clip to (30 s of audio).
MEL_FRAMES = 3000


@dataclass
class Clips:
    """Audio and reference transcripts of one split: ``audio[i]`` is 16 kHz mono float32."""

    clip_ids: list[str]
    audio: list[np.ndarray]
    texts: list[str]

    def __post_init__(self) -> None:
        if not (len(self.clip_ids) == len(self.audio) == len(self.texts)):
            raise CsmsasrError("clip_ids, audio and texts must have the same length")
        if not self.clip_ids:
            raise CsmsasrError("no clips")

    def __len__(self) -> int:
        return len(self.clip_ids)

    @classmethod
    def from_files(cls, clip_ids: Sequence[str], paths: Sequence[str | Path], texts: Sequence[str]) -> Clips:
        """The clips of these audio files (read with :func:`~csmsasr_utils.asr.audio.load_audio`)."""
        return cls(list(clip_ids), [load_audio(p) for p in paths], list(texts))


def make_labels(tokenizer, text: str, label_prefix: str = "zh") -> list[int]:
    """Decoder targets for ``text`` (the start token is prepended by the model when shifting).

    ``"zh"``: ``<|zh|><|transcribe|><|notimestamps|>`` + text + ``<|endoftext|>``;
    ``"authors"``: ``tokenizer(text).input_ids`` exactly as the authors' script.
    """
    if label_prefix == "authors":
        return list(tokenizer(text).input_ids)
    prompt = whisper_prompt_ids(tokenizer)[1:]  # without <|startoftranscript|>
    body = tokenizer(text, add_special_tokens=False).input_ids
    return [*prompt, *body, tokenizer.convert_tokens_to_ids("<|endoftext|>")]


def log_mel_batch(processor, audio: Sequence[np.ndarray]):
    """``(batch, n_mels, 3000)`` log-mel features, padded or cut to 30 s as the authors do."""
    features = processor.feature_extractor(
        [np.asarray(a, dtype=np.float32) for a in audio], sampling_rate=SAMPLE_RATE, return_tensors="pt"
    ).input_features
    return features[..., :MEL_FRAMES]


def _label_batch(tokenizer, texts: Sequence[str], label_prefix: str):
    import torch

    rows = [torch.tensor(make_labels(tokenizer, t, label_prefix)) for t in texts]
    return torch.nn.utils.rnn.pad_sequence(rows, batch_first=True, padding_value=-100)


def evaluate_cer(
    model, processor, clips: Clips, batch_size: int = 8, max_new_tokens: int = 128, show_progress: bool = False
) -> tuple[float, list[str]]:
    """Corpus CER (the book's protocol) of greedy transcripts of ``clips``, and the transcripts."""
    hypotheses: list[str] = []
    starts = range(0, len(clips), batch_size)
    for start in progress(starts, desc="transcribing", unit="batch", disable=None if show_progress else True):
        hypotheses += whisper_transcribe(
            model, processor, clips.audio[start : start + batch_size], num_beams=1, max_new_tokens=max_new_tokens
        )
    return cer(clips.texts, hypotheses), hypotheses


def encoder_states(
    model, processor, audio: Sequence[np.ndarray], batch_size: int = 8, device="cpu", show_progress: bool = False
):
    """The encoder's last hidden states ``(clips, 1500, d_model)`` of each clip's 30 s log-mel window.

    Computed without gradients, in evaluation mode; a frozen encoder gives these same states at
    every step, so :func:`finetune_whisper` computes them once (``train_encoder=False``).
    """
    import torch

    encoder = model.get_encoder()
    was_training = encoder.training
    encoder.eval()
    parts = []
    with torch.no_grad():
        for start in progress(
            range(0, len(audio), batch_size),
            desc="encoding the training clips",
            unit="batch",
            disable=None if show_progress else True,
        ):
            features = log_mel_batch(processor, audio[start : start + batch_size]).to(device)
            parts.append(encoder(input_features=features).last_hidden_state)
    encoder.train(was_training)
    return torch.cat(parts)


def _validation_loss(model, processor, clips: Clips, config: FinetuneConfig, device) -> float:
    import torch

    model.eval()
    losses, weights = [], []
    with torch.no_grad():
        for start in range(0, len(clips), config.eval_batch_size):
            audio = clips.audio[start : start + config.eval_batch_size]
            labels = _label_batch(
                processor.tokenizer, clips.texts[start : start + config.eval_batch_size], config.label_prefix
            ).to(device)
            out = model(input_features=log_mel_batch(processor, audio).to(device), labels=labels)
            losses.append(out.loss.item())
            weights.append(int((labels != -100).sum()))
    return float(np.average(losses, weights=weights))


def _config_key(config: FinetuneConfig, model_source: str, train: Clips) -> str:
    return json.dumps(
        {"config": dataclasses.asdict(config), "model": model_source, "train": train.clip_ids}, sort_keys=True
    )


def _save(model, processor, folder: Path) -> None:
    """Save weights and processor; the saved config keeps the decoder cache on (fast inference)."""
    training_setting = model.config.use_cache
    model.config.use_cache = True
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    model.config.use_cache = training_setting


def finetune_whisper(
    model_dir: str | Path,
    train: Clips,
    valid: Clips,
    test: Clips | None,
    out_dir: str | Path,
    config: FinetuneConfig = FinetuneConfig(),
    *,
    device: str = "cpu",
    data_source: str = "",
    show_progress: bool = True,
) -> dict[str, Any]:
    """Fine-tune the transformers Whisper in ``model_dir``; return the final result row.

    ``data_source`` names where the audio comes from (e.g. the synthetic-audio label) and is written
    into every results row. The row holds ``valid_cer_before``/``test_cer_before`` (the model as
    given), the per-epoch history, the selected epoch and ``test_cer_after``.
    """
    import torch

    import csmsasr_utils

    tf = import_transformers()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results_path = out_dir / "results.jsonl"
    last_dir, best_dir = out_dir / "last", out_dir / "best"
    key = _config_key(config, str(model_dir), train)
    start_time = time.perf_counter()
    torch_device = torch.device(device)

    state_file = last_dir / "trainer_state.json"
    state = json.loads(state_file.read_text()) if state_file.exists() else None
    if state is not None and state.get("key") != key:
        raise CsmsasrError(
            f"{out_dir} holds a fine-tuning run with another configuration, model or training "
            "set; use another output folder so the two are not mixed"
        )
    seed_everything(config.seed)
    source = last_dir if state is not None else Path(model_dir)
    if not (source / "config.json").is_file():
        raise CsmsasrError(
            f"no transformers Whisper model in {source} (no config.json): give a save_pretrained "
            "folder, e.g. from csmsasr_utils.asr.ct2_to_hf.whisper_base_hf()"
        )
    try:
        processor = tf.WhisperProcessor.from_pretrained(str(source))
        model = tf.WhisperForConditionalGeneration.from_pretrained(str(source)).to(torch_device)
    except OSError as err:
        raise CsmsasrError(f"no transformers Whisper model in {source}: {str(err).splitlines()[0]}") from err
    model.config.use_cache = False
    if not config.train_encoder:
        if getattr(model.config, "apply_spec_augment", False):
            raise CsmsasrError(
                "train_encoder=False reuses each clip's encoder states, which SpecAugment would "
                "change at every step; turn apply_spec_augment off or train the encoder"
            )
        model.get_encoder().requires_grad_(False)
    if config.gradient_checkpointing:  # transformers 5 renamed it; the older name is deprecated there
        enable = getattr(model, "activation_checkpointing_enable", None) or model.gradient_checkpointing_enable
        enable()

    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    total_steps = config.max_steps or steps_per_epoch * config.epochs
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(
        trained, lr=config.learning_rate, betas=(0.9, 0.999), eps=1e-8, weight_decay=config.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: max(0.0, 1 - step / total_steps))

    if state is None:
        valid_before, _ = evaluate_cer(
            model, processor, valid, config.eval_batch_size, config.max_new_tokens, show_progress
        )
        test_before = (
            evaluate_cer(model, processor, test, config.eval_batch_size, config.max_new_tokens, show_progress)[0]
            if test is not None
            else None
        )
        state = {
            "key": key,
            "epoch": 0,
            "step": 0,
            "history": [],
            "best_epoch": 0,
            "best_cer": valid_before,
            "valid_cer_before": valid_before,
            "test_cer_before": test_before,
        }
        _save(model, processor, best_dir)
    else:
        optimizer.load_state_dict(torch.load(last_dir / "optimizer.pt", weights_only=True))
        scheduler.load_state_dict(torch.load(last_dir / "scheduler.pt", weights_only=True))
        torch.set_rng_state(torch.load(last_dir / "rng.pt", weights_only=True))

    states = None
    if not config.train_encoder and state["epoch"] < config.epochs and state["step"] < total_steps:
        states = encoder_states(model, processor, train.audio, config.eval_batch_size, torch_device, show_progress)
    epoch_bar = progress(
        range(state["epoch"] + 1, config.epochs + 1),
        desc="fine-tuning",
        unit="epoch",
        disable=None if show_progress else True,
    )
    for epoch in epoch_bar:
        if state["step"] >= total_steps:
            break
        model.train()
        # one shuffling seed per epoch, so a resumed run shuffles exactly as an uninterrupted one
        order = torch.randperm(len(train), generator=torch.Generator().manual_seed(config.seed * 1000 + epoch)).tolist()
        losses = []
        for start in range(0, len(order), config.batch_size):
            if state["step"] >= total_steps:
                break
            rows = order[start : start + config.batch_size]
            labels = _label_batch(processor.tokenizer, [train.texts[i] for i in rows], config.label_prefix).to(
                torch_device
            )
            if states is None:
                features = log_mel_batch(processor, [train.audio[i] for i in rows]).to(torch_device)
                loss = model(input_features=features, labels=labels).loss
            else:
                loss = model(encoder_outputs=(states[rows],), labels=labels).loss
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trained, config.max_grad_norm)
            optimizer.step()
            scheduler.step()
            state["step"] += 1
            losses.append(loss.item())
        valid_cer, _ = evaluate_cer(model, processor, valid, config.eval_batch_size, config.max_new_tokens)
        record = {
            "epoch": epoch,
            "step": state["step"],
            "train_loss": float(np.mean(losses)),
            "step_losses": losses,
            "valid_loss": _validation_loss(model, processor, valid, config, torch_device),
            "valid_cer": valid_cer,
            "learning_rate": scheduler.get_last_lr()[0],
        }
        state["history"].append(record)
        state["epoch"] = epoch
        if config.select == "last" or valid_cer < state["best_cer"]:
            state["best_cer"], state["best_epoch"] = valid_cer, epoch
            _save(model, processor, best_dir)
        _save(model, processor, last_dir)
        torch.save(optimizer.state_dict(), last_dir / "optimizer.pt")
        torch.save(scheduler.state_dict(), last_dir / "scheduler.pt")
        torch.save(torch.get_rng_state(), last_dir / "rng.pt")
        state_file.write_text(json.dumps(state, indent=1))
        JsonLines(results_path).append({"kind": "epoch", **record, "data_source": data_source})

    best = tf.WhisperForConditionalGeneration.from_pretrained(str(best_dir)).to(torch_device)
    test_after = (
        evaluate_cer(best, processor, test, config.eval_batch_size, config.max_new_tokens, show_progress)[0]
        if test is not None
        else None
    )
    row = {
        "kind": "final",
        "model": str(model_dir),
        "data_source": data_source,
        "config": dataclasses.asdict(config),
        "n_train": len(train),
        "n_valid": len(valid),
        "n_test": 0 if test is None else len(test),
        "valid_cer_before": state["valid_cer_before"],
        "test_cer_before": state["test_cer_before"],
        "best_epoch": state["best_epoch"],
        "valid_cer_best": state["best_cer"],
        "test_cer_after": test_after,
        "steps": state["step"],
        "history": state["history"],
        "device": str(torch_device),
        "wall_seconds": round(time.perf_counter() - start_time, 2),
        "package_version": csmsasr_utils.__version__,
        "torch_version": torch.__version__,
        "transformers_version": tf.__version__,
        "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    JsonLines(results_path).append(row)
    return row
