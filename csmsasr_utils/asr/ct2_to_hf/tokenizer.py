"""The converted folder's Whisper tokenizer and generation config, rebuilt from the CT2 folder.

**Tokenizer and generation config.** The tokenizer is the CT2 folder's ``tokenizer.json`` (the
original Hugging Face one) with Whisper's 107 special tokens declared special and the 1501
timestamp tokens ``<|0.00|>…<|30.00|>`` appended (they are in CT2's vocabulary but not in
``tokenizer.json``); every token of CT2's vocabulary file is checked to have the same id. The
generation config is the multilingual one: ``lang_to_id`` (from ``config.json``'s ``lang_ids``,
else the tokenizer's language tokens), ``task_to_id``, ``no_timestamps_token_id``,
``prev_sot_token_id``, CT2's ``suppress_ids`` and ``suppress_ids_begin`` as
``suppress_tokens``/``begin_suppress_tokens``, the alignment heads, and ``language``/``task``
(default ``zh``/``transcribe``), so that a plain ``generate`` starts with
``<|startoftranscript|><|zh|><|transcribe|><|notimestamps|>``; HFWhisperEngine passes the same
prompt explicitly.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from csmsasr_utils.asr.ct2_to_hf.ct2_format import CT2ConversionError
from csmsasr_utils.optional import import_transformers

_SPECIAL_REQUIRED = ("<|endoftext|>", "<|startoftranscript|>", "<|translate|>", "<|transcribe|>", "<|notimestamps|>")
_TIMESTAMP = re.compile(r"^<\|\d+\.\d\d\|>$")


def _read_vocabulary(ct2_dir: Path) -> list[str]:
    """CT2's vocabulary: ``vocabulary.json`` (a JSON list) or ``vocabulary.txt`` (one token a line)."""
    if (ct2_dir / "vocabulary.json").is_file():
        return list(json.loads((ct2_dir / "vocabulary.json").read_text(encoding="utf-8")))
    if (ct2_dir / "vocabulary.txt").is_file():
        lines = (ct2_dir / "vocabulary.txt").read_text(encoding="utf-8").split("\n")
        return lines[:-1] if lines and lines[-1] == "" else lines
    raise CT2ConversionError(f"{ct2_dir} has no vocabulary.txt or vocabulary.json")


def _build_tokenizer(ct2_dir: Path, vocabulary: list[str], language: str | None, task: str | None, max_length: int):
    """transformers' Whisper tokenizer from ``tokenizer.json``, matched id for id to CT2's vocabulary."""
    tf = import_transformers()
    from tokenizers import AddedToken

    source = ct2_dir / "tokenizer.json"
    if not source.is_file():
        raise CT2ConversionError(f"{ct2_dir} has no tokenizer.json: the tokenizer cannot be rebuilt")
    added = sorted(json.loads(source.read_text(encoding="utf-8")).get("added_tokens", []), key=lambda t: t["id"])
    specials = [token["content"] for token in added if token.get("special")]
    missing = [token for token in _SPECIAL_REQUIRED if token not in specials]
    if missing:
        raise CT2ConversionError(f"{source} is not a Whisper tokenizer: special tokens {missing} are missing")
    tokenizer = tf.WhisperTokenizer(
        tokenizer_file=str(source),
        extra_special_tokens=specials,
        pad_token="<|endoftext|>",
        language=language,
        task=task,
        predict_timestamps=False,
        model_max_length=max_length,
    )
    extra = vocabulary[len(tokenizer) :]
    if any(not _TIMESTAMP.match(token) for token in extra):
        raise CT2ConversionError(
            f"CT2's vocabulary has {len(extra)} tokens beyond tokenizer.json that are not all "
            "timestamp tokens <|t.tt|>: tokenizer.json does not belong to this model"
        )
    tokenizer.add_tokens([AddedToken(token, normalized=False, special=False) for token in extra])
    ids = tokenizer.convert_tokens_to_ids(vocabulary)
    wrong = [(i, token, got) for i, (token, got) in enumerate(zip(vocabulary, ids)) if got != i]
    if len(tokenizer) != len(vocabulary) or wrong:
        raise CT2ConversionError(
            f"tokenizer.json and CT2's vocabulary disagree ({len(tokenizer)} vs "
            f"{len(vocabulary)} tokens; first mismatches (id, token, tokenizer id): "
            f"{wrong[:3]})"
        )
    return tokenizer


def _generation_config(
    tf, tokenizer, ct2_config: dict, vocabulary: list[str], info: dict, language: str | None, task: str | None
):
    """A multilingual Whisper generation config, with CT2's token suppression and alignment heads."""
    ids = dict(zip(_SPECIAL_REQUIRED, tokenizer.convert_tokens_to_ids(list(_SPECIAL_REQUIRED))))
    lang_ids = ct2_config.get("lang_ids") or []
    lang_to_id = {vocabulary[i]: int(i) for i in lang_ids}
    if not lang_to_id:  # CT2 found no language tokens (e.g. a tokenizer without additional special tokens)
        from transformers.models.whisper.tokenization_whisper import LANGUAGES

        lang_to_id = {
            token: tokenizer.convert_tokens_to_ids(token)
            for token in tokenizer.all_special_tokens
            if token[2:-2] in LANGUAGES and token.startswith("<|") and token.endswith("|>")
        }
    settings = {
        "decoder_start_token_id": ids["<|startoftranscript|>"],
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|endoftext|>"],
        "pad_token_id": ids["<|endoftext|>"],
        "max_length": info["max_target_positions"],
        "suppress_tokens": ct2_config.get("suppress_ids") or None,
        "begin_suppress_tokens": ct2_config.get("suppress_ids_begin") or None,
        "no_timestamps_token_id": ids["<|notimestamps|>"],
        "task_to_id": {"transcribe": ids["<|transcribe|>"], "translate": ids["<|translate|>"]},
        "is_multilingual": bool(lang_to_id),
        "return_timestamps": False,
        "max_initial_timestamp_index": 50,  # 1 s, CT2's and faster-whisper's default
    }
    if "<|startofprev|>" in tokenizer.get_vocab():
        settings["prev_sot_token_id"] = tokenizer.convert_tokens_to_ids("<|startofprev|>")
    if ct2_config.get("alignment_heads"):
        settings["alignment_heads"] = [list(map(int, pair)) for pair in ct2_config["alignment_heads"]]
    if lang_to_id:
        settings["lang_to_id"] = lang_to_id
        settings["language"] = language
        settings["task"] = task
    return tf.GenerationConfig(**settings)
