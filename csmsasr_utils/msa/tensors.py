"""Features as tensors, once: what the trainer indexes batches from.

MMSA's loaders build a per-sample dict ``Dataset`` and collate it batch by batch; here every
array becomes one tensor up front (zero-copy from the float32 feature arrays) and a batch is
``tensor[rows]``. The input treatments of :mod:`csmsasr_utils.msa.alignment` are computed once per
dataset and cached:

* averaging audio/vision over the padded length (``need_normalized`` models), which MMSA applies
  in its data loader;
* average-pooling them to the text length (``need_model_aligned`` models), which MMSA applies
  inside the model (``AlignSubNet``), to every batch of every epoch. The pooling of a clip depends
  on that clip alone, so pooling all clips once and indexing the batch gives the very same numbers
  (``tests/msa/test_trainer.py`` checks it bit for bit); it saves re-reading and pooling the
  553 × 13 audio and 321 × 347 vision frames of every clip in every epoch, and a batch is gathered
  from the 39-step tensors instead of the frames. The aligned models still pool raw input they are
  given directly (they return input already at the text length unchanged).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from csmsasr_utils.data.features import FeatureSet
from csmsasr_utils.data.ids import row_positions
from csmsasr_utils.errors import CsmsasrError, InvalidArgument
from csmsasr_utils.msa.alignment import align_to_length, mean_over_padded_time
from csmsasr_utils.msa.base import MSAModel

LABEL_NAMES: tuple[str, ...] = ("M", "T", "A", "V")


@dataclass
class MSATensors:
    """All clips' model inputs and labels as tensors, rows in ``clip_ids`` order."""

    clip_ids: np.ndarray
    text: torch.Tensor
    audio: torch.Tensor
    vision: torch.Tensor
    labels: dict[str, torch.Tensor]
    text_bert: torch.Tensor | None = None
    _averaged: tuple[torch.Tensor, torch.Tensor] | None = field(default=None, init=False, repr=False)
    _aligned: dict[bool, tuple[torch.Tensor, torch.Tensor]] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def from_features(cls, features: FeatureSet, text_bert: np.ndarray | None = None) -> MSATensors:
        """Wrap a :class:`~csmsasr_utils.data.features.FeatureSet` (no copy for float32 arrays).

        ``text_bert`` (``(clips, 3, length)`` token ids, mask, segments) replaces the file's own
        ``text_bert`` when given — e.g. from :func:`csmsasr_utils.msa.bert_tokens.encode_transcripts`.
        """

        def as_tensor(array: np.ndarray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))

        bert = text_bert if text_bert is not None else features.text_bert
        if bert is not None and len(bert) != len(features):
            raise CsmsasrError(f"text_bert has {len(bert)} rows for {len(features)} clips")
        return cls(
            clip_ids=np.asarray(features.clip_ids).astype(str),
            text=as_tensor(features.text),
            audio=as_tensor(features.audio),
            vision=as_tensor(features.vision),
            labels={k: as_tensor(features.labels[k]) for k in LABEL_NAMES},
            text_bert=None if bert is None else as_tensor(bert),
        )

    def __len__(self) -> int:
        return len(self.clip_ids)

    @property
    def feature_dims(self) -> tuple[int, int, int]:
        return (self.text.shape[2], self.audio.shape[2], self.vision.shape[2])

    @property
    def seq_lens(self) -> tuple[int, int, int]:
        return (self.text.shape[1], self.audio.shape[1], self.vision.shape[1])

    def rows(self, clip_ids: Sequence[str]) -> np.ndarray:
        """Row positions of ``clip_ids``; unknown ids raise :class:`~csmsasr_utils.errors.UnknownClipError`."""
        return row_positions(self.clip_ids, clip_ids)

    def averaged_audio_vision(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Audio and vision averaged over the padded length, ``(clips, 1, dim)`` (cached)."""
        if self._averaged is None:
            self._averaged = (mean_over_padded_time(self.audio), mean_over_padded_time(self.vision))
        return self._averaged

    def aligned_audio_vision(self, averaged: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Audio and vision average-pooled to the text length, ``(clips, text_len, dim)`` (cached).

        ``averaged=True`` pools the padded-length averages instead (MFN's treatment: both, which
        repeats each average ``text_len`` times).
        """
        if averaged not in self._aligned:
            audio, vision = self.averaged_audio_vision() if averaged else (self.audio, self.vision)
            steps = self.text.shape[1]
            self._aligned[averaged] = (align_to_length(audio, steps), align_to_length(vision, steps))
        return self._aligned[averaged]

    def model_inputs(self, model: MSAModel | type[MSAModel]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(text, audio, vision)`` as ``model`` expects them (see :mod:`~csmsasr_utils.msa.base`)."""
        if model.uses_bert_tokens:
            if self.text_bert is None:
                raise CsmsasrError(
                    f"{model.display_name} reads BERT token ids (text_bert), which these features lack: "
                    "build them with csmsasr_utils.msa.bert_tokens.encode_transcripts(raw_text) and pass "
                    "text_bert= to MSATensors.from_features"
                )
            text = self.text_bert
        else:
            text = self.text
        if model.aligned_input:
            audio, vision = self.aligned_audio_vision(averaged=model.normalized_input)
        elif model.normalized_input:
            audio, vision = self.averaged_audio_vision()
        else:
            audio, vision = self.audio, self.vision
        return text, audio, vision


def batch_rows(rows: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
    """Consecutive batches of ``rows``, in the order given.

    The last batch may be smaller (MMSA's loaders keep it: ``drop_last=False``).

    >>> [b.tolist() for b in batch_rows(np.arange(5), 2)]
    [[0, 1], [2, 3], [4]]
    """
    _require_batch_size(batch_size)
    rows = np.asarray(rows, dtype=np.int64)
    for start in range(0, len(rows), batch_size):
        yield rows[start : start + batch_size]


def mmsa_shuffled_batches(rows: np.ndarray, batch_size: int, stream: torch.Generator | None = None) -> list[np.ndarray]:
    """The batches one pass of MMSA's ``DataLoader(shuffle=True)`` yields over ``rows``, drawn as it draws.

    MMSA's loaders (``data_loader.py``) shuffle every split and have no generator of their own, so
    each pass takes two numbers from torch's global generator — the stream the dropout masks come
    from: first the iterator's base seed for worker processes (``_BaseDataLoaderIter``), then the
    ``RandomSampler``'s seed, which seeds a fresh generator that permutes the rows. Drawing both
    here, in the same place, gives the same order *and* leaves the global stream where MMSA leaves
    it, so every later mask, and so the whole run, is MMSA's. ``tests/msa/test_trainer.py`` checks
    both against torch's own ``DataLoader``.

    ``stream`` is the generator to draw from: ``None`` is torch's global one (a solo run); a stacked
    member passes its own stream (:mod:`csmsasr_utils.msa.members`). The batches come as a list, so
    both numbers are drawn now, before the first mask of the pass.
    """
    _require_batch_size(batch_size)  # before drawing: a refused call leaves the stream as it was
    _draw_seed(stream)  # the base seed of worker processes: drawn as MMSA's loader draws it, unused
    order = torch.randperm(len(rows), generator=torch.Generator().manual_seed(_draw_seed(stream)))
    return list(batch_rows(np.asarray(rows, dtype=np.int64)[order.numpy()], batch_size))


def _draw_seed(stream: torch.Generator | None) -> int:
    """One int64 seed from ``stream`` (``None``: the global generator), as torch's data loading draws it."""
    return int(torch.empty((), dtype=torch.int64).random_(generator=stream).item())


def _require_batch_size(batch_size: int) -> None:
    if batch_size < 1:
        raise InvalidArgument(f"batch_size must be positive, got {batch_size}")
