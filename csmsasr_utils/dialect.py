"""The Changsha dialect markers the book tracks: written forms, their kind, and how often they occur.

A *marker* is a written form that signals Changsha speech in a transcript: a sentence-final
**particle** (啰, 嘞, 噻, 咯, 咧, 哒) or a dialect **word** (冇 "not have", 么子 "what", 要得 "OK" …).
The kind is stated on each marker, so a chapter that asks for "the particles" gets them by kind,
not by searching the gloss text, and "the single-character markers" (ten forms, particles and
words together) are a different question with a different answer.

Glosses are approximate; several forms are shared with other Xiang and southwestern varieties,
and 咯/晓得/蛮 also occur in colloquial Mandarin, so counts are evidence of dialect style, not
proof of it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

import pandas as pd

MarkerKind = Literal["particle", "word"]


@dataclass(frozen=True)
class DialectMarker:
    """A written form that signals Changsha speech, with an approximate gloss and its kind."""

    form: str
    pinyin: str
    gloss: str
    #: ``"particle"`` (a grammatical particle, mostly sentence-final) or ``"word"`` (a dialect word).
    kind: MarkerKind = "word"
    #: Mandarin words that contain ``form`` without being the dialect word (策 in 政策 "policy").
    exclude: tuple[str, ...] = ()

    def count(self, text: str) -> int:
        """Non-overlapping occurrences of the form in ``text``, those inside an excluded word not counted.

        >>> DialectMarker("策", "ce", "to chat", exclude=("政策",)).count("政策好，莫策哒")
        1
        """
        for word in self.exclude:
            text = text.replace(word, "\0" * len(word))
        return text.count(self.form)


#: Dialect particles and words the book tracks (see the module docstring for what a count means).
DIALECT_MARKERS: tuple[DialectMarker, ...] = (
    DialectMarker("啰", "lo", "final particle: suggestion (≈ 吧/了)", "particle"),
    DialectMarker("嘞", "lei", "final particle: assertion (≈ 呢/的)", "particle"),
    DialectMarker("噻", "sai", "final particle: obviousness (≈ 嘛)", "particle"),
    DialectMarker("咯", "lo / go", "particle; 'this' in 咯个 (≈ 这个)", "particle"),
    DialectMarker("咧", "lie", "final particle: emphasis", "particle"),
    DialectMarker("哒", "da", "aspect particle (≈ 了)", "particle"),
    DialectMarker("冇", "mao", "not have (≈ 没有)"),
    DialectMarker("么子", "mo zi", "what (≈ 什么)"),
    DialectMarker("伢", "ya", "child (伢子, 细伢子)"),
    DialectMarker("要得", "yao de", "OK, fine"),
    DialectMarker("晓得", "xiao de", "to know (≈ 知道)"),
    DialectMarker("蛮", "man", "quite, very (≈ 很)"),
    DialectMarker("策", "ce", "to chat, to kid", exclude=("政策", "决策", "策略", "策划", "对策")),
    DialectMarker("韵味", "yun wei", "satisfying, enjoyable"),
)


def marker_forms(kind: MarkerKind | None = None, *, single_character: bool = False) -> tuple[str, ...]:
    """The forms of :data:`DIALECT_MARKERS`, in the list's order, optionally of one ``kind`` only
    and/or only those written with one character (what a per-character recall can measure).

    >>> "".join(marker_forms("particle"))
    '啰嘞噻咯咧哒'
    >>> "".join(marker_forms(single_character=True))
    '啰嘞噻咯咧哒冇伢蛮策'
    """
    return tuple(
        m.form
        for m in DIALECT_MARKERS
        if (kind is None or m.kind == kind) and (not single_character or len(m.form) == 1)
    )


def marker_frequencies(metadata: pd.DataFrame, markers: Iterable[DialectMarker] = DIALECT_MARKERS) -> pd.DataFrame:
    """For each marker: its ``kind``, ``occurrences`` (non-overlapping, outside its excluded Mandarin
    words), ``n_clips`` containing it, ``share_clips``, and the shortest transcript containing it as
    ``example`` (with its ``example_clip``)."""
    texts = metadata["text"].astype(str)
    rows = []
    for marker in markers:
        occurrences = texts.map(marker.count)
        has = occurrences > 0
        example, example_clip = "", ""
        if has.any():
            candidates = metadata.loc[has, ["clip_id", "text"]]
            best = candidates.loc[candidates["text"].str.len().idxmin()]
            example, example_clip = best["text"], best["clip_id"]
        rows.append(
            {
                "marker": marker.form,
                "pinyin": marker.pinyin,
                "gloss": marker.gloss,
                "kind": marker.kind,
                "occurrences": int(occurrences.sum()),
                "n_clips": int(has.sum()),
                "share_clips": float(has.mean()),
                "example": example,
                "example_clip": example_clip,
            }
        )
    return pd.DataFrame(rows)
