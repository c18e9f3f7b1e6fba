"""Clip identifiers: one canonical form, ``VV_CCCC``.

The dataset's files spell the same clip in different ways:

* the transcript lists use ``VV_CCCC`` (``01_0007`` = video 1, clip 7);
* CS-Mage's split CSVs use ``video_<v>_<c>`` (``video_1_7``);
* MMSA-style pickles (CH-SIMS layout) use ``video_0001$_$0007``.

Everything in this package works with the canonical ``VV_CCCC`` form;
:func:`canonical_clip_id` converts any of the three.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

from csmsasr_utils.errors import UnknownClipError

_PATTERNS = (
    re.compile(r"^(\d{2})_(\d{4})$"),  # 01_0007
    re.compile(r"^video_(\d+)_(\d+)$"),  # video_1_7 (CS-Mage CSVs)
    re.compile(r"^video_(\d+)\$_\$(\d+)$"),  # video_0001$_$0007 (CH-SIMS style)
)


def canonical_clip_id(raw: object) -> str:
    """Return the canonical ``VV_CCCC`` form of a clip id.

    >>> canonical_clip_id("video_1_7")
    '01_0007'
    >>> canonical_clip_id("video_0012$_$0040")
    '12_0040'

    Raises :class:`~csmsasr_utils.errors.UnknownClipError` for anything else.
    """
    text = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
    text = text.strip()
    for pattern in _PATTERNS:
        match = pattern.match(text)
        if match:
            video, clip = int(match.group(1)), int(match.group(2))
            if not (1 <= video <= 99 and 1 <= clip <= 9999):
                break
            return f"{video:02d}_{clip:04d}"
    raise UnknownClipError(
        f"cannot read clip id {text!r}: expected 'VV_CCCC' (e.g. '01_0007'), "
        "'video_<v>_<c>' (e.g. 'video_1_7') or 'video_<vvvv>$_$<cccc>'"
    )


def video_of(clip_id: str) -> str:
    """The two-digit source-video id of a canonical clip id (``'01_0007'`` → ``'01'``)."""
    return canonical_clip_id(clip_id)[:2]


def cs_mage_clip_id(clip_id: str) -> str:
    """The CS-Mage spelling of a clip id (``'01_0007'`` → ``'video_1_7'``)."""
    canonical = canonical_clip_id(clip_id)
    return f"video_{int(canonical[:2])}_{int(canonical[3:])}"


def check_known(clip_ids: Iterable[str], known: Iterable[str]) -> None:
    """Raise :class:`~csmsasr_utils.errors.UnknownClipError` naming clip ids that are not in ``known``."""
    known_set = set(known)
    unknown = [c for c in clip_ids if c not in known_set]
    if unknown:
        shown = ", ".join(unknown[:5]) + (" …" if len(unknown) > 5 else "")
        raise UnknownClipError(f"{len(unknown)} clip id(s) are not CS-MSASR clips: {shown}")


def row_positions(clip_ids: Iterable[str], wanted: Iterable[str], where: str = "the features") -> np.ndarray:
    """Positions in ``clip_ids`` of each of ``wanted``, in the order asked.

    Raises :class:`~csmsasr_utils.errors.UnknownClipError` naming up to five of the ids that are not there.

    >>> row_positions(["01_0001", "01_0002", "02_0001"], ["02_0001", "01_0001"]).tolist()
    [2, 0]
    """
    position = {c: i for i, c in enumerate(clip_ids)}
    wanted = list(wanted)
    missing = [c for c in wanted if c not in position]
    if missing:
        raise UnknownClipError(f"{len(missing)} clip(s) not in {where}, e.g. {missing[:5]}")
    return np.array([position[c] for c in wanted], dtype=np.int64)
