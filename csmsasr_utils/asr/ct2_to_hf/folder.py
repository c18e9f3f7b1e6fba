"""The conversion: a CT2 Whisper folder → a transformers Whisper folder, written once per source.

:func:`convert_ct2_whisper` reads ``model.bin`` (:mod:`.ct2_format`), maps its weights
(:mod:`.weights`), rebuilds the tokenizer and generation config (:mod:`.tokenizer`), builds
``WhisperForConditionalGeneration`` from them and writes the folder atomically with a marker file
that records the SHA-256 of every source file and the options
(:mod:`csmsasr_utils.model_folders`), so a second call with the same sources does nothing.
:func:`whisper_base_hf` does this for the wheels' Whisper-base, into ``<cache>/models/whisper-base-hf``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from csmsasr_utils.asr.ct2_to_hf.ct2_format import CT2ConversionError, CT2FormatError, read_ct2_model
from csmsasr_utils.asr.ct2_to_hf.tokenizer import _build_tokenizer, _generation_config, _read_vocabulary
from csmsasr_utils.asr.ct2_to_hf.weights import whisper_state_dict
from csmsasr_utils.data.sources import sha256_of
from csmsasr_utils.model_folders import refuse_foreign, up_to_date, write_folder
from csmsasr_utils.optional import import_transformers

#: Bumped whenever the conversion's output would change, so that old conversions are redone.
CONVERTER_VERSION = 1

#: The file written last into a converted folder; it records the sources and options.
MARKER_NAME = "ct2_conversion.json"


def _sources(ct2_dir: Path) -> dict[str, str]:
    """SHA-256 of every source file the conversion reads."""
    names = ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt", "vocabulary.json")
    return {name: sha256_of(ct2_dir / name) for name in names if (ct2_dir / name).is_file()}


def convert_ct2_whisper(
    ct2_dir: str | Path,
    out_dir: str | Path,
    *,
    language: str | None = "zh",
    task: str | None = "transcribe",
    dequantize: bool = False,
) -> Path:
    """Convert the CTranslate2 Whisper model in ``ct2_dir`` into a transformers folder ``out_dir``.

    ``out_dir`` receives ``model.safetensors`` (float32), ``config.json``,
    ``generation_config.json``, the ``WhisperProcessor`` files and :data:`MARKER_NAME`. ``language``
    and ``task`` become the tokenizer's prefix and the generation config's defaults (``None``:
    language detection / no task token, as transformers does). Conversion is deterministic and done
    once: when ``out_dir``'s marker records the same source SHA-256s, options and
    :data:`CONVERTER_VERSION`, nothing is done. A non-empty ``out_dir`` that is not a conversion is
    refused rather than overwritten. Returns ``out_dir``.
    """
    tf = import_transformers()
    import torch

    ct2_dir, out_dir = Path(ct2_dir), Path(out_dir)
    if not (ct2_dir / "model.bin").is_file():
        raise CT2FormatError(f"{ct2_dir} has no model.bin: not a CTranslate2 model folder")
    wanted = {
        "converter_version": CONVERTER_VERSION,
        "sources": _sources(ct2_dir),
        "options": {"language": language, "task": task, "dequantize": dequantize},
    }
    if up_to_date(out_dir, MARKER_NAME, wanted):
        return out_dir
    refuse_foreign(out_dir, MARKER_NAME)

    model_bin = read_ct2_model(ct2_dir / "model.bin")
    tensors, info = whisper_state_dict(model_bin, dequantize=dequantize)
    ct2_config = (
        json.loads((ct2_dir / "config.json").read_text(encoding="utf-8")) if (ct2_dir / "config.json").is_file() else {}
    )
    vocabulary = _read_vocabulary(ct2_dir)
    if len(vocabulary) != info["vocab_size"]:
        raise CT2ConversionError(
            f"CT2's vocabulary has {len(vocabulary)} tokens, the embeddings {info['vocab_size']} rows"
        )
    tokenizer = _build_tokenizer(ct2_dir, vocabulary, language, task, info["max_target_positions"])
    generation = _generation_config(tf, tokenizer, ct2_config, vocabulary, info, language, task)
    dims = {
        key: info[key]
        for key in (
            "d_model",
            "num_mel_bins",
            "encoder_layers",
            "decoder_layers",
            "encoder_attention_heads",
            "decoder_attention_heads",
            "encoder_ffn_dim",
            "decoder_ffn_dim",
            "vocab_size",
            "max_source_positions",
            "max_target_positions",
            "tie_word_embeddings",
        )
    }
    config = tf.WhisperConfig(
        **dims,
        activation_function="gelu",
        scale_embedding=False,
        decoder_start_token_id=generation.decoder_start_token_id,
        bos_token_id=generation.bos_token_id,
        eos_token_id=generation.eos_token_id,
        pad_token_id=generation.pad_token_id,
        suppress_tokens=generation.suppress_tokens,
        begin_suppress_tokens=generation.begin_suppress_tokens,
    )

    with torch.device("meta"):  # no random initialisation: every parameter is assigned below
        model = tf.WhisperForConditionalGeneration(config)
    state = {name: torch.from_numpy(np.ascontiguousarray(value)) for name, value in tensors.items()}
    expected = set(model.state_dict())
    if info["tie_word_embeddings"]:
        expected.discard("proj_out.weight")
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise CT2ConversionError(
            f"the mapped weights do not fill transformers' Whisper: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    try:
        model.load_state_dict(state, strict=False, assign=True)
    except RuntimeError as err:  # shape mismatches
        raise CT2ConversionError(f"the mapped weights do not fit transformers' Whisper: {err}") from err
    model.tie_weights()
    if info["tie_word_embeddings"] and model.proj_out.weight is not model.model.decoder.embed_tokens.weight:
        raise CT2ConversionError("transformers did not tie proj_out to the token embeddings")
    left = [name for name, param in model.named_parameters() if param.is_meta]
    if left:
        raise CT2ConversionError(f"transformers parameters left unfilled: {left[:5]}")
    model.model.encoder.embed_positions.weight.requires_grad_(False)  # frozen sinusoids, as in transformers
    model.generation_config = generation
    model.eval()

    extractor = tf.WhisperFeatureExtractor(feature_size=info["num_mel_bins"])
    processor = tf.WhisperProcessor(feature_extractor=extractor, tokenizer=tokenizer)

    def write(staging: Path) -> None:
        model.save_pretrained(staging)
        processor.save_pretrained(staging)

    marker = {
        **wanted,
        "source_dir": str(ct2_dir),
        "binary_version": model_bin.binary_version,
        "spec": f"{model_bin.spec_name} rev {model_bin.spec_revision}",
        "weight_dtypes": sorted(
            {model_bin.stored_dtypes[name] for name, value in model_bin.variables.items() if value.ndim}
        ),
        "tie_word_embeddings": info["tie_word_embeddings"],
        "dropped_key_bias_max_abs": info["dropped_key_bias_max_abs"],
        "dequantized_variables": len(info["dequantized"]),
        "transformers": tf.__version__,
    }
    write_folder(out_dir, MARKER_NAME, marker, write)
    return out_dir


def whisper_base_hf(cache_dir: str | Path) -> Path:
    """Whisper-base from the installed wheels as a transformers folder: ``<cache_dir>/models/whisper-base-hf``.

    ``cache_dir`` is the package cache (``csmsasr_utils.data.sources.cache_dir()``); the CT2 model is
    joined into ``<cache_dir>/models/whisper-base-ct2`` first, as the ASR chapter does. Raises
    :class:`~csmsasr_utils.asr.engines.whisper_ct2.ModelNotFound` without the wheels.
    """
    from csmsasr_utils.asr.engines.whisper_ct2 import whisper_base_from_wheels

    models = Path(cache_dir) / "models"
    return convert_ct2_whisper(whisper_base_from_wheels(models), models / "whisper-base-hf")
