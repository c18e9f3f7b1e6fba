"""The multi-task baselines MTFN, MLF_DNN and MLMF against MMSA's facts and hand computations."""

from __future__ import annotations

import pytest
import torch

from csmsasr_utils.msa.alignment import mean_over_padded_time
from csmsasr_utils.msa.models.mlmf import MLMF
from csmsasr_utils.msa.models.mtfn import tensor_fusion
from csmsasr_utils.msa.registry import build_model

KEYS = ("mtfn", "mlf_dnn", "mlmf")

# Counted from MMSA's MTFN, MLF_DNN and MLMF classes at commit a94e65d (the CS-MSASR authors' copy,
# sentiment-analyze/models/multiTask/) via a scratch script that builds each through MMSA's AMIO
# with the sims config and feature_dims [768, 13, 347], builds the Adam of
# trains/multiTask/<NAME>.py and sums the scalars of its groups with lr > 0 and requires_grad:
# MTFN without output_range/shift (lr 0), MLMF without fusion_weights (3) and fusion_bias (1) (lr 0).
MMSA_TRAINABLE = {"mtfn": 140_863_112, "mlf_dnn": 258_816, "mlmf": 1_319_312}


@pytest.fixture(scope="module")
def full_models() -> dict:
    """One full-size model of each kind, built once (MTFN alone is 141 M parameters)."""
    torch.manual_seed(0)
    return {key: build_model(key) for key in KEYS}


def _inputs(batch: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(batch, 39, 768, generator=g),
        torch.randn(batch, 1, 13, generator=g),
        torch.randn(batch, 1, 347, generator=g),
    )


def _group_of(optimizer: torch.optim.Optimizer) -> dict[int, int]:
    """Parameter id → index of its group (each parameter in exactly one group)."""
    where: dict[int, int] = {}
    for index, group in enumerate(optimizer.param_groups):
        for p in group["params"]:
            assert id(p) not in where, "a parameter sits in two groups"
            where[id(p)] = index
    return where


@pytest.mark.parametrize("key", KEYS)
def test_trainable_parameter_count_matches_mmsa(full_models, key):
    assert full_models[key].count_trainable_parameters() == MMSA_TRAINABLE[key]


@pytest.mark.parametrize("key", KEYS)
def test_forward_shapes_at_full_lengths(full_models, key):
    model = full_models[key].eval()
    with torch.no_grad():
        out = model(*_inputs(batch=3))
    assert set(out) == {"M", "T", "A", "V"}
    assert all(out[h].shape == (3, 1) and torch.isfinite(out[h]).all() for h in "MTAV")
    assert model.normalized_input and model.multitask and not model.aligned_input


@pytest.mark.parametrize("key", KEYS)
def test_takes_time_averaged_audio_and_vision_only(full_models, key):
    model = full_models[key].eval()
    text, _, _ = _inputs(batch=2)
    raw_audio, raw_vision = torch.randn(2, 553, 13), torch.randn(2, 321, 347)
    with torch.no_grad():
        out = model(text, mean_over_padded_time(raw_audio), mean_over_padded_time(raw_vision))
        assert out["M"].shape == (2, 1)
        with pytest.raises(ValueError, match="averaged over time"):
            model(text, raw_audio, mean_over_padded_time(raw_vision))
        with pytest.raises(ValueError, match="vision"):
            model(text, mean_over_padded_time(raw_audio), raw_vision)


def test_mtfn_fusion_is_the_audio_video_text_kronecker_product():
    a, v, t = torch.randn(2, 3), torch.randn(2, 4), torch.randn(2, 5)
    fused = tensor_fusion(a, v, t)
    assert fused.shape == (2, 4 * 5 * 6)
    for i in range(2):
        with_one = [torch.cat([torch.ones(1), x[i]]) for x in (a, v, t)]
        assert torch.allclose(fused[i], torch.kron(torch.kron(with_one[0], with_one[1]), with_one[2]))


def test_mtfn_squashes_only_m_into_minus3_plus3(full_models):
    model = full_models["mtfn"].eval()
    text, audio, vision = _inputs(batch=4)
    with torch.no_grad():
        out = model(text, audio, vision)
        score = model.fusion_head(
            tensor_fusion(model.audio_subnet(audio[:, 0]), model.video_subnet(vision[:, 0]), model.text_subnet(text))
        )
    assert torch.allclose(out["M"], 6 * torch.sigmoid(score) - 3)
    assert not model.output_range.requires_grad and not model.output_shift.requires_grad


def test_mlmf_equals_a_rank_r_weight_on_the_full_fusion_tensor():
    torch.manual_seed(1)
    model = build_model("mlmf", hidden_dims=[6, 3, 4], rank=2).eval()
    audio_h, video_h, text_h = torch.randn(2, 3), torch.randn(2, 4), torch.randn(2, 3)  # text 6 // 2
    with torch.no_grad():
        model.fusion_bias.fill_(0.25)
        fused = model.fuse(text_h, audio_h, video_h)
        weight = sum(
            model.fusion_weights[0, r]
            * torch.kron(
                torch.kron(model.audio_factor[r, :, 0], model.video_factor[r, :, 0]), model.text_factor[r, :, 0]
            )
            for r in range(2)
        )
        expected = tensor_fusion(audio_h, video_h, text_h) @ weight + 0.25
    assert fused.shape == (2, 1)
    assert torch.allclose(fused[:, 0], expected, atol=1e-6)


def test_optimizer_groups_mtfn(full_models):
    model = full_models["mtfn"]
    optimizer = model.configure_optimizer()
    assert [(g["lr"], g["weight_decay"]) for g in optimizer.param_groups] == [
        (0.005, 0.001),
        (0.005, 0.0001),
        (0.005, 1e-05),
        (0.005, 0.0),
    ]  # MMSA forgets weight_decay
    where = _group_of(optimizer)
    assert {where[id(p)] for p in model.text_subnet.parameters()} == {0}
    assert {where[id(p)] for p in model.audio_subnet.parameters()} == {1}
    assert {where[id(p)] for p in model.video_subnet.parameters()} == {2}
    assert {where[id(p)] for p in model.fusion_head.parameters()} == {3}
    assert id(model.output_range) not in where and id(model.output_shift) not in where
    assert sum(p.numel() for g in optimizer.param_groups for p in g["params"]) == MMSA_TRAINABLE["mtfn"]
    assert model.hp["apply_weight_decay"] is False  # the bug-fix option, off by default
    model.hp["apply_weight_decay"] = True
    try:
        assert model.configure_optimizer().param_groups[3]["weight_decay"] == 0.005
    finally:
        model.hp["apply_weight_decay"] = False


def test_optimizer_groups_mlf_dnn():
    model = build_model("mlf_dnn", weight_decay=0.02)  # sims has 0: make the group visible
    optimizer = model.configure_optimizer()
    assert [(g["lr"], g["weight_decay"]) for g in optimizer.param_groups] == [
        (0.002, 0.0001),
        (0.002, 0.001),
        (0.002, 0.0001),
        (0.002, 0.02),
    ]
    where = _group_of(optimizer)
    assert {where[id(p)] for p in model.text_subnet.parameters()} == {0}
    assert {where[id(p)] for p in model.audio_subnet.parameters()} == {1}
    assert {where[id(p)] for p in model.video_subnet.parameters()} == {2}
    heads = [
        *model.fusion_head.parameters(),
        *model.text_head.parameters(),
        *model.audio_head.parameters(),
        *model.video_head.parameters(),
    ]
    assert {where[id(p)] for p in heads} == {3}
    assert len(where) == len(list(model.parameters()))  # nothing frozen


def test_optimizer_groups_mlmf():
    model = build_model("mlmf", factor_lr=0.0003)  # sims has factor_lr == learning_rate
    optimizer = model.configure_optimizer()
    assert [(g["lr"], g["weight_decay"]) for g in optimizer.param_groups] == [
        (0.001, 0.0001),
        (0.001, 0.0),
        (0.001, 0.0001),
        (0.0003, 0.005),
        (0.001, 0.005),
    ]
    where = _group_of(optimizer)
    assert [where[id(f)] for f in (model.audio_factor, model.video_factor, model.text_factor)] == [3] * 3
    assert {where[id(p)] for p in model.text_head.parameters()} == {4}
    assert id(model.fusion_weights) not in where and id(model.fusion_bias) not in where
    assert not model.fusion_weights.requires_grad and not model.fusion_bias.requires_grad
    assert len(where) == len(list(model.parameters())) - 2


def test_mlmf_option_trains_fusion_weights():
    model = MLMF({**build_model("mlmf", hidden_dims=[8, 4, 8]).hp, "train_fusion_weights": True})
    optimizer = model.configure_optimizer()
    where = _group_of(optimizer)
    assert where[id(model.fusion_weights)] == where[id(model.fusion_bias)] == 4  # lr, weight_decay
    assert len(where) == len(list(model.parameters()))


@pytest.mark.parametrize(
    "key, expected",
    [
        # outputs 0; labels M=1, T=-1, A=0.5, V=0 → M·1 + T·1 + A·0.5 + V·0 with each table's weights
        ("mtfn", 0.6 + 0.4 + 0.0 * 0.5),
        ("mlf_dnn", 0.6 + 0.2 + 0.8 * 0.5),
        ("mlmf", 0.2 + 1.0 + 0.4 * 0.5),
    ],
)
def test_multitask_loss_by_hand(full_models, key, expected):
    model = full_models[key]
    outputs = {h: torch.zeros(4, 1) for h in "MTAV"}
    labels = {"M": torch.ones(4), "T": -torch.ones(4), "A": torch.full((4,), 0.5), "V": torch.zeros(4)}
    assert model.training_loss(outputs, labels).item() == pytest.approx(expected)
    assert model.validation_loss(outputs, labels).item() == pytest.approx(expected)


def test_multitask_loss_weights_each_head():
    model = build_model("mlf_dnn", M=1.0, T=0.0, A=0.0, V=2.0)
    outputs = {
        "M": torch.tensor([[0.5], [-0.5]]),
        "T": torch.ones(2, 1),
        "A": torch.ones(2, 1),
        "V": torch.tensor([[0.0], [1.0]]),
    }
    labels = {"M": torch.tensor([0.0, 0.0]), "T": torch.zeros(2), "A": torch.zeros(2), "V": torch.tensor([0.0, 0.0])}
    assert model.training_loss(outputs, labels).item() == pytest.approx(1.0 * 0.5 + 2.0 * 0.5)


# MTFN at full size holds 141 M parameters (2.3 GB with Adam's state): step a small one instead.
SMALL = {"mtfn": {"hidden_dims": [16, 8, 16], "text_out": 16}, "mlf_dnn": {}, "mlmf": {}}


@pytest.mark.parametrize("key", KEYS)
def test_one_step_updates_trainable_and_keeps_frozen(key):
    torch.manual_seed(0)
    model = build_model(key, **SMALL[key]).train()
    optimizer = model.configure_optimizer()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    labels = {h: torch.rand(8) * 2 - 1 for h in "MTAV"}
    loss = model.training_loss(model(*_inputs(batch=8)), labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    with_grad = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.any()}
    assert (
        frozen
        == {"mtfn": {"output_range", "output_shift"}, "mlf_dnn": set(), "mlmf": {"fusion_weights", "fusion_bias"}}[key]
    )
    assert not changed & frozen
    assert with_grad <= changed  # Adam moves every parameter that got a gradient
    fusion = {"mtfn": "fusion_head.", "mlf_dnn": "fusion_head.", "mlmf": "text_factor"}[key]
    for part in ("text_subnet.", "audio_subnet.", "video_subnet.", "text_head.", "video_head.", fusion):
        assert any(n.startswith(part) for n in changed), part
    heads_a = {n for n in before if n.startswith("audio_head.")}
    if key == "mtfn":  # A's loss weight is 0 and the head's group has no weight decay: it stays
        assert not heads_a & (changed | with_grad)
    else:
        assert heads_a & changed
