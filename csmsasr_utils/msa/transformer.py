"""The pre-norm Transformer encoder of MulT, usable for self- and cross-modal attention.

MulT (Tsai et al., 2019) stacks encoder layers in which a *target* sequence attends either to
itself (self-attention) or to a *source* sequence of another modality (cross-modal attention:
queries from the target, keys and values from the source). MMSA's version
(``models/subNets/transformers_encoder/transformer.py``, from the authors' code, itself from
fairseq) works as follows, and so does :class:`TransformerEncoder`:

1. inputs are scaled by ``sqrt(embed_dim)``; optionally sinusoidal position embeddings are added
   (:func:`sinusoidal_position_embedding`; MMSA's MulT leaves them *off*);
2. embedding dropout is applied to the target and, independently, to the keys and to the values
   (two dropout masks on the same source sequence);
3. each :class:`TransformerEncoderLayer` is pre-norm: ``x + Dropout(Attention(LN0(x), LN0(k),
   LN0(v)))`` (the same layer norm for queries, keys and values), then ``x + Dropout(FF(LN1(x)))``
   with ``FF = Linear(E, 4E) → ReLU → Dropout → Linear(4E, E)``; the keys and values given to
   every layer are the embedded source, not updated from layer to layer;
4. a final layer norm.

With ``attn_mask=True`` every layer adds :func:`future_mask` to its attention scores; for
cross-modal attention the mask is shifted by the length difference of the two sequences.
Tensors here are batch-first, ``(batch, time, embed_dim)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def future_mask(
    query_len: int, key_len: int, device: torch.device | None = None, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Additive ``(query_len, key_len)`` mask: ``-inf`` where key ``j > i + |key_len - query_len|``.

    For self-attention this is the causal mask; for cross-modal attention query ``i`` may look
    at the first ``i + 1 + |key_len - query_len|`` keys (MMSA's ``buffered_future_mask``), so
    queries of a sequence longer than the keys are never masked.

    >>> future_mask(3, 3)
    tensor([[0., -inf, -inf],
            [0., 0., -inf],
            [0., 0., 0.]])
    >>> future_mask(2, 4)
    tensor([[0., 0., 0., -inf],
            [0., 0., 0., 0.]])
    """
    offset = abs(key_len - query_len)
    query = torch.arange(query_len, device=device).unsqueeze(1)
    key = torch.arange(key_len, device=device).unsqueeze(0)
    mask = torch.zeros(query_len, key_len, device=device, dtype=dtype)
    return mask.masked_fill(key > query + offset, float("-inf"))


def sinusoidal_position_embedding(x: torch.Tensor) -> torch.Tensor:
    """fairseq's sinusoidal position embedding of ``x`` ``(batch, time, dim)``, same shape.

    Frame ``t`` gets position ``t + 1`` — unless the frame's first channel is exactly 0, which
    fairseq takes for padding and gives position 0, an all-zero vector. Position ``p`` is
    ``[sin(p w_0) … sin(p w_{h-1}), cos(p w_0) … cos(p w_{h-1})]`` with ``h = dim // 2`` and
    ``w_k = 10000 ** (-k / (h - 1))`` (a zero column is appended when ``dim`` is odd).
    """
    _, length, dim = x.shape
    half = dim // 2
    frequencies = torch.exp(
        torch.arange(half, device=x.device, dtype=torch.float32) * -(math.log(10000.0) / (half - 1))
    )
    positions = torch.arange(1, length + 1, device=x.device, dtype=torch.float32)
    angles = positions.unsqueeze(1) * frequencies.unsqueeze(0)
    table = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
    if dim % 2:
        table = F.pad(table, (0, 1))
    not_padding = (x[..., 0] != 0).unsqueeze(-1)
    return table.to(x.dtype).unsqueeze(0) * not_padding


def _xavier_linear(in_features: int, out_features: int) -> nn.Linear:
    """MMSA's ``Linear``: torch's default initialisation, then Xavier-uniform weights and zero bias.

    One layer at a time, as MMSA does: the default draws are thrown away, but they advance the
    random stream, so drawing both layers' defaults before either Xavier draw would give the first
    layer other weights than MMSA's for the same seed.
    """
    linear = nn.Linear(in_features, out_features)
    nn.init.xavier_uniform_(linear.weight)
    nn.init.zeros_(linear.bias)
    return linear


class TransformerEncoderLayer(nn.Module):
    """One pre-norm layer: (cross-modal) multi-head attention, then a ReLU feed-forward block."""

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        attn_dropout: float = 0.0,
        relu_dropout: float = 0.0,
        res_dropout: float = 0.0,
    ):
        super().__init__()
        self.attention = nn.MultiheadAttention(embed_dim, num_heads, dropout=attn_dropout, batch_first=True)
        # MMSA initialises every projection with Xavier-uniform weights and zero biases
        # (torch's attention already does so except for its output projection).
        nn.init.xavier_uniform_(self.attention.out_proj.weight)
        self.attention_norm = nn.LayerNorm(embed_dim)
        self.ff_in = _xavier_linear(embed_dim, 4 * embed_dim)
        self.ff_out = _xavier_linear(4 * embed_dim, embed_dim)
        self.ff_norm = nn.LayerNorm(embed_dim)
        self.relu_dropout = relu_dropout
        self.res_dropout = res_dropout

    def forward(
        self,
        x: torch.Tensor,
        keys: torch.Tensor | None = None,
        values: torch.Tensor | None = None,
        mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """``x`` ``(batch, T, E)`` attends to itself, or to ``keys``/``values`` ``(batch, S, E)``."""
        query = self.attention_norm(x)
        if keys is None:
            keys = values = query
        else:
            keys, values = self.attention_norm(keys), self.attention_norm(values)
        attended, _ = self.attention(query, keys, values, attn_mask=mask, need_weights=False)
        x = x + F.dropout(attended, p=self.res_dropout, training=self.training)

        hidden = F.relu(self.ff_in(self.ff_norm(x)))
        hidden = F.dropout(hidden, p=self.relu_dropout, training=self.training)
        hidden = F.dropout(self.ff_out(hidden), p=self.res_dropout, training=self.training)
        return x + hidden


class TransformerEncoder(nn.Module):
    """``layers`` :class:`TransformerEncoderLayer` s and a final layer norm (see module docstring).

    ``encoder(x)`` is self-attention; ``encoder(x, source)`` lets ``x`` attend to ``source``.
    Both return ``(batch, len(x), embed_dim)``.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        layers: int,
        attn_dropout: float = 0.0,
        relu_dropout: float = 0.0,
        res_dropout: float = 0.0,
        embed_dropout: float = 0.0,
        attn_mask: bool = False,
        position_embedding: bool = False,
    ):
        super().__init__()
        self.embed_scale = math.sqrt(embed_dim)
        self.embed_dropout = embed_dropout
        self.attn_mask = attn_mask
        self.position_embedding = position_embedding
        self.layers = nn.ModuleList(
            TransformerEncoderLayer(
                embed_dim, num_heads, attn_dropout=attn_dropout, relu_dropout=relu_dropout, res_dropout=res_dropout
            )
            for _ in range(layers)
        )
        self.norm = nn.LayerNorm(embed_dim)

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        """Scale by ``sqrt(embed_dim)`` and add position embeddings if enabled (no dropout)."""
        embedded = self.embed_scale * x
        if self.position_embedding:
            embedded = embedded + sinusoidal_position_embedding(x)
        return embedded

    def _dropout(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(x, p=self.embed_dropout, training=self.training)

    def forward(self, x: torch.Tensor, source: torch.Tensor | None = None) -> torch.Tensor:
        """Encode ``x`` ``(batch, T, E)``, attending to ``source`` ``(batch, S, E)`` if given."""
        x = self._dropout(self._embed(x))
        keys = values = None
        if source is not None:
            embedded_source = self._embed(source)
            keys, values = self._dropout(embedded_source), self._dropout(embedded_source)
        key_len = x.size(1) if source is None else source.size(1)
        mask = future_mask(x.size(1), key_len, x.device, x.dtype) if self.attn_mask else None
        for layer in self.layers:
            x = layer(x, keys, values, mask)
        return self.norm(x)
