"""Whisper fine-tuning: labels, a short run that learns, checkpoints and an exact resume."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

transformers = pytest.importorskip("transformers")

from csmsasr_utils.asr import finetune  # noqa: E402  (after the skip: needs transformers)
from csmsasr_utils.asr.finetune import (  # noqa: E402
    Clips,
    FinetuneConfig,
    finetune_whisper,
    make_labels,
)
from csmsasr_utils.errors import CsmsasrError  # noqa: E402

TEXTS = ["长沙话", "好得很", "冇得事", "你咯伢子"]


def clips(n: int, seed: int) -> Clips:
    rng = np.random.default_rng(seed)
    return Clips(
        [f"c{seed}_{i}" for i in range(n)],
        [rng.normal(0, 0.1, 8_000 + 1_000 * i).astype(np.float32) for i in range(n)],
        [TEXTS[i % len(TEXTS)] for i in range(n)],
    )


FAST = {"batch_size": 2, "gradient_checkpointing": False, "eval_batch_size": 4, "max_new_tokens": 6}


def test_labels_carry_the_chinese_prompt_or_the_authors_prefix(tiny_whisper):
    tokenizer = transformers.WhisperProcessor.from_pretrained(tiny_whisper).tokenizer
    zh = tokenizer.convert_ids_to_tokens(make_labels(tokenizer, "长沙话"))
    assert zh[:3] == ["<|zh|>", "<|transcribe|>", "<|notimestamps|>"] and zh[-1] == "<|endoftext|>"
    assert tokenizer.decode(make_labels(tokenizer, "长沙话"), skip_special_tokens=True) == "长沙话"
    authors = make_labels(tokenizer, "长沙话", "authors")
    assert authors == list(tokenizer("长沙话").input_ids)
    assert tokenizer.convert_ids_to_tokens(authors)[0] == "<|startoftranscript|>"


def test_a_short_run_learns_and_writes_its_results(tiny_whisper, tmp_path):
    train = clips(2, 0)
    config = FinetuneConfig(epochs=6, learning_rate=3e-2, **FAST)
    row = finetune_whisper(
        tiny_whisper,
        train,
        clips(2, 1),
        clips(2, 2),
        tmp_path / "run",
        config,
        data_source="noise (test)",
        show_progress=False,
    )
    losses = [h["train_loss"] for h in row["history"]]
    assert len(losses) == 6 and losses[-1] < 0.85 * losses[0]  # it learns the two clips
    assert all(later < earlier for earlier, later in itertools.pairwise(losses))
    assert row["steps"] == 6 and row["data_source"] == "noise (test)"
    assert 0 <= row["best_epoch"] <= 6 and row["test_cer_before"] is not None and row["test_cer_after"] is not None
    lines = [json.loads(x) for x in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    assert [x["kind"] for x in lines] == ["epoch"] * 6 + ["final"]
    assert (tmp_path / "run" / "best" / "config.json").is_file()
    assert json.loads((tmp_path / "run" / "best" / "config.json").read_text())["use_cache"] is True


def test_max_steps_and_select_last(tiny_whisper, tmp_path):
    config = FinetuneConfig(epochs=5, max_steps=3, select="last", **FAST)
    row = finetune_whisper(tiny_whisper, clips(4, 0), clips(2, 1), None, tmp_path, config, show_progress=False)
    assert row["steps"] == 3 and len(row["history"]) == 2  # 2 steps in epoch 1, 1 in epoch 2
    assert row["best_epoch"] == 2 and row["test_cer_after"] is None


def test_an_interrupted_run_resumes_exactly(tiny_whisper, tmp_path, monkeypatch):
    config = FinetuneConfig(epochs=3, learning_rate=1e-3, **FAST)
    args = (tiny_whisper, clips(4, 0), clips(2, 1), None)
    whole = finetune_whisper(*args, tmp_path / "whole", config, show_progress=False)

    class InterruptAfterEpoch2(finetune.JsonLines):
        def append(self, row):
            super().append(row)
            if row.get("epoch") == 2:
                raise KeyboardInterrupt

    monkeypatch.setattr(finetune, "JsonLines", InterruptAfterEpoch2)
    with pytest.raises(KeyboardInterrupt):
        finetune_whisper(*args, tmp_path / "cut", config, show_progress=False)
    monkeypatch.undo()
    resumed = finetune_whisper(*args, tmp_path / "cut", config, show_progress=False)
    assert [h["epoch"] for h in resumed["history"]] == [1, 2, 3]
    for a, b in zip(whole["history"], resumed["history"]):
        assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-5)
    with pytest.raises(CsmsasrError, match="another configuration"):
        finetune_whisper(*args, tmp_path / "cut", FinetuneConfig(epochs=4, **FAST), show_progress=False)


def test_bad_configuration_and_input_are_refused(tmp_path):
    with pytest.raises(CsmsasrError, match="label_prefix"):
        FinetuneConfig(label_prefix="en")
    with pytest.raises(CsmsasrError, match="select"):
        FinetuneConfig(select="best-loss")
    with pytest.raises(CsmsasrError, match="no clips"):
        Clips([], [], [])
    with pytest.raises(CsmsasrError, match="same length"):
        Clips(["a"], [], ["x"])
    with pytest.raises(CsmsasrError, match="no transformers Whisper"):
        finetune_whisper(
            tmp_path / "missing",
            clips(2, 0),
            clips(2, 1),
            None,
            tmp_path / "out",
            FinetuneConfig(**FAST),
            show_progress=False,
        )


@pytest.mark.slow
def test_cli_finetunes_on_synthetic_audio_of_the_official_splits(tiny_whisper, public_dir, tmp_path, capsys):
    from csmsasr_utils.asr.audio import SYNTHETIC_LABEL, espeak_available
    from csmsasr_utils.asr.tts import SYNTHETIC_SPEECH_LABEL, kokoro_available
    from csmsasr_utils.cli import main

    if not (kokoro_available() or espeak_available()):
        pytest.skip("no speech synthesis installed (CI installs Kokoro and espeak-ng)")
    expected_label = SYNTHETIC_SPEECH_LABEL if kokoro_available() else SYNTHETIC_LABEL
    out = tmp_path / "tuned"
    argv = [
        "asr",
        "finetune",
        "--model",
        str(tiny_whisper),
        "--public-dir",
        str(public_dir),
        "--limit",
        "2",
        "--epochs",
        "1",
        "--batch-size",
        "2",
        "--output",
        str(out),
    ]
    assert main(argv) == 0
    assert "test CER" in capsys.readouterr().out
    final = [json.loads(x) for x in (out / "results.jsonl").read_text().splitlines()][-1]
    assert final["kind"] == "final" and final["data_source"] == expected_label
    assert (final["n_train"], final["n_valid"], final["n_test"]) == (2, 2, 2) and final["steps"] == 1


def test_decoder_only_fine_tuning_matches_a_hand_made_step_with_a_frozen_encoder(tiny_whisper, tmp_path):
    """train_encoder=False: the encoder's weights stay, and the decoder's after one step equal those
    of one AdamW step taken by hand on the full model (log-mel in, encoder run, encoder frozen)."""
    import torch

    train = clips(2, 0)
    config = FinetuneConfig(epochs=1, learning_rate=1e-2, train_encoder=False, **FAST)
    finetune_whisper(tiny_whisper, train, clips(2, 1), None, tmp_path / "run", config, show_progress=False)
    tuned = transformers.WhisperForConditionalGeneration.from_pretrained(tmp_path / "run" / "last")

    torch.manual_seed(0)
    processor = transformers.WhisperProcessor.from_pretrained(tiny_whisper)
    model = transformers.WhisperForConditionalGeneration.from_pretrained(tiny_whisper)
    original = {k: v.clone() for k, v in model.state_dict().items()}
    model.config.use_cache = False
    model.get_encoder().requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0)
    order = torch.randperm(2, generator=torch.Generator().manual_seed(config.seed * 1000 + 1)).tolist()
    model.train()
    features = finetune.log_mel_batch(processor, [train.audio[i] for i in order])
    labels = finetune._label_batch(processor.tokenizer, [train.texts[i] for i in order], "zh")
    loss = model(input_features=features, labels=labels).loss
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    optimizer.step()

    history = json.loads((tmp_path / "run" / "last" / "trainer_state.json").read_text())["history"]
    assert history[0]["step_losses"][0] == pytest.approx(loss.item(), rel=1e-5)
    by_hand, after = model.state_dict(), tuned.state_dict()
    changed = 0
    for name, value in after.items():
        if ".encoder." in f".{name}":
            assert torch.equal(value, original[name]), f"encoder weight {name} changed"
        else:
            torch.testing.assert_close(value, by_hand[name], rtol=1e-4, atol=1e-6)
            changed += not torch.equal(value, original[name])
    assert changed > 0  # the decoder did learn


def test_decoder_only_refuses_spec_augment(tiny_whisper, tmp_path):
    config_path = tmp_path / "model"
    model = transformers.WhisperForConditionalGeneration.from_pretrained(tiny_whisper)
    model.config.apply_spec_augment = True
    model.save_pretrained(config_path)
    transformers.WhisperProcessor.from_pretrained(tiny_whisper).save_pretrained(config_path)
    with pytest.raises(CsmsasrError, match="SpecAugment"):
        finetune_whisper(
            config_path,
            clips(2, 0),
            clips(2, 1),
            None,
            tmp_path / "run",
            FinetuneConfig(train_encoder=False, **FAST),
            show_progress=False,
        )
