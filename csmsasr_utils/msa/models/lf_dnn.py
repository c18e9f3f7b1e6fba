"""LF_DNN: late fusion of three unimodal encoders by a small feed-forward network.

The late-fusion DNN baseline of *Benchmarking Multimodal Sentiment Analysis* (Cambria et al.,
2017) and *Recognizing Emotions in Video Using Multimodal DNN Feature Fusion* (Williams et al.,
2018): each modality is encoded on its own, the three codes are concatenated, and an MLP maps the
concatenation to the sentiment score. It is TFN without the tensor product.

Shape walk-through with CS-MSASR sizes (``sims`` table: ``hidden_dims`` text/audio/vision
= 128/32/128, ``text_out`` 256, ``post_fusion_dim`` 32), batch ``B``:

* text ``(B, 39, 768)`` → LSTM(768→128), last hidden state → Linear(128→256) → ``(B, 256)``;
* audio ``(B, 1, 13)`` (already averaged over time, see ``normalized_input``) → squeeze →
  BatchNorm → Dropout → 3 × (Linear, ReLU) → ``(B, 32)``;
* vision ``(B, 1, 347)`` → the same kind of subnetwork → ``(B, 128)``;
* concatenation in MMSA's order audio, vision, text → ``(B, 416)`` → Dropout → Linear(416→32),
  ReLU → Linear(32→32), ReLU → Linear(32→1) → ``'M'`` ``(B, 1)``.

MMSA facts honoured (``models/singleTask/LF_DNN.py``, ``trains/singleTask/LF_DNN.py``):
``dropouts`` is (audio, vision, text, post-fusion); the text dropout has no effect because the
one-layer :class:`~csmsasr_utils.msa.subnets.TextSubNet` sets it to 0 (as MMSA's does); the
trainer is Adam over all parameters with ``learning_rate`` and ``weight_decay`` and L1 loss on M,
which is the :class:`~csmsasr_utils.msa.base.MSAModel` default. No departure from MMSA.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from csmsasr_utils.msa.base import MSAModel, Outputs
from csmsasr_utils.msa.registry import register
from csmsasr_utils.msa.subnets import UnimodalEncoders


@register
class LFDNN(UnimodalEncoders, MSAModel):
    """Late-fusion DNN: unimodal subnetworks, concatenation, three-layer MLP."""

    key = "lf_dnn"
    display_name = "LF_DNN"
    normalized_input = True

    def __init__(self, hp: Mapping[str, Any]):
        super().__init__(hp)
        fusion_dim = self.hp["post_fusion_dim"]
        audio_size, vision_size, text_size = self.add_unimodal_encoders(self.hp["text_out"])
        self.post_fusion_dropout = nn.Dropout(p=self.hp["dropouts"][3])
        self.post_fusion_layer_1 = nn.Linear(audio_size + vision_size + text_size, fusion_dim)
        self.post_fusion_layer_2 = nn.Linear(fusion_dim, fusion_dim)
        self.post_fusion_layer_3 = nn.Linear(fusion_dim, 1)

    def forward(self, text: torch.Tensor, audio: torch.Tensor, vision: torch.Tensor) -> Outputs:
        """``text (B, L, 768)``, averaged ``audio (B, 1, 13)`` and ``vision (B, 1, 347)``."""
        audio_h, vision_h, text_h = self.encode_unimodal(text, audio, vision)
        fused = torch.cat([audio_h, vision_h, text_h], dim=-1)
        h = torch.relu(self.post_fusion_layer_1(self.post_fusion_dropout(fused)))
        h = torch.relu(self.post_fusion_layer_2(h))
        return {
            "M": self.post_fusion_layer_3(h),
            "Feature_t": text_h,
            "Feature_a": audio_h,
            "Feature_v": vision_h,
            "Feature_f": fused,
        }
