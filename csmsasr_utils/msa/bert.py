"""Loading bert-base-chinese for ALMT: from a config (random weights), a local folder, or the hub.

ALMT fine-tunes ``bert-base-chinese``, whose ≈400 MB of weights no package ships. The book never
assumes the model hub is reachable: the weights come from a local folder (``pretrained=DIR`` or
the ``CSMSASR_BERT_DIR`` setting, see :mod:`csmsasr_utils.settings`). Tests and parameter counts
use the public architecture with random weights (:func:`bert_base_chinese_config`), which needs
no download. This module is apart from the model so that the registry can say whether ALMT can
train here without importing the model (and without an import cycle).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from csmsasr_utils import settings
from csmsasr_utils.errors import CsmsasrError
from csmsasr_utils.optional import import_transformers

#: The hub name ALMT's text encoder is known by; with it, ``CSMSASR_BERT_DIR`` is consulted.
DEFAULT_PRETRAINED = "bert-base-chinese"


def load_bert(pretrained: Any = DEFAULT_PRETRAINED):
    """BERT for ALMT's text: from a config (random weights), a local folder or the model hub.

    ``pretrained`` can be a :class:`transformers.BertConfig` or a dict of its fields, which
    gives random weights and needs no download. It can be an existing folder. Otherwise it is a
    hub name: for ``'bert-base-chinese'``, the folder in ``CSMSASR_BERT_DIR`` is used when that
    setting is set (a set folder that does not exist is an error, not a silent download).
    """
    transformers = import_transformers()
    BertConfig, BertModel = transformers.BertConfig, transformers.BertModel
    if isinstance(pretrained, Mapping):
        pretrained = BertConfig(**pretrained)
    if isinstance(pretrained, BertConfig):
        return BertModel(pretrained)
    source = str(pretrained)
    if not Path(source).is_dir() and source == DEFAULT_PRETRAINED:
        local = settings.bert_dir()
        if local is not None:
            source = str(local)
    try:
        return BertModel.from_pretrained(source)
    except OSError as err:  # no such folder, no network, no weights file
        raise CsmsasrError(
            f"could not load BERT weights from {source!r} ({str(err).splitlines()[0]}). ALMT fine-tunes "
            f"bert-base-chinese: {settings.setting('CSMSASR_BERT_DIR').advice}, or pass pretrained=DIR"
        ) from err


def bert_base_chinese_config(public_dir: str | os.PathLike | None = None):
    """bert-base-chinese's architecture from its public ``config.json`` (hash-checked; no weights).

    With it, ``build_model('almt', pretrained=bert_base_chinese_config())`` builds ALMT at full size
    with random BERT weights — enough to count parameters or time a step, not to train for real.
    """
    from csmsasr_utils.data.sources import fetch_public_file

    config = fetch_public_file("bert-base-chinese/config.json", public_dir)
    return import_transformers().BertConfig.from_json_file(str(config))


def bert_unavailable_reason() -> str | None:
    """Why ALMT's BERT weights cannot be loaded here without the hub, or ``None`` when a local folder is set."""
    try:
        folder = settings.bert_dir()
    except settings.SettingError as err:
        return str(err)
    if folder is None:
        return (
            "needs bert-base-chinese weights (≈400 MB, fine-tuned): set CSMSASR_BERT_DIR to a local copy, "
            "or train its e5 variant with csmsasr msa run --text-encoder e5"
        )
    return None
