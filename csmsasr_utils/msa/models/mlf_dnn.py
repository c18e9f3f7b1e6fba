"""MLF_DNN: multi-task late fusion with a deep network (Yu et al., ACL 2020, the CH-SIMS paper).

The CH-SIMS authors gave three classic fusion models one head per modality, so that the
unimodal labels T, A, V of CH-SIMS (and CS-MSASR) supervise the unimodal representations while
the fused representation predicts M. MLF_DNN is the late-fusion member of that family: the three
representations are concatenated and a small MLP predicts M. MTFN (:mod:`.mtfn`) and MLMF
(:mod:`.mlmf`) differ only in that fusion step, so the parts the three share live here:
:class:`PostNet` (the four prediction heads) and :class:`MultiTaskSubNetModel` (subnetworks,
unimodal heads, optimiser groups, multi-task loss).

Shapes with CS-MSASR's sizes and MMSA's ``sims`` table (``hidden_dims`` [text, audio, video] =
[64, 32, 64], ``text_out`` 32, ``post_*_dim`` text 16 / audio 4 / video 32 / fusion 32)::

    text   (B, 39, 768) --LSTM(768→64), last state, Linear(64→32)------------→ text_h  (B, 32)
    audio  (B, 1, 13)   --squeeze, BatchNorm, Dropout, 3×(Linear, ReLU) 13→32 → audio_h (B, 32)
    vision (B, 1, 347)  --squeeze, BatchNorm, Dropout, 3×(Linear, ReLU) 347→64 → video_h (B, 64)
    T = PostNet(32→16→16→1)(text_h), A = PostNet(32→4→4→1)(audio_h),
    V = PostNet(64→32→32→1)(video_h)
    M = PostNet(128→32→32→1)([audio_h, video_h, text_h])          each head (B, 1)

(``PostNet`` = Dropout → Linear → ReLU → Linear → ReLU → Linear; audio/vision arrive averaged over
the padded length, :attr:`~csmsasr_utils.msa.base.MSAModel.normalized_input`.)

MMSA facts honoured (``models/multiTask/MLF_DNN.py``, ``trains/multiTask/MLF_DNN.py`` at
``a94e65d``): the table order of ``dropouts`` is (audio, video, text) and of ``post_dropouts``
(text, audio, video, fusion); the text LSTM has one layer, so its dropout is 0; the M head has no
output squashing; the concatenation order is audio, video, text; the loss, in training and for
early stopping, is ``M·L1(M) + T·L1(T) + A·L1(A) + V·L1(V)`` with the table's weights; Adam with
``learning_rate`` over four groups: text subnet (``text_weight_decay``), audio subnet
(``audio_weight_decay``), video subnet (``video_weight_decay``), everything else
(``weight_decay``). Modules are created in MMSA's order, so a given seed initialises the same
weights as MMSA's class does; parameter names differ only in the heads (MMSA's
``post_text_layer_1`` is our ``text_head.linear_1`` and so on).

Departure: MMSA squeezes the LSTM state with ``squeeze()``, which also drops the batch axis of a
batch of one and then fails; we squeeze only the layer axis
(:class:`~csmsasr_utils.msa.subnets.TextSubNet`).

>>> import torch
>>> from csmsasr_utils.msa.registry import build_model
>>> model = build_model("MLF_DNN").eval()
>>> out = model(torch.randn(2, 39, 768), torch.randn(2, 1, 13), torch.randn(2, 1, 347))
>>> {head: tuple(value.shape) for head, value in out.items()}
{'M': (2, 1), 'T': (2, 1), 'A': (2, 1), 'V': (2, 1)}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from csmsasr_utils.errors import InvalidArgument
from csmsasr_utils.msa.base import Labels, MSAModel, Outputs, multitask_loss
from csmsasr_utils.msa.registry import register
from csmsasr_utils.msa.subnets import SubNet, TextSubNet


class PostNet(nn.Module):
    """``(batch, in_size) → (batch, out_size)``: Dropout → Linear → ReLU → Linear → ReLU → Linear."""

    def __init__(self, in_size: int, hidden_size: int, out_size: int, dropout: float):
        super().__init__()
        self.drop = nn.Dropout(p=dropout)
        self.linear_1 = nn.Linear(in_size, hidden_size)
        self.linear_2 = nn.Linear(hidden_size, hidden_size)
        self.linear_3 = nn.Linear(hidden_size, out_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.linear_1(self.drop(x)))
        h = torch.relu(self.linear_2(h))
        return self.linear_3(h)


def _trainable(module: nn.Module) -> list[nn.Parameter]:
    return [p for p in module.parameters() if p.requires_grad]


class MultiTaskSubNetModel(MSAModel):
    """What MTFN, MLF_DNN and MLMF share; a subclass builds its fusion and defines :meth:`fuse`.

    A subclass's constructor calls :meth:`build_subnets`, creates its fusion layers, then calls
    :meth:`build_heads` — MMSA's creation order, which fixes what a seed initialises.
    """

    normalized_input = True
    multitask = True

    def build_subnets(self, text_out: int) -> None:
        """The audio, video and text subnetworks (MMSA's ``SubNet``/``TextSubNet``)."""
        text_in, audio_in, video_in = self.hp["feature_dims"]
        text_hidden, audio_hidden, video_hidden = self.hp["hidden_dims"]
        audio_dropout, video_dropout, text_dropout = self.hp["dropouts"]
        self.audio_subnet = SubNet(audio_in, audio_hidden, audio_dropout)
        self.video_subnet = SubNet(video_in, video_hidden, video_dropout)
        self.text_subnet = TextSubNet(text_in, text_hidden, text_out, dropout=text_dropout)

    def build_heads(self, text_out: int) -> None:
        """The unimodal prediction heads T, A, V."""
        _, audio_hidden, video_hidden = self.hp["hidden_dims"]
        text_dropout, audio_dropout, video_dropout, _ = self.hp["post_dropouts"]
        self.text_head = PostNet(text_out, self.hp["post_text_dim"], 1, text_dropout)
        self.audio_head = PostNet(audio_hidden, self.hp["post_audio_dim"], 1, audio_dropout)
        self.video_head = PostNet(video_hidden, self.hp["post_video_dim"], 1, video_dropout)

    def fuse(self, text_h: torch.Tensor, audio_h: torch.Tensor, video_h: torch.Tensor) -> torch.Tensor:
        """The M prediction ``(batch, 1)`` from the three representations."""
        raise NotImplementedError

    def forward(self, text: torch.Tensor, audio: torch.Tensor, vision: torch.Tensor) -> Outputs:
        """``text (B, L, 768)``, ``audio (B, 1, 13)``, ``vision (B, 1, 347)`` → heads M, T, A, V."""
        for name, x in (("audio", audio), ("vision", vision)):
            if x.ndim != 3 or x.size(1) != 1:
                raise InvalidArgument(
                    f"{self.display_name} expects {name} averaged over time, shape "
                    f"(batch, 1, dim); got {tuple(x.shape)}"
                )
        audio_h = self.audio_subnet(audio.squeeze(1))
        video_h = self.video_subnet(vision.squeeze(1))
        text_h = self.text_subnet(text)
        # heads before fusion, as MMSA: the same dropout masks for the same seed
        outputs = {"T": self.text_head(text_h), "A": self.audio_head(audio_h), "V": self.video_head(video_h)}
        return {"M": self.fuse(text_h, audio_h, video_h), **outputs}

    # -- training recipe ------------------------------------------------------------------------
    def default_weight_decay(self) -> float:
        """Adam's default weight decay: that of the fusion/head group (and MLMF's factors)."""
        return float(self.hp["weight_decay"])

    def extra_param_groups(self) -> list[dict[str, Any]]:
        """Groups between the subnets' and the rest's (MLMF's factors); none by default."""
        return []

    def configure_optimizer(self) -> torch.optim.Optimizer:
        """Adam: one group per subnet with its own weight decay, extra groups, then the rest."""
        groups: list[dict[str, Any]] = [
            {"params": _trainable(self.text_subnet), "weight_decay": self.hp["text_weight_decay"]},
            {"params": _trainable(self.audio_subnet), "weight_decay": self.hp["audio_weight_decay"]},
            {"params": _trainable(self.video_subnet), "weight_decay": self.hp["video_weight_decay"]},
            *self.extra_param_groups(),
        ]
        grouped = {id(p) for group in groups for p in group["params"]}
        groups.append({"params": [p for p in self.trainable_parameters() if id(p) not in grouped]})
        return torch.optim.Adam(groups, lr=self.hp["learning_rate"], weight_decay=self.default_weight_decay())

    def training_loss(self, outputs: Outputs, labels: Labels) -> torch.Tensor:
        """``Σ_h hp[h] · L1(head h, label h)`` over M, T, A, V (also the validation loss)."""
        return multitask_loss(self, outputs, labels)


@register
class MLF_DNN(MultiTaskSubNetModel):
    """Multi-task late fusion: concatenated representations → MLP → M."""

    key = "mlf_dnn"
    display_name = "MLF_DNN"

    def __init__(self, hp: Mapping[str, Any]):
        super().__init__(hp)
        text_out = self.hp["text_out"]
        self.build_subnets(text_out)
        _, audio_hidden, video_hidden = self.hp["hidden_dims"]
        self.fusion_head = PostNet(
            audio_hidden + video_hidden + text_out, self.hp["post_fusion_dim"], 1, self.hp["post_dropouts"][3]
        )
        self.build_heads(text_out)

    def fuse(self, text_h: torch.Tensor, audio_h: torch.Tensor, video_h: torch.Tensor) -> torch.Tensor:
        return self.fusion_head(torch.cat([audio_h, video_h, text_h], dim=-1))
