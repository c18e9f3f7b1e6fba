"""MFCC features for the classic recognisers (HMM-GMM, MFCC + SVM): 13 cepstra + Δ + ΔΔ = 39.

Why MFCC and not the log-mel of :mod:`csmsasr_utils.asr.ctc`? A diagonal-covariance Gaussian
assumes the feature dimensions are uncorrelated. Neighbouring mel bands are strongly correlated;
the DCT of the log-mel (the *cepstrum*) decorrelates them, and keeping only the first 13
coefficients keeps the smooth spectral envelope (the vocal tract) and drops the fine structure
(the pitch harmonics). This is the front-end of HTK / Kaldi / Sphinx-style HMM-GMM systems:

1. log-mel, 40 bands, 25 ms windows every 10 ms — :func:`csmsasr_utils.asr.ctc.log_mel`, the
   same filterbank the CTC model uses (no second implementation);
2. DCT-II (orthonormal) over the bands, first ``N_CEPSTRA`` coefficients (c0 included: the
   log energy of the frame);
3. Δ and ΔΔ: regression over ±2 frames (HTK's formula, edges repeated) — how the spectrum moves;
4. per-utterance CMVN: every dimension to mean 0, variance 1 over the utterance, which removes
   the channel (microphone, room) as a constant cepstral offset.
"""

from __future__ import annotations

import numpy as np
from scipy.fft import dct

from csmsasr_utils.asr.audio import SAMPLE_RATE, AudioError
from csmsasr_utils.asr.ctc import log_mel

N_MELS = 40
N_CEPSTRA = 13
DELTA_WINDOW = 2
N_FEATURES = 3 * N_CEPSTRA
#: Audio whose largest absolute sample is below this is "silent" and refused.
SILENCE_THRESHOLD = 1e-4


def deltas(features: np.ndarray, window: int = DELTA_WINDOW) -> np.ndarray:
    """HTK regression deltas: ``d_t = Σ_n n (c_{t+n} − c_{t−n}) / (2 Σ_n n²)``, n = 1..window.

    Frames beyond either edge repeat the first / last frame. Shape is kept: (T, D) → (T, D).
    """
    features = np.asarray(features, dtype=np.float64)
    padded = np.pad(features, ((window, window), (0, 0)), mode="edge")
    total = len(features)
    numerator = sum(
        n * (padded[window + n : window + n + total] - padded[window - n : window - n + total])
        for n in range(1, window + 1)
    )
    return numerator / (2.0 * sum(n * n for n in range(1, window + 1)))


def cmvn(features: np.ndarray, floor: float = 1e-8) -> np.ndarray:
    """Per-utterance cepstral mean and variance normalisation (each column to mean 0, std 1)."""
    features = np.asarray(features, dtype=np.float64)
    return (features - features.mean(axis=0)) / np.maximum(features.std(axis=0), floor)


def _check_audio(audio: np.ndarray, sample_rate: int) -> np.ndarray:
    if sample_rate != SAMPLE_RATE:
        raise AudioError(
            f"mfcc expects {SAMPLE_RATE} Hz audio, found {sample_rate} Hz; resample it first "
            "(csmsasr_utils.asr.audio.load_audio does)"
        )
    signal = np.asarray(audio, dtype=np.float32)
    if signal.ndim != 1:
        raise AudioError(
            f"mfcc expects mono audio as a 1-D array, found shape {signal.shape}; average the channels first"
        )
    if signal.size == 0:
        raise AudioError("mfcc expects audio samples, found an empty array; check the file was decoded")
    if not np.all(np.isfinite(signal)):
        raise AudioError(
            f"mfcc expects finite samples, found {int((~np.isfinite(signal)).sum())} NaN/inf "
            "values; the file is corrupt or was decoded wrongly"
        )
    peak = float(np.abs(signal).max())
    if peak < SILENCE_THRESHOLD:
        raise AudioError(
            f"mfcc expects speech, found silent audio (max |x| = {peak:.2g} < {SILENCE_THRESHOLD:g}); "
            "check the clip and its volume"
        )
    return signal


def mfcc(audio: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
    """39 MFCC features per 10 ms frame: 13 cepstra, Δ, ΔΔ, CMVN-normalised. Shape (T, 39) float32.

    Raises :class:`~csmsasr_utils.asr.audio.AudioError` for empty, non-finite, multi-channel or
    silent (max ``|x|`` < :data:`SILENCE_THRESHOLD`) audio, or a sample rate other than 16 kHz.
    """
    signal = _check_audio(audio, sample_rate)
    cepstra = dct(log_mel(signal, n_mels=N_MELS).astype(np.float64), type=2, norm="ortho", axis=1)[:, :N_CEPSTRA]
    delta = deltas(cepstra)
    stacked = np.concatenate([cepstra, delta, deltas(delta)], axis=1)
    return cmvn(stacked).astype(np.float32)
