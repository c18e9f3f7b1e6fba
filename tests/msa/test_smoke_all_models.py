"""Every baseline trains one epoch on a few clips at CS-MSASR's full lengths (39/553/321)."""

import numpy as np
import pytest
import torch
from transformers import BertConfig

from csmsasr_utils.data import FULL_SEQ_LENS, make_demo
from csmsasr_utils.data.features import features_from_dict
from csmsasr_utils.msa.hparams import MODEL_NAMES
from csmsasr_utils.msa.registry import available_models
from csmsasr_utils.msa.tensors import MSATensors
from csmsasr_utils.msa.trainer import train_baseline

TINY_BERT = BertConfig(
    vocab_size=200,
    hidden_size=32,
    num_hidden_layers=1,
    num_attention_heads=2,
    intermediate_size=64,
    max_position_embeddings=64,
)


@pytest.fixture(scope="module")
def full_length_data():
    raw = make_demo(n_clips=20, seq_lens=FULL_SEQ_LENS)
    features = features_from_dict(raw, source="demo")
    rng = np.random.default_rng(0)
    text_bert = np.zeros((20, 3, 39), dtype=np.float32)
    text_bert[:, 0, 1:11] = rng.integers(5, 200, size=(20, 10))
    text_bert[:, 0, 0], text_bert[:, 0, 11] = 101 % 200, 102 % 200
    text_bert[:, 1, :12] = 1
    return MSATensors.from_features(features, text_bert=text_bert)


def test_every_model_is_implemented():
    assert available_models() == list(MODEL_NAMES.values())


@pytest.mark.slow
@pytest.mark.parametrize("name", list(MODEL_NAMES.values()))
def test_one_epoch_at_full_lengths(name, full_length_data):
    assert full_length_data.seq_lens == (39, 553, 321)
    rows = {"train": np.arange(12), "valid": np.arange(12, 16), "test": np.arange(16, 20)}
    overrides = {"pretrained": TINY_BERT} if name == "ALMT" else {}
    torch.manual_seed(0)
    result = train_baseline(name, full_length_data, rows, seed=1111, max_epochs=1, show_progress=False, **overrides)
    assert result.epochs == 1 and result.best_epoch == 1
    assert len(result.test_predictions) == 4 and np.all(np.isfinite(result.test_predictions))
    assert np.isfinite(result.history[0].train_loss) and np.isfinite(result.history[0].valid_loss)
    assert result.test_clip_ids == list(full_length_data.clip_ids[16:20])
