"""The exception family: InvalidArgument / UnknownName stay ValueError / KeyError, and call sites raise them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from csmsasr_utils.errors import CsmsasrError, InvalidArgument, UnknownName


def test_invalid_argument_is_a_csmsasr_error_and_a_value_error():
    err = InvalidArgument("batch_size must be positive, got 0")
    assert isinstance(err, CsmsasrError) and isinstance(err, ValueError)
    assert str(err) == "batch_size must be positive, got 0"
    # code written before the class existed keeps catching it
    with pytest.raises(ValueError):
        raise err
    try:
        raise InvalidArgument("bad")
    except ValueError as caught:
        assert isinstance(caught, InvalidArgument)


def test_unknown_name_is_an_invalid_argument_and_a_key_error():
    err = UnknownName("unknown model 'BERT'; known: TFN")
    assert isinstance(err, InvalidArgument) and isinstance(err, CsmsasrError)
    assert isinstance(err, KeyError) and isinstance(err, ValueError)
    assert str(err) == "unknown model 'BERT'; known: TFN"  # not quoted, unlike KeyError's str
    for caught_as in (KeyError, ValueError, CsmsasrError):
        with pytest.raises(caught_as):
            raise UnknownName("x")
    assert str(UnknownName()) == ""


def test_agreement_rejects_bad_choices():
    from csmsasr_utils import agreement as ag

    with pytest.raises(InvalidArgument, match="weights must be None or 'quadratic', got 'linear'"):
        ag.cohen_kappa(np.array([0, 1]), np.array([0, 1]), 2, weights="linear")
    with pytest.raises(InvalidArgument, match="modality must be 'T', 'A' or 'V', got 'M'"):
        ag.opposing_polarity(pd.DataFrame(), "M")
    with pytest.raises(InvalidArgument, match="level must be 'ordinal' or 'interval'"):
        ag.krippendorff_alpha(pd.DataFrame({"M": [0.0, 1.0], "T": [0.0, 1.0]}), "nominal")


def test_label_matrix_names_the_missing_columns():
    from csmsasr_utils import agreement as ag

    with pytest.raises(UnknownName, match=r"metadata lacks \['label_t', 'label_a', 'label_v'\].*load_dataset"):
        ag.label_matrix(pd.DataFrame({"clip_id": ["a"], "label_m": [0.0]}))


def test_demo_metadata_needs_enough_clips():
    from csmsasr_utils.data.demo import make_demo_metadata

    with pytest.raises(InvalidArgument, match="n_clips must be at least 20, got 3"):
        make_demo_metadata(n_clips=3)


def test_model_key_names_the_known_models():
    from csmsasr_utils.msa.hparams import model_key

    with pytest.raises(UnknownName, match="unknown model 'BERT'; known: LF_DNN, TFN"):
        model_key("BERT")


def test_alignment_and_batching_reject_bad_sizes():
    import torch

    from csmsasr_utils.msa.alignment import align_to_length, pool_window
    from csmsasr_utils.msa.tensors import batch_rows

    with pytest.raises(InvalidArgument, match="lengths must be positive, got 0 and 39"):
        pool_window(0, 39)
    with pytest.raises(InvalidArgument, match=r"expected \(batch, time, dim\), got shape \(5, 1\)"):
        align_to_length(torch.zeros(5, 1), 2)
    with pytest.raises(InvalidArgument, match="batch_size must be positive, got 0"):
        next(batch_rows(np.arange(3), 0))


def test_bert_tokens_need_room_for_cls_and_sep():
    from csmsasr_utils.msa.bert_tokens import encode_transcripts

    with pytest.raises(InvalidArgument, match=r"room for \[CLS\] and \[SEP\], got 1"):
        encode_transcripts(["好"], length=1)


def test_fit_refuses_an_empty_split_before_touching_the_model():
    from csmsasr_utils.msa.trainer import fit

    splits = {"train": np.arange(3), "valid": np.array([], int), "test": np.arange(2)}
    with pytest.raises(InvalidArgument, match=r"split_rows\['valid'\] is empty: 'train', 'valid' and 'test'"):
        fit(None, None, splits, seed=0)  # type: ignore[arg-type]


def test_embedding_scatter_rejects_an_unknown_kind():
    from csmsasr_utils.plots import embedding_scatter

    with pytest.raises(InvalidArgument, match="kind must be 'label' or 'category', got 'video'"):
        embedding_scatter(None, np.zeros((2, 2)), np.zeros(2), kind="video", title="")  # type: ignore[arg-type]
