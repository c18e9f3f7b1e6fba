"""The public metadata of CS-MSASR as one table, one row per clip.

:func:`load_metadata` reads the public files of :mod:`.sources` and returns a
:class:`pandas.DataFrame` indexed 0..1084 with the columns of
:data:`METADATA_COLUMNS`. Nothing is invented: a clip whose duration is not
published has ``duration_s = NaN``.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from csmsasr_utils.data.ids import canonical_clip_id
from csmsasr_utils.data.labels import CLASS_NAMES, class_to_value
from csmsasr_utils.data.sources import fetch_public_file
from csmsasr_utils.errors import CsmsasrError

N_FOLDS = 5

#: Column name → meaning. Every metadata table (public or demo) has exactly these.
METADATA_COLUMNS: dict[str, str] = {
    "clip_id": "canonical clip id VV_CCCC",
    "video_id": "two-digit source video id '01'..'27'",
    "text": "transcript without punctuation (leading/trailing spaces stripped)",
    "text_punct": "transcript with punctuation",
    "n_chars": "characters in `text`, whitespace not counted",
    "duration_s": "clip duration in seconds (source_len / 100); NaN where not published",
    "label_m": "multimodal sentiment label, regression value in {-1, -0.5, 0, 0.5, 1}",
    "label_m_class": "multimodal class name, Negative … Positive (ordered)",
    "asr_split_original": "the original ASR split of CS-MSASR: train / val / test (869/108/108)",
    "asr_split_official": "CS-Mage's official ASR split: train / validation / test (760/160/165)",
    "msa_test_fold": "the official 5-fold MSA fold (1..5) in which the clip is a test clip",
    **{
        f"msa_fold{k}_split": f"the clip's role in official MSA fold {k}: train / valid / test"
        for k in range(1, N_FOLDS + 1)
    },
}


def _read_id_lines(path: Path) -> dict[str, str]:
    """Read an ``id<space>text`` list file; blank lines (and a missing final newline) are fine."""
    rows: dict[str, str] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.rstrip("\r\n")
            if not line.strip():
                continue
            clip, _, text = line.partition(" ")
            clip_id = canonical_clip_id(clip)
            if clip_id in rows:
                raise CsmsasrError(f"{path}:{number}: clip {clip_id} appears twice")
            rows[clip_id] = text.strip()
    return rows


def _read_durations(paths: list[Path]) -> dict[str, float]:
    durations: dict[str, float] = {}
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    record = json.loads(line)
                    durations[canonical_clip_id(record["key"])] = float(record["source_len"]) / 100.0
                except (ValueError, KeyError, TypeError) as err:
                    raise CsmsasrError(f"{path}:{number}: not a {{key, source_len}} record ({err})") from err
    return durations


def _read_csv(path: Path, required: list[str]) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in required if c not in (reader.fieldnames or [])]
        if missing:
            raise CsmsasrError(f"{path}: missing column(s) {missing}; found {reader.fieldnames}")
        return list(reader)


def n_chars(text: str) -> int:
    """Number of characters in a transcript, whitespace not counted."""
    return sum(not ch.isspace() for ch in text)


def load_metadata(public_dir: str | os.PathLike | None = None, **fetch_kwargs) -> pd.DataFrame:
    """Load the real public metadata of all 1,085 clips.

    ``public_dir`` (default ``CSMSASR_PUBLIC_DIR``) is a local folder laid out
    like the registry; without it the files are downloaded (hash-checked) into
    the user cache. Raises :class:`~csmsasr_utils.errors.PublicDataUnavailable`
    when they cannot be had, and :class:`~csmsasr_utils.errors.HashMismatchError`
    when a file is not the published one.

    Returns a DataFrame with the columns of :data:`METADATA_COLUMNS`, sorted by
    ``clip_id``.
    """

    def get(relpath: str) -> Path:
        return fetch_public_file(relpath, public_dir, **fetch_kwargs)

    return build_metadata(get)


def build_metadata(get: Callable[[str], Path]) -> pd.DataFrame:
    """Assemble the metadata table from a function that maps a registry relpath to a local file."""
    text = _read_id_lines(get("cs-msasr-lists/all_text.txt"))
    text_punct = _read_id_lines(get("cs-msasr-lists/all_text_punct.txt"))
    clip_ids = sorted(text)
    _require_same_clips("all_text_punct.txt", text_punct, clip_ids)

    original: dict[str, str] = {}
    for split in ("train", "val", "test"):
        for clip_id in _read_id_lines(get(f"cs-msasr-lists/{split}_text.txt")):
            original[clip_id] = split
    _require_same_clips("the original ASR split lists", original, clip_ids)

    durations = _read_durations([get("cs-msasr-lists/train.jsonl"), get("cs-msasr-lists/val.jsonl")])

    official: dict[str, str] = {}
    for split in ("train", "validation", "test"):
        for row in _read_csv(get(f"cs-mage-splits/asr/{split}.csv"), ["sample_id", "split"]):
            official[canonical_clip_id(row["sample_id"])] = row["split"]
    _require_same_clips("the official ASR split", official, clip_ids)

    label_class: dict[str, int] = {}
    fold_roles: dict[int, dict[str, str]] = {}
    for k in range(1, N_FOLDS + 1):
        rows = _read_csv(get(f"cs-mage-splits/msa/fold_{k}.csv"), ["sample_id", "split", "multimodal_label"])
        roles: dict[str, str] = {}
        for row in rows:
            clip_id = canonical_clip_id(row["sample_id"])
            roles[clip_id] = "valid" if row["split"] == "validation" else row["split"]
            label = int(row["multimodal_label"])
            if label_class.setdefault(clip_id, label) != label:
                raise CsmsasrError(
                    f"fold_{k}.csv gives clip {clip_id} label {label}, an earlier fold {label_class[clip_id]}"
                )
        _require_same_clips(f"fold_{k}.csv", roles, clip_ids)
        fold_roles[k] = roles

    frame = pd.DataFrame({"clip_id": clip_ids})
    frame["video_id"] = frame["clip_id"].str.slice(0, 2)
    frame["text"] = [text[c] for c in clip_ids]
    frame["text_punct"] = [text_punct[c] for c in clip_ids]
    frame["n_chars"] = frame["text"].map(n_chars).astype(int)
    frame["duration_s"] = [durations.get(c, np.nan) for c in clip_ids]
    frame["label_m"] = class_to_value([label_class[c] for c in clip_ids])
    frame["label_m_class"] = pd.Categorical.from_codes(
        [label_class[c] - 1 for c in clip_ids], categories=list(CLASS_NAMES), ordered=True
    )
    frame["asr_split_original"] = [original[c] for c in clip_ids]
    frame["asr_split_official"] = [official[c] for c in clip_ids]
    for k in range(1, N_FOLDS + 1):
        frame[f"msa_fold{k}_split"] = [fold_roles[k][c] for c in clip_ids]
    frame["msa_test_fold"] = _test_fold(frame)
    return frame[list(METADATA_COLUMNS)]


def _test_fold(frame: pd.DataFrame) -> np.ndarray:
    """The fold in which each clip is a test clip; every clip must be tested exactly once."""
    roles = frame[[f"msa_fold{k}_split" for k in range(1, N_FOLDS + 1)]].to_numpy()
    is_test = roles == "test"
    counts = is_test.sum(axis=1)
    if not (counts == 1).all():
        bad = frame["clip_id"][counts != 1].tolist()[:5]
        raise CsmsasrError(f"each clip must be a test clip in exactly one fold; not so for {bad}")
    return is_test.argmax(axis=1) + 1


def _require_same_clips(what: str, mapping: dict[str, object], clip_ids: list[str]) -> None:
    if set(mapping) != set(clip_ids):
        extra = sorted(set(mapping) - set(clip_ids))[:5]
        missing = sorted(set(clip_ids) - set(mapping))[:5]
        raise CsmsasrError(
            f"{what} does not cover the same clips as the transcript list (extra: {extra}, missing: {missing})"
        )
