"""MulT: parameter count pinned to MMSA's, shapes, masks, options and the training recipe."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from csmsasr_utils.msa.hparams import hyperparameters
from csmsasr_utils.msa.models.mult import MulT
from csmsasr_utils.msa.registry import FEATURE_DIMS, SEQ_LENS, build_model
from csmsasr_utils.msa.transformer import (
    TransformerEncoder,
    TransformerEncoderLayer,
    future_mask,
    sinusoidal_position_embedding,
)

# Counted from MMSA's MULT (models/singleTask/MULT.py) at commit a94e65d via
# /tmp/mmsa_check/mult_check.py: MULT(config_regression.json 'mult' sims args, feature_dims
# [768, 13, 347]) and sum of numel over model.parameters(), all of which MMSA's trainer gives to
# Adam(lr=0.002). Loading MMSA's initialised state_dict into ours gave equal outputs
# (max abs diff 1e-6 in float32, eval mode). Built from the same seed as MMSA's (2026-12-04, the
# authors' copy imported beside this package): every initial weight equal once the feed-forward
# layers draw in MMSA's order (test_a_layer_draws_its_feed_forward_weights_in_mmsas_order); M in
# eval mode within 1.8e-7 (torch's fused attention sums in another order).
MMSA_TRAINABLE_PARAMETERS = 1_851_601


def _inputs(
    batch: int = 2,
    seed: int = 0,
    seq_lens: tuple[int, ...] = SEQ_LENS,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random text, audio and vision features, by default at CS-MSASR's padded lengths."""
    generator = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(batch, length, dim, generator=generator) for length, dim in zip(seq_lens, FEATURE_DIMS))


def _project(conv: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Apply a Conv1d projection to a batch-first ``(batch, time, dim)`` sequence."""
    return conv(x.transpose(1, 2)).transpose(1, 2)


@pytest.fixture(scope="module")
def model() -> MulT:
    torch.manual_seed(0)
    return build_model("mult").eval()


def test_trainable_parameters_match_mmsa(model):
    assert (model.key, model.display_name) == ("mult", "MulT")
    assert model.count_trainable_parameters() == MMSA_TRAINABLE_PARAMETERS
    assert all(p.requires_grad for p in model.parameters())


def test_forward_shapes_at_full_lengths(model):
    with torch.no_grad():
        out = model(*_inputs(batch=2))
    assert out["M"].shape == (2, 1)
    for name in ("Feature_t", "Feature_a", "Feature_v"):
        assert out[name].shape == (2, 100)
    assert out["Feature_f"].shape == (2, 300)
    assert torch.isfinite(out["M"]).all()


def test_reads_raw_padded_sequences(model):
    """Neither averaged nor aligned: the last audio/vision frame still moves the prediction."""
    assert not model.normalized_input and not model.aligned_input and not model.uses_bert_tokens
    text, audio, vision = _inputs()
    with torch.no_grad():
        base = model(text, audio, vision)["M"]
        audio[:, -1] += 1.0
        vision[:, -1] += 1.0
        moved = model(text, audio, vision)["M"]
    assert not torch.allclose(base, moved)


def test_text_projection_is_an_unpadded_width5_convolution(model):
    conv = model.project_text
    assert isinstance(conv, nn.Conv1d) and conv.kernel_size == (5,) and conv.padding == (0,)
    assert conv.bias is None
    assert model.project_audio.kernel_size == model.project_vision.kernel_size == (1,)
    # A projection is skipped (no parameters) when the features already have 50 channels.
    narrow = build_model("mult", feature_dims=(50, 13, 347))
    assert isinstance(narrow.project_text, nn.Identity)
    assert narrow.count_trainable_parameters() == MMSA_TRAINABLE_PARAMETERS - 768 * 50 * 5


def test_encoder_depths_widths_and_dropouts(model):
    cross = {
        "text_from_audio": 0.1,
        "text_from_vision": 0.0,
        "audio_from_text": 0.2,
        "audio_from_vision": 0.0,
        "vision_from_text": 0.2,
        "vision_from_audio": 0.1,
    }
    for name, attn_dropout in cross.items():
        encoder = getattr(model, name)
        assert len(encoder.layers) == 2
        assert encoder.layers[0].attention.embed_dim == 50
        assert encoder.layers[0].attention.dropout == attn_dropout, name
    for name in ("text_memory", "audio_memory", "vision_memory"):
        encoder = getattr(model, name)
        assert len(encoder.layers) == 3
        assert encoder.layers[0].attention.embed_dim == 100
        assert encoder.layers[0].attention.num_heads == 10
        assert encoder.layers[0].attention.dropout == 0.2
    for encoder in model.modules():
        if isinstance(encoder, TransformerEncoder):
            assert encoder.attn_mask and not encoder.position_embedding
            assert encoder.embed_dropout == 0.1 and encoder.embed_scale == math.sqrt(
                encoder.layers[0].attention.embed_dim
            )


def test_future_mask_shifted_by_length_difference():
    mask = future_mask(35, 553)
    assert mask.shape == (35, 553)
    assert torch.isinf(mask[0, 519:]).all() and (mask[0, :519] == 0).all()
    assert (mask[34] == 0).all()
    assert (future_mask(553, 35) == 0).all()  # a longer query sequence is never masked
    assert torch.equal(torch.isinf(future_mask(4, 4)), torch.triu(torch.ones(4, 4, dtype=torch.bool), diagonal=1))


def test_cross_modal_attention_is_masked(model):
    """Text step 0 (35 steps after the width-5 convolution) sees audio frames 0…518 only."""
    text, audio, _ = _inputs()
    text_50 = _project(model.project_text, text)
    with torch.no_grad():
        base = model.text_from_audio(text_50, _project(model.project_audio, audio))
        late = audio.clone()
        late[:, 519:] += 5.0
        after_late = model.text_from_audio(text_50, _project(model.project_audio, late))
        edge = audio.clone()
        edge[:, 518] += 5.0
        after_edge = model.text_from_audio(text_50, _project(model.project_audio, edge))
    assert text_50.shape == (2, 35, 50)
    assert torch.allclose(base[:, 0], after_late[:, 0], atol=1e-6)
    assert not torch.allclose(base[:, 1], after_late[:, 1], atol=1e-4)
    assert not torch.allclose(base[:, 0], after_edge[:, 0], atol=1e-4)


def test_attn_mask_can_be_switched_off():
    unmasked = build_model("mult", attn_mask=False)
    assert not any(m.attn_mask for m in unmasked.modules() if isinstance(m, TransformerEncoder))


def test_position_embedding_option():
    hp = {
        **hyperparameters("mult"),
        "feature_dims": list(FEATURE_DIMS),
        "seq_lens": list(SEQ_LENS),
        "position_embedding": True,
    }
    torch.manual_seed(0)
    with_positions = MulT(hp).eval()
    torch.manual_seed(0)
    without = build_model("mult").eval()
    assert all(m.position_embedding for m in with_positions.modules() if isinstance(m, TransformerEncoder))
    inputs = _inputs()
    with torch.no_grad():
        assert not torch.allclose(with_positions(*inputs)["M"], without(*inputs)["M"])


def test_sinusoidal_position_embedding_by_hand():
    x = torch.tensor([[[2.0, 1.0, 1.0, 1.0, 1.0], [0.0, 1.0, 1.0, 1.0, 1.0]]])  # frame 2 = pad
    emb = sinusoidal_position_embedding(x)
    w0, w1 = 1.0, 1e-4  # 10000 ** (-k / (h - 1)) with h = 2
    expected_first = torch.tensor([math.sin(w0), math.sin(w1), math.cos(w0), math.cos(w1), 0.0])
    assert torch.allclose(emb[0, 0], expected_first)
    assert (emb[0, 1] == 0).all()


def test_optimizer_adam_without_weight_decay(model):
    optimizer = model.configure_optimizer()
    assert isinstance(optimizer, torch.optim.Adam)
    (group,) = optimizer.param_groups
    assert group["lr"] == 0.002 and group["weight_decay"] == 0
    assert hyperparameters("mult")["weight_decay"] == 0.001  # in the table, unused by MMSA
    assert sum(p.numel() for p in group["params"]) == MMSA_TRAINABLE_PARAMETERS


def test_scheduler_and_training_recipe(model):
    optimizer = model.configure_optimizer()
    scheduler, when = model.configure_scheduler(optimizer)
    assert when == "val_loss"
    assert isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
    assert (scheduler.mode, scheduler.factor, scheduler.patience) == ("min", 0.1, 10)
    assert model.update_every == 8 and model.clip_grad_value == 0.6
    assert model.clip_grad_norm is None and model.patience == 8
    assert build_model("mult", grad_clip=-1.0).clip_grad_value is None


def test_l1_loss_by_hand(model):
    outputs = {"M": torch.tensor([[0.5], [-0.2]])}
    labels = {"M": torch.tensor([1.0, -1.0])}
    expected = (0.5 + 0.8) / 2
    assert model.training_loss(outputs, labels).item() == pytest.approx(expected)
    assert model.validation_loss(outputs, labels).item() == pytest.approx(expected)


def test_one_training_step_updates_every_parameter():
    torch.manual_seed(0)
    net = build_model("mult").train()
    before = {name: p.detach().clone() for name, p in net.named_parameters()}
    optimizer = net.configure_optimizer()
    text, audio, vision = _inputs(batch=2, seq_lens=(39, 120, 80))  # shorter: a quick backward
    outputs = net(text, audio, vision)
    # Labels above both predictions, so that the L1 gradients of the biases do not cancel.
    loss = net.training_loss(outputs, {"M": outputs["M"].detach().view(-1) + 1.0})
    loss.backward()
    nn.utils.clip_grad_value_(net.trainable_parameters(), net.clip_grad_value)
    assert all(p.grad is not None and p.grad.abs().max() <= 0.6 for p in net.parameters())
    optimizer.step()
    unchanged = [name for name, p in net.named_parameters() if torch.equal(p, before[name])]
    assert unchanged == []


def test_a_layer_draws_its_feed_forward_weights_in_mmsas_order():
    """MMSA's ``Linear`` is torch's default initialisation then Xavier, one layer after the other:
    the same seed must give the feed-forward block MMSA's weights (drawing both defaults first,
    then both Xavier, gives the first layer other weights)."""
    torch.manual_seed(5)
    layer = TransformerEncoderLayer(8, 2)
    torch.manual_seed(5)
    attention = nn.MultiheadAttention(8, 2, batch_first=True)  # MMSA's: Xavier in-projection, zero biases
    nn.init.xavier_uniform_(attention.out_proj.weight)
    fc1 = nn.Linear(8, 32)
    nn.init.xavier_uniform_(fc1.weight)
    fc2 = nn.Linear(32, 8)
    nn.init.xavier_uniform_(fc2.weight)
    assert torch.equal(layer.attention.in_proj_weight, attention.in_proj_weight)
    assert torch.equal(layer.ff_in.weight, fc1.weight) and torch.equal(layer.ff_out.weight, fc2.weight)
    assert not layer.ff_in.bias.any() and not layer.ff_out.bias.any()
