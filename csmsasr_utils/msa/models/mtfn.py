"""MTFN: multi-task Tensor Fusion Network (Yu et al., ACL 2020, after Zadeh et al., EMNLP 2017).

TFN fuses the three modality representations by their outer product after appending a constant
1 to each, so the fused tensor holds every unimodal, bimodal and trimodal product; an MLP reads the
flattened tensor. MTFN is TFN with the CH-SIMS multi-task heads: T, A, V are predicted from the
unimodal representations and supervised by the unimodal labels (shared parts in :mod:`.mlf_dnn`).

Shapes with CS-MSASR's sizes and MMSA's ``sims`` table (``hidden_dims`` [text, audio, video] =
[256, 32, 256], ``text_out`` 256, ``post_*_dim`` text 64 / audio 4 / video 8 / fusion 64)::

    text   (B, 39, 768) --LSTM(768→256), last state, Linear(256→256)------→ text_h  (B, 256)
    audio  (B, 1, 13)   --BatchNorm, Dropout, 3×(Linear, ReLU) 13→32 -------→ audio_h (B, 32)
    vision (B, 1, 347)  --BatchNorm, Dropout, 3×(Linear, ReLU) 347→256 -----→ video_h (B, 256)
    [1, audio_h] ⊗ [1, video_h] ⊗ [1, text_h] → (B, 33·257·257 = 2 179 617)
    M = 6·sigmoid(PostNet(2 179 617→64→64→1)) − 3                               (B, 1)
    T, A, V = PostNet heads (256→64→64→1, 32→4→4→1, 256→8→8→1)                  (B, 1) each

The first fusion layer alone holds 139.5 M of the model's 140.9 M trainable parameters.

MMSA facts honoured (``models/multiTask/MTFN.py``, ``trains/multiTask/MTFN.py`` at ``a94e65d``):
the outer product is flattened in the order audio, video, text (index
``(i_audio · 257 + i_video) · 257 + i_text``), each vector with its 1 first; M is squashed to
(−3, 3) by a fixed range 6 and shift −3 (``output_range``/``output_shift``, which MMSA gives
learning rate 0: frozen here), although CS-MSASR's labels lie in [−1, 1]; T, A, V are not squashed;
loss and early-stopping loss ``0.6·L1(M) + 0.4·L1(T) + 0·L1(A) + 1·L1(V)`` (A's weight 0 leaves
the A head at its initial weights); Adam with ``learning_rate`` over the text/audio/video subnets
(their own weight decays) and the rest.

MMSA bug kept by default: MTFN's trainer builds its Adam without ``weight_decay``, so the fusion and
head layers get no weight decay although the ``sims`` table sets ``weight_decay`` 0.005 (MLF_DNN's
and MLMF's trainers pass it). Option ``apply_weight_decay`` (hyper-parameter key, see
:attr:`MTFN.options`; default ``False``, MMSA's behaviour): ``True`` gives that group
``weight_decay``. It is read when the optimiser is made, so setting
``model.hp["apply_weight_decay"] = True`` on a built model also works.

>>> from csmsasr_utils.msa.registry import build_model
>>> model = build_model("MTFN", hidden_dims=[8, 4, 8], text_out=8)  # small, for the example
>>> [group["weight_decay"] for group in model.configure_optimizer().param_groups]
[0.001, 0.0001, 1e-05, 0.0]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from csmsasr_utils.msa.models.mlf_dnn import MultiTaskSubNetModel, PostNet
from csmsasr_utils.msa.registry import register


def tensor_fusion(audio_h: torch.Tensor, video_h: torch.Tensor, text_h: torch.Tensor) -> torch.Tensor:
    """``(B, a), (B, v), (B, t) → (B, (a+1)(v+1)(t+1))``: flattened outer product of the ``[1, x]`` vectors."""
    ones = audio_h.new_ones(audio_h.size(0), 1)
    audio_1, video_1, text_1 = (torch.cat([ones, h], dim=1) for h in (audio_h, video_h, text_h))
    audio_video = torch.bmm(audio_1.unsqueeze(2), video_1.unsqueeze(1)).flatten(start_dim=1)
    return torch.bmm(audio_video.unsqueeze(2), text_1.unsqueeze(1)).flatten(start_dim=1)


@register
class MTFN(MultiTaskSubNetModel):
    """Multi-task TFN: outer-product fusion → MLP → M in (−3, 3)."""

    key = "mtfn"
    display_name = "MTFN"
    #: Option keys (not in MMSA's table) and their defaults, MMSA's behaviour.
    options: ClassVar[dict[str, Any]] = {"apply_weight_decay": False}

    def __init__(self, hp: Mapping[str, Any]):
        super().__init__(hp)
        text_out = self.hp["text_out"]
        self.build_subnets(text_out)
        _, audio_hidden, video_hidden = self.hp["hidden_dims"]
        fused_size = (audio_hidden + 1) * (video_hidden + 1) * (text_out + 1)
        self.fusion_head = PostNet(fused_size, self.hp["post_fusion_dim"], 1, self.hp["post_dropouts"][3])
        self.build_heads(text_out)
        self.output_range = nn.Parameter(torch.tensor([6.0]), requires_grad=False)
        self.output_shift = nn.Parameter(torch.tensor([-3.0]), requires_grad=False)

    def fuse(self, text_h: torch.Tensor, audio_h: torch.Tensor, video_h: torch.Tensor) -> torch.Tensor:
        score = self.fusion_head(tensor_fusion(audio_h, video_h, text_h))
        return torch.sigmoid(score) * self.output_range + self.output_shift

    def default_weight_decay(self) -> float:
        """0 as in MMSA's trainer, or ``weight_decay`` with the ``apply_weight_decay`` option."""
        return float(self.hp["weight_decay"]) if self.hp["apply_weight_decay"] else 0.0
