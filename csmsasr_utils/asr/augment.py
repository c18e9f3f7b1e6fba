"""Make one clean synthetic utterance sound like one recording among many: rate, pitch, room, noise.

Each step is a few lines of numpy/scipy, seeded, so a clip's audio is the same on every machine:

* **pitch** — resampling: a signal played ``p`` times faster is ``p`` times higher *and* shorter;
  the speech engine is asked for speech ``p`` times slower first (:mod:`csmsasr_utils.asr.tts`), so
  the speaking rate stays what was drawn;
* **reverberation** — convolution with a synthetic room impulse response: the direct sound, then
  Gaussian noise under an exponential decay that falls by 60 dB in ``rt60_s`` seconds, mixed in at
  ``reverb_mix`` of the signal's energy;
* **noise** — white Gaussian noise at ``snr_db`` below the speech's power.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np


@dataclass(frozen=True)
class Variation:
    """How one clip is spoken and recorded. The defaults change nothing."""

    voice: str = ""
    rate: float = 1.0
    pitch_semitones: float = 0.0
    snr_db: float | None = None  # None: no added noise
    rt60_s: float = 0.0  # 0: no reverberation
    reverb_mix: float = 0.0
    seed: int = 0


def resample_ratio(signal: np.ndarray, ratio: float, max_denominator: int = 400) -> np.ndarray:
    """``signal`` resampled to ``ratio`` times as many samples (polyphase, a rational approximation)."""
    from scipy.signal import resample_poly

    fraction = Fraction(ratio).limit_denominator(max_denominator)
    if fraction == 1:
        return np.asarray(signal, dtype=np.float32)
    return resample_poly(signal, fraction.numerator, fraction.denominator).astype(np.float32)


def room_impulse_response(rt60_s: float, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """A synthetic room: 1 at time 0, then decaying Gaussian noise (−60 dB after ``rt60_s``), unit-energy tail."""
    n = max(1, int(rt60_s * sample_rate))
    t = np.arange(n) / sample_rate
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60_s)  # ln(1000) = 6.9078: 60 dB
    tail[0] = 0.0
    tail /= np.sqrt(np.sum(tail**2)) or 1.0
    return tail


def apply_variation(signal: np.ndarray, in_rate: int, out_rate: int, variation: Variation) -> np.ndarray:
    """``signal`` (at ``in_rate``) pitch-shifted, reverberated and noised as ``variation`` says, at ``out_rate``.

    The output peaks at most at 0.99 (scaled down if the noise pushed it further).
    """
    from scipy.signal import fftconvolve

    rng = np.random.default_rng(variation.seed)
    pitch = 2.0 ** (variation.pitch_semitones / 12.0)
    # read the samples as if recorded at in_rate * pitch: higher and shorter
    audio = resample_ratio(np.asarray(signal, dtype=np.float64), out_rate / (in_rate * pitch)).astype(np.float64)
    power = float(np.mean(audio**2)) if audio.size else 0.0
    if variation.rt60_s > 0 and variation.reverb_mix > 0 and power > 0:
        wet = fftconvolve(audio, room_impulse_response(variation.rt60_s, out_rate, rng))[: audio.size]
        wet *= np.sqrt(power / (np.mean(wet**2) or 1.0))
        mix = variation.reverb_mix
        audio = np.sqrt(1 - mix) * audio + np.sqrt(mix) * wet
    if variation.snr_db is not None and power > 0:
        audio = audio + rng.standard_normal(audio.size) * np.sqrt(power / 10 ** (variation.snr_db / 10))
    peak = float(np.max(np.abs(audio))) if audio.size else 0.0
    if peak > 0.99:
        audio *= 0.99 / peak
    return audio.astype(np.float32)
