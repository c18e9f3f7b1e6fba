"""MLMF: multi-task Low-rank Multimodal Fusion (Yu et al., ACL 2020, after Liu et al., ACL 2018).

LMF computes what a linear layer on TFN's outer-product tensor would, with that layer's weight
tensor constrained to rank ``r``: each modality vector ``[1, h]`` is projected by ``r``
modality-specific factors, the three projections are multiplied elementwise, and a weighted sum
over the ``r`` ranks (plus a bias) gives M, never forming the outer product. MLMF adds the CH-SIMS
multi-task heads T, A, V on the unimodal representations (shared parts in :mod:`.mlf_dnn`).

Shapes with CS-MSASR's sizes and MMSA's ``sims`` table (``hidden_dims`` [text, audio, video] =
[256, 32, 256], text output ``256 // 2 = 128``, ``rank`` 3, ``post_*_dim`` text 8 / audio 4 /
video 32)::

    text   (B, 39, 768) --LSTM(768→256), last state, Linear(256→128)------→ text_h  (B, 128)
    audio  (B, 1, 13)   --BatchNorm, Dropout, 3×(Linear, ReLU) 13→32 -------→ audio_h (B, 32)
    vision (B, 1, 347)  --BatchNorm, Dropout, 3×(Linear, ReLU) 347→256 -----→ video_h (B, 256)
    [1, audio_h] @ audio_factor (3, 33, 1) → (3, B, 1); likewise video (3, 257, 1), text (3, 129, 1)
    M = fusion_weights (1, 3) · (audio · video · text products) + fusion_bias   (B, 1)
    T, A, V = PostNet heads (128→8→8→1, 32→4→4→1, 256→32→32→1)                  (B, 1) each

MMSA facts honoured (``models/multiTask/MLMF.py``, ``trains/multiTask/MLMF.py`` at ``a94e65d``):
the text subnet's output size is ``hidden_dims[0] // 2`` (``text_out`` is not in MLMF's table);
the factors and ``fusion_weights`` are Xavier-normal initialised, the bias zero; M is not squashed;
loss and early-stopping loss ``0.2·L1(M) + 1·L1(T) + 0.4·L1(A) + 0.8·L1(V)``; Adam with groups
text/audio/video subnet (own weight decays), the three factors (``factor_lr``, ``weight_decay``),
``fusion_weights``/``fusion_bias`` with learning rate 0 — so frozen here at their initial values,
as in the original LMF code, which leaves them out of its optimiser — and the rest
(``learning_rate``, ``weight_decay``). Modules are created and initialised in MMSA's order, so a
seed gives MMSA's initial weights.

Departure option, as for :mod:`.lmf` (frozen fusion weights are probably a bug: the paper learns
them): the hyper-parameter ``train_fusion_weights`` (see :attr:`MLMF.options`; default ``False``,
MMSA's behaviour) makes ``fusion_weights`` and ``fusion_bias`` trainable, in the last group
(``learning_rate``, ``weight_decay``; 3 + 1 more scalars).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from csmsasr_utils.msa.models.mlf_dnn import MultiTaskSubNetModel
from csmsasr_utils.msa.registry import register


@register
class MLMF(MultiTaskSubNetModel):
    """Multi-task LMF: rank-``r`` factorised tensor fusion → M."""

    key = "mlmf"
    display_name = "MLMF"
    #: Option keys (not in MMSA's table) and their defaults, MMSA's behaviour.
    options: ClassVar[dict[str, Any]] = {"train_fusion_weights": False}

    def __init__(self, hp: Mapping[str, Any]):
        super().__init__(hp)
        text_hidden, audio_hidden, video_hidden = self.hp["hidden_dims"]
        text_out = text_hidden // 2
        rank = self.hp["rank"]
        self.build_subnets(text_out)
        self.audio_factor = nn.Parameter(torch.empty(rank, audio_hidden + 1, 1))
        self.video_factor = nn.Parameter(torch.empty(rank, video_hidden + 1, 1))
        self.text_factor = nn.Parameter(torch.empty(rank, text_out + 1, 1))
        self.build_heads(text_out)
        train_fusion = bool(self.hp["train_fusion_weights"])
        self.fusion_weights = nn.Parameter(torch.empty(1, rank), requires_grad=train_fusion)
        self.fusion_bias = nn.Parameter(torch.zeros(1, 1), requires_grad=train_fusion)
        for weight in (self.audio_factor, self.video_factor, self.text_factor, self.fusion_weights):
            nn.init.xavier_normal_(weight)

    def factors(self) -> list[nn.Parameter]:
        """The modality-specific factors (audio, video, text)."""
        return [self.audio_factor, self.video_factor, self.text_factor]

    def fuse(self, text_h: torch.Tensor, audio_h: torch.Tensor, video_h: torch.Tensor) -> torch.Tensor:
        ones = audio_h.new_ones(audio_h.size(0), 1)
        product = None
        for h, factor in zip((audio_h, video_h, text_h), self.factors()):
            projected = torch.matmul(torch.cat([ones, h], dim=1), factor)  # (rank, B, 1)
            product = projected if product is None else product * projected
        # (1, rank) @ (B, rank, 1) → (B, 1, 1): the weighted sum over ranks, as MMSA computes it
        return (self.fusion_weights @ product.permute(1, 0, 2)).flatten(start_dim=1) + self.fusion_bias

    def extra_param_groups(self) -> list[dict[str, Any]]:
        """The factors, with their own learning rate ``factor_lr``."""
        return [{"params": [f for f in self.factors() if f.requires_grad], "lr": self.hp["factor_lr"]}]
