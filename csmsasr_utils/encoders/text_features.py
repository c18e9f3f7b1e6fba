"""The MSA models' **real-text feature mode**: e5 token states of the transcripts as text features.

The feature file's text features are bert-base-chinese's last hidden states, ``(clips, 39, 768)``.
Without that file the book's demo text features are random numbers. This mode replaces them with
the last hidden states of multilingual-e5-small (:mod:`csmsasr_utils.encoders.e5`) over each
clip's transcript — real text features of the real (public) transcripts, ``(clips, 39, 384)``:
one row per token of ``"query: " + transcript`` (``<s>`` first, ``</s>`` last, zeros after), the
same padded length as the file's. The MSA models take the feature width from the data, as MMSA's
loader does, so every model trains on them unchanged. ALMT, which fine-tunes its own encoder,
gets the e5 token ids instead of BERT's (``text_bert``) and the converted e5 folder as its encoder.

Audio and vision stay what they were (the demo's synthetic features until a feature file is
given), and every result says so (:func:`text_feature_label`).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from csmsasr_utils.data.features import FeatureSet
from csmsasr_utils.errors import CsmsasrError

#: Text encoders the MSA runner can use in place of the file's text features.
TEXT_ENCODERS: tuple[str, ...] = ("e5",)


def check_text_encoder(name: str | None) -> str | None:
    """``name`` when it is ``None`` or one of :data:`TEXT_ENCODERS`; a clear error otherwise."""
    if name is not None and name not in TEXT_ENCODERS:
        raise CsmsasrError(f"unknown text encoder {name!r}; expected one of {list(TEXT_ENCODERS)} (or none)")
    return name


def e5_text_inputs(features: FeatureSet, encoder=None, length: int | None = None) -> tuple[FeatureSet, np.ndarray]:
    """``features`` with e5 token states of ``features.raw_text`` as text, and e5's ``text_bert``.

    ``length`` defaults to the features' padded text length (39 for CS-MSASR). Returns the new
    :class:`.FeatureSet` (audio, vision and labels shared, not copied) and ``(clips, 3, length)``
    token ids / mask / segments for ALMT.
    """
    from csmsasr_utils.encoders.e5 import E5Encoder

    encoder = encoder if encoder is not None else E5Encoder()
    length = int(length or features.padded_lengths["text"])
    texts = ["" if t is None else str(t) for t in features.raw_text]
    states = encoder.token_states(texts, length)
    note = f"text features: e5 token states of the transcripts ({length} × {states.shape[2]}), not the file's"
    replaced = dataclasses.replace(features, text=states, text_bert=None, notes=[*features.notes, note])
    return replaced, encoder.token_ids(texts, length)


def text_feature_label(features_source: str, text_source: str, encoder: str | None) -> str:
    """How a run's data is named in results: the feature source, and the text encoder when one is used.

    >>> text_feature_label("demo", "public", "e5")
    'e5 features of the real transcripts; audio and vision synthetic'
    >>> text_feature_label("real", "public", None)
    'real'
    """
    if encoder is None:
        return features_source
    transcripts = "real transcripts" if text_source in ("public", "real") else "demo transcripts"
    audio_vision = "synthetic" if features_source == "demo" else f"{features_source} (feature file)"
    return f"{encoder} features of the {transcripts}; audio and vision {audio_vision}"
