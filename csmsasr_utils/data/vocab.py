"""The bert-base-chinese WordPiece vocabulary (public, tokenisation only)."""

from __future__ import annotations

import os

from csmsasr_utils.data.sources import fetch_public_file
from csmsasr_utils.errors import PublicDataUnavailable


def load_bert_vocabulary(public_dir: str | os.PathLike | None = None) -> list[str]:
    """The 21,128 tokens of bert-base-chinese's ``vocab.txt``, in id order.

    Read from ``public_dir`` / ``CSMSASR_PUBLIC_DIR`` or downloaded (hash-checked).
    Raises :class:`~csmsasr_utils.errors.PublicDataUnavailable` when it cannot be had.
    """
    path = fetch_public_file("bert-base-chinese/vocab.txt", public_dir)
    with open(path, encoding="utf-8") as handle:
        tokens = [line.rstrip("\r\n") for line in handle]
    if not tokens:
        raise PublicDataUnavailable(f"{path} is empty")
    return tokens
