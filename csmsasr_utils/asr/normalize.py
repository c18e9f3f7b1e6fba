"""Text normalisation for scoring Chinese ASR output.

CS-Mage's published normaliser (``src/asr/normalize_text.py`` of the CS-Mage repository) is:
Unicode NFKC, lowercase, then keep only CJK ideographs (U+3400–U+4DBF, U+4E00–U+9FFF), digits
0–9 and letters a–z — punctuation, spaces, emoji and markup disappear. Whisper often writes
Chinese in **Traditional** characters (它/牠, 說/说 …) although the references are Simplified,
so the book's protocol adds one step in front: OpenCC's Traditional → Simplified conversion.

* :func:`normalize_text` — the book's protocol (t2s, NFKC, lowercase, filter);
* :func:`normalize_cs_mage` — CS-Mage's normaliser exactly (no t2s);
* :data:`STEPS` — each step alone, to measure how much each one changes CER.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from functools import lru_cache

_KEEP = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff0-9a-z]")


@lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def traditional_to_simplified(text: str) -> str:
    """OpenCC's Traditional → Simplified conversion (character and phrase level).

    >>> traditional_to_simplified("這是長沙話")
    '这是长沙话'
    """
    return _t2s().convert(text)


def nfkc(text: str) -> str:
    """Unicode NFKC: full-width letters and digits become ASCII, compatibility forms are unified.

    >>> nfkc("ＡＢ１２")
    'AB12'
    """
    return unicodedata.normalize("NFKC", text)


def keep_scored_characters(text: str) -> str:
    """Keep only CJK ideographs, digits and a–z (after lowercasing); drop everything else.

    >>> keep_scored_characters("你好，World 2024！")
    '你好world2024'
    """
    return "".join(_KEEP.findall(text.lower()))


def normalize_cs_mage(text: object) -> str:
    """CS-Mage's normaliser: NFKC, lowercase, keep CJK / 0–9 / a–z. ``None`` becomes ``''``.

    >>> normalize_cs_mage("長沙話，好！")
    '長沙話好'
    """
    return keep_scored_characters(nfkc("" if text is None else str(text)))


def normalize_text(text: object) -> str:
    """The book's normaliser: Traditional → Simplified, then :func:`normalize_cs_mage`.

    >>> normalize_text("長沙話，好！Ｏｋ")
    '长沙话好ok'
    """
    return normalize_cs_mage(traditional_to_simplified("" if text is None else str(text)))


def remove_whitespace(text: str) -> str:
    """Drop all whitespace (jiwer would count spaces as characters)."""
    return "".join(text.split())


#: The normalisation variants the book compares, mildest first. Each maps raw text to the string
#: that is scored; all of them remove whitespace.
STEPS: dict[str, Callable[[str], str]] = {
    "raw (whitespace removed)": lambda t: remove_whitespace(str(t)),
    "+ NFKC": lambda t: remove_whitespace(nfkc(str(t))),
    "+ lowercase, keep CJK/0-9/a-z (CS-Mage)": normalize_cs_mage,
    "+ Traditional → Simplified (this book)": normalize_text,
}
