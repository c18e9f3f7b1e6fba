"""ALMT: the Adaptive Language-guided Multimodal Transformer (Zhang et al., EMNLP 2023).

ALMT lets language steer fusion. Each modality is first squeezed into 8 learned tokens by a one-layer
Transformer. A text encoder then refines the text tokens, and its hidden states, one per level,
query audio and vision in the *Adaptive Hyper-modality Learning* (AHL) layers. Those layers build
a "hyper-modality" representation in which audio and vision are filtered by what the text attends
to. A cross-modal Transformer fuses the hyper-modality (as keys and values) into the text tokens
(as queries), and its first token is regressed to the sentiment score. The text comes from a
fine-tuned ``bert-base-chinese``.

Shapes with CS-MSASR's data (batch ``B``; model width 128; 8 tokens per modality):

==============================  ===============================================================
text ``(B, 3, 39)``             BERT token ids / attention mask / segment ids (MMSA's
                                ``text_bert``) → BERT → ``(B, 39, 768)``
embedding, each modality        ``Linear`` to 128 → 8 zero-initialised tokens prepended
                                (text ``(B, 47, 128)``, audio ``(B, 561, 128)`` from
                                ``(B, 553, 13)``, vision ``(B, 329, 128)`` from
                                ``(B, 321, 347)``) → + learned positions → 1 pre-norm layer →
                                the 8 token outputs ``(B, 8, 128)``
text encoder                    positions ``(1, 8, 128)`` added → 2 layers; hidden states
                                ``h0, h1, h2`` (the input and each layer's output)
AHL, 3 layers                   a learned hyper-modality ``(1, 8, 128)`` (ones) repeated;
                                layer ``i`` queries audio and vision with ``h_i``
fusion, 4 layers                one zero token prepended to the hyper-modality and to ``h2``,
                                + positions ``(1, 9, 128)`` each; ``h2`` attends to the
                                hyper-modality; its token → ``(B, 128)`` → ``Linear`` → ``M``
==============================  ===============================================================

Attention in the embedding, text-encoder and fusion layers uses 8 heads of width 64 (inner width
512, wider than the model); the AHL layers use 8 heads of width 16. No attention masks are used:
padded audio/vision frames take part in attention, as in MMSA. All dropout inside ALMT is 0; only
BERT's own dropout (0.1) is active in training.

MMSA facts honoured (``models/singleTask/ALMT.py``, ``models/subNets/BertTextEncoder.py`` and
``trains/singleTask/ALMT.py`` of the authors' MMSA copy, = ``thuiar/MMSA@a94e65d``):

* layer sizes, layer order and initialisation: positions ``randn``, modality tokens and the
  fusion token zeros, the hyper-modality ones, PyTorch's defaults elsewhere. Modules are created
  in MMSA's order, so one seed gives MMSA's initial weights (checked with a random-weight BERT);
* pre-norm blocks with separate LayerNorms for the query, key and value inputs. In the AHL layer
  the update is added to the *normalised* hyper-modality (MMSA's ``h_hyper += shift`` acts on the
  LayerNorm output). This follows the ALMT authors' code, so it is kept as is;
* BERT is fine-tuned (``use_finetune``). Its pooler is kept, so that the checkpoint loads
  whole, but it is frozen: its output is never used, so MMSA's AdamW, which receives it, never
  gets a gradient for it and never changes it. With ``use_finetune=False`` BERT runs without
  gradients and is frozen entirely;
* optimiser: ``AdamW(lr=learning_rate, weight_decay=weight_decay)``, one group;
* loss: MSE on M, for training and validation (see :meth:`ALMT.validation_loss`);
* no gradient clipping: ``max_grad_norm`` is in the table but the trainer never reads it;
* schedule: stepped once per epoch, after validation. It warms up linearly from 0 over
  ``0.1 * max_epochs`` epochs and then follows a cosine over ``0.9 * max_epochs`` epochs (MMSA's
  ``GradualWarmupScheduler`` + ``CosineAnnealingLR``; see :func:`warmup_cosine_factor`).
  The first epoch trains with learning rate 0;
* ``early_stop`` 32. MMSA's loop has no epoch cap: ``max_epochs`` (200) only sizes the
  schedule. The base class also uses it as a cap.

Choices where MMSA's code and our data meet:

* **Sequence lengths.** The positional tables are sized by ``feature_length``, which MMSA reads
  from the config and never from the data: ``[39, 553, 321]``, equal to the real data's padded
  lengths. Shorter inputs use the first rows of a table, as in MMSA, so the demo data (39/64/48)
  runs with the table's sizes and the parameter count stays MMSA's. When the data are *longer*
  than ``feature_length`` (MMSA would crash), that modality's table is sized to the data's length
  instead. The lengths used are stored in ``hp['feature_length']``. Pass
  ``feature_length=[...]`` to :func:`~csmsasr_utils.msa.registry.build_model` to size them
  yourself.
* **BERT weights** (``pretrained``): a :class:`transformers.BertConfig` (or a dict of its
  fields) builds BERT with random weights, with no download (tests, parameter counts). A path
  to an existing folder loads that folder. Otherwise the name ``'bert-base-chinese'`` loads the
  folder named by the environment variable ``CSMSASR_BERT_DIR`` when it is set, and the model
  hub (or its local cache) when it is not.
* The text projection reads BERT's hidden size (768 for ``bert-base-chinese``, which is MMSA's
  ``feature_dims[0]``). MMSA hard-codes the regression head's input (128) and the 8 kept tokens;
  here they come from ``dst_feature_dims`` and ``dst_embedding_length``, which equal them.

MMSA's ALMT has no bug that changes results on this data, so there is no fix option.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import partial
from typing import Any

import torch
from torch import nn

from csmsasr_utils.errors import InvalidArgument
from csmsasr_utils.msa.base import Labels, MSAModel, Outputs
from csmsasr_utils.msa.bert import DEFAULT_PRETRAINED, load_bert
from csmsasr_utils.msa.registry import register

#: Width of each attention head in the embedding, text-encoder and fusion layers (MMSA's default).
HEAD_DIM = 64


def warmup_cosine_factor(epoch: int, max_epochs: int) -> float:
    """Multiplier of the base learning rate after ``epoch`` scheduler steps (MMSA's ALMT schedule).

    Warm-up: ``epoch / w`` while ``epoch <= w``, where ``w = 0.1 * max_epochs``. After that,
    a cosine with period ``2 T``, where ``T = 0.9 * max_epochs``:
    ``(1 + cos(pi k / T)) / 2``. Here ``k = epoch - floor(w) - 1`` counts the steps since the
    warm-up ended, and the first epoch after the warm-up uses the full rate.

    >>> [round(warmup_cosine_factor(e, 200), 4) for e in (0, 1, 20, 21, 22, 201)]
    [0.0, 0.05, 1.0, 1.0, 0.9999, 0.0]
    """
    warmup = 0.1 * max_epochs
    period = 0.9 * max_epochs
    if warmup <= 0:
        raise InvalidArgument(f"max_epochs must be positive, got {max_epochs}")
    if epoch <= warmup:
        return epoch / warmup
    since_warmup = epoch - math.floor(warmup) - 1
    return (1.0 + math.cos(math.pi * since_warmup / period)) / 2.0


# -- building blocks ---------------------------------------------------------------------------
def _split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    """``(B, N, heads * d)`` → ``(B, heads, N, d)``."""
    batch, length, width = x.shape
    return x.view(batch, length, heads, width // heads).transpose(1, 2)


def _attend(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """Softmax attention on ``(B, heads, N, d)`` tensors; returns ``(B, N, heads * d)``."""
    scores = query @ key.transpose(-1, -2) * query.size(-1) ** -0.5
    mixed = scores.softmax(dim=-1) @ value
    batch, heads, length, width = mixed.shape
    return mixed.transpose(1, 2).reshape(batch, length, heads * width)


def _output_projection(inner: int, dim: int, heads: int, head_dim: int) -> nn.Module:
    """Heads back to the model width; none when a single head already has that width."""
    return nn.Identity() if heads == 1 and head_dim == dim else nn.Linear(inner, dim)


class _MultiHeadAttention(nn.Module):
    """Multi-head attention with bias-free query/key/value projections."""

    def __init__(self, dim: int, heads: int, head_dim: int):
        super().__init__()
        inner = heads * head_dim
        self.heads = heads
        self.query = nn.Linear(dim, inner, bias=False)
        self.key = nn.Linear(dim, inner, bias=False)
        self.value = nn.Linear(dim, inner, bias=False)
        self.out = _output_projection(inner, dim, heads, head_dim)

    def forward(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        q, k, v = (
            _split_heads(proj(x), self.heads) for proj, x in ((self.query, query), (self.key, key), (self.value, value))
        )
        return self.out(_attend(q, k, v))


class _PreNormLayer(nn.Module):
    """Pre-norm Transformer layer. The query, key and value inputs each get their own LayerNorm."""

    def __init__(self, dim: int, heads: int, mlp_dim: int, head_dim: int = HEAD_DIM):
        super().__init__()
        self.norm_query = nn.LayerNorm(dim)
        self.norm_key = nn.LayerNorm(dim)
        self.norm_value = nn.LayerNorm(dim)
        self.attention = _MultiHeadAttention(dim, heads, head_dim)
        self.norm_ff = nn.LayerNorm(dim)
        self.feed_forward = nn.Sequential(nn.Linear(dim, mlp_dim), nn.GELU(), nn.Linear(mlp_dim, dim))

    def forward(self, target: torch.Tensor, source: torch.Tensor | None = None) -> torch.Tensor:
        """Self-attention when ``source`` is ``None``, else ``target`` attends to ``source``."""
        source = target if source is None else source
        target = target + self.attention(self.norm_query(target), self.norm_key(source), self.norm_value(source))
        return target + self.feed_forward(self.norm_ff(target))


class _TokenEncoder(nn.Module):
    """Learned positions (and optional learned leading tokens), then pre-norm self-attention layers.

    The positional table has ``frames + n_tokens`` rows; a shorter input uses the first rows.
    """

    def __init__(self, frames: int, dim: int, depth: int, heads: int, mlp_dim: int, n_tokens: int = 0):
        super().__init__()
        self.positions = nn.Parameter(torch.randn(1, frames + n_tokens, dim))
        self.tokens = nn.Parameter(torch.zeros(1, n_tokens, dim)) if n_tokens else None
        self.layers = nn.ModuleList(_PreNormLayer(dim, heads, mlp_dim) for _ in range(depth))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """``(B, N, dim)`` → the hidden states: the input (after positions) and each layer's output."""
        if self.tokens is not None:
            x = torch.cat([self.tokens.expand(x.size(0), -1, -1), x], dim=1)
        if x.size(1) > self.positions.size(1):
            raise InvalidArgument(
                f"sequence of {x.size(1)} positions; the table has {self.positions.size(1)}"
                " (build the model with a larger feature_length)"
            )
        x = x + self.positions[:, : x.size(1)]
        states = [x]
        for layer in self.layers:
            states.append(layer(states[-1]))
        return states


class _ModalityEmbedding(nn.Module):
    """Project a modality to the model width and summarise it in ``n_tokens`` learned tokens."""

    def __init__(self, in_dim: int, frames: int, n_tokens: int, dim: int, depth: int, heads: int, mlp_dim: int):
        super().__init__()
        self.n_tokens = n_tokens
        self.projection = nn.Linear(in_dim, dim)
        self.encoder = _TokenEncoder(frames, dim, depth, heads, mlp_dim, n_tokens=n_tokens)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, N, in_dim)`` → ``(B, n_tokens, dim)``."""
        return self.encoder(self.projection(x))[-1][:, : self.n_tokens]


class _HyperModalityLayer(nn.Module):
    """One AHL layer: text queries audio and vision; the sum updates the hyper-modality."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        head_dim = dim // heads
        inner = heads * head_dim
        self.heads = heads
        self.norm_text = nn.LayerNorm(dim)
        self.norm_audio = nn.LayerNorm(dim)
        self.norm_vision = nn.LayerNorm(dim)
        self.norm_hyper = nn.LayerNorm(dim)
        self.query = nn.Linear(dim, inner, bias=False)
        self.key_audio = nn.Linear(dim, inner, bias=False)
        self.key_vision = nn.Linear(dim, inner, bias=False)
        self.value_audio = nn.Linear(dim, inner, bias=False)
        self.value_vision = nn.Linear(dim, inner, bias=False)
        self.out = _output_projection(inner, dim, heads, head_dim)

    def forward(
        self, text: torch.Tensor, audio: torch.Tensor, vision: torch.Tensor, hyper: torch.Tensor
    ) -> torch.Tensor:
        text, audio, vision = self.norm_text(text), self.norm_audio(audio), self.norm_vision(vision)
        query = _split_heads(self.query(text), self.heads)
        from_audio = _attend(
            query, _split_heads(self.key_audio(audio), self.heads), _split_heads(self.value_audio(audio), self.heads)
        )
        from_vision = _attend(
            query,
            _split_heads(self.key_vision(vision), self.heads),
            _split_heads(self.value_vision(vision), self.heads),
        )
        # The update is added to the *normalised* hyper-modality, as in MMSA/ALMT.
        return self.norm_hyper(hyper) + self.out(from_audio + from_vision)


class _CrossModalFusion(nn.Module):
    """``target`` tokens attend to ``source`` tokens; returns the leading (fusion) token."""

    def __init__(self, source_len: int, target_len: int, dim: int, depth: int, heads: int, mlp_dim: int):
        super().__init__()
        self.source_positions = nn.Parameter(torch.randn(1, source_len + 1, dim))
        self.target_positions = nn.Parameter(torch.randn(1, target_len + 1, dim))
        self.token = nn.Parameter(torch.zeros(1, 1, dim))
        self.layers = nn.ModuleList(_PreNormLayer(dim, heads, mlp_dim) for _ in range(depth))

    def forward(self, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``(B, S, dim)``, ``(B, T, dim)`` → ``(B, dim)``."""
        token = self.token.expand(source.size(0), -1, -1)
        source = torch.cat([token, source], dim=1) + self.source_positions[:, : source.size(1) + 1]
        target = torch.cat([token, target], dim=1) + self.target_positions[:, : target.size(1) + 1]
        for layer in self.layers:
            target = layer(target, source)
        return target[:, 0]


@register
class ALMT(MSAModel):
    """ALMT over fine-tuned BERT tokens and raw padded audio/vision (see the module docstring)."""

    key = "almt"
    display_name = "ALMT"
    uses_bert_tokens = True

    def __init__(self, hp: Mapping[str, Any]):
        super().__init__(hp)
        hp = self.hp
        _, audio_dim, vision_dim = hp["feature_dims"]
        lengths = [max(int(table), int(data)) for table, data in zip(hp["feature_length"], hp["seq_lens"], strict=True)]
        hp["feature_length"] = lengths
        dim = int(hp["dst_feature_dims"])
        mlp_dim = int(hp["dst_feature_hidden_dims"])
        n_tokens = int(hp["dst_embedding_length"])
        depths, heads = hp["embedding_depth"], hp["embedding_heads"]
        self.finetune_bert = bool(hp.get("use_finetune", True))

        self.bert = load_bert(hp.get("pretrained", DEFAULT_PRETRAINED))
        self.hyper_modality = nn.Parameter(torch.ones(1, n_tokens, dim))
        embed = partial(_ModalityEmbedding, n_tokens=n_tokens, dim=dim, mlp_dim=mlp_dim)
        self.embed_text = embed(self.bert.config.hidden_size, lengths[0], depth=depths[0], heads=heads[0])
        self.embed_audio = embed(audio_dim, lengths[1], depth=depths[1], heads=heads[1])
        self.embed_vision = embed(vision_dim, lengths[2], depth=depths[2], heads=heads[2])
        self.text_encoder = _TokenEncoder(n_tokens, dim, int(hp["AHL_depth"]) - 1, int(hp["l_encoder_heads"]), dim)
        self.hyper_layers = nn.ModuleList(
            _HyperModalityLayer(dim, int(hp["h_hyper_layer_heads"])) for _ in range(int(hp["AHL_depth"]))
        )
        self.fusion = _CrossModalFusion(
            n_tokens, n_tokens, dim, int(hp["fusion_layer_depth"]), int(hp["fusion_heads"]), int(hp["fusion_hidden_d"])
        )
        self.head = nn.Linear(dim, 1)

        if not self.finetune_bert:
            self.bert.requires_grad_(False)
        elif self.bert.pooler is not None:  # its output is unused: MMSA never updates it
            self.bert.pooler.requires_grad_(False)

    def encode_text(self, text: torch.Tensor) -> torch.Tensor:
        """``(B, 3, L)`` ids / mask / segments → BERT's last hidden states ``(B, L, hidden)``."""
        if text.ndim != 3 or text.size(1) != 3:
            raise InvalidArgument(f"ALMT reads BERT tokens (batch, 3, length); got shape {tuple(text.shape)}")
        with torch.set_grad_enabled(self.finetune_bert and torch.is_grad_enabled()):
            return self.bert(
                input_ids=text[:, 0].long(), attention_mask=text[:, 1].float(), token_type_ids=text[:, 2].long()
            )[0]

    def forward(self, text: torch.Tensor, audio: torch.Tensor, vision: torch.Tensor) -> Outputs:
        text_tokens = self.embed_text(self.encode_text(text))
        audio_tokens = self.embed_audio(audio)
        vision_tokens = self.embed_vision(vision)
        text_states = self.text_encoder(text_tokens)
        hyper = self.hyper_modality.expand(vision.size(0), -1, -1)
        for layer, text_state in zip(self.hyper_layers, text_states, strict=True):
            hyper = layer(text_state, audio_tokens, vision_tokens, hyper)
        return {"M": self.head(self.fusion(hyper, text_states[-1]))}

    # -- training recipe (trains/singleTask/ALMT.py) --------------------------------------------
    def configure_optimizer(self) -> torch.optim.Optimizer:
        """``AdamW`` over every trainable parameter with the table's lr and weight decay."""
        return torch.optim.AdamW(
            self.trainable_parameters(), lr=self.hp["learning_rate"], weight_decay=self.hp["weight_decay"]
        )

    def configure_scheduler(self, optimizer: torch.optim.Optimizer):
        """Linear warm-up then cosine, stepped once per epoch (:func:`warmup_cosine_factor`)."""
        factor = partial(warmup_cosine_factor, max_epochs=int(self.hp["max_epochs"]))
        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor), "epoch"

    def training_loss(self, outputs: Outputs, labels: Labels) -> torch.Tensor:
        """MSE between the M head and the M label."""
        return nn.functional.mse_loss(outputs["M"], labels["M"].view(-1, 1))

    def validation_loss(self, outputs: Outputs, labels: Labels) -> torch.Tensor:
        """MSE on M, per batch. MMSA averages the batch losses and rounds to 4 decimals."""
        return self.training_loss(outputs, labels)
