"""A pronunciation lexicon for the classic recognisers: character → Mandarin initial + final.

An HMM recogniser does not model characters directly: there are too many and most are rare.
It models a few dozen sub-word **units** whose HMMs are shared by every character that
contains them, so 长 (ch + ang) learns from 沙 (sh + a) and 帮 (b + ang). The units here are
the Mandarin **initials** and **finals** that pypinyin reads from each character, toneless.

Choices, and why:

* ``strict=True`` (the standard Hanyu Pinyin analysis): ``y`` and ``w`` are spelling devices,
  not consonants, so 一 (yi) is the zero-initial final ``i``, 我 (wo) is ``uo`` and 鱼 (yu) is
  ``v`` (ü) — the same unit as the ü of 句 (ju). ``strict=False`` would invent ``y``/``w``
  "initials" and split ü into ``u`` after j/q/x and ``v`` elsewhere.
* zero-initial syllables are just their final (安 → ``an``); the syllabic nasals 嗯 / 呣 (for
  which pypinyin's strict initial and final are both empty) are one unit, the syllable (``n``,
  ``m``, ``ng``).
* the "i" of 资/此/思 (apical, after z c s) and of 知/吃/诗/日 (retroflex) is a different vowel
  from the "i" of 衣: they become ``ii`` and ``iii`` (as in HTK Mandarin systems).
* erhua: pypinyin reads 儿 as its own syllable ``er`` (玩儿 → wan + er); a reading that ends in
  a suffixed ``r`` (e.g. ``nar``) is split into the final and the unit ``r``.
* polyphones: each training transcript is read in context (pypinyin's phrase dictionary: 长沙
  is chang, 长大 is zhang); the lexicon keeps each character's **most frequent** reading.
* **dialect characters get their Mandarin reading.** 啰, 咯, 哒 … are read as a Mandarin speaker
  would read them, and Changsha syllables with no Mandarin counterpart are forced onto the
  nearest Mandarin units. That mismatch is part of the lesson: a Mandarin lexicon is one reason
  the classic baselines fail on dialect speech.

Characters pypinyin cannot read (digits, latin letters) are dropped from the unit transcription
and counted (``UnitTranscription.dropped``). The silence unit ``SILENCE`` is unit 0.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pypinyin import Style, lazy_pinyin

from csmsasr_utils.asr.normalize import normalize_text
from csmsasr_utils.errors import CsmsasrError

SILENCE = "sil"
_HAN_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+")
_UNREADABLE = "?"
_APICAL = {"z", "c", "s"}
_RETROFLEX = {"zh", "ch", "sh", "r"}


class LexiconError(CsmsasrError):
    """A transcript or character has no pronunciation the lexicon knows."""


def _syllable_units(syllable: str, initial: str, final: str) -> tuple[str, ...]:
    """Units of one syllable from pypinyin's NORMAL, strict INITIALS and strict FINALS readings."""
    if not initial and not final:  # syllabic nasal (嗯 n, 呣 m, ng, hm)
        return (syllable,)
    suffix = ()
    if final.endswith("r") and final != "er":  # suffixed erhua reading such as "nar"
        final, suffix = final[:-1], ("r",)
    if final == "i" and initial in _APICAL:
        final = "ii"
    elif final == "i" and initial in _RETROFLEX:
        final = "iii"
    return tuple(u for u in (initial, final) if u) + suffix


def read_characters(text: str) -> list[tuple[str, tuple[str, ...] | None]]:
    """Each character of the normalised ``text`` with its in-context units (``None``: unreadable).

    >>> read_characters("长沙1")
    [('长', ('ch', 'ang')), ('沙', ('sh', 'a')), ('1', None)]
    """
    text = normalize_text(text)
    out: list[tuple[str, tuple[str, ...] | None]] = [(c, None) for c in text]
    for run in _HAN_RUN.finditer(text):
        chars = run.group()
        errors = lambda s: [_UNREADABLE] * len(s)  # noqa: E731  (keeps one item per character)
        normal = lazy_pinyin(chars, style=Style.NORMAL, errors=errors)
        initials = lazy_pinyin(chars, style=Style.INITIALS, strict=True, errors=errors)
        finals = lazy_pinyin(chars, style=Style.FINALS, strict=True, errors=errors)
        if not len(normal) == len(initials) == len(finals) == len(chars):  # pragma: no cover - pypinyin contract
            raise LexiconError(
                f"pypinyin returned {len(normal)} readings for {len(chars)} characters "
                f"in {chars!r}; expected one per character"
            )
        for offset, (syl, ini, fin) in enumerate(zip(normal, initials, finals)):
            if syl != _UNREADABLE:
                out[run.start() + offset] = (chars[offset], _syllable_units(syl, ini, fin))
    return out


@dataclass(frozen=True)
class UnitTranscription:
    """A transcript as the lexicon sees it: kept characters, their units, and what was dropped."""

    chars: str
    units: tuple[tuple[str, ...], ...]
    dropped: int

    @property
    def flat_units(self) -> list[str]:
        """All units in order, without silence."""
        return [u for char_units in self.units for u in char_units]


@dataclass
class Lexicon:
    """Characters → unit sequences, with the unit inventory (``units[0]`` is ``SILENCE``)."""

    pronunciations: dict[str, tuple[str, ...]]
    units: list[str]

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> Lexicon:
        """The lexicon of every readable character of ``texts``, each with its most frequent reading."""
        readings: dict[str, Counter[tuple[str, ...]]] = {}
        for text in texts:
            for char, units in read_characters(text):
                if units is not None:
                    readings.setdefault(char, Counter())[units] += 1
        if not readings:
            raise LexiconError(
                "expected training transcripts with Chinese characters, found none that "
                "pypinyin can read; check the texts are not empty or purely latin/digits"
            )
        pronunciations = {c: counts.most_common(1)[0][0] for c, counts in sorted(readings.items())}
        inventory = sorted({u for pron in pronunciations.values() for u in pron})
        return cls(pronunciations, [SILENCE, *inventory])

    @property
    def chars(self) -> list[str]:
        """The lexicon's characters, sorted (the decoder's vocabulary order)."""
        return list(self.pronunciations)

    def unit_index(self) -> dict[str, int]:
        """Unit name → unit id."""
        return {u: i for i, u in enumerate(self.units)}

    def transcribe(self, text: str, in_context: bool = True) -> UnitTranscription:
        """The units of ``text``: characters in the lexicon with their units; others dropped and counted.

        ``in_context=True`` uses the reading of this very sentence (better for alignment) when its
        units are all in the inventory, else the lexicon's reading. Raises :class:`LexiconError`
        when no character of ``text`` is in the lexicon.
        """
        known = set(self.units)
        chars, units, dropped = [], [], 0
        for char, reading in read_characters(text):
            if char not in self.pronunciations:
                dropped += 1
                continue
            use = reading if in_context and reading is not None and set(reading) <= known else self.pronunciations[char]
            chars.append(char)
            units.append(use)
        if not chars:
            raise LexiconError(
                f"expected a transcript with at least one character of the lexicon "
                f"({len(self.pronunciations)} characters), found none in {text!r}; "
                "drop this utterance or build the lexicon from texts that include it"
            )
        return UnitTranscription("".join(chars), tuple(units), dropped)

    def char_unit_ids(self) -> list[list[int]]:
        """Unit ids of every character, in :attr:`chars` order (for the decoding graph)."""
        index = self.unit_index()
        return [[index[u] for u in pron] for pron in self.pronunciations.values()]

    def to_json(self) -> dict:
        """A JSON-ready description (for ``save``)."""
        return {"units": self.units, "pronunciations": {c: list(p) for c, p in self.pronunciations.items()}}

    @classmethod
    def from_json(cls, data: dict) -> Lexicon:
        """Inverse of :meth:`to_json`."""
        return cls({c: tuple(p) for c, p in data["pronunciations"].items()}, list(data["units"]))


def dropped_characters(lexicon: Lexicon, texts: Sequence[str]) -> int:
    """How many characters of ``texts`` (normalised) the lexicon cannot transcribe."""
    return sum(c not in lexicon.pronunciations for t in texts for c in normalize_text(t))
