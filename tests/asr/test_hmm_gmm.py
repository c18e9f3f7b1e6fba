"""The HMM-GMM recogniser and its parts, each against an independent computation.

MFCC against a hand-written DCT and delta regression; the lexicon on known characters; the
bigram LM's probabilities summing to one; GMM scores against scipy; forward and Viterbi against
enumeration of every state path; the character-loop decoder against enumeration of every
character sequence; training on synthetic "speech" (three tones) recovering held-out sentences.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal

from csmsasr_utils.asr.audio import AudioError
from csmsasr_utils.asr.ctc import log_mel
from csmsasr_utils.asr.hmm import (
    DecodingGraph,
    HmmError,
    decode,
    forward_chain,
    gmm_log_likelihoods,
    unit_states,
    viterbi_chain,
)
from csmsasr_utils.asr.hmm_gmm import HmmGmmConfig, HmmGmmRecognizer, ModelFileError, train_hmm_gmm, tune_decoder
from csmsasr_utils.asr.lexicon import SILENCE, Lexicon, LexiconError, read_characters
from csmsasr_utils.asr.metrics import cer
from csmsasr_utils.asr.mfcc import mfcc
from csmsasr_utils.asr.ngram import BigramLM, LanguageModelError
from csmsasr_utils.errors import CsmsasrError

SR = 16_000


# ---------------------------------------------------------------- synthetic "speech"
TONES = {"阿": 300.0, "一": 900.0, "乌": 2000.0}  # zero-initial syllables: one unit each (a, i, u)


def tone_corpus(n: int, seed: int) -> tuple[list[np.ndarray], list[str]]:
    """``n`` utterances of 2–4 "characters", each a 0.2–0.3 s tone, between 0.2 s of faint noise."""
    rng = np.random.default_rng(seed)
    audios, texts = [], []
    for _ in range(n):
        sequence: list[str] = []
        while len(sequence) < rng.integers(2, 5):
            char = str(rng.choice(list(TONES)))
            if not sequence or sequence[-1] != char:  # a repeated tone would sound like one long tone
                sequence.append(char)
        parts = [0.003 * rng.standard_normal(3200)]
        for char in sequence:
            t = np.arange(int(SR * rng.uniform(0.2, 0.3))) / SR
            parts.append(0.3 * np.sin(2 * np.pi * TONES[char] * t) + 0.01 * rng.standard_normal(len(t)))
        parts.append(0.003 * rng.standard_normal(3200))
        audios.append(np.concatenate(parts).astype(np.float32))
        texts.append("".join(sequence))
    return audios, texts


TOY_CONFIG = HmmGmmConfig(mixtures=(1, 2), iterations_per_stage=2, lm_weight=1.0)


@pytest.fixture(scope="module")
def toy_model() -> tuple[HmmGmmRecognizer, list[np.ndarray], list[str]]:
    audios, texts = tone_corpus(20, seed=0)
    return train_hmm_gmm(audios, texts, TOY_CONFIG), *tone_corpus(8, seed=1)


# ---------------------------------------------------------------- MFCC
def test_mfcc_is_the_dct_of_the_log_mel_with_htk_deltas_and_cmvn():
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal(8000)).astype(np.float32)
    features = mfcc(audio)
    assert features.shape == (51, 39) and features.dtype == np.float32
    # independent: DCT-II (orthonormal) written out, deltas by the HTK formula frame by frame
    spectrum = log_mel(audio, n_mels=40).astype(np.float64)
    n = np.arange(40)
    basis = np.cos(np.pi * np.arange(13)[:, None] * (2 * n[None, :] + 1) / 80) * np.sqrt(2 / 40)
    basis[0] /= np.sqrt(2)
    cepstra = spectrum @ basis.T

    def delta(x):
        out = np.zeros_like(x)
        for t in range(len(x)):
            at = lambda k: x[min(max(k, 0), len(x) - 1)]  # noqa: E731
            out[t] = (1 * (at(t + 1) - at(t - 1)) + 2 * (at(t + 2) - at(t - 2))) / 10
        return out

    stacked = np.hstack([cepstra, delta(cepstra), delta(delta(cepstra))])
    expected = (stacked - stacked.mean(0)) / stacked.std(0)
    np.testing.assert_allclose(features, expected, atol=2e-4)
    np.testing.assert_allclose(features.mean(0), 0, atol=1e-5)
    np.testing.assert_allclose(features.std(0), 1, atol=1e-4)


@pytest.mark.parametrize(
    "audio, message",
    [
        (np.zeros(0, np.float32), "empty"),
        (np.full(1600, 5e-5, np.float32), "silent"),
        (np.array([0.1, np.nan] * 800, np.float32), "NaN"),
        (np.ones((2, 1600), np.float32), "1-D"),
    ],
)
def test_mfcc_refuses_bad_audio(audio, message):
    with pytest.raises(AudioError, match=message):
        mfcc(audio)


# ---------------------------------------------------------------- lexicon
def test_lexicon_reads_known_characters():
    assert [u for _, u in read_characters("长沙")] == [("ch", "ang"), ("sh", "a")]
    assert [u for _, u in read_characters("长大")] == [("zh", "ang"), ("d", "a")]  # reading in context
    # strict pinyin: y / w are not initials; ü is one unit; apical and retroflex i; syllabic nasal
    assert [u for _, u in read_characters("一我鱼句资吃嗯")] == [
        ("i",),
        ("uo",),
        ("v",),
        ("j", "v"),
        ("z", "ii"),
        ("ch", "iii"),
        ("n",),
    ]
    lexicon = Lexicon.from_texts(["长沙话啰", "长沙12好"])
    assert lexicon.units[0] == SILENCE and lexicon.pronunciations["长"] == ("ch", "ang")
    transcription = lexicon.transcribe("长沙 abc 话！嘞")  # abc unreadable, 嘞 unseen, ！ normalised away
    assert transcription.chars == "长沙话" and transcription.dropped == 4
    assert transcription.flat_units == ["ch", "ang", "sh", "a", "h", "ua"]
    assert Lexicon.from_json(lexicon.to_json()) == lexicon


def test_lexicon_refuses_a_transcript_without_known_characters():
    lexicon = Lexicon.from_texts(["长沙"])
    with pytest.raises(LexiconError, match="at least one character of the lexicon"):
        lexicon.transcribe("123 abc")
    with pytest.raises(LexiconError, match="none that pypinyin can read"):
        Lexicon.from_texts(["123", "abc"])
    assert issubclass(LexiconError, CsmsasrError)


# ---------------------------------------------------------------- bigram LM
def test_bigram_probabilities_sum_to_one_for_every_history():
    texts = ["长沙话", "长沙好", "好话", "沙"]
    lm = BigramLM.from_texts(texts)
    for history in ["<s>", *lm.vocabulary]:
        total = sum(lm.prob(w, history) for w in [*lm.vocabulary, "</s>"])
        assert total == pytest.approx(1.0, abs=1e-12)
    # hand computation: c(长, 沙) = 2 of c(长) = 2 with one distinct successor; D = 0.75
    # unigram: 9 characters + 4 sentence ends = 13 predicted symbols; 沙 3 times, 话 twice
    assert lm.prob("沙", "长") == pytest.approx((2 - 0.75) / 2 + 0.75 * 1 / 2 * 3 / 13)
    assert lm.prob("话", "长") == pytest.approx(0.75 * 1 / 2 * 2 / 13)
    assert lm.prob("沙", "长") > lm.prob("话", "长")


def test_bigram_tables_agree_with_the_model():
    lm = BigramLM.from_texts(["abca", "bcb", "ac"])
    tables = lm.tables()
    size = len(lm)
    for h in range(size + 1):
        seen = dict(
            zip(
                tables.successors[tables.indptr[h] : tables.indptr[h + 1]],
                tables.logprob[tables.indptr[h] : tables.indptr[h + 1]],
            )
        )
        for w in range(size + 1):
            value = seen.get(w, tables.backoff[h] + tables.unigram[w])
            assert value == pytest.approx(np.log(lm.prob_ids(h, w)))
    assert lm.sentence_logprob("ab") == pytest.approx(
        np.log(lm.prob("a", "<s>") * lm.prob("b", "a") * lm.prob("</s>", "b"))
    )
    assert BigramLM.from_json(lm.to_json()).tables().logprob.tolist() == tables.logprob.tolist()
    with pytest.raises(LanguageModelError, match="found 'z'"):
        lm.prob("z", "a")
    with pytest.raises(LanguageModelError, match="discount"):
        BigramLM.from_texts(["ab"], discount=1.5)


# ---------------------------------------------------------------- emissions, forward, Viterbi
def test_gmm_log_likelihood_matches_scipy():
    rng = np.random.default_rng(1)
    weights = rng.dirichlet(np.ones(3), size=2)
    means = rng.standard_normal((2, 3, 4))
    variances = rng.uniform(0.3, 2.0, (2, 3, 4))
    x = rng.standard_normal((5, 4))
    expected = np.array(
        [
            [
                logsumexp(
                    [
                        np.log(weights[s, m]) + multivariate_normal(means[s, m], np.diag(variances[s, m])).logpdf(frame)
                        for m in range(3)
                    ]
                )
                for s in range(2)
            ]
            for frame in x
        ]
    )
    np.testing.assert_allclose(gmm_log_likelihoods(x, weights, means, variances), expected, rtol=1e-10)


def _paths(frames: int, states: int):
    """Every left-to-right path from state 0 at frame 0 to the last state at the last frame."""
    for moves in itertools.combinations(range(1, frames), states - 1):
        path, state = [], 0
        for t in range(frames):
            state += t in moves
            path.append(state)
        yield path


def _path_score(path, emissions, log_self):
    move = np.log1p(-np.exp(log_self))
    score = emissions[0, path[0]]
    for t in range(1, len(path)):
        score += (log_self[path[t]] if path[t] == path[t - 1] else move[path[t - 1]]) + emissions[t, path[t]]
    return score


def test_forward_and_viterbi_match_enumeration_of_all_paths():
    rng = np.random.default_rng(2)
    emissions = rng.normal(-3, 2, (7, 3))
    log_self = np.log([0.6, 0.3, 0.8])
    scores = {tuple(p): _path_score(p, emissions, log_self) for p in _paths(7, 3)}
    assert len(scores) == 15  # C(6, 2)
    assert forward_chain(emissions, log_self) == pytest.approx(logsumexp(list(scores.values())))
    path, best = viterbi_chain(emissions, log_self)
    assert tuple(path) == max(scores, key=scores.get) and best == pytest.approx(max(scores.values()))
    with pytest.raises(HmmError, match="at least as many frames"):
        viterbi_chain(emissions[:2], log_self)


# ---------------------------------------------------------------- the character-loop decoder
def test_decoder_finds_the_obvious_path_in_a_hand_made_score_matrix():
    # units: 0 silence, 1–3 one per character a/b/c; 3 states each; frames: sil c a b sil
    lm = BigramLM.from_texts(["abc", "cab", "bca"])
    graph = DecodingGraph.build([[1], [2], [3]], lm.tables(), np.log(np.full(12, 0.7)))
    segments = [0] * 5 + [3] * 6 + [1] * 6 + [2] * 6 + [0] * 5
    scores = np.full((len(segments), 12), -10.0)
    for t, unit in enumerate(segments):
        scores[t, unit_states([unit])] = 0.0
    result = decode(scores, graph, lm_weight=1.0, beam=50.0)
    assert [lm.vocabulary[i] for i in result.chars] == ["c", "a", "b"]
    assert result.start_frames.tolist() == [5, 11, 17]
    assert decode(scores, graph, beam=1e9).chars.tolist() == result.chars.tolist()
    with pytest.raises(HmmError, match="frame scores"):
        decode(scores[:, :5], graph)


def test_decoder_matches_brute_force_over_all_character_sequences():
    rng = np.random.default_rng(3)
    lm = BigramLM.from_texts(["ab", "bca", "cc", "a"])
    char_units = [[1], [2], [1, 3]]  # c shares its first unit with a
    log_self = np.log(rng.uniform(0.2, 0.8, 4))
    graph = DecodingGraph.build(char_units, lm.tables(), log_self, states_per_unit=1)
    frames = 7
    scores = rng.normal(-2, 1.5, (frames, 4))
    lm_weight, penalty = 1.5, -0.7
    best_score, best_text = -np.inf, None
    for length in range(0, frames + 1):
        for sequence in itertools.product(range(3), repeat=length):
            units = [u for c in sequence for u in char_units[c]]
            for lead, tail in itertools.product([[], [0]], repeat=2):
                chain = lead + units + tail
                if not chain or len(chain) > frames:
                    continue
                if not units and not lead:  # silence alone is the start silence
                    continue
                _, acoustic = viterbi_chain(scores[:, chain], log_self[chain])
                text = "".join(lm.vocabulary[c] for c in sequence)
                total = acoustic + lm_weight * lm.sentence_logprob(text) + penalty * length
                if total > best_score:
                    best_score, best_text = total, text
    result = decode(scores, graph, lm_weight, penalty, beam=1e9)
    assert "".join(lm.vocabulary[c] for c in result.chars) == best_text
    assert result.score == pytest.approx(best_score)


# ---------------------------------------------------------------- training, alignment, save / load
def test_training_on_synthetic_tones_recovers_held_out_sentences(toy_model):
    model, audios, texts = toy_model
    assert model.lexicon.units == ["sil", "a", "i", "u"] and model.means.shape == (12, 2, 39)
    assert model.history[-1]["log_likelihood_per_frame"] > model.history[0]["log_likelihood_per_frame"]
    hypotheses = [model.transcribe(a) for a in audios]
    assert cer(texts, hypotheses) <= 0.1


def test_forced_alignment_labels_frames_in_transcript_order(toy_model):
    model, audios, texts = toy_model
    alignment = model.align(audios[0], texts[0])
    assert alignment.chars == texts[0] and len(alignment.units) == len(mfcc(audios[0]))
    index = model.lexicon.unit_index()
    runs = [u for u, _ in itertools.groupby(alignment.units.tolist())]
    assert runs == [0, *(index[model.lexicon.pronunciations[c][0]] for c in texts[0]), 0]
    with pytest.raises(HmmError, match="too short"):
        model.align(audios[0][:400], texts[0])  # 3 frames for at least 2 units × 3 states


def test_save_and_load_round_trip_gives_identical_transcriptions(toy_model, tmp_path):
    model, audios, _ = toy_model
    folder = model.save(tmp_path / "hmm")
    assert sorted(p.name for p in folder.iterdir()) == ["arrays.npz", "model.json"]
    np.load(folder / "arrays.npz", allow_pickle=False).close()  # plain arrays, no pickled objects
    loaded = HmmGmmRecognizer.load(folder)
    assert [loaded.transcribe(a) for a in audios] == [model.transcribe(a) for a in audios]
    assert loaded.config == model.config and loaded.name == "hmm-gmm"
    with pytest.raises(ModelFileError, match="model.json"):
        HmmGmmRecognizer.load(tmp_path / "missing")


def test_tune_decoder_reports_every_grid_point_and_applies_the_best(toy_model):
    model, audios, texts = toy_model
    before = model.decoder_settings()
    table = tune_decoder(model, audios[:3], texts[:3], lm_weights=(0.5, 1.0), insertion_penalties=(0.0, -5.0))
    assert list(table.columns) == ["lm_weight", "insertion_penalty", "cer"] and len(table) == 4
    assert table["cer"].is_monotonic_increasing
    assert (model.lm_weight, model.insertion_penalty) == (table.loc[0, "lm_weight"], table.loc[0, "insertion_penalty"])
    model.set_decoder(**before)


def test_training_refuses_mismatched_inputs():
    with pytest.raises(CsmsasrError, match="as many transcripts"):
        train_hmm_gmm([np.ones(1600, np.float32)], ["阿", "一"])
    with pytest.raises(CsmsasrError, match="increasing mixture counts"):
        train_hmm_gmm([np.ones(1600, np.float32)], ["阿"], HmmGmmConfig(mixtures=(2, 1)))
