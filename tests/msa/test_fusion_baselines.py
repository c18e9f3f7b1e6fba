"""LF_DNN, TFN, LMF and EF_LSTM: counts pinned to MMSA's, shapes, input treatment, fusion
arithmetic, optimiser groups, loss and one training step."""

from __future__ import annotations

import pytest
import torch

from csmsasr_utils.msa.alignment import align_to_length, mean_over_padded_time
from csmsasr_utils.msa.base import MSAModel
from csmsasr_utils.msa.hparams import hyperparameters
from csmsasr_utils.msa.models.ef_lstm import EFLSTM
from csmsasr_utils.msa.models.lf_dnn import LFDNN
from csmsasr_utils.msa.models.lmf import LMF
from csmsasr_utils.msa.models.tfn import TFN
from csmsasr_utils.msa.registry import FEATURE_DIMS, SEQ_LENS, build_model

# Counted from MMSA's own classes at commit a94e65d (the dataset authors' copy, identical for
# these models) via /tmp/mmsa_check/check_fusion_baselines.py: AMIO(args) with args =
# config_regression.json sims entry + commonParams + datasetParams.sims, feature_dims
# [768, 13, 347], seq_lens as MMSA's loader/AMIO set them; the optimizer captured from the
# model's own trainer do_train (trains/singleTask/<Class>.py), counting the scalars it updates
# with lr > 0. Loading MMSA's initialised state_dict into ours gave identical outputs (max abs
# diff 0.0, eval mode) and, after one Adam step with the same dropout draws, parameters equal
# within 1.1e-6 (TFN) / 0.0 (the others).
MMSA_TRAINABLE_PARAMETERS = {
    "lf_dnn": 588_081,  # LF_DNN: Adam(model.parameters()) – everything
    "tfn": 35_584_337,  # TFN: Adam(parameters()[2:]) – all but output_range/output_shift
    "lmf": 248_124,  # LMF: parameters()[:3] and [5:] – all but fusion_weights/bias
    "ef_lstm": 166_799,  # EF_LSTM: Adam(model.parameters()) – everything
}
CLASSES = {"lf_dnn": LFDNN, "tfn": TFN, "lmf": LMF, "ef_lstm": EFLSTM}
NORMALIZED = ("lf_dnn", "tfn", "lmf")


@pytest.fixture(scope="module")
def models() -> dict[str, MSAModel]:
    torch.manual_seed(0)
    return {key: build_model(key).eval() for key in CLASSES}


def raw_inputs(batch: int = 3, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Full-length padded text, audio and vision (zeros after a random-looking cut)."""
    generator = torch.Generator().manual_seed(seed)
    text, audio, vision = (
        torch.randn(batch, length, dim, generator=generator) for length, dim in zip(SEQ_LENS, FEATURE_DIMS)
    )
    audio[:, 400:] = 0.0
    vision[:, 250:] = 0.0
    return text, audio, vision


def model_inputs(key: str, batch: int = 3, seed: int = 0):
    """What the generic trainer hands the model (averaged audio/vision for normalised models)."""
    text, audio, vision = raw_inputs(batch, seed)
    if key in NORMALIZED:
        return text, mean_over_padded_time(audio), mean_over_padded_time(vision)
    return text, audio, vision


def fresh(key: str, seed: int = 0, **overrides) -> MSAModel:
    torch.manual_seed(seed)
    return build_model(key, **overrides) if not overrides else _with_options(key, **overrides)


def _with_options(key: str, **options) -> MSAModel:
    """The model with option keys that are not in MMSA's table (build_model refuses those)."""
    hp = {**hyperparameters(key), **options, "feature_dims": list(FEATURE_DIMS), "seq_lens": list(SEQ_LENS)}
    return CLASSES[key](hp)


# -- registry and parameter counts ------------------------------------------------------------
@pytest.mark.parametrize("key", list(CLASSES))
def test_trainable_parameters_match_mmsa(models, key):
    model = models[key]
    # (names, not identity: pytest's doctest import of the module file may load a second copy)
    assert type(model).__name__ == CLASSES[key].__name__ and model.key == key
    assert model.count_trainable_parameters() == MMSA_TRAINABLE_PARAMETERS[key]


def test_frozen_parameters_are_exactly_those_mmsa_never_optimises(models):
    frozen = {key: sorted(n for n, p in m.named_parameters() if not p.requires_grad) for key, m in models.items()}
    assert frozen == {
        "lf_dnn": [],
        "tfn": ["output_range", "output_shift"],
        "lmf": ["fusion_bias", "fusion_weights"],
        "ef_lstm": [],
    }


def test_input_treatment_flags(models):
    assert [k for k, m in models.items() if m.normalized_input] == list(NORMALIZED)
    assert [k for k, m in models.items() if m.aligned_input] == ["ef_lstm"]
    assert not any(m.uses_bert_tokens or m.multitask for m in models.values())
    assert {m.display_name for m in models.values()} == {"LF_DNN", "TFN", "LMF", "EF_LSTM"}


# -- shapes -------------------------------------------------------------------------------------
@pytest.mark.parametrize("key", list(CLASSES))
def test_forward_shapes_at_full_lengths(models, key):
    with torch.no_grad():
        out = models[key](*model_inputs(key, batch=3))
    assert out["M"].shape == (3, 1)
    assert torch.isfinite(out["M"]).all()


def test_feature_sizes(models):
    with torch.no_grad():
        lf = models["lf_dnn"](*model_inputs("lf_dnn"))
        tfn = models["tfn"](*model_inputs("tfn"))
        lmf = models["lmf"](*model_inputs("lmf"))
    # hidden_dims are (text, audio, vision); LF_DNN/TFN text_out 256, LMF text_out 64 // 2.
    assert [lf[k].shape[1] for k in ("Feature_a", "Feature_v", "Feature_t", "Feature_f")] == [
        32,
        128,
        256,
        32 + 128 + 256,
    ]
    assert tfn["Feature_f"].shape == (3, 33 * 129 * 257)
    assert [lmf[k].shape[1] for k in ("Feature_a", "Feature_v", "Feature_t", "Feature_f")] == [16, 64, 32, 4]


# -- input treatment ----------------------------------------------------------------------------
@pytest.mark.parametrize("key", NORMALIZED)
def test_normalised_models_read_time_averaged_vectors(models, key):
    model = models[key]
    text, audio, vision = raw_inputs()
    averaged_audio, averaged_vision = mean_over_padded_time(audio), mean_over_padded_time(vision)
    assert averaged_audio.shape == (3, 1, 13) and averaged_vision.shape == (3, 1, 347)
    with torch.no_grad():
        out = model(text, averaged_audio, averaged_vision)["M"]
        # the same vectors without the time axis … (the models squeeze dim 1)
        again = model(text, averaged_audio[:, 0:1], averaged_vision[:, 0:1])["M"]
        # … and the average moves the prediction
        moved = model(text, averaged_audio + 1.0, averaged_vision)["M"]
    assert torch.equal(out, again)
    assert not torch.allclose(out, moved)
    with pytest.raises(RuntimeError):  # padded sequences are not what these models read
        model(text, audio, vision)


def test_ef_lstm_aligns_audio_and_vision_to_the_text_length(models):
    model = models["ef_lstm"]
    text, audio, vision = raw_inputs()
    aligned_audio, aligned_vision = align_to_length(audio, 39), align_to_length(vision, 39)
    assert aligned_audio.shape == (3, 39, 13) and aligned_vision.shape == (3, 39, 347)
    with torch.no_grad():
        from_raw = model(text, audio, vision)["M"]
        from_aligned = model(text, aligned_audio, aligned_vision)["M"]
        # the last frame (repeated as padding 553 → 585) feeds the last three windows of 15
        audio[:, -1] += 5.0
        moved = model(text, audio, vision)["M"]
    assert torch.equal(from_raw, from_aligned)
    assert not torch.allclose(from_raw, moved)


def test_ef_lstm_layers(models):
    model = models["ef_lstm"]
    # BatchNorm over the 39 aligned time steps (MMSA's BatchNorm1d(seq_lens) after AMIO).
    assert model.norm.num_features == 39
    assert (model.lstm.input_size, model.lstm.hidden_size, model.lstm.num_layers) == (1128, 32, 3)
    assert model.lstm.dropout == 0.5 and model.dropout.p == 0.5 and not model.lstm.bidirectional
    assert build_model("ef_lstm", seq_lens=(20, 553, 321)).norm.num_features == 20


# -- fusion arithmetic ------------------------------------------------------------------------
def test_tfn_fusion_is_the_outer_product_of_one_augmented_codes(models):
    model = models["tfn"]
    with torch.no_grad():
        out = model(*model_inputs("tfn", batch=2))
    one = torch.ones(2, 1)
    a, v, t = (torch.cat([one, out[k]], dim=1) for k in ("Feature_a", "Feature_v", "Feature_t"))
    expected = torch.einsum("ba,bv,bt->bavt", a, v, t).reshape(2, -1)
    torch.testing.assert_close(out["Feature_f"], expected)


def test_tfn_output_is_a_sigmoid_scaled_to_minus3_3(models):
    model = models["tfn"]
    assert model.output_range.item() == 6.0 and model.output_shift.item() == -3.0
    with torch.no_grad():
        out = model(*model_inputs("tfn", batch=2))
        h = torch.relu(model.post_fusion_layer_1(out["Feature_f"]))
        logit = model.post_fusion_layer_3(torch.relu(model.post_fusion_layer_2(h)))
    torch.testing.assert_close(out["M"], torch.sigmoid(logit) * 6.0 - 3.0)


def test_lmf_equals_its_rank_sum_by_hand(models):
    model = models["lmf"]
    with torch.no_grad():
        out = model(*model_inputs("lmf", batch=2))
        expected = torch.zeros(2, 1)
        for b in range(2):
            total = model.fusion_bias[0, 0].clone()
            for r in range(4):
                product = torch.tensor(1.0)
                for name, factor in (
                    ("Feature_a", model.audio_factor),
                    ("Feature_v", model.vision_factor),
                    ("Feature_t", model.text_factor),
                ):
                    code = torch.cat([torch.ones(1), out[name][b]])
                    product = product * (code @ factor[r, :, 0])
                total = total + model.fusion_weights[0, r] * product
            expected[b, 0] = total
    torch.testing.assert_close(out["M"], expected)
    assert model.audio_factor.shape == (4, 17, 1) and model.vision_factor.shape == (4, 65, 1)
    assert model.text_factor.shape == (4, 33, 1) and model.fusion_weights.shape == (1, 4)


# -- optimiser groups ---------------------------------------------------------------------------
def _groups(model: MSAModel) -> list[tuple[set[str], float, float]]:
    names = {id(p): n for n, p in model.named_parameters()}
    return [
        ({names[id(p)] for p in g["params"]}, g["lr"], g["weight_decay"])
        for g in model.configure_optimizer().param_groups
    ]


@pytest.mark.parametrize(
    "key, lr, weight_decay", [("lf_dnn", 0.005, 0.005), ("tfn", 0.0005, 0.0), ("ef_lstm", 0.0005, 0.001)]
)
def test_single_group_optimisers(models, key, lr, weight_decay):
    model = models[key]
    ((names, got_lr, got_wd),) = _groups(model)
    assert names == {n for n, p in model.named_parameters() if p.requires_grad}
    assert (got_lr, got_wd) == (lr, weight_decay)
    assert model.configure_scheduler(model.configure_optimizer()) is None


def test_tfn_ignores_weight_decay_like_mmsa(models, monkeypatch):
    assert "weight_decay" not in hyperparameters("tfn")
    # MMSA's TFN trainer passes no weight decay to Adam, whatever the configuration says.
    monkeypatch.setitem(models["tfn"].hp, "weight_decay", 0.1)
    assert {wd for _, _, wd in _groups(models["tfn"])} == {0.0}


def test_lmf_factor_group_and_untrained_fusion_weights(models):
    model = models["lmf"]
    (factors, factor_lr, wd1), (others, lr, wd2) = _groups(model)
    assert factors == {"audio_factor", "vision_factor", "text_factor"}
    assert (factor_lr, lr, wd1, wd2) == (0.0005, 0.002, 0.005, 0.005)
    assert not others & {"fusion_weights", "fusion_bias"}
    assert others | factors == {n for n, p in model.named_parameters() if p.requires_grad}
    assert all(n.split(".")[0].endswith("_subnet") for n in others)


def test_lmf_option_trains_the_fusion_weights():
    model = fresh("lmf", train_fusion_weights=True)
    assert model.count_trainable_parameters() == MMSA_TRAINABLE_PARAMETERS["lmf"] + 4 + 1
    _, (others, lr, _) = _groups(model)
    assert {"fusion_weights", "fusion_bias"} <= others and lr == 0.002
    assert LMF.options == {"train_fusion_weights": False}


# -- loss and one training step ------------------------------------------------------------------
@pytest.mark.parametrize("key", list(CLASSES))
def test_loss_is_l1_on_the_m_head(models, key):
    model = models[key]
    outputs = {"M": torch.tensor([[0.5], [-0.25], [1.0]])}
    labels = {"M": torch.tensor([0.0, 0.25, -1.0]), "T": torch.zeros(3)}
    expected = (0.5 + 0.5 + 2.0) / 3
    assert model.training_loss(outputs, labels).item() == pytest.approx(expected)
    assert model.validation_loss(outputs, labels).item() == pytest.approx(expected)


@pytest.mark.parametrize("key", list(CLASSES))
def test_one_step_moves_trainable_parameters_only(key):
    option = {"train_fusion_weights": False} if key == "lmf" else {}
    model = fresh(key, seed=1, **option).train()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    optimizer = model.configure_optimizer()
    inputs = model_inputs(key, batch=4, seed=1)
    labels = {"M": torch.tensor([0.8, -0.6, 0.2, -1.0])}
    optimizer.zero_grad()
    model.training_loss(model(*inputs), labels).backward()
    optimizer.step()
    for name, param in model.named_parameters():
        changed = not torch.equal(before[name], param.detach())
        assert changed == param.requires_grad, name
        if not param.requires_grad:
            assert param.grad is None, name
