"""The two MSA evaluation protocols of CS-MSASR.

* :func:`paper_split` — the single 8 : 1 : 1 split of the dataset's first
  release: scikit-learn's ``train_test_split`` applied twice with
  ``random_state=42`` (first 20 % held out, then that half-and-half into
  validation and test), over the clip ids in ``clip_id`` order. On 1,085 clips
  this gives 868 / 108 / 109.
* :func:`official_folds` — CS-Mage's official 5-fold protocol, read from the
  metadata (759 / 109 / 217 clips per fold; every clip is a test clip exactly once).

Both protocols split *clips*: every video of a test set also has clips in training, so a
model can learn a video's speakers, topic and mood. :func:`video_grouped_folds` is this book's
video-independent alternative (not the authors'), for measuring that advantage.

:func:`protocol_splits` numbers the splits of each protocol (0 for the paper split, folds from 1)
and :func:`fold_name` spells those numbers in tables.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

from csmsasr_utils.data.labels import mmsa_bins
from csmsasr_utils.data.metadata import N_FOLDS
from csmsasr_utils.errors import CsmsasrError, InvalidArgument

SPLITS: tuple[str, ...] = ("train", "valid", "test")

#: random_state of the paper's split.
PAPER_SEED = 42


def paper_split(clip_ids: Sequence[str], random_state: int = PAPER_SEED) -> dict[str, np.ndarray]:
    """The 8 : 1 : 1 split: ``{'train': ids, 'valid': ids, 'test': ids}``.

    The ids are sorted first, so the result does not depend on the order they
    are passed in. Exactly::

        train, rest = train_test_split(sorted_ids, test_size=0.2, random_state=42)
        valid, test = train_test_split(rest, test_size=0.5, random_state=42)
    """
    ids = np.array(sorted(map(str, clip_ids)), dtype=object)
    if len(ids) != len(set(ids)):
        raise CsmsasrError("paper_split: clip ids must be unique")
    if len(ids) < 10:
        raise CsmsasrError(f"paper_split needs at least 10 clips, got {len(ids)}")
    train, rest = train_test_split(ids, test_size=0.2, random_state=random_state)
    valid, test = train_test_split(rest, test_size=0.5, random_state=random_state)
    return {"train": np.asarray(train), "valid": np.asarray(valid), "test": np.asarray(test)}


def official_folds(metadata: pd.DataFrame) -> list[dict[str, np.ndarray]]:
    """CS-Mage's 5 folds: a list of ``{'train', 'valid', 'test'}`` id arrays, fold 1 first."""
    folds = []
    for k in range(1, N_FOLDS + 1):
        column = f"msa_fold{k}_split"
        if column not in metadata:
            raise CsmsasrError(f"metadata lacks {column}: load it with load_metadata() or load_dataset()")
        roles = metadata[column]
        folds.append({s: metadata.loc[roles == s, "clip_id"].to_numpy(dtype=object) for s in SPLITS})
    return folds


def video_grouped_folds(metadata: pd.DataFrame, n_folds: int = N_FOLDS, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """Folds in which no video has clips in two of train / valid / test.

    scikit-learn's ``StratifiedGroupKFold`` (groups: ``video_id``; strata: the 5-level class of
    ``label_m``; shuffled with ``seed``) assigns every video to one test fold, so each clip is a
    test clip exactly once, as in the official protocol. Within the remaining videos the same
    splitter with ``n_folds - 1`` folds sets one fold of videos aside for validation. Returns
    ``{'train', 'valid', 'test'}`` clip-id arrays per fold, like :func:`official_folds`.
    """
    missing = {"clip_id", "video_id", "label_m"} - set(metadata.columns)
    if missing:
        raise CsmsasrError(f"video_grouped_folds: metadata lacks {sorted(missing)}")
    frame = metadata.sort_values("clip_id").reset_index(drop=True)
    videos = frame["video_id"].astype(str).to_numpy()
    if len(set(videos)) < n_folds + 1:
        raise CsmsasrError(
            f"video_grouped_folds: {len(set(videos))} videos cannot fill {n_folds} test folds and a validation set"
        )
    classes = mmsa_bins(frame["label_m"], 5)
    ids = frame["clip_id"].astype(str).to_numpy(dtype=object)
    outer = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    folds = []
    for rest, test in outer.split(ids, classes, videos):
        inner = StratifiedGroupKFold(n_splits=n_folds - 1, shuffle=True, random_state=seed)
        train, valid = next(inner.split(rest, classes[rest], videos[rest]))
        folds.append({"train": ids[rest[train]], "valid": ids[rest[valid]], "test": ids[test]})
    return folds


def split_column(clip_ids: Sequence[str], split: dict[str, np.ndarray]) -> pd.Series:
    """Name each clip's split (``'train'``/``'valid'``/``'test'``) as a Series indexed like ``clip_ids``."""
    role = {c: name for name, ids in split.items() for c in ids}
    return pd.Series([role.get(c) for c in clip_ids], dtype=object)


#: The evaluation protocols, by name: the paper's one split, CS-Mage's five folds, five folds by video.
PROTOCOL_NAMES: tuple[str, ...] = ("paper", "official", "video")


def protocol_splits(metadata: pd.DataFrame, protocol: str) -> dict[int, dict[str, np.ndarray]]:
    """``{fold: {'train', 'valid', 'test'}}`` of a protocol: fold 0 alone for ``paper``
    (:func:`paper_split`), folds 1–5 for ``official`` (:func:`official_folds`) and ``video``
    (:func:`video_grouped_folds`)."""
    if protocol == "paper":
        return {0: paper_split(metadata["clip_id"])}
    if protocol == "official":
        return dict(enumerate(official_folds(metadata), start=1))
    if protocol == "video":
        return dict(enumerate(video_grouped_folds(metadata), start=1))
    raise CsmsasrError(f"unknown protocol {protocol!r}; use one of {list(PROTOCOL_NAMES)}")


#: How tables name the paper's single split (fold 0 of :func:`protocol_splits`).
PAPER_SPLIT_NAME = "paper 8:1:1"


def fold_name(fold: int) -> str:
    """How tables and legends name fold number ``fold`` of :func:`protocol_splits`: the one spelling.

    Folds are numbered from 1, as CS-Mage numbers its files (``fold_1.csv`` …); 0 is the paper's
    single split.

    >>> fold_name(0), fold_name(3)
    ('paper 8:1:1', 'fold 3')
    """
    if isinstance(fold, bool) or not isinstance(fold, (int, np.integer)) or fold < 0:
        raise InvalidArgument(f"fold must be an integer ≥ 0 (0: the paper split, 1…: a fold), got {fold!r}")
    return PAPER_SPLIT_NAME if fold == 0 else f"fold {int(fold)}"


def named_splits(metadata: pd.DataFrame) -> dict[str, dict[str, np.ndarray]]:
    """The paper split and the official folds by :func:`fold_name`: ``{'paper 8:1:1': …, 'fold 1': …,
    …, 'fold 5': …}`` (the rows of the chapter-1 tables that compare the two protocols)."""
    splits = {**protocol_splits(metadata, "paper"), **protocol_splits(metadata, "official")}
    return {fold_name(fold): split for fold, split in splits.items()}
