"""MulT — the Multimodal Transformer (Tsai et al., ACL 2019), as MMSA configures it.

MulT fuses *unaligned* sequences: each modality is projected to a common width by a 1-D
convolution, then for every target modality two cross-modal Transformers let it attend to the
other two modalities; the two results are concatenated and summarised by a self-attention
Transformer ("memory") whose last time step represents the modality. The three summaries go
through a residual two-layer head to the prediction.

Shapes for CS-MSASR (batch ``B``; ``d = 50`` channels, 10 heads; :mod:`~csmsasr_utils.msa.transformer`):

* text ``(B, 39, 768)`` → dropout 0.3 → Conv1d(768→50, kernel 5, no padding, no bias)
  → ``(B, 35, 50)``; audio ``(B, 553, 13)`` → Conv1d(13→50, kernel 1) → ``(B, 553, 50)``;
  vision ``(B, 321, 347)`` → Conv1d(347→50, kernel 1) → ``(B, 321, 50)``;
* cross-modal Transformers (2 layers each): text←audio, text←vision ``(B, 35, 50)``;
  audio←text, audio←vision ``(B, 553, 50)``; vision←text, vision←audio ``(B, 321, 50)``;
* per target, concatenation ``(B, T, 100)`` → self-attention Transformer (3 layers, 10 heads)
  → last step ``(B, 100)``; the three concatenated: ``(B, 300)``;
* head: ``h + Linear(Dropout(ReLU(Linear(h))))`` (300→300→300, dropout 0.1) → Linear(300→1)
  → ``'M'`` ``(B, 1)``. The summaries are also returned as ``'Feature_t'``, ``'Feature_a'``,
  ``'Feature_v'`` and ``'Feature_f'`` (the ``(B, 300)`` concatenation), as in MMSA.

MMSA facts honoured (``models/singleTask/MULT.py``, ``models/subNets/transformers_encoder/``,
``trains/singleTask/MULT.py`` of ``thuiar/MMSA`` at ``a94e65d``, as copied by the dataset authors):

* raw padded sequences (neither averaged nor aligned); padding is not masked;
* **no position embedding**: MMSA's ``TransformerEncoder`` has one only if asked, and MulT never
  asks (the authors' original code always adds it);
* ``attn_mask: true`` gives every layer — self- *and* cross-modal — the shifted "future" mask of
  :func:`~csmsasr_utils.msa.transformer.future_mask`: with 35 text steps and 553 audio steps
  text step ``i`` sees audio steps ``0 … i + 518``, while audio never has a text step masked;
* attention dropout of a cross-modal Transformer is that of its *source* modality
  (``attn_dropout_a`` 0.1 for …←audio, ``attn_dropout_v`` 0.0 for …←vision, ``attn_dropout`` 0.2
  for …←text and for the three memories); embedding dropout 0.1, residual 0.2, ReLU 0.0;
* optimiser Adam over all parameters with ``learning_rate`` and **no** weight decay (the table's
  ``weight_decay`` is unused); ``ReduceLROnPlateau(mode='min', factor=0.1,
  patience=hp['patience'])`` stepped on the validation loss; gradients clipped by value at
  ``grad_clip`` (0.6) after every backward pass (so the *accumulated* gradient is clipped);
  an optimiser step every ``update_epochs`` (8) batches, the loss not divided by 8, and the
  gradient of an epoch's last incomplete group of batches thrown away (MMSA's step after the
  loop can never run); L1 loss on ``'M'``.

Option (a hyper-parameter override, off by default, not part of MMSA's table):

* ``position_embedding: True`` — add the original MulT's sinusoidal position embeddings
  (fairseq style: frames whose first projected channel is exactly 0 count as padding).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from csmsasr_utils.msa.base import MSAModel
from csmsasr_utils.msa.registry import register
from csmsasr_utils.msa.transformer import TransformerEncoder

#: The self-attention "memory" Transformers have at least this many layers (MMSA's MulT).
MEMORY_LAYERS = 3


@register
class MulT(MSAModel):
    """Multimodal Transformer over the raw padded text, audio and vision sequences."""

    key = "mult"
    display_name = "MulT"
    options: ClassVar[dict[str, Any]] = {"position_embedding": False}

    def __init__(self, hp: Mapping[str, Any]):
        super().__init__(hp)
        hp = self.hp
        self.update_every = int(hp["update_epochs"])
        self.clip_grad_value = None if hp["grad_clip"] == -1 else float(hp["grad_clip"])
        text_dim, audio_dim, vision_dim = hp["feature_dims"]
        width, self.num_heads = hp["dst_feature_dim_nheads"]
        self.text_dropout = hp["text_dropout"]
        self.output_dropout = hp["output_dropout"]

        self.project_text = _projection(text_dim, width, hp["conv1d_kernel_size_l"])
        self.project_audio = _projection(audio_dim, width, hp["conv1d_kernel_size_a"])
        self.project_vision = _projection(vision_dim, width, hp["conv1d_kernel_size_v"])

        # Cross-modal: <target>_from_<source>, attention dropout of the source modality.
        dropout_of = {"text": hp["attn_dropout"], "audio": hp["attn_dropout_a"], "vision": hp["attn_dropout_v"]}
        self.text_from_audio = self._encoder(width, hp["nlevels"], dropout_of["audio"])
        self.text_from_vision = self._encoder(width, hp["nlevels"], dropout_of["vision"])
        self.audio_from_text = self._encoder(width, hp["nlevels"], dropout_of["text"])
        self.audio_from_vision = self._encoder(width, hp["nlevels"], dropout_of["vision"])
        self.vision_from_text = self._encoder(width, hp["nlevels"], dropout_of["text"])
        self.vision_from_audio = self._encoder(width, hp["nlevels"], dropout_of["audio"])

        memory_layers = max(hp["nlevels"], MEMORY_LAYERS)
        self.text_memory = self._encoder(2 * width, memory_layers, hp["attn_dropout"])
        self.audio_memory = self._encoder(2 * width, memory_layers, hp["attn_dropout"])
        self.vision_memory = self._encoder(2 * width, memory_layers, hp["attn_dropout"])

        combined = 6 * width
        self.head_in = nn.Linear(combined, combined)
        self.head_out = nn.Linear(combined, combined)
        self.output = nn.Linear(combined, 1)

    def _encoder(self, width: int, layers: int, attn_dropout: float) -> TransformerEncoder:
        hp = self.hp
        return TransformerEncoder(
            width,
            self.num_heads,
            layers,
            attn_dropout=attn_dropout,
            relu_dropout=hp["relu_dropout"],
            res_dropout=hp["res_dropout"],
            embed_dropout=hp["embed_dropout"],
            attn_mask=bool(hp["attn_mask"]),
            position_embedding=bool(hp["position_embedding"]),
        )

    def forward(self, text: torch.Tensor, audio: torch.Tensor, vision: torch.Tensor) -> dict[str, torch.Tensor]:
        """``(B, 39, 768), (B, 553, 13), (B, 321, 347)`` → ``{'M': (B, 1), 'Feature_*': …}``."""
        text = F.dropout(text, p=self.text_dropout, training=self.training)
        text = self.project_text(text.transpose(1, 2)).transpose(1, 2)
        audio = self.project_audio(audio.transpose(1, 2)).transpose(1, 2)
        vision = self.project_vision(vision.transpose(1, 2)).transpose(1, 2)

        text_summary = self.text_memory(
            torch.cat([self.text_from_audio(text, audio), self.text_from_vision(text, vision)], dim=2)
        )[:, -1]
        audio_summary = self.audio_memory(
            torch.cat([self.audio_from_text(audio, text), self.audio_from_vision(audio, vision)], dim=2)
        )[:, -1]
        vision_summary = self.vision_memory(
            torch.cat([self.vision_from_text(vision, text), self.vision_from_audio(vision, audio)], dim=2)
        )[:, -1]

        fused = torch.cat([text_summary, audio_summary, vision_summary], dim=1)
        hidden = F.dropout(F.relu(self.head_in(fused)), p=self.output_dropout, training=self.training)
        prediction = self.output(fused + self.head_out(hidden))
        return {
            "M": prediction,
            "Feature_t": text_summary,
            "Feature_a": audio_summary,
            "Feature_v": vision_summary,
            "Feature_f": fused,
        }

    def configure_optimizer(self) -> torch.optim.Optimizer:
        """Adam with ``learning_rate`` and no weight decay (MMSA's MulT trainer)."""
        return torch.optim.Adam(self.trainable_parameters(), lr=self.hp["learning_rate"])

    def configure_scheduler(self, optimizer: torch.optim.Optimizer):
        """Divide the learning rate by 10 after ``patience`` epochs without a lower val loss."""
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="min", factor=0.1, patience=int(self.hp["patience"])
        )
        return scheduler, "val_loss"


def _projection(in_dim: int, width: int, kernel_size: int) -> nn.Module:
    """Bias-free Conv1d to ``width`` channels; none when the features already have that width."""
    if in_dim == width:
        return nn.Identity()
    return nn.Conv1d(in_dim, width, kernel_size=kernel_size, padding=0, bias=False)
