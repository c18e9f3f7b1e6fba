"""``build_model(name)``: a baseline with MMSA's ``sims`` settings for CS-MSASR's data shapes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from csmsasr_utils.data.features import FEATURE_DIMS as _FEATURE_DIMS
from csmsasr_utils.data.features import MODALITIES, PADDED_LENGTHS
from csmsasr_utils.errors import InvalidArgument, UnknownName
from csmsasr_utils.msa.base import MSAModel
from csmsasr_utils.msa.hparams import MODEL_NAMES, hyperparameters, model_key

if TYPE_CHECKING:
    import pandas as pd

_MODELS: dict[str, type[MSAModel]] = {}

#: CS-MSASR's per-frame feature sizes and padded lengths as (text, audio, vision) tuples, the order
#: MMSA's models take them in; defined once, in :mod:`csmsasr_utils.data.features`.
FEATURE_DIMS: tuple[int, int, int] = tuple(_FEATURE_DIMS[m] for m in MODALITIES)
SEQ_LENS: tuple[int, int, int] = tuple(PADDED_LENGTHS[m] for m in MODALITIES)


def register(cls: type[MSAModel]) -> type[MSAModel]:
    """Class decorator: make ``cls`` available to :func:`build_model` under ``cls.key``."""
    if cls.key not in MODEL_NAMES:
        raise UnknownName(f"{cls.__name__}.key={cls.key!r} is not one of {list(MODEL_NAMES)}")
    _MODELS[cls.key] = cls
    return cls


def model_class(name: str) -> type[MSAModel]:
    """The class implementing ``name`` (imports the model modules on first use)."""
    import csmsasr_utils.msa.models  # noqa: F401  (registers every model)

    key = model_key(name)
    if key not in _MODELS:
        raise UnknownName(f"model {MODEL_NAMES[key]} is not implemented yet")
    return _MODELS[key]


def available_models() -> list[str]:
    """Display names of the implemented models, in the paper's order."""
    import csmsasr_utils.msa.models  # noqa: F401

    return [MODEL_NAMES[k] for k in MODEL_NAMES if k in _MODELS]


def build_model(
    name: str, feature_dims: Sequence[int] = FEATURE_DIMS, seq_lens: Sequence[int] = SEQ_LENS, **overrides: Any
) -> MSAModel:
    """Model ``name`` with MMSA's ``sims`` hyper-parameters (``overrides`` replace table entries
    or switch on one of the model's documented ``options``).

    ``feature_dims`` and ``seq_lens`` are those of the data (text, audio, vision), as MMSA's
    data loader sets them; the text dimension is 768 for BERT-token models whatever is given.
    """
    if len(feature_dims) != 3 or len(seq_lens) != 3:
        raise InvalidArgument("feature_dims and seq_lens need three entries: text, audio, vision")
    cls = model_class(name)
    hp = hyperparameters(name)
    unknown = sorted(set(overrides) - set(hp) - set(cls.options) - {"feature_dims", "seq_lens"})
    if unknown:
        raise UnknownName(f"{cls.display_name or name} has no hyper-parameter(s) {unknown}")
    hp.update(overrides)
    hp["feature_dims"] = [int(d) for d in feature_dims]
    hp["seq_lens"] = [int(n) for n in seq_lens]
    if cls.uses_bert_tokens:
        hp["feature_dims"][0] = 768
    return cls(hp)


def unavailable_reason(name: str) -> str | None:
    """Why model ``name`` cannot train here, or ``None`` when it can.

    Only ALMT has a requirement beyond this package: bert-base-chinese's weights, from the folder in
    ``CSMSASR_BERT_DIR`` (or the model hub, which the book never assumes reachable).
    """
    cls = model_class(name)
    if cls.uses_bert_tokens:
        from csmsasr_utils.msa.bert import bert_unavailable_reason

        return bert_unavailable_reason()
    return None


def input_treatment(cls: type[MSAModel]) -> str:
    """How the model reads audio and vision (and text), in words."""
    if cls.uses_bert_tokens:
        return "raw (text as BERT tokens)"
    if cls.normalized_input and cls.aligned_input:
        return "mean, repeated ×39"
    if cls.normalized_input:
        return "mean over padding"
    if cls.aligned_input:
        return "pooled to text length"
    return "raw sequences"


def model_overview(public_dir=None) -> pd.DataFrame:
    """One row per model: heads, input treatment, batch size, the learning rates its optimiser really
    uses (MFM ignores its table's rate; LMF and MLMF give their factors another), patience, options
    and trainable parameters at CS-MSASR's sizes.

    ALMT is counted with bert-base-chinese's public architecture and random weights (its count
    includes BERT); when that file cannot be had its count is missing.
    """
    import pandas as pd

    from csmsasr_utils.errors import PublicDataUnavailable

    rows = []
    for name in available_models():
        cls = model_class(name)
        hp = hyperparameters(name)
        try:
            if cls.uses_bert_tokens:
                from csmsasr_utils.msa.bert import bert_base_chinese_config

                model = build_model(name, pretrained=bert_base_chinese_config(public_dir))
            else:
                model = build_model(name)
            count = model.count_trainable_parameters()
            rates = sorted({g["lr"] for g in model.configure_optimizer().param_groups if g["lr"] > 0})
            del model
        except PublicDataUnavailable:
            count, rates = None, [hp["learning_rate"]]
        rows.append(
            {
                "model": name,
                "heads": "M, T, A, V" if cls.multitask else "M",
                "audio/vision input": input_treatment(cls),
                "batch": hp["batch_size"],
                "learning rates": " / ".join(f"{r:g}" for r in rates),
                "patience": hp["early_stop"],
                "trainable parameters": count,
                "options": ", ".join(sorted(cls.options)) or "—",
            }
        )
    return pd.DataFrame(rows).set_index("model")
