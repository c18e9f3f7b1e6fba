"""Transcripts → MMSA's ``text_bert``: BERT token ids, attention mask and segment ids.

ALMT reads its text as ``bert-base-chinese`` tokens, ``(clips, 3, length)``: row 0 the token ids
(``[CLS]``, one token per Chinese character, ``[SEP]``, then ``[PAD]`` = 0), row 1 the attention
mask (1 on real tokens), row 2 the segment ids (all 0). This is MMSA's ``text_bert`` layout, padded
to the text length of the feature file (39 for CS-MSASR). Feature files without ``text_bert``,
such as the book's demo, get it from the transcripts with :func:`encode_transcripts`. A
transcript too long for ``length`` is cut, and ``[SEP]`` is kept as the last token.

The tokeniser is ``transformers``' ``BertTokenizer`` built on the public bert-base-chinese
vocabulary (:func:`csmsasr_utils.data.vocab.load_bert_vocabulary`) and its
``tokenizer_config.json`` (``do_lower_case`` false). Only those public files are needed, not the
model weights.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterable

import numpy as np

from csmsasr_utils.data.sources import fetch_public_file
from csmsasr_utils.data.vocab import load_bert_vocabulary
from csmsasr_utils.errors import InvalidArgument, PublicDataUnavailable
from csmsasr_utils.optional import import_transformers

#: Padded text length of CS-MSASR's feature file (and of MMSA's CH-SIMS ``text_bert``).
TEXT_BERT_LENGTH = 39


def bert_tokenizer(public_dir: str | os.PathLike | None = None):
    """bert-base-chinese's WordPiece tokeniser, built from the public vocabulary (no weights).

    Raises :class:`~csmsasr_utils.errors.PublicDataUnavailable` when the vocabulary cannot be
    had, and :class:`~csmsasr_utils.errors.CsmsasrError` when ``transformers`` is not installed.
    """
    config_path = fetch_public_file("bert-base-chinese/tokenizer_config.json", public_dir)
    return _tokenizer(str(config_path), None if public_dir is None else str(public_dir))


@functools.lru_cache(maxsize=2)
def _tokenizer(config_path: str, public_dir: str | None):
    """Cached per resolved file, so a changed ``CSMSASR_PUBLIC_DIR`` gives a fresh tokeniser."""
    BertTokenizer = import_transformers().BertTokenizer
    with open(config_path, encoding="utf-8") as handle:
        lower_case = bool(json.load(handle).get("do_lower_case", False))
    vocabulary = {token: index for index, token in enumerate(load_bert_vocabulary(public_dir))}
    return BertTokenizer(vocab=vocabulary, do_lower_case=lower_case)


def encode_transcripts(
    texts: Iterable[str], length: int = TEXT_BERT_LENGTH, public_dir: str | os.PathLike | None = None
) -> np.ndarray:
    """``text_bert`` for ``texts``: float32 ``(len(texts), 3, length)``, MMSA's layout.

    Row 0 holds ids ``[CLS] ... [SEP]`` padded with 0, row 1 the attention mask, row 2 the segment
    ids (zeros). Empty transcripts give ``[CLS] [SEP]``.
    """
    if length < 2:
        raise InvalidArgument(f"length must leave room for [CLS] and [SEP], got {length}")
    texts = ["" if t is None else str(t) for t in texts]
    if not texts:
        return np.zeros((0, 3, length), dtype=np.float32)
    return token_rows(bert_tokenizer(public_dir), texts, length)


def token_rows(tokenizer, texts: list[str], length: int) -> np.ndarray:
    """MMSA's ``text_bert`` layout from any ``transformers`` tokenizer: float32 ``(len(texts), 3, length)``
    — ids (with the tokenizer's own start/end tokens, padded with its pad id), attention mask,
    segment ids (zeros where the tokenizer has none). Also used for e5's tokens (ALMT's e5 variant)."""
    encoded = tokenizer(
        texts,
        max_length=length,
        padding="max_length",
        truncation=True,
        return_token_type_ids=True,
        return_attention_mask=True,
    )
    out = np.zeros((len(texts), 3, length), dtype=np.float32)
    out[:, 0] = np.asarray(encoded["input_ids"])
    out[:, 1] = np.asarray(encoded["attention_mask"])
    out[:, 2] = np.asarray(encoded["token_type_ids"])
    return out


def wordpiece_tokenizer(public_dir: str | os.PathLike | None = None):
    """A function ``text -> list of WordPiece tokens`` (bert-base-chinese), for bag-of-token models.

    Chinese characters become one token each; Latin words and digits are split into WordPieces.
    """
    return bert_tokenizer(public_dir).tokenize


def optional_wordpiece_tokenizer(public_dir: str | os.PathLike | None = None, *, say: Callable[[str], None] = print):
    """:func:`wordpiece_tokenizer`, or ``None`` when the public vocabulary cannot be had (the demo, offline),
    after saying so with ``say`` — the chapters then leave the WordPiece baseline out and tell the reader."""
    try:
        return wordpiece_tokenizer(public_dir)
    except PublicDataUnavailable as err:
        say(f"WordPiece baseline left out: {err}")
        return None
