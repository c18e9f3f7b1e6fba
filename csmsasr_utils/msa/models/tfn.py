"""TFN: Tensor Fusion Network (Zadeh et al., EMNLP 2017).

Each modality is encoded on its own; a constant 1 is appended to each code and the three are
combined by their outer product, a tensor holding every unimodal, bimodal and trimodal
interaction of the codes. An MLP maps the flattened tensor to a score, which a scaled sigmoid
keeps in ``(-3, 3)`` (the range of the original CMU-MOSI labels; CS-MSASR's labels lie in
``[-1, 1]``, the bound is MMSA's and is kept).

Shape walk-through with CS-MSASR sizes (``sims`` table: ``hidden_dims`` text/audio/vision
= 128/32/128, ``text_out`` 256, ``post_fusion_dim`` 32), batch ``B``:

* text ``(B, 39, 768)`` → LSTM(768→128), last hidden state → Linear(128→256) → ``(B, 256)``;
* audio ``(B, 1, 13)`` (averaged over time, see ``normalized_input``) → SubNet → ``(B, 32)``;
  vision ``(B, 1, 347)`` → SubNet → ``(B, 128)``;
* with a leading 1: audio ``(B, 33)``, vision ``(B, 129)``, text ``(B, 257)``; outer product in
  the order audio ⊗ vision ⊗ text, flattened → ``(B, 1 094 049)``;
* Dropout → Linear(1 094 049→32), ReLU → Linear(32→32), ReLU → Linear(32→1) → sigmoid · 6 − 3
  → ``'M'`` ``(B, 1)``. The first linear layer holds 35.0 M of the 35.6 M parameters.

MMSA facts honoured (``models/singleTask/TFN.py``, ``trains/singleTask/TFN.py``):
``dropouts`` is (audio, vision, text, post-fusion), the text one having no effect (one-layer
:class:`~csmsasr_utils.msa.subnets.TextSubNet`); the output range 6 and shift −3 are frozen
parameters (``requires_grad=False``), and the trainer's ``Adam(list(model.parameters())[2:],
lr=learning_rate)`` leaves out exactly these two (they are the model's first parameters) and uses
no weight decay; L1 loss on M. No departure from MMSA.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from csmsasr_utils.msa.base import MSAModel, Outputs
from csmsasr_utils.msa.registry import register
from csmsasr_utils.msa.subnets import UnimodalEncoders


def with_leading_one(h: torch.Tensor) -> torch.Tensor:
    """``(B, D) → (B, D + 1)`` with a 1 in front, so the outer product keeps lower-order terms.

    >>> with_leading_one(torch.tensor([[2.0, 3.0]])).tolist()
    [[1.0, 2.0, 3.0]]
    """
    return torch.cat([h.new_ones(h.size(0), 1), h], dim=1)


@register
class TFN(UnimodalEncoders, MSAModel):
    """Tensor Fusion Network: outer product of the 1-augmented unimodal codes, then an MLP."""

    key = "tfn"
    display_name = "TFN"
    normalized_input = True

    def __init__(self, hp: Mapping[str, Any]):
        super().__init__(hp)
        fusion_dim = self.hp["post_fusion_dim"]
        # Sigmoid output scaled to (shift, shift + range) = (-3, 3); never trained.
        self.output_range = nn.Parameter(torch.tensor([6.0]), requires_grad=False)
        self.output_shift = nn.Parameter(torch.tensor([-3.0]), requires_grad=False)

        audio_size, vision_size, text_size = self.add_unimodal_encoders(self.hp["text_out"])
        fused_size = (audio_size + 1) * (vision_size + 1) * (text_size + 1)
        self.post_fusion_dropout = nn.Dropout(p=self.hp["dropouts"][3])
        self.post_fusion_layer_1 = nn.Linear(fused_size, fusion_dim)
        self.post_fusion_layer_2 = nn.Linear(fusion_dim, fusion_dim)
        self.post_fusion_layer_3 = nn.Linear(fusion_dim, 1)

    def configure_optimizer(self) -> torch.optim.Optimizer:
        """Adam with ``learning_rate`` and no weight decay, as MMSA's TFN trainer."""
        return torch.optim.Adam(self.trainable_parameters(), lr=self.hp["learning_rate"])

    def forward(self, text: torch.Tensor, audio: torch.Tensor, vision: torch.Tensor) -> Outputs:
        """``text (B, L, 768)``, averaged ``audio (B, 1, 13)`` and ``vision (B, 1, 347)``."""
        audio_h, vision_h, text_h = self.encode_unimodal(text, audio, vision)
        a, v, t = with_leading_one(audio_h), with_leading_one(vision_h), with_leading_one(text_h)
        # (B, A+1, V+1, T+1), index order audio, vision, text as in MMSA's two bmm calls.
        fused = (a[:, :, None, None] * v[:, None, :, None] * t[:, None, None, :]).flatten(1)
        h = torch.relu(self.post_fusion_layer_1(self.post_fusion_dropout(fused)))
        h = torch.relu(self.post_fusion_layer_2(h))
        score = torch.sigmoid(self.post_fusion_layer_3(h)) * self.output_range + self.output_shift
        return {"M": score, "Feature_t": text_h, "Feature_a": audio_h, "Feature_v": vision_h, "Feature_f": fused}
