"""The MFCC + SVM recogniser: our replica of scikit-learn's calibrated SVM, the posterior →
scaled-likelihood → loop-decoder path on a hand-made posterior sequence, and end-to-end
training on the synthetic tones (targets from the HMM-GMM's forced alignment)."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.svm import SVC

from csmsasr_utils.asr.hmm_gmm import ModelFileError, train_hmm_gmm
from csmsasr_utils.asr.lexicon import Lexicon
from csmsasr_utils.asr.metrics import cer
from csmsasr_utils.asr.ngram import BigramLM
from csmsasr_utils.asr.svm_asr import (
    SvmArrays,
    SvmConfig,
    SvmRecognizer,
    SvmTrainingError,
    one_vs_rest,
    splice,
    svm_decision_values,
    svm_posteriors,
    train_svm_recognizer,
)
from tests.asr.test_hmm_gmm import TOY_CONFIG, tone_corpus


@pytest.mark.parametrize("n_classes", [2, 3, 5])
def test_our_posteriors_equal_scikit_learns(n_classes):
    rng = np.random.default_rng(n_classes)
    x = rng.standard_normal((160, 4))
    y = np.digitize(x[:, 0] + 0.5 * x[:, 1], np.linspace(-1, 1, n_classes - 1))
    model = CalibratedClassifierCV(SVC(kernel="rbf", C=3.0), method="sigmoid", cv=3, ensemble=False).fit(x, y)
    arrays = SvmArrays.from_calibrated(model)
    svc = model.calibrated_classifiers_[0].estimator
    test = rng.standard_normal((30, 4))
    if n_classes > 2:
        np.testing.assert_allclose(
            one_vs_rest(svm_decision_values(arrays, test), n_classes), svc.decision_function(test), atol=1e-10
        )
    else:  # libsvm's sign: positive favours the first class
        np.testing.assert_allclose(svm_decision_values(arrays, test)[:, 0], -svc.decision_function(test), atol=1e-10)
    np.testing.assert_allclose(svm_posteriors(arrays, test), model.predict_proba(test), atol=1e-10)


def test_splice_stacks_neighbours_with_repeated_edges():
    x = np.arange(8, dtype=np.float32).reshape(4, 2)
    out = splice(x, 1)
    assert out.shape == (4, 6)
    np.testing.assert_array_equal(out[0], [0, 1, 0, 1, 2, 3])
    np.testing.assert_array_equal(out[3], [4, 5, 6, 7, 6, 7])


def test_decoding_a_hand_made_posterior_sequence():
    lexicon = Lexicon.from_texts(["阿一乌", "乌阿"])  # units sil, a, i, u — one per character
    lm = BigramLM.from_texts(["阿一乌", "乌阿"], vocabulary=lexicon.chars)
    arrays = SvmArrays(
        np.zeros((4, 1)), np.zeros((3, 4)), np.zeros(6), np.ones(4, np.int64), np.zeros(4), np.zeros(4), 1.0
    )
    recognizer = SvmRecognizer(
        lexicon, lm, np.log(np.full(12, 0.6)), arrays, np.arange(4), np.log(np.full(4, 0.25)), SvmConfig(lm_weight=1.0)
    )
    frames = [0] * 4 + [3] * 5 + [1] * 5 + [2] * 5 + [0] * 4  # sil 乌 阿 一 sil
    posteriors = np.full((len(frames), 4), 0.1)
    posteriors[np.arange(len(frames)), frames] = 0.7
    recognizer.unit_posteriors = lambda features: posteriors  # the SVM is replaced by the hand-made sequence
    scores = recognizer.frame_scores(np.zeros((len(frames), 39)))
    assert scores.shape == (len(frames), 12)
    np.testing.assert_allclose(scores[0, :3], np.log(0.7 / 0.25))  # the three states of silence share a score
    assert recognizer.decode_scores(scores) == "乌阿一"


@pytest.fixture(scope="module")
def toy_recognizers():
    audios, texts = tone_corpus(20, seed=0)
    hmm = train_hmm_gmm(audios, texts, TOY_CONFIG)
    svm = train_svm_recognizer(hmm, audios, texts, SvmConfig(frames_per_unit=60, lm_weight=1.0))
    return hmm, svm, *tone_corpus(8, seed=1)


def test_svm_recognizer_learns_the_tones(toy_recognizers):
    _, svm, audios, texts = toy_recognizers
    assert svm.name == "mfcc-svm" and svm.history["classes"] == 4 and svm.history["frames_trained"] == 240
    assert cer(texts, [svm.transcribe(a) for a in audios]) <= 0.1
    transcript, seconds = svm.timed_transcribe(audios[0])
    assert transcript == svm.transcribe(audios[0]) and seconds > 0


def test_svm_save_and_load_round_trip_gives_identical_transcriptions(toy_recognizers, tmp_path):
    hmm, svm, audios, _ = toy_recognizers
    folder = svm.save(tmp_path / "svm")
    np.load(folder / "arrays.npz", allow_pickle=False).close()
    loaded = SvmRecognizer.load(folder)
    assert [loaded.transcribe(a) for a in audios] == [svm.transcribe(a) for a in audios]
    with pytest.raises(ModelFileError, match="expected a 'mfcc-svm' model"):
        SvmRecognizer.load(hmm.save(tmp_path / "hmm"))


def test_svm_training_refuses_unusable_data(toy_recognizers):
    hmm, *_ = toy_recognizers
    with pytest.raises(SvmTrainingError, match="as many transcripts"):
        train_svm_recognizer(hmm, [np.ones(1600, np.float32)], [])
    with pytest.raises(SvmTrainingError, match="at least one utterance"):
        train_svm_recognizer(hmm, [np.random.default_rng(0).standard_normal(400).astype(np.float32)], ["阿一乌"])
