"""A deterministic synthetic dataset with the exact schema of CS-MSASR.

Nobody can download the real feature file automatically (it is on Google Drive
and Baidu only), so every chapter of the book also runs on this demo. **Its
numbers describe the generator, never the dataset.**

The generative process, in order:

1. **Metadata.** With real public metadata, the demo keeps its clip ids,
   transcripts, durations and multimodal labels. Without it,
   :func:`make_demo_metadata` invents 1,085 clips over 27 videos with
   Changsha-style sentences, durations that grow with sentence length, labels
   drawn with CS-MSASR's published class proportions, and random splits of the
   published sizes.
2. **Unimodal labels.** Each clip's latent sentiment is its M label. The T, A and
   V labels are the latent plus Gaussian noise (standard deviations
   :data:`LABEL_NOISE`), rounded to the 5-level scale and clipped to [-1, 1],
   so the modalities disagree with M and with each other as annotators do.
3. **Features.** Frame ``t`` of clip ``i`` in modality ``m`` is
   ``SIGNAL[m] * label_m[i] * direction_m + SPEAKER_SCALE[m] * sqrt(dim) * video_offset[v(i)] + noise``
   for the valid frames, and zeros in the padding. ``direction_m`` and
   ``video_offset`` are fixed random unit vectors (seeded), the noise is
   standard normal. The text sequence has ``n_chars + 2`` valid frames (BERT's
   [CLS] and [SEP]); audio and vision have frame counts proportional to the
   clip's duration. About 2 % of clips get one ``-inf`` audio value (log of a
   silent frame), which the loader replaces by 0 as MMSA does.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from csmsasr_utils.data.features import DATA_SOURCE_KEY, FEATURE_DIMS, MODALITIES, PADDED_LENGTHS
from csmsasr_utils.data.ids import cs_mage_clip_id
from csmsasr_utils.data.labels import CLASS_NAMES, CLASS_VALUES
from csmsasr_utils.data.metadata import METADATA_COLUMNS, N_FOLDS, n_chars
from csmsasr_utils.errors import InvalidArgument

#: Seed of the book's demo dataset.
DEMO_SEED = 20240601

#: Padded lengths of the book's demo profile: text as real (39), audio and vision shorter,
#: so that every chapter builds in minutes on two CPU cores. Feature sizes stay real.
DEMO_SEQ_LENS: dict[str, int] = {"text": 39, "audio": 64, "vision": 48}

#: Padded lengths of the real file, for a real-size demo (benchmarks, memory tests).
FULL_SEQ_LENS: dict[str, int] = dict(PADDED_LENGTHS)

#: Standard deviation of the noise added to M to make each unimodal label.
LABEL_NOISE: dict[str, float] = {"T": 0.30, "A": 0.45, "V": 0.40}

#: Per-frame size of the sentiment signal along its direction (the noise has std 1 per axis):
#: after mean-pooling ``L`` frames the noise along the direction shrinks to ``1/sqrt(L)``.
SIGNAL: dict[str, float] = {"text": 0.6, "audio": 0.5, "vision": 0.4}

#: Size of the per-video (speaker) offset, per axis (its norm is ``SPEAKER_SCALE[m] * sqrt(dim)``).
#: Identity leaks through face and voice much more than through words, so the offset is
#: strong in vision, medium in audio and faint in text.
SPEAKER_SCALE: dict[str, float] = {"text": 0.01, "audio": 0.12, "vision": 0.10}

#: Class proportions of CS-MSASR's multimodal labels (175/326/216/266/102 of 1,085),
#: used only when the demo has to invent labels.
CLASS_PROPORTIONS: tuple[float, ...] = tuple(np.array([175, 326, 216, 266, 102]) / 1085)

N_CLIPS = 1085
N_VIDEOS = 27
_SECONDS_PER_CHAR = 0.24
_MAX_DURATION_S = 13.0

_SUBJECTS = ("我", "你", "他", "我屋里娘老子", "咯个伢子", "细伢子", "我们长沙人", "那个妹陀", "我同学", "隔壁的嗲嗲")
_ACTIVITIES = (
    "吃了一碗粉",
    "去五一广场逛街",
    "讲了好久的话",
    "天天打牌",
    "策了一下午",
    "没去上班",
    "在搞什么",
    "在屋里看电视",
    "坐公交车回去",
    "过年回外婆屋里",
)
_EVALUATIONS = {
    -1.0: ("气死我了", "烦死了", "真的没意思", "太讨厌了"),
    -0.5: ("有点烦", "不太舒服", "蛮累的", "不晓得搞什么"),
    0.0: ("就是这样", "没什么事", "随便", "还要得"),
    0.5: ("蛮好的", "还蛮韵味", "要得", "好恰"),
    1.0: ("好开心", "韵味得很", "霸得蛮", "太好哒"),
}
# Sentence-final particles, weighted roughly as in the real transcripts (啰 and 嘞 most often).
_PARTICLES = ("啰", "嘞", "啊", "噻", "咯", "哒", "")
_PARTICLE_WEIGHTS = (0.14, 0.08, 0.10, 0.02, 0.01, 0.01, 0.64)


def make_demo_metadata(seed: int = DEMO_SEED, n_clips: int = N_CLIPS) -> pd.DataFrame:
    """Invent a metadata table with the public metadata's exact columns (see :data:`.METADATA_COLUMNS`).

    Used only when the real public metadata cannot be had. Split sizes scale
    with ``n_clips`` (869/108/108, 760/160/165 and 5 test folds for 1,085).
    """
    if n_clips < N_FOLDS * 4:
        raise InvalidArgument(f"n_clips must be at least {N_FOLDS * 4}, got {n_clips}")
    rng = np.random.default_rng([seed, 1])
    weights = rng.gamma(shape=2.0, scale=1.0, size=N_VIDEOS)
    per_video = np.maximum(1, np.floor(weights / weights.sum() * n_clips)).astype(int)
    while per_video.sum() < n_clips:
        per_video[rng.integers(N_VIDEOS)] += 1
    while per_video.sum() > n_clips:
        per_video[np.argmax(per_video)] -= 1
    clip_ids = [f"{v + 1:02d}_{c + 1:04d}" for v in range(N_VIDEOS) for c in range(per_video[v])]

    classes = rng.choice(5, size=n_clips, p=CLASS_PROPORTIONS)
    values = np.asarray(CLASS_VALUES)[classes]
    texts = [_sentence(rng, value) for value in values]
    lengths = np.array([n_chars(t) for t in texts])
    durations = np.clip(lengths * _SECONDS_PER_CHAR + rng.normal(0.6, 0.3, n_clips), 0.74, 12.84).round(2)

    frame = pd.DataFrame({"clip_id": clip_ids, "video_id": [c[:2] for c in clip_ids]})
    frame["text"] = texts
    frame["text_punct"] = [t + ("！" if abs(v) == 1 else "。") for t, v in zip(texts, values)]
    frame["n_chars"] = lengths
    frame["label_m"] = values
    frame["label_m_class"] = pd.Categorical.from_codes(classes, categories=list(CLASS_NAMES), ordered=True)
    frame["asr_split_original"] = _random_split(rng, n_clips, {"train": 869, "val": 108, "test": 108})
    frame["asr_split_official"] = _random_split(rng, n_clips, {"train": 760, "validation": 160, "test": 165})
    # As in the real lists, only the original train/val clips have a published duration.
    frame["duration_s"] = np.where(frame["asr_split_original"] == "test", np.nan, durations)
    test_fold = np.empty(n_clips, dtype=int)
    order = rng.permutation(n_clips)
    for k, chunk in enumerate(np.array_split(order, N_FOLDS), start=1):
        test_fold[chunk] = k
    frame["msa_test_fold"] = test_fold
    n_valid = round(n_clips * 109 / 1085)
    for k in range(1, N_FOLDS + 1):
        roles = np.where(test_fold == k, "test", "train").astype(object)
        rest = np.flatnonzero(test_fold != k)
        roles[rng.choice(rest, size=n_valid, replace=False)] = "valid"
        frame[f"msa_fold{k}_split"] = roles
    return frame[list(METADATA_COLUMNS)]


def _sentence(rng: np.random.Generator, value: float) -> str:
    parts = [
        rng.choice(_SUBJECTS),
        rng.choice(_ACTIVITIES),
        rng.choice(_EVALUATIONS[float(value)]),
        rng.choice(_PARTICLES, p=_PARTICLE_WEIGHTS),
    ]
    return "".join(str(p) for p in parts)


def _random_split(rng: np.random.Generator, n: int, sizes: Mapping[str, int]) -> np.ndarray:
    total = sum(sizes.values())
    names = list(sizes)
    counts = [round(sizes[name] * n / total) for name in names[1:]]
    counts.insert(0, n - sum(counts))
    labels = np.repeat(np.array(names, dtype=object), counts)
    return labels[rng.permutation(n)]


def _unimodal_label(rng: np.random.Generator, label_m: np.ndarray, noise: float) -> np.ndarray:
    noisy = label_m + rng.normal(0.0, noise, size=label_m.shape)
    # "+ 0.0" turns the -0.0 that rounding leaves for small negative values into 0.0
    return (np.clip(np.round(noisy * 2) / 2, -1.0, 1.0) + 0.0).astype(np.float32)


def _valid_lengths(metadata: pd.DataFrame, seq_lens: Mapping[str, int]) -> dict[str, np.ndarray]:
    chars = metadata["n_chars"].to_numpy()
    duration = metadata["duration_s"].to_numpy(dtype=float)
    duration = np.where(np.isnan(duration), chars * _SECONDS_PER_CHAR + 0.6, duration)
    fraction = np.clip(duration / _MAX_DURATION_S, 0.0, 1.0)
    return {
        "text": np.clip(chars + 2, 3, seq_lens["text"]).astype(np.int64),
        "audio": np.clip(np.ceil(fraction * seq_lens["audio"]), 1, seq_lens["audio"]).astype(np.int64),
        "vision": np.clip(np.ceil(fraction * seq_lens["vision"]), 1, seq_lens["vision"]).astype(np.int64),
    }


def make_demo(
    seed: int = DEMO_SEED,
    n_clips: int | None = None,
    seq_lens: Mapping[str, int] | None = None,
    feature_dims: Mapping[str, int] | None = None,
    metadata: pd.DataFrame | None = None,
) -> dict[str, np.ndarray]:
    """Generate a feature dict in the released (flat) layout, deterministically.

    Parameters
    ----------
    seed
        Everything random is drawn from ``numpy.random.default_rng`` seeded with it.
    n_clips
        Number of clips (the first ``n_clips`` rows of the metadata); default all.
    seq_lens
        Padded lengths per modality; default :data:`DEMO_SEQ_LENS` (the book's
        profile). Use :data:`FULL_SEQ_LENS` for a real-size file.
    feature_dims
        Per-frame sizes; default the real 768 / 13 / 347.
    metadata
        The metadata the demo must match (ids, transcripts, M labels, durations);
        default :func:`make_demo_metadata` with the same seed.

    Returns the same keys, dtypes and layout as ``CS-MSASR_fulldata.pkl``; ids
    are spelled ``video_<v>_<c>`` as in CS-Mage's files.
    """
    lens = dict(DEMO_SEQ_LENS if seq_lens is None else seq_lens)
    dims = dict(FEATURE_DIMS if feature_dims is None else feature_dims)
    meta = make_demo_metadata(seed) if metadata is None else metadata
    if n_clips is not None:
        if not 1 <= n_clips <= len(meta):
            raise InvalidArgument(f"n_clips must be between 1 and {len(meta)}, got {n_clips}")
        meta = meta.iloc[:n_clips]
    meta = meta.reset_index(drop=True)
    n = len(meta)
    label_m = meta["label_m"].to_numpy(dtype=np.float32)
    label_rng = np.random.default_rng([seed, 2])
    labels = {name: _unimodal_label(label_rng, label_m, noise) for name, noise in LABEL_NOISE.items()}
    per_modality_label = {"text": labels["T"], "audio": labels["A"], "vision": labels["V"]}
    valid = _valid_lengths(meta, lens)
    video_index = meta["video_id"].astype(int).to_numpy() - 1

    arrays: dict[str, np.ndarray] = {}
    for offset, modality in enumerate(MODALITIES):
        rng = np.random.default_rng([seed, 10 + offset])
        dim, length = dims[modality], lens[modality]
        direction = _unit_rows(rng, 1, dim)[0]
        speaker = _unit_rows(rng, int(video_index.max()) + 1, dim)
        out = np.zeros((n, length, dim), dtype=np.float32)
        for start in range(0, n, 64):
            stop = min(n, start + 64)
            block = rng.standard_normal((stop - start, length, dim), dtype=np.float32)
            block += SIGNAL[modality] * per_modality_label[modality][start:stop, None, None] * direction

            block += SPEAKER_SCALE[modality] * np.sqrt(dim) * speaker[video_index[start:stop]][:, None, :]
            frame_index = np.arange(length)[None, :]
            block[frame_index >= valid[modality][start:stop, None]] = 0.0
            out[start:stop] = block
        arrays[modality] = out

    inf_rng = np.random.default_rng([seed, 20])
    for clip in np.flatnonzero(inf_rng.random(n) < 0.02):
        arrays["audio"][clip, inf_rng.integers(valid["audio"][clip]), 0] = -np.inf

    return {
        "id": np.array([cs_mage_clip_id(c) for c in meta["clip_id"]], dtype=object),
        "raw_text": meta["text"].to_numpy(dtype=object),
        "text": arrays["text"],
        "audio": arrays["audio"],
        "vision": arrays["vision"],
        "audio_lengths": valid["audio"],
        "vision_lengths": valid["vision"],
        "regression_labels": label_m,
        "regression_labels_T": labels["T"],
        "regression_labels_A": labels["A"],
        "regression_labels_V": labels["V"],
    }


def _unit_rows(rng: np.random.Generator, rows: int, dim: int) -> np.ndarray:
    vectors = rng.standard_normal((rows, dim))
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def save_demo(path: str | Path, **kwargs) -> Path:
    """Write :func:`make_demo` ``(**kwargs)`` as a pickle (protocol 4) at ``path``; return the path.

    The file says it is a demo (:data:`~csmsasr_utils.data.features.DATA_SOURCE_KEY`), so that a
    run pointed at it labels its results synthetic.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target, "wb") as handle:
        pickle.dump({**make_demo(**kwargs), DATA_SOURCE_KEY: "demo"}, handle, protocol=4)
    return target
