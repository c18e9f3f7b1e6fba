"""Stacked members (several seeds and folds of one model as one model) against the same units trained alone.

The independent computation is the solo trainer itself (``trainer.train_baseline``, the path
checked against MMSA): every member must get its initial weights, dropout masks, batches, optimiser
state and early-stopping decisions, hence its epochs and metrics.
"""

import numpy as np
import pytest
import torch

from csmsasr_utils.data import make_demo
from csmsasr_utils.data.features import features_from_dict
from csmsasr_utils.errors import InvalidArgument
from csmsasr_utils.msa import members, runner
from csmsasr_utils.msa.members import (
    STACKABLE_MODELS,
    MemberDropout,
    MemberStandardNormal,
    MemberStreams,
    NotStackable,
    auto_units_at_once,
    build_members,
    can_stack,
    gains_from_stacking,
    member_outputs,
    member_splits,
    stack_members,
    train_members,
)
from csmsasr_utils.msa.registry import build_model
from csmsasr_utils.msa.runner import DataSpec, group_units, plan_units, run_units
from csmsasr_utils.msa.tensors import MSATensors
from csmsasr_utils.msa.trainer import _Batches, train_baseline

SEEDS = [1111, 1112, 1113]
#: Seeds whose solo runs stop at different epochs on this toy data (patience 2, at most 12 epochs),
#: where the first three do not: MFM's 1113, 1114 and 1116 train 12, 10 and 3 epochs.
SEEDS_THAT_SPREAD = {"MFM": [1113, 1114, 1116]}
#: Smaller codes for the tensor-fusion models, whose full-size first fusion layer holds 35 M weights.
SMALL = {"TFN": {"hidden_dims": [8, 4, 8], "text_out": 8}, "MTFN": {"hidden_dims": [8, 4, 8], "text_out": 8}}


@pytest.fixture(scope="module")
def data() -> MSATensors:
    raw = make_demo(n_clips=160, seq_lens={"text": 12, "audio": 20, "vision": 15})
    return MSATensors.from_features(features_from_dict(raw, source="demo"))


def split() -> dict[str, np.ndarray]:
    rows = np.arange(160)
    return {"train": rows[:110], "valid": rows[110:135], "test": rows[135:]}


def test_member_dropout_draws_each_solo_runs_masks():
    """Three members, two dropout sites in a row: each member's masks are F.dropout's under its seed."""
    shapes = [(5, 7), (5, 3, 4)]
    states, expected = [], []
    for seed in (1, 2, 3):
        torch.manual_seed(seed)
        states.append(torch.get_rng_state())
        ones = [torch.ones(s) for s in shapes]
        expected.append([torch.nn.functional.dropout(x, 0.3, training=True) for x in ones])
    streams = MemberStreams(states)
    before = torch.get_rng_state()
    dropouts = [MemberDropout(0.3, streams).train() for _ in shapes]
    got = [d(torch.ones(3 * s[0], *s[1:])) for d, s in zip(dropouts, shapes, strict=True)]
    for site, mask in enumerate(got):
        for member, chunk in enumerate(mask.chunk(3)):
            assert torch.equal(chunk, expected[member][site])
    assert torch.equal(torch.get_rng_state(), before)  # the global generator is not touched
    assert torch.equal(MemberDropout(0.3, streams).eval()(got[0]), got[0])


def test_member_prior_sample_is_each_solo_runs_randn():
    """MFM's prior sample: member k's rows are randn_like's under member k's state."""
    states, expected = [], []
    for seed in (5, 6):
        torch.manual_seed(seed)
        states.append(torch.get_rng_state())
        expected.append([torch.randn_like(torch.empty(4, 48)), torch.randn_like(torch.empty(4, 256))])
    sample = MemberStandardNormal(MemberStreams(states))
    first, second = sample(torch.empty(8, 48)), sample(torch.empty(8, 256))
    for member in range(2):
        assert torch.equal(first.chunk(2)[member], expected[member][0])
        assert torch.equal(second.chunk(2)[member], expected[member][1])


@pytest.mark.parametrize("name", sorted(STACKABLE_MODELS))
def test_a_stacked_forward_is_each_members_solo_forward(name, data):
    """Training mode (dropout on): member k's slice equals its model's forward under its RNG state."""
    models, states = build_members(name, SEEDS, data, **SMALL.get(name, {}))
    stacked = stack_members(models, states)
    batches = _Batches(data, models[0], torch.device("cpu"))
    member_rows = [np.arange(8) + 8 * k for k in range(len(SEEDS))]  # different clips per member
    inputs, _ = batches(np.concatenate(member_rows))
    stacked.module.train()
    outputs = stacked.module(*inputs)
    for k, (model, state) in enumerate(zip(models, states, strict=True)):
        torch.set_rng_state(state)
        solo_inputs, _ = batches(member_rows[k])
        solo = model.train()(*solo_inputs)
        mine = member_outputs(outputs, len(SEEDS), k)
        assert solo.keys() == mine.keys()
        for key in solo:
            torch.testing.assert_close(mine[key], solo[key], rtol=1e-5, atol=1e-6)
    for k, model in enumerate(models):  # the solo state_dict rebuilt from the stack, value for value
        state = stacked.member_state_dict(k)
        assert state.keys() == model.state_dict().keys()
        for key, value in model.state_dict().items():
            torch.testing.assert_close(state[key], value, rtol=0, atol=0)


@pytest.mark.parametrize(
    "name",
    [
        "LF_DNN",
        "MLF_DNN",
        pytest.param("EF_LSTM", marks=pytest.mark.slow),
        pytest.param("MFN", marks=pytest.mark.slow),
        pytest.param("Graph_MFN", marks=pytest.mark.slow),
        pytest.param("MFM", marks=pytest.mark.slow),
        "TFN",
        "MTFN",
    ],
)
def test_members_train_as_if_alone(name, data):
    """Same epochs, best epochs, stopping reasons, validation curves and metrics as three solo runs.

    Patience 2 makes the seeds stop at different epochs, so members leave the stack while others
    go on: the ones that go on must still match their solo runs (their optimiser state carried).
    """
    seeds, small = SEEDS_THAT_SPREAD.get(name, SEEDS), SMALL.get(name, {})
    solo = [
        train_baseline(name, data, split(), seed=s, max_epochs=12, show_progress=False, early_stop=2, **small)
        for s in seeds
    ]
    together = train_members(
        name, data, split(), seeds=seeds, max_epochs=12, show_progress=False, early_stop=2, **small
    )
    assert len({r.epochs for r in solo}) > 1, "the seeds should stop at different epochs"
    for alone, member in zip(solo, together, strict=True):
        assert_same_run(member, alone)
        assert member.extra["units_at_once"] == len(seeds)


def assert_same_run(member, alone) -> None:
    """A stacked member's result is its solo run's: the same epochs, best epoch, stopping reason and
    validation losses (rounded, as compared), train losses, predictions and metrics to float tolerance."""
    assert (member.seed, member.epochs, member.best_epoch, member.stopped_by) == (
        alone.seed,
        alone.epochs,
        alone.best_epoch,
        alone.stopped_by,
    )
    assert [e.valid_loss for e in member.history] == [e.valid_loss for e in alone.history]
    np.testing.assert_allclose([e.train_loss for e in member.history], [e.train_loss for e in alone.history], rtol=1e-5)
    np.testing.assert_allclose(member.test_predictions, alone.test_predictions, atol=1e-5)
    for metric, value in alone.test_metrics.items():
        assert member.test_metrics[metric] == pytest.approx(value, abs=1e-5)


def folds() -> list[dict[str, np.ndarray]]:
    """Three 'folds' of the 160 toy clips: other clips in every role, the same train and valid sizes;
    the third has a smaller test set (members are tested alone, so test sizes may differ)."""
    order = np.random.default_rng(7).permutation(160)
    shifted = [np.roll(order, 50 * k) for k in range(3)]
    splits = [{"train": o[:110], "valid": o[110:135], "test": o[135:]} for o in shifted]
    splits[2]["test"] = splits[2]["test"][:18]
    return splits


@pytest.mark.parametrize("name", ["LF_DNN", pytest.param("MFN", marks=pytest.mark.slow)])
def test_members_on_their_own_folds_train_as_if_alone(name, data):
    """Seeds × folds in one stack: every member trains and tests on its own fold as a solo run does,
    a seed repeated on another fold included (same initial weights, other clips)."""
    seeds = [1111, 1111, 1112]
    solo = [
        train_baseline(name, data, fold, seed=s, max_epochs=8, show_progress=False, early_stop=2)
        for s, fold in zip(seeds, folds(), strict=True)
    ]
    together = train_members(name, data, folds(), seeds=seeds, max_epochs=8, show_progress=False, early_stop=2)
    assert solo[0].test_predictions != solo[1].test_predictions  # the folds do make other runs
    for alone, member, fold in zip(solo, together, folds(), strict=True):
        assert_same_run(member, alone)
        assert member.test_clip_ids == [str(c) for c in data.clip_ids[fold["test"]]]


def test_member_splits_need_one_split_or_one_per_member_of_the_same_sizes():
    one = split()
    assert member_splits(one, 3) == [one] * 3
    given = folds()
    assert all(a is b for a, b in zip(member_splits(given, 3), given, strict=True))  # one per member, in order
    with pytest.raises(InvalidArgument, match="2 splits for 3 members"):
        member_splits(folds()[:2], 3)
    shorter = folds()
    shorter[1] = {**shorter[1], "train": shorter[1]["train"][:100]}
    with pytest.raises(InvalidArgument, match=r"same sizes.*\(100, 25\), \(110, 25\)"):
        member_splits(shorter, 3)
    with pytest.raises(InvalidArgument, match="'valid'] is empty"):
        member_splits([{**one, "valid": np.array([], dtype=int)}], 1)


def test_member_outputs_slices_rows_and_per_member_quantities():
    rows = torch.arange(6.0).reshape(6, 1)
    three = member_outputs({"M": rows, "gen_loss": torch.tensor([0.1, 0.2, 0.3])}, 3, 1)
    assert three["M"].flatten().tolist() == [2.0, 3.0] and three["gen_loss"].item() == pytest.approx(0.2)
    # the last member left in a stack: its batch-level quantities are 0-d, as a solo model's
    last = member_outputs({"M": rows[:2], "gen_loss": torch.tensor(0.5)}, 1, 0)
    assert last["M"].flatten().tolist() == [0.0, 1.0] and last["gen_loss"].item() == 0.5
    with pytest.raises(NotStackable, match="neither per clip nor per member"):
        member_outputs({"gen_loss": torch.tensor(0.5)}, 2, 0)


def test_models_that_cannot_be_stacked_are_refused(data):
    assert not can_stack("LMF") and not can_stack("MulT") and can_stack("MFN") and can_stack("TFN")
    models = [build_model("LMF", feature_dims=data.feature_dims, seq_lens=data.seq_lens) for _ in range(2)]
    with pytest.raises(NotStackable, match="outside stackable leaves"):
        stack_members(models, [torch.get_rng_state()] * 2)  # LMF's factors are trained
    tfns = [
        build_model("TFN", feature_dims=data.feature_dims, seq_lens=data.seq_lens, **SMALL["TFN"]) for _ in range(2)
    ]
    assert stack_members(tfns, [torch.get_rng_state()] * 2).shared == ("output_range", "output_shift")
    with torch.no_grad():
        tfns[1].output_shift.fill_(-2.0)  # a frozen constant that differs cannot be shared
    with pytest.raises(NotStackable, match="output_shift"):
        stack_members(tfns, [torch.get_rng_state()] * 2)
    with pytest.raises(NotStackable, match="train it alone"):
        train_members("LMF", data, split(), seeds=[1, 2], show_progress=False)


def test_auto_units_at_once_respects_the_memory_share(data, monkeypatch):
    per_member = members.member_memory_bytes("MFN", data)
    weights = sum(p.numel() * 4 for p in build_model("MFN", data.feature_dims, data.seq_lens).parameters())
    assert per_member > 6 * weights  # the activations of one batch come on top of the weights
    monkeypatch.setattr(members, "free_memory_bytes", lambda device: int(2.5 * per_member / members.MEMORY_SHARE))
    assert auto_units_at_once("MFN", data, 5) == 2
    monkeypatch.setattr(members, "free_memory_bytes", lambda device: 10**15)
    assert auto_units_at_once("MFN", data, 5) == 5
    assert auto_units_at_once("LF_DNN", data, 5, "cpu") == 1  # no gain on a CPU
    assert auto_units_at_once("LMF", data, 5) == 1
    assert gains_from_stacking("LF_DNN", "cuda") and not gains_from_stacking("LMF", "cuda")


def test_units_are_grouped_by_model_over_seeds_and_folds():
    units = plan_units(["MFN", "LMF"], [1, 2, 3], "official")  # model, then seed, then fold
    groups = group_units(units, 2, DataSpec(max_clips=24), "cpu")
    keys = [[(u.model, u.seed, u.fold) for u in g] for g in groups]
    assert keys[:3] == [[("MFN", 1, 1), ("MFN", 1, 2)], [("MFN", 1, 3), ("MFN", 1, 4)], [("MFN", 1, 5), ("MFN", 2, 1)]]
    assert len(groups) == 8 + 15  # 15 MFN units in pairs, 15 LMF units alone
    assert all(len(g) == 1 for g in groups if g[0].model == "LMF")
    assert sorted(u.key for g in groups for u in g) == sorted(u.key for u in units)
    with pytest.raises(Exception, match="positive integer"):
        group_units(units, 0, DataSpec(max_clips=24), "cpu")


def test_the_runner_writes_the_same_rows_either_way(tmp_path):
    spec = DataSpec(max_clips=48, demo_seq_lens=(12, 20, 15))
    units = plan_units(["LF_DNN"], [1111, 1112], "paper")
    alone = run_units(units, tmp_path / "alone.jsonl", spec, budget="book", show_progress=False, units_at_once=1)
    together = run_units(units, tmp_path / "together.jsonl", spec, budget="book", show_progress=False, units_at_once=2)
    assert list(alone.columns) == list(together.columns)
    assert alone["units_at_once"].tolist() == [1, 1] and together["units_at_once"].tolist() == [2, 2]
    for column in ("key", "epochs", "best_epoch", "stopped_by"):
        assert alone[column].tolist() == together[column].tolist()
    np.testing.assert_allclose(alone["test_MAE"], together["test_MAE"], atol=1e-5)
    assert (together["peak_memory_mb"] > 0).all()


def test_the_runner_stacks_folds_and_trains_folds_of_other_sizes_apart(tmp_path, monkeypatch):
    """Official folds in one stack give the rows of one-at-a-time runs; a fold whose training split
    is smaller (here cut by hand: the real folds all have 759 / 109 / 217 clips) trains alone."""
    spec = DataSpec(max_clips=40, demo_seq_lens=(12, 20, 15))
    real_split_rows = runner.unit_split_rows

    def fold_2_smaller(dataset, tensors, protocol, fold, max_clips=None):
        rows = real_split_rows(dataset, tensors, protocol, fold, max_clips)
        return {**rows, "train": rows["train"][:32]} if fold == 2 else rows

    monkeypatch.setattr(runner, "unit_split_rows", fold_2_smaller)
    units = plan_units(["LF_DNN"], [1111], "official")[:3]  # folds 1, 2, 3
    alone = run_units(units, tmp_path / "alone.jsonl", spec, budget="book", show_progress=False, units_at_once=1)
    together = run_units(units, tmp_path / "together.jsonl", spec, budget="book", show_progress=False, units_at_once=3)
    assert together["fold"].tolist() == [1, 2, 3] and together["n_train"].tolist() == [40, 32, 40]
    assert together["units_at_once"].tolist() == [2, 1, 2]  # folds 1 and 3 stacked, fold 2 alone
    assert alone["test_clip_ids"].tolist() == together["test_clip_ids"].tolist()
    for column in ("key", "epochs", "best_epoch", "stopped_by"):
        assert alone[column].tolist() == together[column].tolist()
    np.testing.assert_allclose(alone["test_MAE"], together["test_MAE"], atol=1e-5)
    np.testing.assert_allclose(np.stack(alone["test_predictions"]), np.stack(together["test_predictions"]), atol=1e-5)


def test_auto_groups_spread_the_seeds_over_the_local_workers(monkeypatch):
    monkeypatch.setattr(members, "free_memory_bytes", lambda device: 10**15)  # memory is no limit here
    units = plan_units(["MFN", "LF_DNN"], [1, 2, 3, 4, 5], "paper")
    spec = DataSpec(max_clips=24)

    def sizes(workers: int) -> dict[str, list[int]]:
        groups = group_units(units, "auto", spec, "cpu", workers)
        assert sorted(u.key for g in groups for u in g) == sorted(u.key for u in units)
        return {m: [len(g) for g in groups if g[0].model == m] for m in ("MFN", "LF_DNN")}

    assert sizes(1) == {"MFN": [5], "LF_DNN": [1] * 5}  # LF_DNN gains nothing from stacking on a CPU
    assert sizes(2) == {"MFN": [3, 2], "LF_DNN": [1] * 5}
    assert sizes(3) == {"MFN": [2, 2, 1], "LF_DNN": [1] * 5}
    assert sizes(8) == {"MFN": [1] * 5, "LF_DNN": [1] * 5}
    explicit = group_units(units, 5, spec, "cpu", 2)  # an explicit K is the user's choice
    assert [len(g) for g in explicit if g[0].model == "MFN"] == [5]
