"""The CER protocol: corpus CER, per-utterance CER, S/D/I, sentence error rate, WER on words.

Both texts are normalised first (default :func:`~csmsasr_utils.asr.normalize.normalize_text`)
and whitespace is removed, because jiwer counts a space as a character. The **corpus CER** is
the total number of edits (substitutions + deletions + insertions) over the total number of
reference characters — not the mean of the per-utterance CERs, which would weigh a two-character
clip like a forty-character one.

An empty hypothesis is legal (every reference character is a deletion: CER 1). An empty
reference is an error: a CER over zero characters is undefined, and CS-MSASR has no empty
transcript, so it signals a bug upstream.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import jiwer
import pandas as pd

from csmsasr_utils.asr.normalize import normalize_text
from csmsasr_utils.errors import CsmsasrError

Normalizer = Callable[[object], str]


class EmptyReferenceError(CsmsasrError, ValueError):
    """A reference transcript is empty after normalisation."""


@dataclass(frozen=True)
class CharacterCounts:
    """Edit operations of a character alignment."""

    hits: int
    substitutions: int
    deletions: int
    insertions: int

    @property
    def reference_length(self) -> int:
        return self.hits + self.substitutions + self.deletions

    @property
    def errors(self) -> int:
        return self.substitutions + self.deletions + self.insertions

    @property
    def cer(self) -> float:
        return self.errors / self.reference_length


def _prepare(
    references: Sequence[object], hypotheses: Sequence[object], normalize: Normalizer, ids: Sequence[str] | None
) -> tuple[list[str], list[str]]:
    if len(references) != len(hypotheses):
        raise CsmsasrError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    if len(references) == 0:
        raise CsmsasrError("no utterances to score")
    refs = ["".join(normalize(r).split()) for r in references]
    hyps = ["".join(normalize(h).split()) for h in hypotheses]
    empty = [i for i, r in enumerate(refs) if not r]
    if empty:
        names = [ids[i] for i in empty[:5]] if ids is not None else empty[:5]
        raise EmptyReferenceError(
            f"{len(empty)} reference(s) are empty after normalisation (e.g. {names}): CER is undefined "
            "for an empty reference. Check the transcripts and the normaliser."
        )
    return refs, hyps


def character_counts(reference: str, hypothesis: str) -> CharacterCounts:
    """Hits, substitutions, deletions and insertions of one already-normalised pair (jiwer)."""
    if not reference:
        raise EmptyReferenceError("empty reference: CER is undefined")
    if not hypothesis:
        return CharacterCounts(0, 0, len(reference), 0)
    out = jiwer.process_characters(reference, hypothesis)
    return CharacterCounts(out.hits, out.substitutions, out.deletions, out.insertions)


def utterance_scores(
    references: Sequence[object],
    hypotheses: Sequence[object],
    ids: Sequence[str] | None = None,
    normalize: Normalizer = normalize_text,
) -> pd.DataFrame:
    """One row per utterance: normalised texts, ``hits, substitutions, deletions, insertions``,
    ``ref_chars`` and ``cer``."""
    refs, hyps = _prepare(references, hypotheses, normalize, ids)
    rows = []
    for ref, hyp in zip(refs, hyps):
        counts = character_counts(ref, hyp)
        rows.append(
            {
                "reference": ref,
                "hypothesis": hyp,
                "hits": counts.hits,
                "substitutions": counts.substitutions,
                "deletions": counts.deletions,
                "insertions": counts.insertions,
                "ref_chars": counts.reference_length,
                "cer": counts.cer,
            }
        )
    frame = pd.DataFrame(rows)
    if ids is not None:
        frame.insert(0, "clip_id", list(ids))
    return frame


def corpus_cer(per_utterance: pd.DataFrame) -> float:
    """Total edits over total reference characters of a :func:`utterance_scores` table."""
    edits = per_utterance[["substitutions", "deletions", "insertions"]].to_numpy().sum()
    return float(edits / per_utterance["ref_chars"].sum())


def _jieba_words(text: str) -> str:
    import jieba

    jieba.setLogLevel(logging.WARNING)
    return " ".join(token for token in jieba.lcut(text) if token.strip())


def corpus_scores(
    references: Sequence[object],
    hypotheses: Sequence[object],
    ids: Sequence[str] | None = None,
    normalize: Normalizer = normalize_text,
) -> dict[str, float]:
    """Corpus-level scores of a test set.

    ``cer`` (total edits / total reference characters), ``substitutions``, ``deletions``,
    ``insertions``, ``ref_chars``, ``sentence_error_rate`` (share of utterances with any
    error), ``wer`` (the same on jieba word tokens of the normalised texts) and ``n``.
    """
    per = utterance_scores(references, hypotheses, ids, normalize)
    ref_words = [_jieba_words(r) for r in per["reference"]]
    hyp_words = [_jieba_words(h) for h in per["hypothesis"]]
    word = jiwer.process_words(ref_words, hyp_words)
    return {
        "cer": corpus_cer(per),
        "substitutions": int(per["substitutions"].sum()),
        "deletions": int(per["deletions"].sum()),
        "insertions": int(per["insertions"].sum()),
        "ref_chars": int(per["ref_chars"].sum()),
        "sentence_error_rate": float((per["cer"] > 0).mean()),
        "wer": float(word.wer),
        "n": len(per),
    }


def cer(references: Sequence[object], hypotheses: Sequence[object], normalize: Normalizer = normalize_text) -> float:
    """Corpus CER after normalisation (see the module docstring).

    >>> round(cer(["长沙话"], ["長沙花啊"]), 4)  # 長→长 (t2s); 花 for 话 and an extra 啊: 2 edits over 3
    0.6667
    """
    return corpus_cer(utterance_scores(references, hypotheses, normalize=normalize))


def normalization_effects(references: Sequence[object], hypotheses: Sequence[object]) -> pd.DataFrame:
    """Corpus CER under each normalisation variant of :data:`~csmsasr_utils.asr.normalize.STEPS`.

    Both sides go through the same variant; the last row is the book's protocol.
    """
    from csmsasr_utils.asr.normalize import STEPS

    rows = []
    for name, step in STEPS.items():
        table = utterance_scores(references, hypotheses, normalize=step)
        rows.append({"normalisation": name, "cer": corpus_cer(table), "ref_chars": int(table["ref_chars"].sum())})
    return pd.DataFrame(rows).set_index("normalisation")


def grouped_cer(per_utterance: pd.DataFrame, by: str | pd.Series) -> pd.DataFrame:
    """Corpus CER within groups of a :func:`utterance_scores` table (edits / characters per group)."""
    frame = per_utterance.assign(edits=per_utterance[["substitutions", "deletions", "insertions"]].sum(axis=1))
    keys = frame[by] if isinstance(by, str) else by
    grouped = frame.groupby(keys, observed=True)
    table = pd.DataFrame(
        {
            "utterances": grouped.size(),
            "ref_chars": grouped["ref_chars"].sum(),
            "cer": grouped["edits"].sum() / grouped["ref_chars"].sum(),
        }
    )
    return table
