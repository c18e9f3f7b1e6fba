"""Adapters for the authors' other models through transformers (optional extra ``hf``).

* :class:`HFWhisperEngine` — transformers' ``WhisperForConditionalGeneration`` (e.g.
  ``openai/whisper-small``, the model the authors fine-tuned), with the Chinese transcription
  prompt ``<|zh|><|transcribe|>``;
* :class:`Wav2Vec2Engine` — a wav2vec 2.0 CTC model (e.g.
  ``jonatasgrosman/wav2vec2-large-xlsr-53-chinese-zh-cn``), greedy CTC decoding.

Both load from a local folder (``save_pretrained`` layout) or, online, from the model hub. They
are tested offline with tiny randomly initialised models built from configs; with real weights
they are what `csmsasr asr transcribe --engine hf-whisper|wav2vec2 --model-dir …` uses.
Paraformer goes through FunASR instead: :class:`csmsasr_utils.asr.engines.paraformer.ParaformerEngine`
(optional extra ``paraformer``, ``--engine paraformer``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from csmsasr_utils.asr.audio import SAMPLE_RATE
from csmsasr_utils.asr.engines.base import TimedTranscription
from csmsasr_utils.errors import CsmsasrError
from csmsasr_utils.optional import import_transformers


def check_model(model: str | Path, model_type: str, what: str) -> str:
    """``model`` as a string if it can be a transformers ``model_type`` model, else a clear error.

    A local folder must hold a ``config.json`` whose ``model_type`` is ``model_type`` (a folder of
    another kind — a CTranslate2 or FunASR model, a BERT — fails here with a sentence that says what
    it is, instead of deep inside transformers); anything that is not an existing folder is left
    to transformers as a hub id.
    """
    folder = Path(str(model))
    if not folder.exists():
        return str(model)
    if not folder.is_dir():
        raise CsmsasrError(f"{folder} is a file, not a {what} model folder")
    config = folder / "config.json"
    if not config.is_file():
        hint = (
            " (it has a model.bin: a CTranslate2 model? use --engine whisper)"
            if (folder / "model.bin").is_file()
            else " (it has a config.yaml: a FunASR model? use --engine paraformer)"
            if (folder / "config.yaml").is_file()
            else ""
        )
        raise CsmsasrError(f"{folder} is not a {what} model folder: no config.json{hint}")
    try:
        found = json.loads(config.read_text(encoding="utf-8")).get("model_type")
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError) as err:
        raise CsmsasrError(f"{config} is not a readable transformers configuration: {err}") from err
    if found != model_type:
        raise CsmsasrError(
            f"{folder} holds a {found or 'model of no stated type'} model, not a {what} model "
            f"(config.json model_type should be {model_type!r})"
        )
    return str(folder)


#: Whisper's decoder prompt for Chinese transcription without timestamps.
CHINESE_PROMPT: tuple[str, ...] = ("<|startoftranscript|>", "<|zh|>", "<|transcribe|>", "<|notimestamps|>")


def whisper_prompt_ids(tokenizer) -> list[int]:
    """Token ids of :data:`CHINESE_PROMPT` in ``tokenizer``'s vocabulary."""
    return tokenizer.convert_tokens_to_ids(list(CHINESE_PROMPT))


def whisper_transcribe(
    model, processor, audios: list[np.ndarray], num_beams: int = 1, max_new_tokens: int = 128
) -> list[str]:
    """Transcribe a batch of 16 kHz clips with a transformers Whisper model and the Chinese prompt.

    The prompt is given as the decoder's first tokens, which works for every Whisper checkpoint,
    with or without a multilingual generation config. ``num_beams=1`` is greedy decoding;
    ``max_new_tokens`` is capped at what the decoder's positions leave after the prompt.
    """
    import torch

    features = processor.feature_extractor(
        [np.asarray(a, dtype=np.float32) for a in audios], sampling_rate=SAMPLE_RATE, return_tensors="pt"
    ).input_features
    device = next(model.parameters()).device
    prompt = whisper_prompt_ids(processor.tokenizer)
    start = torch.tensor([prompt] * len(audios), device=device)
    # never ask for more tokens than the decoder has positions (448 for OpenAI's Whisper)
    max_new_tokens = min(max_new_tokens, model.config.max_target_positions - len(prompt))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        ids = model.generate(
            features.to(device),
            decoder_input_ids=start,
            num_beams=num_beams,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            use_cache=True,
        )
    model.train(was_training)
    return [text.strip() for text in processor.tokenizer.batch_decode(ids, skip_special_tokens=True)]


@dataclass
class HFWhisperEngine(TimedTranscription):
    """Whisper through transformers; ``num_beams=1`` is the authors' greedy decoding."""

    model: str | Path
    num_beams: int = 1
    max_new_tokens: int = 128
    _parts: tuple = field(default=None, init=False, repr=False)

    @property
    def name(self) -> str:
        return f"hf-whisper-{Path(str(self.model)).name}-beam{self.num_beams}"

    def _load(self):
        if self._parts is None:
            source = check_model(self.model, "whisper", "Whisper")
            tf = import_transformers()
            processor = tf.WhisperProcessor.from_pretrained(source)
            model = tf.WhisperForConditionalGeneration.from_pretrained(source).eval()
            self._parts = (processor, model, whisper_prompt_ids(processor.tokenizer))
        return self._parts

    def transcribe(self, audio: np.ndarray) -> str:
        processor, model, _ = self._load()
        return whisper_transcribe(model, processor, [audio], self.num_beams, self.max_new_tokens)[0]


@dataclass
class Wav2Vec2Engine(TimedTranscription):
    """A wav2vec 2.0 CTC model with its processor; greedy decoding."""

    model: str | Path
    _parts: tuple = field(default=None, init=False, repr=False)

    @property
    def name(self) -> str:
        return f"wav2vec2-{Path(str(self.model)).name}"

    def _load(self):
        if self._parts is None:
            source = check_model(self.model, "wav2vec2", "wav2vec 2.0")
            tf = import_transformers()
            processor = tf.Wav2Vec2Processor.from_pretrained(source)
            model = tf.Wav2Vec2ForCTC.from_pretrained(source).eval()
            self._parts = (processor, model)
        return self._parts

    def transcribe(self, audio: np.ndarray) -> str:
        import torch

        processor, model = self._load()
        inputs = processor(np.asarray(audio, dtype=np.float32), sampling_rate=SAMPLE_RATE, return_tensors="pt")
        with torch.no_grad():
            logits = model(inputs.input_values).logits
        return processor.batch_decode(logits.argmax(dim=-1))[0].strip()
