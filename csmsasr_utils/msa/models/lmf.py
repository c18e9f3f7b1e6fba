"""LMF: Low-rank Multimodal Fusion (Liu et al., ACL 2018).

TFN's outer-product fusion followed by a linear layer equals a weight tensor applied to the
three 1-augmented codes; LMF constrains that tensor to rank ``r``, a sum of ``r`` products of
modality-specific factors. The fused output is then computed without building the tensor: each
code is multiplied by its factors, the three results are multiplied elementwise, and the ``r``
rank components are combined with fusion weights plus a bias.

Shape walk-through with CS-MSASR sizes (``sims`` table: ``hidden_dims`` text/audio/vision
= 64/16/64, rank 4; the text code has ``64 // 2 = 32`` units), batch ``B``:

* text ``(B, 39, 768)`` → LSTM(768→64), last hidden state → Linear(64→32) → ``(B, 32)``;
* audio ``(B, 1, 13)`` (averaged over time, see ``normalized_input``) → SubNet → ``(B, 16)``;
  vision ``(B, 1, 347)`` → SubNet → ``(B, 64)``;
* with a leading 1: ``(B, 17)``, ``(B, 65)``, ``(B, 33)``; times the factors ``(4, 17, 1)``,
  ``(4, 65, 1)``, ``(4, 33, 1)`` → three ``(4, B, 1)``; their elementwise product ``(4, B, 1)``;
* fusion weights ``(1, 4)`` over the rank axis, plus the bias ``(1, 1)`` → ``'M'`` ``(B, 1)``.

MMSA facts honoured (``models/singleTask/LMF.py``, ``trains/singleTask/LMF.py``): factors and
fusion weights are Xavier-normal initialised, the bias 0; ``dropouts`` is (audio, vision, text,
post-fusion), but the post-fusion dropout is never applied and the text one has no effect
(one-layer :class:`~csmsasr_utils.msa.subnets.TextSubNet`); the trainer builds
``Adam([{params[:3], lr=factor_lr}, {params[5:], lr=learning_rate}], weight_decay=weight_decay)``.
The model's first five parameters are its own: the three factors, then ``fusion_weights`` and
``fusion_bias``, so the factors train with ``factor_lr``, the subnetworks with
``learning_rate``, and the fusion weights and bias are **never trained**: they keep their random
initialisation. L1 loss on M.

Departure option (probably an MMSA bug: the model's code presents the fusion weights as a
learnt linear combination of the rank components, replacing a plain sum, yet they are never
given to the optimiser): the hyper-parameter ``train_fusion_weights`` (see :attr:`LMF.options`; default ``False``, MMSA's
behaviour) makes ``fusion_weights`` and ``fusion_bias`` trainable, in the ``learning_rate`` group
(4 + 1 more scalars).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from csmsasr_utils.msa.base import MSAModel, Outputs
from csmsasr_utils.msa.models.tfn import with_leading_one
from csmsasr_utils.msa.registry import register
from csmsasr_utils.msa.subnets import UnimodalEncoders


def xavier_normal_parameter(*shape: int, requires_grad: bool = True) -> nn.Parameter:
    """A parameter of ``shape`` drawn with ``xavier_normal_`` (torch's fans: dims 1 and 0)."""
    return nn.Parameter(nn.init.xavier_normal_(torch.empty(*shape)), requires_grad=requires_grad)


@register
class LMF(UnimodalEncoders, MSAModel):
    """Low-rank Multimodal Fusion: rank-``r`` modality factors instead of TFN's full tensor."""

    key = "lmf"
    display_name = "LMF"
    normalized_input = True
    #: Option keys (not in MMSA's table) and their defaults, MMSA's behaviour.
    options: ClassVar[dict[str, Any]] = {"train_fusion_weights": False}

    def __init__(self, hp: Mapping[str, Any]):
        super().__init__(hp)
        rank = self.hp["rank"]
        # MMSA's LMF: the text code is half the text hidden size; dropouts[3] is never applied.
        audio_hidden, vision_hidden, text_out = self.add_unimodal_encoders(self.hp["hidden_dims"][0] // 2)

        self.audio_factor = xavier_normal_parameter(rank, audio_hidden + 1, 1)
        self.vision_factor = xavier_normal_parameter(rank, vision_hidden + 1, 1)
        self.text_factor = xavier_normal_parameter(rank, text_out + 1, 1)
        train_fusion = bool(self.hp["train_fusion_weights"])
        self.fusion_weights = xavier_normal_parameter(1, rank, requires_grad=train_fusion)
        self.fusion_bias = nn.Parameter(torch.zeros(1, 1), requires_grad=train_fusion)

    def factor_parameters(self) -> list[nn.Parameter]:
        """The three modality factors (MMSA's ``factor_lr`` group)."""
        return [self.audio_factor, self.vision_factor, self.text_factor]

    def configure_optimizer(self) -> torch.optim.Optimizer:
        """Adam: factors at ``factor_lr``, every other trainable parameter at ``learning_rate``."""
        factors = self.factor_parameters()
        factor_ids = {id(p) for p in factors}
        others = [p for p in self.trainable_parameters() if id(p) not in factor_ids]
        return torch.optim.Adam(
            [{"params": factors, "lr": self.hp["factor_lr"]}, {"params": others, "lr": self.hp["learning_rate"]}],
            weight_decay=self.hp["weight_decay"],
        )

    def forward(self, text: torch.Tensor, audio: torch.Tensor, vision: torch.Tensor) -> Outputs:
        """``text (B, L, 768)``, averaged ``audio (B, 1, 13)`` and ``vision (B, 1, 347)``."""
        audio_h, vision_h, text_h = self.encode_unimodal(text, audio, vision)
        # (B, D+1) @ (rank, D+1, 1) → (rank, B, 1) for each modality, multiplied elementwise.
        fused = (
            torch.matmul(with_leading_one(audio_h), self.audio_factor)
            * torch.matmul(with_leading_one(vision_h), self.vision_factor)
            * torch.matmul(with_leading_one(text_h), self.text_factor)
        )
        per_sample = fused.permute(1, 0, 2)  # (B, rank, 1)
        score = torch.matmul(self.fusion_weights, per_sample).squeeze(1) + self.fusion_bias
        return {
            "M": score,
            "Feature_t": text_h,
            "Feature_a": audio_h,
            "Feature_v": vision_h,
            "Feature_f": per_sample.squeeze(2),
        }
