"""The feature pickle: its schema, its validation, and the :class:`.FeatureSet` it becomes.

CS-MSASR's features follow MMSA's CH-SIMS layout. Two layouts are read:

* **flat** — the released ``CS-MSASR_fulldata.pkl``: one dict holding all clips;
* **mmsa** — ``{'train': {...}, 'valid': {...}, 'test': {...}}``, each a dict of
  the same keys (what MMSA's data loader expects).

Every key is checked (presence, shape, dtype, lengths within the padding,
labels finite and in [-1, 1], ids unique and known). All problems are
collected and raised together as one
:class:`~csmsasr_utils.errors.FeatureValidationError`. Audio ``-inf`` values
are replaced by 0, exactly as MMSA's loader does (``audio[audio == -inf] = 0``),
and the replacement is reported in ``FeatureSet.notes``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from csmsasr_utils.data.ids import canonical_clip_id
from csmsasr_utils.data.pickle_io import safe_load_pickle
from csmsasr_utils.errors import FeatureValidationError, UnknownClipError

MODALITIES: tuple[str, ...] = ("text", "audio", "vision")

#: Per-frame feature sizes of CS-MSASR: BERT 768, MFCC 13, OpenFace 347.
FEATURE_DIMS: dict[str, int] = {"text": 768, "audio": 13, "vision": 347}

#: Padded sequence lengths of the released feature file.
PADDED_LENGTHS: dict[str, int] = {"text": 39, "audio": 553, "vision": 321}

#: Label name → pickle key.
LABEL_KEYS: dict[str, str] = {
    "M": "regression_labels",
    "T": "regression_labels_T",
    "A": "regression_labels_A",
    "V": "regression_labels_V",
}

LENGTH_KEYS: dict[str, str] = {"audio": "audio_lengths", "vision": "vision_lengths"}

REQUIRED_KEYS: tuple[str, ...] = ("raw_text", "id", *MODALITIES, *LENGTH_KEYS.values(), *LABEL_KEYS.values())
OPTIONAL_KEYS: tuple[str, ...] = (
    "text_bert",
    "classification_labels",
    "classification_labels_T",
    "classification_labels_A",
    "classification_labels_V",
    "annotations",
)
SPLIT_NAMES: tuple[str, ...] = ("train", "valid", "test")

#: An optional top-level key saying what made a feature file. This package's own writers put
#: ``"demo"`` there (``csmsasr data demo``, the benchmarks' real-size pickles), so that results made
#: from such a file are labelled synthetic, not real; a file without it is the user's real features.
DATA_SOURCE_KEY = "csmsasr_data_source"
DECLARABLE_SOURCES: tuple[str, ...] = ("real", "demo")

_CHUNK = 64  # clips per block when scanning large arrays (keeps temporaries small)


@dataclass
class FeatureSet:
    """All clips' features and labels, in one order (that of ``clip_ids``).

    Arrays keep the dtype and padding of the file. ``labels`` holds the
    regression labels M, T, A, V; ``source_split`` the split a clip came from
    in an MMSA-layout file (``None`` for the flat layout).
    """

    clip_ids: np.ndarray
    raw_text: np.ndarray
    text: np.ndarray
    audio: np.ndarray
    vision: np.ndarray
    audio_lengths: np.ndarray
    vision_lengths: np.ndarray
    labels: dict[str, np.ndarray]
    layout: str
    text_bert: np.ndarray | None = None
    source_split: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)
    #: What the file says made it (:data:`DATA_SOURCE_KEY`), ``None`` when it says nothing.
    declared_source: str | None = None

    def __len__(self) -> int:
        return len(self.clip_ids)

    @property
    def padded_lengths(self) -> dict[str, int]:
        """Padded sequence length of each modality."""
        return {m: int(getattr(self, m).shape[1]) for m in MODALITIES}

    @property
    def feature_dims(self) -> dict[str, int]:
        """Per-frame feature size of each modality."""
        return {m: int(getattr(self, m).shape[2]) for m in MODALITIES}

    @property
    def nbytes(self) -> int:
        """Bytes held by the feature arrays."""
        return int(sum(getattr(self, m).nbytes for m in MODALITIES))

    def label_frame(self) -> pd.DataFrame:
        """One row per clip: ``clip_id, label_m, label_t, label_a, label_v``."""
        frame = pd.DataFrame({"clip_id": self.clip_ids.astype(str)})
        for name, values in self.labels.items():
            frame[f"label_{name.lower()}"] = values.astype(float)
        return frame

    def subset(self, clip_ids: Iterable[str]) -> FeatureSet:
        """A new FeatureSet with only ``clip_ids`` (in that order); unknown ids raise."""
        position = {c: i for i, c in enumerate(self.clip_ids)}
        wanted = list(clip_ids)
        missing = [c for c in wanted if c not in position]
        if missing:
            raise UnknownClipError(f"not in this feature set: {missing[:5]}")
        idx = np.array([position[c] for c in wanted], dtype=int)
        return FeatureSet(
            clip_ids=self.clip_ids[idx],
            raw_text=self.raw_text[idx],
            text=self.text[idx],
            audio=self.audio[idx],
            vision=self.vision[idx],
            audio_lengths=self.audio_lengths[idx],
            vision_lengths=self.vision_lengths[idx],
            labels={k: v[idx] for k, v in self.labels.items()},
            layout=self.layout,
            text_bert=None if self.text_bert is None else self.text_bert[idx],
            source_split=None if self.source_split is None else self.source_split[idx],
            notes=list(self.notes),
        )


def detect_layout(obj: object) -> str:
    """``'mmsa'`` for a dict of train/valid/test dicts, ``'flat'`` for a dict of arrays."""
    if not isinstance(obj, dict):
        raise FeatureValidationError(
            [f"the pickle holds a {type(obj).__name__}, not a dict: this is not a CS-MSASR/MMSA feature file"]
        )
    if set(SPLIT_NAMES) <= set(obj) and all(isinstance(obj[s], dict) for s in SPLIT_NAMES):
        return "mmsa"
    if "id" in obj or "text" in obj or "regression_labels" in obj:
        return "flat"
    shown = sorted(map(str, obj))[:8]
    raise FeatureValidationError(
        [
            f"top-level keys {shown} are neither an MMSA split dict ('train', 'valid', 'test') nor "
            f"a flat feature dict (with {', '.join(REQUIRED_KEYS[:3])}, …): this is not a CS-MSASR feature file"
        ]
    )


def _length(value: object) -> int | None:
    try:
        return len(value)  # type: ignore[arg-type]
    except TypeError:
        return None


def _check_part(part: dict, where: str, feature_dims: dict[str, int]) -> list[str]:
    """Structural checks of one dict of arrays (cheap: no scan of feature values)."""
    problems: list[str] = []
    missing = [k for k in REQUIRED_KEYS if k not in part]
    if missing:
        problems.append(f"{where}: missing key(s) {missing}")
    sizes = {k: _length(part[k]) for k in (*REQUIRED_KEYS, "text_bert") if k in part}
    unsized = [k for k, n in sizes.items() if n is None]
    if unsized:
        problems.append(f"{where}: key(s) {unsized} are not arrays or lists")
    counts = {n for n in sizes.values() if n is not None}
    if len(counts) > 1:
        detail = ", ".join(f"{k}={n}" for k, n in sizes.items())
        problems.append(f"{where}: keys disagree on the number of clips N ({detail})")
    for modality in MODALITIES:
        if modality not in part or not isinstance(part[modality], np.ndarray):
            if modality in part:
                problems.append(f"{where}: '{modality}' is a {type(part[modality]).__name__}, not a numpy array")
            continue
        array = part[modality]
        expected = feature_dims[modality]
        if array.ndim != 3 or array.shape[2] != expected:
            problems.append(f"{where}: '{modality}' has shape {array.shape}; expected (N, padded_length, {expected})")
        if not np.issubdtype(array.dtype, np.floating):
            problems.append(f"{where}: '{modality}' has dtype {array.dtype}; expected a float dtype")
    for modality, key in LENGTH_KEYS.items():
        if key in part and isinstance(part.get(modality), np.ndarray) and part[modality].ndim == 3:
            problems += _check_lengths(part[key], part[modality].shape[1], f"{where}: '{key}'")
    for key in LABEL_KEYS.values():
        if key in part:
            problems += _check_labels(part[key], f"{where}: '{key}'")
    if "text_bert" in part and isinstance(part.get("text"), np.ndarray) and part["text"].ndim == 3:
        bert = np.asarray(part["text_bert"])
        if bert.ndim != 3 or bert.shape[1] != 3 or bert.shape[2] != part["text"].shape[1]:
            problems.append(f"{where}: 'text_bert' has shape {bert.shape}; expected (N, 3, {part['text'].shape[1]})")
    return problems


def _check_lengths(values: object, padded: int, what: str) -> list[str]:
    try:
        lengths = np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        return [f"{what} is not numeric"]
    if not np.isfinite(lengths).all():
        return [f"{what} contains NaN or infinity"]
    if (lengths != np.round(lengths)).any():
        return [f"{what} contains non-integer lengths"]
    problems = []
    if (lengths < 0).any():
        problems.append(f"{what} contains negative lengths")
    too_long = lengths > padded
    if too_long.any():
        problems.append(
            f"{what}: {int(too_long.sum())} length(s) exceed the padded length {padded} (largest {int(lengths.max())})"
        )
    return problems


def _check_labels(values: object, what: str) -> list[str]:
    try:
        labels = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        return [f"{what} is not numeric"]
    if labels.ndim > 1 and labels.shape[1:] != (1,) * (labels.ndim - 1):
        return [f"{what} has shape {labels.shape}; expected (N,)"]
    labels = labels.ravel()
    n_nan = int(np.isnan(labels).sum())
    if n_nan:
        return [f"{what} has {n_nan} NaN label(s)"]
    if not np.isfinite(labels).all():
        return [f"{what} has infinite label(s)"]
    outside = (labels < -1) | (labels > 1)
    if outside.any():
        return [f"{what} has {int(outside.sum())} label(s) outside [-1, 1] (e.g. {labels[outside][0]:g})"]
    return []


def _nonfinite_counts(array: np.ndarray) -> tuple[int, int]:
    """(number of -inf, number of other non-finite values), scanned in blocks of clips."""
    neg_inf = other = 0
    for start in range(0, len(array), _CHUNK):
        block = array[start : start + _CHUNK]
        bad = ~np.isfinite(block)
        if bad.any():
            n_neg = int(np.isneginf(block).sum())
            neg_inf += n_neg
            other += int(bad.sum()) - n_neg
    return neg_inf, other


def _concatenate_and_release(parts: list[dict], key: str) -> np.ndarray:
    """Concatenate ``parts[i][key]`` while dropping each source as soon as it is copied.

    The output is allocated empty (pages are committed only when written) and each
    split's array is deleted from its dict right after its copy, so the peak stays
    near one copy of the data plus one split.
    """
    first = np.asarray(parts[0][key])
    total = sum(_length(p[key]) or 0 for p in parts)
    out = np.empty((total, *first.shape[1:]), dtype=first.dtype)
    del first
    start = 0
    for part in parts:
        block = np.asarray(part.pop(key))
        out[start : start + len(block)] = block
        start += len(block)
        del block
    return out


def features_from_dict(
    obj: object,
    *,
    known_clip_ids: Iterable[str] | None = None,
    feature_dims: dict[str, int] | None = None,
    source: str = "feature data",
) -> FeatureSet:
    """Validate a loaded feature dict (either layout) and return a :class:`FeatureSet`.

    ``known_clip_ids``: when given, every id must map to one of them (the
    metadata's clips). ``feature_dims`` defaults to :data:`FEATURE_DIMS`.
    Raises :class:`~csmsasr_utils.errors.FeatureValidationError` listing every
    problem. Arrays of a flat-layout dict are used in place, not copied.
    """
    dims = dict(FEATURE_DIMS if feature_dims is None else feature_dims)
    layout = detect_layout(obj)
    assert isinstance(obj, dict)
    names = list(SPLIT_NAMES) if layout == "mmsa" else ["all"]
    parts = [obj[s] for s in SPLIT_NAMES] if layout == "mmsa" else [obj]
    problems: list[str] = []
    declared = obj.get(DATA_SOURCE_KEY)
    if declared is not None and declared not in DECLARABLE_SOURCES:
        problems.append(f"{source}: '{DATA_SOURCE_KEY}' is {declared!r}; expected one of {list(DECLARABLE_SOURCES)}")
    for name, part in zip(names, parts):
        problems += _check_part(part, source if layout == "flat" else f"{source} [{name}]", dims)
    if layout == "mmsa" and not problems:
        for modality in MODALITIES:
            shapes = {p[modality].shape[1] for p in parts}
            if len(shapes) > 1:
                problems.append(f"{source}: the splits pad '{modality}' to different lengths {sorted(shapes)}")
    if problems:
        raise FeatureValidationError(problems, source)

    sizes = [len(p["id"]) for p in parts]
    source_split = np.repeat(np.array(names), sizes) if layout == "mmsa" else None
    has_bert = all("text_bert" in p for p in parts)

    def take(key: str, dtype: object = None) -> np.ndarray:
        if layout == "flat":
            return np.asarray(parts[0][key], dtype=dtype)
        return np.concatenate([np.asarray(p[key], dtype=dtype) for p in parts])

    raw_ids = take("id", dtype=object).ravel()
    clip_ids, id_problems = _canonical_ids(raw_ids, known_clip_ids)
    if id_problems:
        raise FeatureValidationError(id_problems, source)
    raw_text = np.array([_as_text(t) for t in take("raw_text", dtype=object).ravel()], dtype=object)
    labels = {name: take(key, dtype=np.float32).ravel() for name, key in LABEL_KEYS.items()}
    lengths = {m: take(k, dtype=float).ravel().astype(np.int64) for m, k in LENGTH_KEYS.items()}
    text_bert = take("text_bert") if has_bert else None
    if layout == "flat":
        arrays = {m: parts[0][m] for m in MODALITIES}
    else:
        arrays = {m: _concatenate_and_release(parts, m) for m in MODALITIES}

    notes: list[str] = []
    for modality in MODALITIES:
        neg_inf, other = _nonfinite_counts(arrays[modality])
        if modality == "audio" and neg_inf:
            if not arrays["audio"].flags.writeable:
                arrays["audio"] = arrays["audio"].copy()
            for start in range(0, len(arrays["audio"]), _CHUNK):
                block = arrays["audio"][start : start + _CHUNK]
                block[np.isneginf(block)] = 0.0
            notes.append(f"replaced {neg_inf:,} audio values of -inf by 0, as MMSA's data loader does")
            neg_inf = 0
        if neg_inf or other:
            problems.append(
                f"{source}: '{modality}' has {neg_inf + other:,} NaN/infinite value(s); MMSA only "
                "tolerates -inf in audio (set to 0). Clean the file, or replace them with "
                "numpy.nan_to_num(array, nan=0.0, posinf=0.0, neginf=0.0) after loading with "
                "csmsasr_utils.data.safe_load_pickle."
            )
    if problems:
        raise FeatureValidationError(problems, source)

    return FeatureSet(
        clip_ids=clip_ids,
        raw_text=raw_text,
        text=arrays["text"],
        audio=arrays["audio"],
        vision=arrays["vision"],
        audio_lengths=lengths["audio"],
        vision_lengths=lengths["vision"],
        labels=labels,
        layout=layout,
        text_bert=text_bert,
        source_split=source_split,
        notes=notes,
        declared_source=declared,
    )


def _as_text(value: object) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _canonical_ids(raw_ids: np.ndarray, known: Iterable[str] | None) -> tuple[np.ndarray, list[str]]:
    problems: list[str] = []
    canonical: list[str] = []
    unreadable: list[str] = []
    for raw in raw_ids:
        try:
            canonical.append(canonical_clip_id(raw))
        except UnknownClipError:
            unreadable.append(repr(raw))
            canonical.append("")
    if unreadable:
        problems.append(
            f"'id': {len(unreadable)} id(s) cannot be read as clip ids (e.g. {', '.join(unreadable[:3])}); "
            "expected 'VV_CCCC', 'video_<v>_<c>' or 'video_<vvvv>$_$<cccc>'"
        )
        return np.array(canonical, dtype=object), problems
    series = pd.Series(canonical)
    duplicated = series[series.duplicated()].unique().tolist()
    if duplicated:
        problems.append(f"'id': {len(duplicated)} duplicate clip id(s), e.g. {duplicated[:5]}")
    if known is not None:
        known_set = set(known)
        unknown = [c for c in canonical if c not in known_set]
        if unknown:
            problems.append(
                f"'id': {len(unknown)} clip id(s) are not in the metadata's {len(known_set)} clips, e.g. {unknown[:5]}"
            )
    return np.array(canonical, dtype=object), problems


def load_features(
    path: str | os.PathLike,
    *,
    known_clip_ids: Iterable[str] | None = None,
    feature_dims: dict[str, int] | None = None,
) -> FeatureSet:
    """Read and validate a CS-MSASR feature pickle (flat or MMSA layout).

    Unpickling is restricted (:func:`~csmsasr_utils.data.pickle_io.safe_load_pickle`):
    a file that tries to import anything but numpy arrays and builtin containers is
    refused. See :func:`features_from_dict` for the checks.
    """
    obj = safe_load_pickle(path)
    return features_from_dict(obj, known_clip_ids=known_clip_ids, feature_dims=feature_dims, source=str(path))
