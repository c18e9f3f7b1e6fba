"""The CER protocol against hand-worked pairs and an independent edit-distance implementation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from csmsasr_utils.asr import metrics, normalize
from csmsasr_utils.asr.metrics import EmptyReferenceError


def levenshtein_counts(ref: str, hyp: str) -> tuple[int, int]:
    """(edit distance, len(ref)) by the textbook dynamic programme."""
    d = np.zeros((len(ref) + 1, len(hyp) + 1), dtype=int)
    d[:, 0] = np.arange(len(ref) + 1)
    d[0, :] = np.arange(len(hyp) + 1)
    for i in range(1, len(ref) + 1):
        for j in range(1, len(hyp) + 1):
            d[i, j] = min(d[i - 1, j] + 1, d[i, j - 1] + 1, d[i - 1, j - 1] + (ref[i - 1] != hyp[j - 1]))
    return int(d[-1, -1]), len(ref)


@pytest.mark.parametrize(
    "raw,book,cs_mage",
    [
        ("這是長沙話。", "这是长沙话", "這是長沙話"),  # Traditional: only the book's protocol converts
        ("好 的 ， 要得！", "好的要得", "好的要得"),  # spaces and punctuation
        ("ＡＢＣ１２３abc", "abc123abc", "abc123abc"),  # full-width → ASCII, lowercase
        ("2025年😀《长沙》", "2025年长沙", "2025年长沙"),  # digits kept, emoji and brackets dropped
        ("", "", ""),
        (None, "", ""),
        ("㐀", "㐀", "㐀"),  # CJK extension A is kept (U+3400)
    ],
)
def test_normalizers(raw, book, cs_mage):
    assert normalize.normalize_text(raw) == book
    assert normalize.normalize_cs_mage(raw) == cs_mage


def test_steps_go_from_raw_to_the_book_protocol():
    text = "這是 長沙話，ＯＫ！"
    outputs = [step(text) for step in normalize.STEPS.values()]
    assert outputs[0] == "這是長沙話，ＯＫ！"
    assert outputs[1] == "這是長沙話,OK!"
    assert outputs[2] == "這是長沙話ok"
    assert outputs[3] == "这是长沙话ok"


@pytest.mark.parametrize(
    "ref,hyp,s,d,i",
    [
        ("长沙话", "长沙话", 0, 0, 0),
        ("长沙话", "长沙花", 1, 0, 0),
        ("长沙话", "长话", 0, 1, 0),
        ("长沙话", "长沙话啊", 0, 0, 1),
        ("长沙话", "", 0, 3, 0),
        ("嘞", "咧咧", 1, 0, 1),
    ],
)
def test_hand_worked_counts(ref, hyp, s, d, i):
    counts = metrics.character_counts(ref, hyp)
    assert (counts.substitutions, counts.deletions, counts.insertions) == (s, d, i)
    assert counts.errors == levenshtein_counts(ref, hyp)[0]


def test_empty_reference_is_an_error():
    with pytest.raises(EmptyReferenceError, match="undefined"):
        metrics.cer(["，。"], ["你好"])  # empty after normalisation
    with pytest.raises(EmptyReferenceError, match="clip_b"):
        metrics.utterance_scores(["好", " "], ["好", "好"], ids=["clip_a", "clip_b"])
    with pytest.raises(EmptyReferenceError):
        metrics.character_counts("", "x")


def test_empty_hypothesis_scores_one():
    assert metrics.cer(["长沙话"], [""]) == 1.0


def test_corpus_cer_is_total_edits_over_total_characters():
    refs = ["好", "我今天去五一广场逛街了"]
    hyps = ["嗯", "我今天去五一广场逛街了"]
    # per-utterance CERs are 1.0 and 0.0 (mean 0.5); the corpus CER is 1 edit / 12 characters
    assert metrics.cer(refs, hyps) == pytest.approx(1 / 12)
    table = metrics.utterance_scores(refs, hyps)
    assert table["cer"].tolist() == [1.0, 0.0] and table["ref_chars"].tolist() == [1, 11]


def test_corpus_scores_match_an_independent_computation():
    rng = np.random.default_rng(0)
    alphabet = list("长沙话啰嘞噻咯我你他好的是了在")
    refs = ["".join(rng.choice(alphabet, rng.integers(1, 15))) for _ in range(200)]
    hyps = ["".join(rng.choice(alphabet, rng.integers(0, 15))) for _ in range(200)]
    scores = metrics.corpus_scores(refs, hyps)
    edits, chars = map(sum, zip(*(levenshtein_counts(r, h) for r, h in zip(refs, hyps))))
    assert scores["cer"] == pytest.approx(edits / chars)
    assert scores["substitutions"] + scores["deletions"] + scores["insertions"] == edits
    assert scores["ref_chars"] == chars and scores["n"] == 200
    assert scores["sentence_error_rate"] == pytest.approx(np.mean([r != h for r, h in zip(refs, hyps)]))


def test_traditional_hypothesis_is_not_an_error_after_t2s():
    assert metrics.cer(["这是长沙话"], ["這是長沙話"]) == 0.0
    assert metrics.cer(["这是长沙话"], ["這是長沙話"], normalize=normalize.normalize_cs_mage) == pytest.approx(3 / 5)


def test_wer_uses_jieba_words():
    import jieba

    ref, hyp = "我们今天去长沙", "我们明天去长沙"
    ref_words, hyp_words = jieba.lcut(ref), jieba.lcut(hyp)
    expected = levenshtein_counts(ref_words, hyp_words)  # lists work with the same DP
    assert metrics.corpus_scores([ref], [hyp])["wer"] == pytest.approx(expected[0] / expected[1])


def test_mismatched_lengths():
    with pytest.raises(Exception, match="2 references but 1"):
        metrics.cer(["a", "b"], ["a"])


def test_normalization_effects_and_grouped_cer():
    refs = ["这是长沙话", "好的"]
    hyps = ["這是長沙話。", "好 的"]
    table = metrics.normalization_effects(refs, hyps)
    assert list(table.index) == list(normalize.STEPS)
    assert table["cer"].iloc[0] == pytest.approx(4 / 7)  # 3 Traditional chars + "。" over 7
    assert table["cer"].iloc[-1] == 0.0
    per = metrics.utterance_scores(["长沙话", "好", "我们"], ["长沙", "好", "你们"])
    grouped = metrics.grouped_cer(per, pd.Series(["a", "a", "b"]))
    assert grouped.loc["a", "cer"] == pytest.approx(1 / 4) and grouped.loc["b", "cer"] == pytest.approx(1 / 2)
