"""The generic trainer: early stopping, best-epoch restore, accumulation, determinism."""

import numpy as np
import pytest
import torch

from csmsasr_utils.data import make_demo
from csmsasr_utils.data.features import features_from_dict
from csmsasr_utils.msa.base import MSAModel
from csmsasr_utils.msa.metrics import sims_regression_metrics
from csmsasr_utils.msa.tensors import MSATensors, batch_rows, mmsa_shuffled_batches
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
    rows = split()
    rows["valid"] = rows["valid"][:16]  # one full batch: the shuffled order cannot change its mean
    result = fit(make_toy(learning_rate=0.0), data, rows, seed=1, show_progress=False)
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


def test_same_global_seed_same_run_other_seed_other_shuffle(data):
    def run(seed):
        model = make_toy()  # the same initial weights every time
        torch.manual_seed(seed)  # the stream MMSA's loaders shuffle from
        return fit(model, data, split(), seed=seed, max_epochs=2, show_progress=False)

    a, b, c = run(7), run(7), run(8)
    assert a.test_predictions == b.test_predictions and a.history == b.history
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


@pytest.mark.parametrize("n, batch_size", [(50, 16), (17, 4), (5, 8)])
def test_shuffled_batches_are_torch_dataloaders_and_move_the_global_stream_as_it_does(n, batch_size):
    """Against torch's own ``DataLoader(shuffle=True)``, MMSA's loader, with dropout masks in between."""
    rows = np.arange(1000, 1000 + n)[::-1].copy()  # row positions in any order: the split's order

    def masks_and_batches(next_batches):
        torch.manual_seed(11)
        passes, masks = [], []
        for _ in range(3):  # three epochs, a dropout mask drawn after each pass
            passes.append([np.asarray(b) for b in next_batches()])
            masks.append(torch.nn.functional.dropout(torch.ones(64), 0.5, training=True))
        return passes, masks, torch.get_rng_state()

    loader = torch.utils.data.DataLoader(torch.from_numpy(rows), batch_size=batch_size, shuffle=True)
    expected = masks_and_batches(lambda: [b.numpy() for b in loader])
    ours = masks_and_batches(lambda: mmsa_shuffled_batches(rows, batch_size))
    for theirs, mine in zip(expected[0], ours[0]):
        assert [b.tolist() for b in theirs] == [b.tolist() for b in mine]
    assert all(torch.equal(x, y) for x, y in zip(expected[1], ours[1]))
    assert torch.equal(expected[2], ours[2])
    first = ours[0][0]
    assert sorted(np.concatenate(first).tolist()) == sorted(rows.tolist())
    assert [len(b) for b in first] == [len(b) for b in batch_rows(rows, batch_size)]

    # a member's own stream: the same batches as the global stream in the same state, which stays put
    torch.manual_seed(11)
    stream = torch.Generator().set_state(torch.get_rng_state())
    global_before = torch.get_rng_state()
    member = mmsa_shuffled_batches(rows, batch_size, stream)
    assert torch.equal(torch.get_rng_state(), global_before)
    assert [b.tolist() for b in member] == [b.tolist() for b in expected[0][0]]


def test_a_refused_batch_size_draws_nothing():
    stream = torch.Generator().manual_seed(3)
    before = stream.get_state()
    with pytest.raises(ValueError, match="batch_size"):
        mmsa_shuffled_batches(np.arange(10), 0, stream)
    assert torch.equal(stream.get_state(), before)


class DropoutToy(ToyModel):
    """The toy model with dropout before its layer: each run's masks depend on the stream's place."""

    def forward(self, text, audio, vision):
        pooled = torch.cat([text.mean(1), audio[:, 0], vision[:, 0]], dim=1)
        return {"M": self.linear(torch.nn.functional.dropout(pooled, 0.3, self.training))}


def test_fit_trains_as_mmsas_loop_with_torchs_dataloaders(data):
    """MMSA's loop written out with ``DataLoader(shuffle=True)`` for every split (its
    ``data_loader.py``), Adam, per-batch mean validation loss: the same losses, epoch by epoch."""
    rows = split()
    seed_everything(5)
    reference = DropoutToy({"batch_size": 16, "learning_rate": 1e-2, "early_stop": 10})
    text, audio, vision = data.model_inputs(reference)
    labels = data.labels["M"]
    loaders = {
        name: torch.utils.data.DataLoader(torch.from_numpy(r), batch_size=16, shuffle=True) for name, r in rows.items()
    }
    optimizer = torch.optim.Adam(reference.parameters(), lr=1e-2)
    expected = []
    for _ in range(3):
        reference.train()
        train_losses = []
        for index in loaders["train"]:
            optimizer.zero_grad()
            outputs = reference(text[index], audio[index], vision[index])["M"]
            loss = torch.nn.functional.l1_loss(outputs, labels[index].view(-1, 1))
            loss.backward()
            optimizer.step()
            train_losses.append(loss.item())
        reference.eval()
        with torch.no_grad():
            valid_losses = [
                torch.nn.functional.l1_loss(reference(text[i], audio[i], vision[i])["M"], labels[i].view(-1, 1)).item()
                for i in loaders["valid"]
            ]
        expected.append((float(np.mean(train_losses)), round(float(np.mean(valid_losses)), 4)))
    stream_after = torch.get_rng_state()

    seed_everything(5)
    model = DropoutToy({"batch_size": 16, "learning_rate": 1e-2, "early_stop": 10})
    result = fit(model, data, rows, seed=5, max_epochs=3, show_progress=False)
    assert [(e.train_loss, e.valid_loss) for e in result.history] == expected
    assert torch.equal(torch.get_rng_state(), stream_after)  # both drew as many numbers from the stream


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
