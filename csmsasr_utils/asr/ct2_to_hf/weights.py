"""CT2 Whisper variables → transformers' Whisper state dict, strictly in both directions.

**The mapping** (the inverse of CTranslate2's ``WhisperLoader``/``BartLoader``; ``E``/``D`` are
``model.encoder``/``model.decoder``, ``i`` the layer):

======================================================  ============================================
CT2 variable                                            transformers parameter
======================================================  ============================================
``encoder/conv{1,2}/{weight,bias}``                      ``E.conv{1,2}.{weight,bias}`` (same layout)
``encoder/position_encodings/encodings``                ``E.embed_positions.weight``
``decoder/position_encodings/encodings``                ``D.embed_positions.weight``
``decoder/embeddings/weight``                           ``D.embed_tokens.weight``
``decoder/projection/weight`` (alias of the above)      ``proj_out.weight`` (tied)
``{encoder,decoder}/layer_norm/{gamma,beta}``           ``{E,D}.layer_norm.{weight,bias}``
``*/layer_i/self_attention/linear_0`` (fused Q,K,V)     ``self_attn.{q,k,v}_proj``: rows split in 3
``*/layer_i/self_attention/linear_1``                   ``self_attn.out_proj``
``*/layer_i/self_attention/layer_norm``                 ``self_attn_layer_norm``
``decoder/layer_i/attention/linear_0``                  ``encoder_attn.q_proj``
``decoder/layer_i/attention/linear_1`` (fused K,V)      ``encoder_attn.{k,v}_proj``: rows split in 2
``decoder/layer_i/attention/linear_2``                  ``encoder_attn.out_proj``
``decoder/layer_i/attention/layer_norm``                ``encoder_attn_layer_norm``
``*/layer_i/ffn/linear_{0,1}``, ``ffn/layer_norm``      ``fc1``, ``fc2``, ``final_layer_norm``
======================================================  ============================================

Whisper's key projections have no bias: CT2 fuses them with a zero bias, which is dropped. (Even
a non-zero key bias would be safe to drop: it adds ``q·b`` to every score of one query, which the
softmax cancels. Its largest magnitude is recorded in the marker file.) The scalars are checked
against what transformers' Whisper computes — GELU (``decoder/activation`` = 3), pre-norm layers,
unscaled embeddings, no ALiBi, no zero start embedding — and a model that differs is refused;
``*/num_heads`` give the head counts; ``decoder/alignment_{heads,layer}`` are CT2's legacy
word-timestamp defaults (the alignment heads of ``config.json`` go to the generation config).
Any variable not listed is an error, and so is any transformers parameter left unfilled.

**Precision.** float16 and float32 weights (and bfloat16) are widened to float32 exactly. int8 and
int16 weights (CT2's ``int8*``/``int16`` quantisations) are refused unless ``dequantize=True``, which
rebuilds ``weight / weight_scale`` (int8: one scale per output row; int16: one global scale): each
weight is then within half a quantisation step of the original (a whole step for binary version 4,
whose converter truncated instead of rounding) — usable for fine-tuning, but not the same network,
so the verification in :mod:`csmsasr_utils.asr.ct2_to_hf` does not apply to it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from csmsasr_utils.asr.ct2_to_hf.ct2_format import CT2ConversionError, CT2Model

#: WhisperSpec revisions whose variable layout this converter has been verified on.
SUPPORTED_WHISPER_REVISIONS = (3,)

_GELU = 3  # ctranslate2.specs.common_spec.Activation.GELU (erf form), transformers' "gelu"


@dataclass
class _Mapped:
    """The result of mapping: float32 tensors by transformers name, and what was learnt on the way."""

    tensors: dict[str, np.ndarray] = field(default_factory=dict)
    used: set[str] = field(default_factory=set)
    dropped_key_bias_max_abs: float = 0.0
    dequantized: list[str] = field(default_factory=list)


def _float32(model: CT2Model, name: str, dequantize: bool, mapped: _Mapped) -> np.ndarray:
    """Variable ``name`` as float32: widened exactly, or dequantised with its ``_scale`` (if allowed)."""
    if name not in model:
        raise CT2ConversionError(f"{model.path} has no variable {name!r}: not a complete CTranslate2 Whisper model")
    mapped.used.add(name)
    target = model.aliases.get(name, name)  # an alias shares its target's dtype and scale
    stored = model.stored_dtypes[target]
    value = model[name]
    if stored in ("float32", "float16", "bfloat16"):
        return value.astype(np.float32)
    scale_name = f"{target}_scale"
    if stored not in ("int8", "int16") or scale_name not in model:
        raise CT2ConversionError(
            f"{model.path}: {name} is stored as {stored} without a {scale_name}: "
            "not a CTranslate2 weight this converter understands"
        )
    if not dequantize:
        raise CT2ConversionError(
            f"{model.path} holds quantised weights ({name} is {stored}): only float16/float32/bfloat16 CT2 "
            "models convert exactly. Convert from a float16 model, or pass dequantize=True to rebuild "
            "weight / scale (each weight within half a quantisation step of the original)."
        )
    mapped.used.add(scale_name)
    mapped.dequantized.append(name)
    scale = model[scale_name].astype(np.float32)
    if stored == "int16":  # one global scale
        return value.astype(np.float32) / scale
    rows = value.reshape(value.shape[0], -1).astype(np.float32) / scale.reshape(-1, 1)  # one scale per row
    return rows.reshape(value.shape)


def _copy(model, mapped, dequantize, ct2: str, hf: str) -> None:
    mapped.tensors[hf] = _float32(model, ct2, dequantize, mapped)


def _split(model, mapped, dequantize, ct2: str, targets: tuple[str | None, ...]) -> None:
    """Split a fused CT2 variable into equal row blocks; a ``None`` target is a dropped key bias."""
    value = _float32(model, ct2, dequantize, mapped)
    if value.shape[0] % len(targets):
        raise CT2ConversionError(
            f"{model.path}: {ct2} has {value.shape[0]} rows, not divisible into {len(targets)} fused projections"
        )
    for target, block in zip(targets, np.split(value, len(targets))):
        if target is None:
            mapped.dropped_key_bias_max_abs = max(mapped.dropped_key_bias_max_abs, float(np.abs(block).max()))
        else:
            mapped.tensors[target] = block


def _linear(model, mapped, dequantize, ct2: str, hf: str) -> None:
    _copy(model, mapped, dequantize, f"{ct2}/weight", f"{hf}.weight")
    _copy(model, mapped, dequantize, f"{ct2}/bias", f"{hf}.bias")


def _norm(model, mapped, dequantize, ct2: str, hf: str) -> None:
    _copy(model, mapped, dequantize, f"{ct2}/gamma", f"{hf}.weight")
    _copy(model, mapped, dequantize, f"{ct2}/beta", f"{hf}.bias")


def _layer_count(model: CT2Model, side: str) -> int:
    """Number of ``<side>/layer_<i>`` blocks, checking they are numbered 0 … n-1."""
    found = {int(m.group(1)) for name in model for m in [re.match(rf"{side}/layer_(\d+)/", name)] if m}
    if not found or found != set(range(len(found))):
        raise CT2ConversionError(f"{model.path}: {side} layers are {sorted(found)}, expected 0 … n-1")
    return len(found)


#: Scalar attributes: the value transformers' Whisper implies (``None``: informational only).
_SCALARS: dict[str, tuple[float | None, str]] = {
    "decoder/activation": (_GELU, "the decoder activation must be GELU (CT2 id 3), as in transformers' Whisper"),
    "decoder/pre_norm": (1, "transformers' Whisper normalises before each sub-layer"),
    "decoder/scale_embeddings": (0, "transformers' Whisper does not scale token embeddings"),
    "decoder/alibi": (0, "transformers' Whisper has no ALiBi"),
    "decoder/start_from_zero_embedding": (0, "transformers' Whisper starts from a token embedding"),
    "decoder/alibi_use_positive_positions": (None, "meaningless without ALiBi"),
    "decoder/scale_alibi": (None, "meaningless without ALiBi"),
    "decoder/alignment_layer": (None, "CT2's legacy word-timestamp default; config.json's alignment heads are used"),
    "decoder/alignment_heads": (None, "CT2's legacy word-timestamp default; config.json's alignment heads are used"),
    "encoder/num_heads": (None, "becomes encoder_attention_heads"),
    "decoder/num_heads": (None, "becomes decoder_attention_heads"),
}


def whisper_state_dict(model: CT2Model, dequantize: bool = False) -> tuple[dict[str, np.ndarray], dict]:
    """Map a CT2 Whisper model onto transformers' parameter names (float32 arrays), strictly.

    Returns ``(state_dict, info)``; ``info`` holds the dimensions for ``WhisperConfig`` and notes
    (whether the output projection is tied, the largest dropped key bias, dequantised variables).
    Every CT2 variable must be mapped or be a known scalar; anything else is a
    :class:`.CT2ConversionError`, as is a scalar whose value transformers' Whisper cannot reproduce.
    """
    if model.spec_name != "WhisperSpec":
        raise CT2ConversionError(f"{model.path} is a CTranslate2 {model.spec_name}, not a WhisperSpec model")
    if model.spec_revision not in SUPPORTED_WHISPER_REVISIONS:
        raise CT2ConversionError(
            f"{model.path} is WhisperSpec revision {model.spec_revision}; only revision(s) "
            f"{SUPPORTED_WHISPER_REVISIONS} have been verified (re-convert it with a recent CTranslate2)"
        )
    mapped = _Mapped()
    for name, (required, reason) in _SCALARS.items():
        if name not in model:
            continue
        mapped.used.add(name)
        if required is not None and model.scalar(name) != required:
            raise CT2ConversionError(f"{model.path}: {name} = {model.scalar(name)}, but {reason}")
    args = (model, mapped, dequantize)
    n_enc, n_dec = _layer_count(model, "encoder"), _layer_count(model, "decoder")
    enc, dec = "model.encoder", "model.decoder"
    for conv in ("conv1", "conv2"):
        _linear(*args, f"encoder/{conv}", f"{enc}.{conv}")
    _copy(*args, "encoder/position_encodings/encodings", f"{enc}.embed_positions.weight")
    _norm(*args, "encoder/layer_norm", f"{enc}.layer_norm")
    _copy(*args, "decoder/embeddings/weight", f"{dec}.embed_tokens.weight")
    _copy(*args, "decoder/position_encodings/encodings", f"{dec}.embed_positions.weight")
    _norm(*args, "decoder/layer_norm", f"{dec}.layer_norm")
    for side, hf_side, count in (("encoder", enc, n_enc), ("decoder", dec, n_dec)):
        for i in range(count):
            ct2, hf = f"{side}/layer_{i}", f"{hf_side}.layers.{i}"
            attn = f"{hf}.self_attn"
            _split(
                *args,
                f"{ct2}/self_attention/linear_0/weight",
                (f"{attn}.q_proj.weight", f"{attn}.k_proj.weight", f"{attn}.v_proj.weight"),
            )
            _split(*args, f"{ct2}/self_attention/linear_0/bias", (f"{attn}.q_proj.bias", None, f"{attn}.v_proj.bias"))
            _linear(*args, f"{ct2}/self_attention/linear_1", f"{attn}.out_proj")
            _norm(*args, f"{ct2}/self_attention/layer_norm", f"{hf}.self_attn_layer_norm")
            if side == "decoder":
                cross = f"{hf}.encoder_attn"
                _linear(*args, f"{ct2}/attention/linear_0", f"{cross}.q_proj")
                _split(*args, f"{ct2}/attention/linear_1/weight", (f"{cross}.k_proj.weight", f"{cross}.v_proj.weight"))
                _split(*args, f"{ct2}/attention/linear_1/bias", (None, f"{cross}.v_proj.bias"))
                _linear(*args, f"{ct2}/attention/linear_2", f"{cross}.out_proj")
                _norm(*args, f"{ct2}/attention/layer_norm", f"{hf}.encoder_attn_layer_norm")
            _linear(*args, f"{ct2}/ffn/linear_0", f"{hf}.fc1")
            _linear(*args, f"{ct2}/ffn/linear_1", f"{hf}.fc2")
            _norm(*args, f"{ct2}/ffn/layer_norm", f"{hf}.final_layer_norm")
    # the output projection: tied when CT2 aliased it to the embeddings (or stored an equal copy)
    projection = "decoder/projection/weight"
    tied = model.aliases.get(projection) == "decoder/embeddings/weight"
    _copy(*args, projection, "proj_out.weight")
    if not tied:
        tied = np.array_equal(mapped.tensors["proj_out.weight"], mapped.tensors[f"{dec}.embed_tokens.weight"])
    if tied:
        del mapped.tensors["proj_out.weight"]  # transformers ties it to the token embeddings
    if "decoder/projection/bias" in model and np.any(_float32(model, "decoder/projection/bias", dequantize, mapped)):
        raise CT2ConversionError(
            f"{model.path}: the output projection has a non-zero bias, which "
            "transformers' Whisper (proj_out without bias) cannot hold"
        )
    unused = [name for name in model if name not in mapped.used]
    if unused:
        raise CT2ConversionError(
            f"{model.path}: {len(unused)} CT2 variable(s) have no transformers counterpart: "
            f"{', '.join(unused[:8])}{' …' if len(unused) > 8 else ''}"
        )
    conv1 = model["encoder/conv1/weight"]
    info = {
        "d_model": int(conv1.shape[0]),
        "num_mel_bins": int(conv1.shape[1]),
        "encoder_layers": n_enc,
        "decoder_layers": n_dec,
        "encoder_attention_heads": int(model.scalar("encoder/num_heads")),
        "decoder_attention_heads": int(model.scalar("decoder/num_heads")),
        "encoder_ffn_dim": int(model["encoder/layer_0/ffn/linear_0/weight"].shape[0]),
        "decoder_ffn_dim": int(model["decoder/layer_0/ffn/linear_0/weight"].shape[0]),
        "vocab_size": int(model["decoder/embeddings/weight"].shape[0]),
        "max_source_positions": int(model["encoder/position_encodings/encodings"].shape[0]),
        "max_target_positions": int(model["decoder/position_encodings/encodings"].shape[0]),
        "tie_word_embeddings": bool(tied),
        "dropped_key_bias_max_abs": mapped.dropped_key_bias_max_abs,
        "dequantized": mapped.dequantized,
    }
    for side in ("encoder", "decoder"):
        if info["d_model"] % info[f"{side}_attention_heads"]:
            raise CT2ConversionError(
                f"{model.path}: d_model {info['d_model']} is not divisible by the "
                f"{info[f'{side}_attention_heads']} {side} heads"
            )
    return mapped.tensors, info
