"""ALMT: parameter counts pinned to MMSA's, BERT-token input, weights, schedule and recipe."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from transformers import BertConfig, BertModel

from csmsasr_utils.errors import CsmsasrError
from csmsasr_utils.msa.bert import load_bert
from csmsasr_utils.msa.models.almt import ALMT, warmup_cosine_factor
from csmsasr_utils.msa.registry import build_model

BERT_DIR = "CSMSASR_BERT_DIR"

#: A small BERT, so that the tests need no download and run in seconds.
TINY_BERT = {
    "vocab_size": 21128,
    "hidden_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "intermediate_size": 64,
    "max_position_embeddings": 64,
    "type_vocab_size": 2,
}
#: bert-base-chinese's architecture (its config.json), built here with random weights.
BERT_BASE_CHINESE = {
    "vocab_size": 21128,
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "max_position_embeddings": 512,
    "type_vocab_size": 2,
}

# Counted from MMSA's ALMT (models/singleTask/ALMT.py) at commit a94e65d via
# /tmp/mmsa_check/almt_check.py. MMSA's BertTextEncoder was stubbed to build BertModel(config)
# with random weights, and the args were the 'almt' sims config, with feature_dims[0] set to
# BERT's width as MMSA's loader does. MMSA's AdamW(model.parameters()) receives
# 105,505,281 scalars (tiny BERT: 3,839,841). BERT's pooler (590,592; tiny: 1,056) never gets a
# gradient there (checked: grad stays None), so AdamW never updates it. The rest is what it
# updates. Loading MMSA's initialised state_dict into ours gave identical outputs
# (max abs diff 0.0, eval mode, full and demo lengths), identical train-mode gradients, and the
# same initial weights from the same seed.
MMSA_UPDATED_PARAMETERS = 104_914_689
MMSA_UPDATED_PARAMETERS_TINY_BERT = 3_838_785
MMSA_POOLER_PARAMETERS = 590_592
#: Padded lengths of the book's demo data (text, audio, vision).
DEMO_LENGTHS = (39, 64, 48)


def _tiny(**overrides) -> ALMT:
    overrides.setdefault("pretrained", BertConfig(**TINY_BERT))
    return build_model("almt", **overrides)


def _tokens(batch: int, length: int = 39, generator: torch.Generator | None = None) -> torch.Tensor:
    """MMSA-style ``text_bert``: [CLS] ids... [SEP] then padding; mask; zero segments."""
    ids = torch.randint(672, 8000, (batch, length), generator=generator)
    mask = torch.zeros(batch, length)
    for row in range(batch):
        used = min(length, 6 + 9 * row)
        ids[row, 0], ids[row, used - 1] = 101, 102
        ids[row, used:] = 0
        mask[row, :used] = 1
    return torch.stack([ids.float(), mask, torch.zeros(batch, length)], dim=1)


def _inputs(batch: int = 2, lengths: tuple[int, int, int] = (39, 553, 321), seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    return (
        _tokens(batch, lengths[0], generator),
        torch.randn(batch, lengths[1], 13, generator=generator),
        torch.randn(batch, lengths[2], 347, generator=generator),
    )


@pytest.fixture(scope="module")
def model() -> ALMT:
    torch.manual_seed(0)
    return _tiny().eval()


def test_trainable_parameters_match_mmsa_with_tiny_bert(model):
    assert (model.key, model.display_name) == ("almt", "ALMT")
    assert model.count_trainable_parameters() == MMSA_UPDATED_PARAMETERS_TINY_BERT
    frozen = [name for name, p in model.named_parameters() if not p.requires_grad]
    assert frozen and all(name.startswith("bert.pooler.") for name in frozen)


@pytest.mark.slow
def test_trainable_parameters_match_mmsa_at_bert_base_chinese_size():
    full = build_model("almt", pretrained=BertConfig(**BERT_BASE_CHINESE))
    assert full.count_trainable_parameters() == MMSA_UPDATED_PARAMETERS
    assert sum(p.numel() for p in full.bert.pooler.parameters()) == MMSA_POOLER_PARAMETERS
    assert full.embed_text.projection.in_features == 768


def test_forward_shapes_at_full_and_demo_lengths(model):
    with torch.no_grad():
        full = model(*_inputs(batch=2))["M"]
        demo = model(*_inputs(batch=3, lengths=DEMO_LENGTHS))["M"]
    assert full.shape == (2, 1) and demo.shape == (3, 1)
    assert torch.isfinite(full).all() and torch.isfinite(demo).all()


def test_outputs_equal_mmsa_from_the_same_seed(model):
    """MMSA's ALMT built after ``torch.manual_seed(0)`` with the same tiny BERT gives these outputs
    on these inputs (eval mode; /tmp/mmsa_check/almt_golden.py). Our modules draw their initial
    weights in MMSA's order, so the same seed gives the same network."""
    with torch.no_grad():
        out = model(*_inputs(batch=3, lengths=DEMO_LENGTHS, seed=4))["M"].flatten()
    assert out.tolist() == pytest.approx([0.5305194854736328, 0.5287333130836487, 0.5334312915802002], abs=1e-6)


def test_text_is_bert_ids_mask_segments(model):
    """Row 0 = token ids, row 1 = attention mask, row 2 = segment ids, fed to BERT as MMSA does."""
    assert model.uses_bert_tokens and not model.normalized_input and not model.aligned_input
    text = _tokens(2)
    text[1, 2, :4] = 1.0  # non-zero segment ids must reach BERT
    with torch.no_grad():
        ours = model.encode_text(text)
        direct = model.bert(
            input_ids=text[:, 0].long(), attention_mask=text[:, 1], token_type_ids=text[:, 2].long()
        ).last_hidden_state
    assert torch.equal(ours, direct)
    with pytest.raises(ValueError, match=r"\(batch, 3, length\)"):
        model(torch.randn(2, 39, 768), *_inputs()[1:])


def test_audio_and_vision_are_read_raw_padding_included(model):
    """No averaging, no alignment, no mask: even the last padded frame moves the prediction."""
    text, audio, vision = _inputs(batch=1)
    with torch.no_grad():
        base = model(text, audio, vision)["M"]
        audio[:, -1] += 1.0
        moved_audio = model(text, audio, vision)["M"]
        vision[:, -1] += 1.0
        moved_vision = model(text, audio, vision)["M"]
    assert not torch.allclose(base, moved_audio) and not torch.allclose(moved_audio, moved_vision)


def test_positional_tables_follow_feature_length_not_shorter_data():
    demo = _tiny(seq_lens=DEMO_LENGTHS)
    assert demo.hp["feature_length"] == [39, 553, 321]
    assert demo.count_trainable_parameters() == MMSA_UPDATED_PARAMETERS_TINY_BERT
    assert demo.embed_audio.encoder.positions.shape == (1, 553 + 8, 128)
    longer = _tiny(seq_lens=(39, 600, 321))
    assert longer.hp["feature_length"] == [39, 600, 321]
    assert longer.embed_audio.encoder.positions.shape == (1, 600 + 8, 128)
    sized = _tiny(feature_length=list(DEMO_LENGTHS), seq_lens=DEMO_LENGTHS)
    assert sized.embed_vision.encoder.positions.shape == (1, 48 + 8, 128)
    with torch.no_grad(), pytest.raises(ValueError, match="feature_length"):
        sized(*_inputs(lengths=(39, 65, 48)))


def test_optimizer_is_adamw_over_the_trainable_parameters(model):
    optimizer = model.configure_optimizer()
    assert type(optimizer) is torch.optim.AdamW and len(optimizer.param_groups) == 1
    group = optimizer.param_groups[0]
    assert group["lr"] == pytest.approx(1e-4) and group["weight_decay"] == pytest.approx(1e-4)
    assert [id(p) for p in group["params"]] == [id(p) for p in model.trainable_parameters()]
    pooler = {id(p) for p in model.bert.pooler.parameters()}
    assert not pooler & {id(p) for p in group["params"]}
    # MMSA's ALMT trainer never clips (max_grad_norm is unused); early stop 32; no epoch cap.
    assert model.clip_grad_norm is None and model.clip_grad_value is None and model.update_every == 1
    assert (model.patience, model.max_epochs, model.hp["max_epochs"]) == (32, None, 200)  # no cap: sizes the schedule


def _mmsa_factor_by_hand(epoch: int, max_epochs: int) -> float:
    """MMSA's GradualWarmupScheduler(multiplier=1, total_epoch=0.1 n) + CosineAnnealingLR(T_max=0.9 n)."""
    warmup, period = 0.1 * max_epochs, 0.9 * max_epochs
    if epoch <= warmup:
        return epoch / warmup
    first_after = int(warmup) + 1  # the cosine's epoch 0: full learning rate
    return 0.5 * (1 + math.cos(math.pi * (epoch - first_after) / period))


@pytest.mark.parametrize("max_epochs", [200, 15])
def test_learning_rate_schedule_matches_mmsa(max_epochs):
    optimizer = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=1e-4)
    scheduler, when = _tiny(max_epochs=max_epochs).configure_scheduler(optimizer)
    assert when == "epoch"
    rates = []
    for _ in range(2 * max_epochs + 3):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    expected = [1e-4 * _mmsa_factor_by_hand(e, max_epochs) for e in range(len(rates))]
    assert rates == pytest.approx(expected, rel=1e-12, abs=1e-18)
    if max_epochs == 200:  # first epoch at 0, +5 % per epoch, full at epochs 21 and 22, then cosine
        assert rates[:3] == pytest.approx([0.0, 5e-6, 1e-5])
        assert rates[20] == rates[21] == pytest.approx(1e-4)
        assert rates[22] == pytest.approx(1e-4 * (1 + math.cos(math.pi / 180)) / 2)
        assert rates[201] == pytest.approx(0.0, abs=1e-20)
    else:  # warm-up 1.5 epochs: 0, 2/3, then the cosine starts at full rate
        assert rates[:4] == pytest.approx([0.0, 1e-4 / 1.5, 1e-4, 1e-4 * (1 + math.cos(math.pi / 13.5)) / 2])
    assert warmup_cosine_factor(21, 200) == 1.0


def test_losses_are_mse_on_m(model):
    outputs = {"M": torch.tensor([[0.5], [-0.2], [0.0]])}
    labels = {"M": torch.tensor([1.0, -0.2, -0.6]), "T": torch.zeros(3)}
    expected = (0.5**2 + 0.0 + 0.6**2) / 3
    assert model.training_loss(outputs, labels).item() == pytest.approx(expected)
    assert model.validation_loss(outputs, labels).item() == pytest.approx(expected)


def test_one_step_updates_trainable_parameters_only():
    torch.manual_seed(1)
    net = _tiny().train()
    before = {name: p.detach().clone() for name, p in net.named_parameters()}
    optimizer = net.configure_optimizer()
    for group in optimizer.param_groups:
        group["lr"] = 1e-3
    loss = net.training_loss(net(*_inputs(batch=3, lengths=DEMO_LENGTHS)), {"M": torch.tensor([0.4, -0.8, 0.0])})
    loss.backward()
    optimizer.step()
    for name, p in net.named_parameters():
        changed = not torch.equal(before[name], p.detach())
        assert changed == p.requires_grad, name
    assert all(p.grad is None for p in net.bert.pooler.parameters())


def test_use_finetune_false_freezes_bert():
    frozen = _tiny(use_finetune=False).train()
    bert_size = sum(p.numel() for p in frozen.bert.parameters())
    assert frozen.count_trainable_parameters() == MMSA_UPDATED_PARAMETERS_TINY_BERT + 1_056 - bert_size
    frozen(*_inputs(batch=2, lengths=DEMO_LENGTHS))["M"].sum().backward()
    assert all(p.grad is None for p in frozen.bert.parameters())
    assert frozen.head.weight.grad is not None


def test_bert_weights_from_a_local_folder_or_the_environment(tmp_path, monkeypatch):
    torch.manual_seed(3)
    saved = BertModel(BertConfig(**TINY_BERT))
    saved.save_pretrained(tmp_path / "bert")
    reference = saved.embeddings.word_embeddings.weight
    from_path = _tiny(pretrained=str(tmp_path / "bert"))
    assert torch.equal(from_path.bert.embeddings.word_embeddings.weight, reference)
    monkeypatch.setenv(BERT_DIR, str(tmp_path / "bert"))
    from_env = build_model("almt")  # the table's 'bert-base-chinese', found in $CSMSASR_BERT_DIR
    assert torch.equal(from_env.bert.embeddings.word_embeddings.weight, reference)
    assert from_env.count_trainable_parameters() == MMSA_UPDATED_PARAMETERS_TINY_BERT
    monkeypatch.setenv(BERT_DIR, str(tmp_path / "missing"))
    with pytest.raises(CsmsasrError, match=BERT_DIR):
        load_bert("bert-base-chinese")
    assert load_bert(dict(TINY_BERT)).config.hidden_size == 32  # a dict of config fields works too


def test_encode_transcripts_layout(public_dir):
    from csmsasr_utils.data.vocab import load_bert_vocabulary
    from csmsasr_utils.msa.bert_tokens import encode_transcripts

    vocab = {token: index for index, token in enumerate(load_bert_vocabulary(public_dir))}
    text_bert = encode_transcripts(["我屋里吃粉", "", "好" * 50], public_dir=public_dir)
    assert text_bert.shape == (3, 3, 39) and text_bert.dtype == np.float32
    ids = [vocab[t] for t in ("[CLS]", "我", "屋", "里", "吃", "粉", "[SEP]")]
    assert text_bert[0, 0, :7].tolist() == ids and not text_bert[0, 0, 7:].any()
    assert text_bert[0, 1].tolist() == [1.0] * 7 + [0.0] * 32
    assert text_bert[1, 0, :3].tolist() == [vocab["[CLS]"], vocab["[SEP]"], 0]
    assert text_bert[2, 0, -1] == vocab["[SEP]"] and text_bert[2, 1].all()  # cut, [SEP] kept
    assert not text_bert[:, 2].any()


def test_almt_runs_on_demo_transcripts(public_dir, small_demo, model):
    from csmsasr_utils.msa.bert_tokens import encode_transcripts

    clips = slice(0, 4)
    length = small_demo["text"].shape[1]
    text = torch.from_numpy(encode_transcripts(small_demo["raw_text"][clips], length=length, public_dir=public_dir))
    audio = torch.from_numpy(np.nan_to_num(small_demo["audio"][clips], neginf=0.0)).float()
    vision = torch.from_numpy(small_demo["vision"][clips]).float()
    with torch.no_grad():
        out = model(text, audio, vision)["M"]
    assert out.shape == (4, 1) and torch.isfinite(out).all()
