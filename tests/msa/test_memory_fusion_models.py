"""MFN, Graph_MFN and MFM: counts pinned to MMSA's, input treatment, optimiser, losses, options."""

from __future__ import annotations

import math

import pytest
import torch

from csmsasr_utils.msa.alignment import align_to_length, mean_over_padded_time
from csmsasr_utils.msa.models.graph_mfn import GraphMFN
from csmsasr_utils.msa.models.mfm import MFM, _gaussian_kernel, mmd_to_standard_normal
from csmsasr_utils.msa.models.mfn import MFN
from csmsasr_utils.msa.registry import FEATURE_DIMS, SEQ_LENS, build_model

# Counted from MMSA's own classes at commit a94e65d (/tmp/csm/sentiment-analyze/models/singleTask)
# via /tmp/mmsa_check/mfn_group/mmsa_load.py: each built from config_regression.json's sims args
# (dataset sims + commonParams + datasetParams.sims, feature_dims [768, 13, 347],
# train_mode regression), counting the scalars MMSA's Adam actually updates
# (equivalence.py runs one MMSA training step and checks which parameters moved):
# * MFN: all of model.parameters() (507,553);
# * Graph_MFN: model.parameters() = 2,351,612; the DFG's pair/triple vertex networks (253,712
#   scalars) sit in a plain dict, outside parameters(), and are never optimised;
# * MFM: model.parameters() = 3,228,842 minus the inner MFN's out_fc1/out_fc2 (35,073), which
#   never reach the loss (grad None, Adam skips them) = 3,193,769.
# Loading MMSA's initialised weights into ours (names mapped) gave identical outputs on random
# input: max abs diff 0.0 for M (MFN and Graph_MFN also in train mode with the same seed) and
# 6e-8 for MFM's gen_loss, 0.0 for its MMD with the same seed. MFM built from the same seed as
# MMSA's (2026-12-04, the authors' copy imported beside this package): the same initial weights
# once MFM also draws the unused MFN output layer's (checked here without MMSA by
# test_mfm_draws_its_initial_weights_in_mmsas_order), the same M and MMD bit for bit in both modes.
MMSA_TRAINABLE = {"mfn": 507_553, "graph_mfn": 2_351_612, "mfm": 3_193_769}
GRAPH_MFN_FROZEN = 253_712


def _raw_inputs(batch: int = 2, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Padded sequences at CS-MSASR's full lengths (what Graph_MFN and MFM receive)."""
    generator = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(batch, length, dim, generator=generator) for length, dim in zip(SEQ_LENS, FEATURE_DIMS))


def _normalized_inputs(batch: int = 2, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """What MFN receives: text as is, audio/vision averaged to ``(B, 1, D)``."""
    text, audio, vision = _raw_inputs(batch, seed)
    return text, mean_over_padded_time(audio), mean_over_padded_time(vision)


def _inputs_for(key: str, batch: int = 2, seed: int = 0) -> tuple[torch.Tensor, ...]:
    return _normalized_inputs(batch, seed) if key == "mfn" else _raw_inputs(batch, seed)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """These recurrent models are many small ops: one thread is faster on a shared CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def models() -> dict[str, torch.nn.Module]:
    torch.manual_seed(0)
    return {key: build_model(key).eval() for key in MMSA_TRAINABLE}


# -- counts and structure ------------------------------------------------------------------------
@pytest.mark.parametrize("key", list(MMSA_TRAINABLE))
def test_trainable_parameters_match_mmsa(models, key):
    assert models[key].count_trainable_parameters() == MMSA_TRAINABLE[key]


def test_classes_and_flags(models):
    for key, cls in (("mfn", MFN), ("graph_mfn", GraphMFN), ("mfm", MFM)):
        assert isinstance(models[key], cls) and models[key].key == cls.key == key
    assert [cls.display_name for cls in (MFN, GraphMFN, MFM)] == ["MFN", "Graph_MFN", "MFM"]
    assert MFN.normalized_input and MFN.aligned_input
    for cls in (GraphMFN, MFM):
        assert cls.aligned_input and not cls.normalized_input
    for cls in (MFN, GraphMFN, MFM):
        assert not cls.uses_bert_tokens and not cls.multitask and cls.update_every == 1


def test_graph_mfn_vertex_networks_frozen_by_default_and_trainable_as_option(models):
    model = models["graph_mfn"]
    frozen = [p for p in model.parameters() if not p.requires_grad]
    assert sum(p.numel() for p in frozen) == GRAPH_MFN_FROZEN
    assert {id(p) for p in frozen} == {id(p) for p in model.graph.vertex_networks.parameters()}
    fixed = build_model("graph_mfn", dfg_train_vertex_networks=True)
    assert fixed.count_trainable_parameters() == MMSA_TRAINABLE["graph_mfn"] + GRAPH_MFN_FROZEN


def test_dynamic_fusion_graph_structure(models):
    graph = models["graph_mfn"].graph
    assert graph.n_efficacies == 19
    in_dims = {name: net[0].in_features for name, net in graph.vertex_networks.items()}
    assert in_dims == {"0_1": 256 + 32, "0_2": 256 + 256, "1_2": 32 + 256, "0_1_2": 544 + 3 * 128}
    assert graph.top_network[0].in_features == 544 + 4 * 128
    assert graph.efficacy_network[0].in_features == 544
    assert [layer.out_features for layer in graph.efficacy_network] == [100, 128, 19]
    # MMSA deep-copies one Linear(100, 128) into every vertex network and into τ's network.
    fresh = build_model("graph_mfn").graph
    second_layers = [net[1] for net in fresh.vertex_networks.values()] + [fresh.top_network[1]]
    for layer in second_layers[1:]:
        assert torch.equal(layer.weight, second_layers[0].weight)
        assert layer.weight.data_ptr() != second_layers[0].weight.data_ptr()


def test_mfm_reuses_the_mfn_encoder_without_its_output_layer(models):
    from csmsasr_utils.msa.models.mfn import MemoryFusionEncoder

    model = models["mfm"]
    assert isinstance(model.mfn_encoder, MemoryFusionEncoder)
    assert model.mfn_encoder.out_dim == 64 + 16 + 64 + 128
    assert model.to_zy.in_features == 272 and model.to_zy.out_features == 48
    assert [d.cell.hidden_size for d in model.decoders] == [48 + 256, 48 + 80, 48 + 48]
    assert [d.readout.out_features for d in model.decoders] == list(FEATURE_DIMS)


def test_mfm_encoder_is_an_lstm_stepped_to_its_last_state():
    from csmsasr_utils.msa.models.mfm import LastStateEncoder

    torch.manual_seed(2)
    encoder, reference = LastStateEncoder(7, 5), torch.nn.LSTM(7, 5, batch_first=True)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        getattr(reference, f"{name}_l0").data.copy_(getattr(encoder.cell, name))
    x = torch.randn(3, 6, 7)
    with torch.no_grad():
        _, (last, _) = reference(x)
        torch.testing.assert_close(encoder(x), encoder.project(last[-1]))


def _mmsa_mfm_draws(hp, seed: int) -> dict[str, torch.Tensor]:
    """The layers MMSA's MFM(args) builds, in its order, from ``seed``: what each should start as.

    Encoders (LSTMCell + Linear each), decoders (LSTMCell + Linear each), MMSA's whole MFN (its
    output layer too: this package's MFN class draws in MMSA's order), then ``last_to_zy_fc1``.
    """
    from csmsasr_utils.seeding import seed_everything

    dims = FEATURE_DIMS
    z_sizes = [hp[k] for k in ("zl_size", "za_size", "zv_size")]
    f_sizes = [hp[k] for k in ("fl_size", "fa_size", "fv_size")]
    seed_everything(seed)
    encoders = [(torch.nn.LSTMCell(d, z), torch.nn.Linear(z, z)) for d, z in zip(dims, z_sizes)]
    decoders = [
        (torch.nn.LSTMCell(hp["fy_size"] + f, hp["fy_size"] + f), torch.nn.Linear(hp["fy_size"] + f, d))
        for f, d in zip(f_sizes, dims)
    ]
    mfn = MFN({**hp, "feature_dims": list(dims)})
    to_zy = torch.nn.Linear(mfn.encoder.out_dim, hp["zy_size"])
    return {
        "encoders.0.cell.weight_ih": encoders[0][0].weight_ih,
        "encoders.2.project.weight": encoders[2][1].weight,
        "decoders.1.cell.weight_hh": decoders[1][0].weight_hh,
        "decoders.2.readout.bias": decoders[2][1].bias,
        "mfn_encoder.memory.update_gate.3.weight": mfn.encoder.memory.update_gate[3].weight,
        "to_zy.weight": to_zy.weight,
        "to_zy.bias": to_zy.bias,
    }


def test_mfm_draws_its_initial_weights_in_mmsas_order():
    """Same seed, same initial weights as MMSA: the unused MFN output layer's draws are not skipped."""
    from csmsasr_utils.seeding import seed_everything

    seed_everything(1111)
    model = build_model("mfm")
    expected = _mmsa_mfm_draws(model.hp, 1111)
    state = model.state_dict()
    for name, tensor in expected.items():
        assert torch.equal(state[name], tensor), name


def test_mfm_training_forward_draws_mmsas_random_numbers():
    """A training forward pass leaves the global generator where MMSA's does: MFN's dropouts and its
    unused output layer's, the four prior samples, then the factor and predictor dropouts."""
    torch.manual_seed(0)
    model = build_model("mfm").train()
    hp, batch = model.hp, 3
    text, audio, vision = _raw_inputs(batch=batch, seed=6)
    torch.manual_seed(21)
    with torch.no_grad():
        model(text, audio, vision)
    ours = torch.get_rng_state()

    mfn = MFN({**hp, "feature_dims": list(FEATURE_DIMS)}).train()
    torch.manual_seed(21)
    with torch.no_grad():
        mfn(text, align_to_length(audio, 39), align_to_length(vision, 39))  # encoder and output dropouts
        for size in (hp["zl_size"], hp["za_size"], hp["zv_size"], hp["zy_size"]):
            torch.randn(batch, size)
        dropouts = [
            (hp["zy_to_fy_dropout"], hp["fy_size"]),
            (hp["zl_to_fl_dropout"], hp["fl_size"]),
            (hp["za_to_fa_dropout"], hp["fa_size"]),
            (hp["zv_to_fv_dropout"], hp["fv_size"]),
            (hp["fy_to_y_dropout"], hp["fy_size"]),
        ]
        for p, size in dropouts:
            torch.nn.functional.dropout(torch.ones(batch, size), p, training=True)
    assert torch.equal(ours, torch.get_rng_state())


def test_unknown_option_rejected_and_graph_mfn_option_declared():
    assert GraphMFN.options == {"dfg_train_vertex_networks": False}
    assert MFN.options == MFM.options == {}
    with pytest.raises(KeyError):
        build_model("mfm", dfg_train_vertex_networks=True)


def test_mfn_window_must_be_two():
    with pytest.raises(ValueError, match="windowsize"):
        build_model("mfn", windowsize=3)


# -- forward shapes and input treatment -----------------------------------------------------------
@pytest.mark.parametrize("key", list(MMSA_TRAINABLE))
def test_forward_shapes_at_full_lengths(models, key):
    torch.manual_seed(0)
    with torch.no_grad():
        out = models[key](*_inputs_for(key, batch=2))
    assert out["M"].shape == (2, 1) and torch.isfinite(out["M"]).all()
    if key == "mfn":
        assert out["L"].shape == (2, 208)
    if key == "graph_mfn":
        assert out["Efficacies"].shape == (2, 39, 19) and not out["Efficacies"].requires_grad
    if key == "mfm":
        for name in ("gen_loss", "mmd_loss", "missing_loss"):
            assert out[name].shape == ()
        assert out["gen_loss"] > 0 and out["missing_loss"] == 0


def test_mfn_repeats_its_averaged_inputs_to_the_text_length(models):
    model = models["mfn"]
    text, audio, vision = _normalized_inputs()
    assert audio.shape == (2, 1, 13) and vision.shape == (2, 1, 347)
    with torch.no_grad():
        from_averages = model(text, audio, vision)["M"]
        repeated = model(text, audio.expand(-1, 39, -1), vision.expand(-1, 39, -1))["M"]
        other = model(text, audio + 1.0, vision)["M"]
    # Equal to float tolerance, not bitwise: an expanded view and its repetition may go through
    # other kernels (another summation order) — on an AVX2-only CPU they differ by ~1e-8.
    torch.testing.assert_close(from_averages, repeated, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(from_averages, other, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize("key", ["graph_mfn", "mfm"])
def test_aligned_models_pool_inside_and_accept_prealigned_input(models, key):
    model = models[key]
    text, audio, vision = _raw_inputs()
    aligned = (text, align_to_length(audio, 39), align_to_length(vision, 39))
    assert aligned[1].shape == (2, 39, 13) and aligned[2].shape == (2, 39, 347)
    with torch.no_grad():
        torch.manual_seed(3)
        raw = model(text, audio, vision)
        torch.manual_seed(3)
        pre = model(*aligned)
    for name in ("M", "gen_loss", "mmd_loss") if key == "mfm" else ("M",):
        torch.testing.assert_close(raw[name], pre[name], rtol=0, atol=0)
    # the last real frame of a window matters (no truncation), unlike a frame past the padding
    audio_moved = audio.clone()
    audio_moved[:, 552] += 5.0
    with torch.no_grad():
        torch.manual_seed(3)
        moved = model(text, audio_moved, vision)["M"]
    assert not torch.allclose(raw["M"], moved)


# -- optimiser ------------------------------------------------------------------------------------
def _single_group(model):
    optimizer = model.configure_optimizer()
    assert isinstance(optimizer, torch.optim.Adam) and len(optimizer.param_groups) == 1
    assert model.configure_scheduler(optimizer) is None
    return optimizer.param_groups[0]


def test_mfn_and_graph_mfn_optimisers_use_the_table(models):
    group = _single_group(models["mfn"])
    assert (group["lr"], group["weight_decay"]) == (0.001, 0.0)
    assert sum(p.numel() for p in group["params"]) == MMSA_TRAINABLE["mfn"]
    model = models["graph_mfn"]
    group = _single_group(model)
    assert (group["lr"], group["weight_decay"]) == (0.0005, 0.001)
    assert sum(p.numel() for p in group["params"]) == MMSA_TRAINABLE["graph_mfn"]
    in_optimizer = {id(p) for p in group["params"]}
    assert not any(id(p) in in_optimizer for p in model.graph.vertex_networks.parameters())


def test_mfm_optimiser_uses_adam_default_lr_not_the_table(models):
    model = models["mfm"]
    assert model.hp["learning_rate"] == 0.002
    group = _single_group(model)
    assert (group["lr"], group["weight_decay"]) == (1e-3, 0.005)
    assert sum(p.numel() for p in group["params"]) == MMSA_TRAINABLE["mfm"]


# -- losses ---------------------------------------------------------------------------------------
def test_mfn_and_graph_mfn_use_l1_on_m(models):
    outputs = {"M": torch.tensor([[0.5], [-0.2], [0.1]])}
    labels = {"M": torch.tensor([1.0, 0.0, -0.4])}
    expected = (0.5 + 0.2 + 0.5) / 3
    for key in ("mfn", "graph_mfn"):
        assert models[key].training_loss(outputs, labels).item() == pytest.approx(expected)
        assert models[key].validation_loss(outputs, labels).item() == pytest.approx(expected)


@pytest.mark.parametrize("label_shape", [(3,), (3, 1)])
def test_mfm_training_loss_is_l1_plus_gen_plus_weighted_mmd(models, label_shape):
    model = models["mfm"]
    outputs = {
        "M": torch.tensor([[0.5], [-0.2], [0.1]]),
        "gen_loss": torch.tensor(0.3),
        "mmd_loss": torch.tensor(0.01),
        "missing_loss": torch.tensor(0.0),
    }
    labels = {"M": torch.tensor([1.0, 0.0, -0.4]).reshape(label_shape)}
    l1 = (0.5 + 0.2 + 0.5) / 3  # per-sample, no (B, B) broadcasting
    assert model.hp["lda_mmd"] == 200
    assert model.training_loss(outputs, labels).item() == pytest.approx(l1 + 0.3 + 200 * 0.01)
    assert model.validation_loss(outputs, labels).item() == pytest.approx(l1)
    single = {
        "M": torch.tensor([[0.25]]),
        "gen_loss": torch.tensor(0.0),
        "mmd_loss": torch.tensor(0.0),
        "missing_loss": torch.tensor(0.0),
    }
    assert model.validation_loss(single, {"M": torch.tensor([-0.5])}).item() == pytest.approx(0.75)


def test_mfm_auxiliary_losses_by_hand(models):
    model = models["mfm"]
    x = torch.tensor([[0.0, 0.0], [1.0, 2.0]])
    y = torch.tensor([[1.0, 0.0]])
    # exp(-mean_d((x_i - y_j)^2) / d) with d = 2
    expected = torch.tensor([[math.exp(-(1 / 2) / 2)], [math.exp(-(4 / 2) / 2)]])
    torch.testing.assert_close(_gaussian_kernel(x, y), expected)
    z = torch.randn(5, 3)
    torch.manual_seed(11)
    mmd = mmd_to_standard_normal(z)
    torch.manual_seed(11)
    prior = torch.randn(5, 3)
    by_hand = (
        _gaussian_kernel(prior, prior).mean() + _gaussian_kernel(z, z).mean() - 2 * _gaussian_kernel(prior, z).mean()
    )
    torch.testing.assert_close(mmd, by_hand)
    # gen_loss: the weighted MSE of each decoder's reconstruction of the aligned inputs
    text, audio, vision = _raw_inputs(batch=2, seed=4)
    inputs = (text, align_to_length(audio, 39), align_to_length(vision, 39))
    with torch.no_grad():
        out = model(text, audio, vision)
        z_modal = [enc(x) for enc, x in zip(model.encoders, inputs)]
        fy = model.factor_y(model.to_zy(model.mfn_encoder(*inputs)))
        recon = [dec(torch.cat([fy, fac(z)], dim=1), 39) for dec, fac, z in zip(model.decoders, model.factors, z_modal)]
    by_hand = sum(w * ((r - x) ** 2).mean() for w, r, x in zip((0.5, 0.01, 0.01), recon, inputs))
    torch.testing.assert_close(out["gen_loss"], by_hand)
    torch.testing.assert_close(out["M"], model.predictor(fy))


# -- one training step -----------------------------------------------------------------------------
@pytest.mark.parametrize("key", list(MMSA_TRAINABLE))
def test_one_step_updates_trainable_parameters_only(key):
    torch.manual_seed(1)
    model = build_model(key).train()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    optimizer = model.configure_optimizer()
    # short sequences keep the test fast; labels all above the (near-zero) initial predictions
    generator = torch.Generator().manual_seed(2)
    lengths = (8, 1, 1) if key == "mfn" else (8, 40, 24)
    inputs = [torch.randn(3, n, d, generator=generator) for n, d in zip(lengths, FEATURE_DIMS)]
    labels = {"M": torch.tensor([0.9, 0.7, 1.0])}
    loss = model.training_loss(model(*inputs), labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    for name, p in model.named_parameters():
        changed = not torch.equal(before[name], p.detach())
        assert changed == p.requires_grad, name
        if not p.requires_grad:
            assert p.grad is None
    assert any(not p.requires_grad for p in model.parameters()) == (key == "graph_mfn")
    if key == "graph_mfn":  # the option makes the DFG's vertex networks learn as well
        torch.manual_seed(1)
        fixed = build_model(key, dfg_train_vertex_networks=True).train()
        first = next(iter(fixed.graph.vertex_networks.parameters()))
        start = first.detach().clone()
        optimizer = fixed.configure_optimizer()
        fixed.training_loss(fixed(*inputs), labels).backward()
        optimizer.step()
        assert not torch.equal(start, first.detach())
