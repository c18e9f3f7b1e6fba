"""One entry point: :func:`.load_dataset` returns a :class:`.Dataset` that knows where its data came from.

Three sources are combined, field by field, using as much real data as the
machine has:

============  ======================================  ===========================  ==========
field         real (user's feature pickle)            public (metadata files)      demo
============  ======================================  ===========================  ==========
text          ``raw_text`` of the pickle              published transcripts        generated
label_m       ``regression_labels`` of the pickle     official split files         generated
labels_tav    ``regression_labels_T/A/V``             —                            generated
features      text / audio / vision arrays            —                            generated
durations     —                                       ``source_len`` of the lists  generated
============  ======================================  ===========================  ==========

The result's ``Dataset.provenance`` maps each field to ``'real'``,
``'public'`` or ``'demo'``; every notebook prints it and every figure states it.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from csmsasr_utils import settings
from csmsasr_utils.data.demo import DEMO_SEED, make_demo, make_demo_metadata
from csmsasr_utils.data.features import FeatureSet, features_from_dict, load_features
from csmsasr_utils.data.ids import row_positions
from csmsasr_utils.data.labels import value_to_class_name
from csmsasr_utils.data.metadata import load_metadata
from csmsasr_utils.errors import PublicDataUnavailable, UnknownName

PROVENANCE_FIELDS: tuple[str, ...] = ("text", "label_m", "labels_tav", "features", "durations")

#: How each provenance value is written in captions.
SOURCE_NAMES: dict[str, str] = {
    "real": "real data (your CS-MSASR feature file)",
    "public": "public metadata (real)",
    "demo": "synthetic demo data (not results)",
}


@dataclass
class Dataset:
    """Clip metadata, features and labels, with the provenance of each field.

    ``metadata`` has one row per clip (the public metadata's columns, plus
    ``label_t``, ``label_a``, ``label_v`` and ``has_features``); ``features``
    holds the arrays of the clips that have features, in the feature file's own
    order (reordering would copy hundreds of MB): use :meth:`feature_rows`.
    """

    metadata: pd.DataFrame
    features: FeatureSet
    provenance: dict[str, str]
    notes: list[str] = field(default_factory=list)

    def source_of(self, *fields: str) -> str:
        """A caption fragment naming where ``fields`` come from, e.g. ``'public metadata (real)'``.

        Several fields with different sources are listed one by one.
        """
        unknown = [f for f in fields if f not in self.provenance]
        if unknown:
            raise UnknownName(f"unknown provenance field(s) {unknown}; known: {list(self.provenance)}")
        values = {self.provenance[f] for f in fields}
        if len(values) == 1:
            return SOURCE_NAMES[values.pop()]
        return "; ".join(f"{f}: {SOURCE_NAMES[self.provenance[f]]}" for f in fields)

    def feature_rows(self, clip_ids) -> np.ndarray:
        """Row positions in ``features`` of ``clip_ids`` (raises UnknownClipError for clips without features)."""
        return row_positions(self.features.clip_ids, clip_ids, where="the features (no features for them)")

    def feature_metadata(self) -> pd.DataFrame:
        """The metadata rows of the clips with features, in the order of ``features``."""
        return self.metadata.set_index("clip_id").loc[list(self.features.clip_ids)].reset_index()

    def official_fold_rows(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """CS-Mage's 5 folds as (train, test) row positions in ``features``.

        Training rows are the fold's training and validation clips (a probe needs no
        early stopping); clips without features are left out.
        """
        from csmsasr_utils.data.splits import official_folds

        has = set(self.features.clip_ids)
        folds = []
        for fold in official_folds(self.metadata):
            train = [c for c in (*fold["train"], *fold["valid"]) if c in has]
            test = [c for c in fold["test"] if c in has]
            folds.append((self.feature_rows(train), self.feature_rows(test)))
        return folds

    @property
    def is_demo(self) -> bool:
        """True when any field comes from the synthetic demo."""
        return "demo" in self.provenance.values()

    def provenance_table(self) -> pd.DataFrame:
        """The provenance as a small table (field, source, meaning), for the top of every notebook."""
        return pd.DataFrame(
            {
                "field": list(self.provenance),
                "source": list(self.provenance.values()),
                "meaning": [SOURCE_NAMES[v] for v in self.provenance.values()],
            }
        )

    def __repr__(self) -> str:
        sources = ", ".join(f"{k}={v}" for k, v in self.provenance.items())
        return f"Dataset({len(self.metadata)} clips, {len(self.features)} with features; {sources})"


def data_fingerprint(public_dir: str | os.PathLike | None = None) -> str:
    """A short hash of which data :func:`load_dataset` would read here.

    It covers ``CSMSASR_FEATURES`` (path, size, modification time), the audio folder, the
    results files the chapters show (``CSMSASR_MSA_RESULTS``, ``CSMSASR_ASR_TRANSCRIPTS``: path,
    size, modification time), the public-data folder or cache and which public files it holds. ``make book`` compares it with
    the previous build's and drops the execution cache when it changed, so a book
    never shows results computed on other data.
    """
    from csmsasr_utils.data.sources import REGISTRY

    state: dict[str, object] = {}
    features = settings.features_path()
    state["features"] = str(features or "")
    state["audio"] = str(settings.audio_dir() or "")
    if features is not None:
        info = features.stat()
        state["features_stat"] = [info.st_size, info.st_mtime_ns]
    for variable, path in (
        ("CSMSASR_MSA_RESULTS", settings.msa_results_path()),
        ("CSMSASR_ASR_TRANSCRIPTS", settings.asr_transcripts_path()),
    ):
        if path is not None:
            info = path.stat()
            state[variable] = [str(path), info.st_size, info.st_mtime_ns]
    folder = Path(public_dir) if public_dir is not None else settings.public_dir()
    folder = folder if folder is not None else settings.cache_dir()
    state["public"] = str(folder)
    state["public_files"] = sorted(r for r in REGISTRY if (folder / r).is_file())
    digest = hashlib.sha256(json.dumps(state, sort_keys=True).encode()).hexdigest()
    return digest[:16]


def load_dataset(
    features_path: str | os.PathLike | None = None,
    public_dir: str | os.PathLike | None = None,
    *,
    demo_seed: int = DEMO_SEED,
    demo_seq_lens: dict[str, int] | None = None,
    allow_download: bool = True,
) -> Dataset:
    """Load the best data this machine has.

    * Features: ``features_path`` or the ``CSMSASR_FEATURES`` environment variable
      names the user's pickle (errors in it are raised, never hidden); otherwise
      the demo of :func:`~csmsasr_utils.data.demo.make_demo`. A real feature file
      needs the real public metadata too (its clip list, splits and durations).
    * Metadata: the public files from ``public_dir`` / ``CSMSASR_PUBLIC_DIR`` or
      the download cache (download allowed unless ``allow_download=False``);
      when they cannot be had, demo metadata, with the reason in ``notes``.
    """
    notes: list[str] = []
    provenance = dict.fromkeys(PROVENANCE_FIELDS, "demo")
    try:
        if public_dir is None and not allow_download and settings.public_dir() is None:
            raise PublicDataUnavailable("downloads disabled (allow_download=False) and CSMSASR_PUBLIC_DIR unset")
        metadata = load_metadata(public_dir)
        provenance.update(text="public", label_m="public", durations="public")
    except PublicDataUnavailable as err:
        metadata = make_demo_metadata(demo_seed)
        notes.append(f"public metadata unavailable, using demo metadata: {err}")

    path = features_path if features_path is not None else settings.features_path()
    if path is not None and provenance["durations"] == "demo":
        raise PublicDataUnavailable(
            f"a real feature file ({path}) is used with the real public metadata (official splits, "
            f"durations, clip list), which could not be had: {notes[0]}. Run `csmsasr data fetch` "
            "where the internet is reachable, or set CSMSASR_PUBLIC_DIR to a folder of the public files."
        )
    if path is not None:
        features = load_features(Path(path), known_clip_ids=metadata["clip_id"])
        made_by = features.declared_source or "real"  # the package's own demo files say "demo"
        provenance.update(features=made_by, labels_tav=made_by, label_m=made_by)
        notes.append(f"features from {path} ({features.layout} layout, {len(features)} clips)")
        if made_by == "demo":
            notes.append(f"{path} says it holds synthetic demo features: what it gives is not a result")
    else:
        raw = make_demo(seed=demo_seed, seq_lens=demo_seq_lens, metadata=metadata)
        features = features_from_dict(raw, known_clip_ids=metadata["clip_id"], source="demo features")
    notes.extend(features.notes)

    merged = _merge(metadata, features, notes, real_features=path is not None)
    return Dataset(metadata=merged, features=features, provenance=provenance, notes=notes)


def _merge(metadata: pd.DataFrame, features: FeatureSet, notes: list[str], *, real_features: bool) -> pd.DataFrame:
    """Add the feature file's labels to the metadata.

    For a real feature file its M labels win; disagreements with the public split
    files are reported in ``notes``.
    """
    labels = features.label_frame().rename(columns={"label_m": "label_m_file"})
    labels["raw_text"] = features.raw_text.astype(str)
    merged = metadata.merge(labels, on="clip_id", how="left", validate="one_to_one")
    known = merged["label_t"].notna()
    merged["has_features"] = known
    if real_features:
        public_m, file_m = merged["label_m"], merged["label_m_file"]
        disagree = known & ~np.isclose(public_m, file_m.fillna(public_m))
        if disagree.any():
            notes.append(
                f"{int(disagree.sum())} clip(s) have a different M label in the feature file than in the "
                "public split files; the feature file's label is used"
            )
        merged["label_m"] = file_m.where(known, public_m)
        merged["label_m_class"] = value_to_class_name(merged["label_m"])
    return merged.drop(columns=["label_m_file", "raw_text"])
