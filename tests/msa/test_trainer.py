"""The generic trainer: early stopping, best-epoch restore, accumulation, determinism."""

import numpy as np
import pytest
import torch

from csmsasr_utils.data import make_demo
from csmsasr_utils.data.features import features_from_dict
from csmsasr_utils.msa.base import MSAModel
from csmsasr_utils.msa.metrics import sims_regression_metrics
from csmsasr_utils.msa.tensors import MSATensors, batch_rows
from csmsasr_utils.msa.trainer import fit, seed_everything


class ToyModel(MSAModel):
    """A linear model on mean-pooled features (normalised input), enough to exercise the loop."""

    key, display_name, normalized_input = "toy", "Toy", True

    def __init__(self, hp, dims=(768, 13, 347)):
        super().__init__(hp)
        self.linear = torch.nn.Linear(sum(dims), 1)

    def forward(self, text, audio, vision):
        pooled = torch.cat([text.mean(1), audio[:, 0], vision[:, 0]], dim=1)
        return {"M": self.linear(pooled)}


@pytest.fixture(scope="module")
def data():
    raw = make_demo(n_clips=120, seq_lens={"text": 39, "audio": 20, "vision": 15})
    return MSATensors.from_features(features_from_dict(raw, source="demo"))


def split(n=120):
    rows = np.arange(n)
    return {"train": rows[:80], "valid": rows[80:100], "test": rows[100:]}


def make_toy(**hp):
    seed_everything(0)
    base = {"batch_size": 16, "learning_rate": 1e-3, "early_stop": 3}
    return ToyModel({**base, **hp})


def test_zero_learning_rate_stops_after_patience_at_epoch_one(data):
    result = fit(make_toy(learning_rate=0.0), data, split(), seed=1, show_progress=False)
    assert result.best_epoch == 1
    assert result.epochs == 1 + 3  # three epochs without improvement
    assert result.stopped_by == "early stopping"
    assert len({e.valid_loss for e in result.history}) == 1


def test_epoch_cap_and_restored_best_weights(data):
    model = make_toy(learning_rate=0.05)
    result = fit(model, data, split(), seed=1, max_epochs=4, show_progress=False)
    assert result.epochs == 4 and result.stopped_by == "epoch cap"
    best = min(result.history, key=lambda e: (e.valid_loss, e.epoch))
    assert result.best_epoch == best.epoch
    # the returned metrics are those of the restored best weights
    text, audio, vision = data.model_inputs(model)
    model.eval()
    with torch.no_grad():
        pred = model(text[100:], audio[100:], vision[100:])["M"].flatten().numpy()
    assert result.test_metrics == sims_regression_metrics(pred, data.labels["M"][100:].numpy())
    assert result.test_predictions == pytest.approx(pred.tolist(), abs=1e-6)


def test_same_seed_same_result_other_seed_other_shuffle(data):
    a = fit(make_toy(), data, split(), seed=7, max_epochs=2, show_progress=False)
    b = fit(make_toy(), data, split(), seed=7, max_epochs=2, show_progress=False)
    c = fit(make_toy(), data, split(), seed=8, max_epochs=2, show_progress=False)
    assert a.test_predictions == b.test_predictions
    assert a.test_predictions != c.test_predictions


def test_update_every_accumulates_and_drops_leftover(data, monkeypatch):
    model = make_toy()
    model.update_every = 2
    steps = []
    optimizer = model.configure_optimizer()
    original = optimizer.step
    monkeypatch.setattr(optimizer, "step", lambda *a, **k: (steps.append(1), original(*a, **k)))
    monkeypatch.setattr(model, "configure_optimizer", lambda: optimizer)
    fit(model, data, split(), seed=1, max_epochs=1, show_progress=False)
    # 80 training rows in batches of 16 = 5 batches: steps after batches 2 and 4; batch 5 dropped
    assert len(steps) == 2


def test_batches_cover_every_row_once_and_shuffle_by_seed():
    rows = np.arange(50)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    b1 = list(batch_rows(rows, 16, g1))
    assert [len(b) for b in b1] == [16, 16, 16, 2]
    assert sorted(np.concatenate(b1)) == list(rows)
    assert all(np.array_equal(x, y) for x, y in zip(b1, batch_rows(rows, 16, g2)))
    assert not np.array_equal(np.concatenate(b1), rows)


def test_normalised_view_averages_over_padded_length(data):
    _, audio, vision = data.model_inputs(ToyModel)
    assert audio.shape == (120, 1, 13) and vision.shape == (120, 1, 347)
    torch.testing.assert_close(audio[:, 0], data.audio.mean(1))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("name", ["EF_LSTM", "MFN", "Graph_MFN", "MFM"])
def test_aligned_view_pools_each_clip_once_bit_for_bit_as_each_batch(name, threads):
    """Pooling all clips once and indexing a batch gives exactly what MMSA's per-batch pooling gives."""
    from csmsasr_utils.data.demo import FULL_SEQ_LENS
    from csmsasr_utils.msa.alignment import align_to_length, mean_over_padded_time
    from csmsasr_utils.msa.registry import model_class

    full = MSATensors.from_features(features_from_dict(make_demo(n_clips=70, seq_lens=FULL_SEQ_LENS), source="demo"))
    cls = model_class(name)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        text, audio, vision = full.model_inputs(cls)
        assert audio.shape == (70, 39, 13) and vision.shape == (70, 39, 347) and text is full.text
        assert full.model_inputs(cls)[2] is vision  # computed once, then reused
        generator = np.random.default_rng(threads)
        for size in (1, 7, 32, 64):
            rows = torch.from_numpy(generator.choice(70, size=size, replace=False))
            raw = (full.audio[rows], full.vision[rows])
            if cls.normalized_input:  # MFN: the padded-length averages, then repeated
                raw = tuple(mean_over_padded_time(x) for x in raw)
            assert torch.equal(audio[rows], align_to_length(raw[0], 39))
            assert torch.equal(vision[rows], align_to_length(raw[1], 39))
    finally:
        torch.set_num_threads(before)


def test_empty_split_is_refused(data):
    with pytest.raises(ValueError, match="valid"):
        fit(make_toy(), data, {"train": np.arange(10), "valid": np.array([], int), "test": np.arange(3)}, seed=1)
