"""The transformers adapters, offline, with tiny randomly initialised models built from configs."""

from __future__ import annotations

import json

import numpy as np
import pytest

transformers = pytest.importorskip("transformers")


def test_hf_whisper_adapter_runs_offline(tiny_whisper):
    from csmsasr_utils.asr.engines.hf import HFWhisperEngine

    engine = HFWhisperEngine(tiny_whisper, max_new_tokens=4)
    audio = np.random.default_rng(0).normal(0, 0.1, 16_000).astype(np.float32)
    text, seconds = engine.timed_transcribe(audio)
    assert isinstance(text, str) and seconds > 0
    assert engine.transcribe(audio) == text  # deterministic decoding
    processor, _, prompt = engine._load()
    tokens = processor.tokenizer.convert_ids_to_tokens(prompt)
    assert tokens == ["<|startoftranscript|>", "<|zh|>", "<|transcribe|>", "<|notimestamps|>"]


def test_wav2vec2_adapter_runs_offline(tmp_path):
    from csmsasr_utils.asr.engines.hf import Wav2Vec2Engine

    vocab = {"<pad>": 0, "<unk>": 1, "|": 2, "长": 3, "沙": 4, "话": 5}
    (tmp_path / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    tokenizer = transformers.Wav2Vec2CTCTokenizer(str(tmp_path / "vocab.json"), word_delimiter_token="|")
    extractor = transformers.Wav2Vec2FeatureExtractor(sampling_rate=16_000)
    transformers.Wav2Vec2Processor(feature_extractor=extractor, tokenizer=tokenizer).save_pretrained(tmp_path)
    config = transformers.Wav2Vec2Config(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        conv_dim=(8, 8),
        conv_stride=(5, 2),
        conv_kernel=(10, 3),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        pad_token_id=0,
    )
    transformers.set_seed(0)
    transformers.Wav2Vec2ForCTC(config).save_pretrained(tmp_path)
    engine = Wav2Vec2Engine(tmp_path)
    text = engine.transcribe(np.random.default_rng(1).normal(0, 0.1, 16_000).astype(np.float32))
    assert set(text.replace("<unk>", "")) <= set("长沙话 ")  # only vocabulary tokens come out of a CTC head


def test_a_folder_that_is_not_the_engines_model_is_a_clear_error(tiny_whisper, tmp_path):
    """Each adapter names what a wrong folder is, before transformers tries to load it."""
    from csmsasr_utils.asr.engines.hf import HFWhisperEngine, Wav2Vec2Engine
    from csmsasr_utils.errors import CsmsasrError

    audio = np.zeros(16_000, dtype=np.float32)
    with pytest.raises(CsmsasrError, match="holds a whisper model, not a wav2vec 2.0 model"):
        Wav2Vec2Engine(tiny_whisper).transcribe(audio)
    ct2 = tmp_path / "ct2"
    ct2.mkdir()
    (ct2 / "model.bin").write_bytes(b"\0")
    with pytest.raises(CsmsasrError, match="no config.json .*CTranslate2"):
        HFWhisperEngine(ct2).transcribe(audio)
    funasr = tmp_path / "funasr"
    funasr.mkdir()
    (funasr / "config.yaml").write_text("model: Paraformer\n")
    with pytest.raises(CsmsasrError, match="FunASR"):
        HFWhisperEngine(funasr).transcribe(audio)
    bert = tmp_path / "bert"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(CsmsasrError, match="holds a bert model, not a Whisper model"):
        HFWhisperEngine(bert).transcribe(audio)
    (bert / "config.json").write_text("{not json")
    with pytest.raises(CsmsasrError, match="not a readable transformers configuration"):
        HFWhisperEngine(bert).transcribe(audio)
    with pytest.raises(CsmsasrError, match="is a file"):
        HFWhisperEngine(bert / "config.json").transcribe(audio)
