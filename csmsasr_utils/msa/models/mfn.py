"""MFN — Memory Fusion Network (Zadeh et al., AAAI 2018, "Memory Fusion Network for Multi-view
Sequential Learning").

One LSTM per modality runs over the (word-aligned) sequences. At every step a *delta-memory
attention* looks at the cell states of all three LSTMs at the previous and the current step and
weights them (a softmax over the concatenation); from the attended vector a *multi-view gated
memory* proposes new content and two sigmoid gates decide how much of the old memory to keep and how
much of the proposal to write. The prediction is read from the last hidden states and the last
memory.

Shape walk-through with CS-MSASR sizes and MMSA's ``sims`` table (hidden 64/16/64, memory 64):

* input: text ``(B, 39, 768)``; audio ``(B, 1, 13)`` and vision ``(B, 1, 347)`` already averaged
  over the padded length (``MFN.normalized_input``), then repeated to the text length by the
  alignment (``MFN.aligned_input``): ``(B, 39, 13)``, ``(B, 39, 347)``;
* per step: LSTM cells → cell states 64 + 16 + 64 = 144; previous and current concatenated → 288;
  attention ``288 → 128 → 288`` (softmax) × the 288-vector; proposal ``288 → 128 → 64`` (tanh);
  retain / update gates ``288 + 64 → 64 → 64`` (sigmoid); memory ``(B, 64)``;
* after the last step: ``[h_text, h_audio, h_vision, memory]`` ``(B, 208)`` → ``64`` → ``(B, 1)``.

MMSA facts honoured (``models/singleTask/MFN.py``, ``trains/singleTask/MFN.py`` at ``a94e65d``):
three ``LSTMCell``\\ s with zero initial states; every small network is Linear → ReLU → Dropout →
Linear with the table's ``NN1Config`` (attention), ``NN2Config`` (proposal), ``gamma1Config``
(retain gate), ``gamma2Config`` (update gate) and ``outConfig`` (output); the attention sees the
*cell* states of a window of two steps (``windowsize`` must be 2); default PyTorch initialisation;
Adam over all parameters with the table's learning rate and weight decay; L1 loss on M for training
and for the validation loss (MMSA rounds the epoch's mean batch loss to 4 digits). MFN is both
``need_normalized`` and ``need_model_aligned`` in MMSA, so it never sees the frames themselves,
only their padded-length average repeated 39 times. No known bug; no option.

The building blocks :func:`two_layer_net`, :class:`GatedMemory` and :class:`MemoryFusionEncoder`
are reused by :mod:`~csmsasr_utils.msa.models.graph_mfn` and :mod:`~csmsasr_utils.msa.models.mfm`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from csmsasr_utils.errors import InvalidArgument
from csmsasr_utils.msa.alignment import align_to_length
from csmsasr_utils.msa.base import MSAModel, Outputs
from csmsasr_utils.msa.registry import register


def two_layer_net(in_dim: int, config: Mapping[str, Any], out_dim: int) -> nn.Sequential:
    """Linear → ReLU → Dropout → Linear; ``config`` is an MMSA ``{'shapes': hidden, 'drop': p}``."""
    hidden, dropout = int(config["shapes"]), float(config["drop"])
    return nn.Sequential(nn.Linear(in_dim, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, out_dim))


class GatedMemory(nn.Module):
    """MFN's multi-view gated memory: updates ``(B, memory_dim)`` from a ``(B, in_dim)`` summary.

    ``memory ← σ(retain([x, memory])) · memory + σ(update([x, memory])) · tanh(proposal(x))``.
    """

    def __init__(
        self,
        in_dim: int,
        memory_dim: int,
        proposal: Mapping[str, Any],
        retain: Mapping[str, Any],
        update: Mapping[str, Any],
    ):
        super().__init__()
        self.memory_dim = memory_dim
        self.proposal = two_layer_net(in_dim, proposal, memory_dim)
        self.retain_gate = two_layer_net(in_dim + memory_dim, retain, memory_dim)
        self.update_gate = two_layer_net(in_dim + memory_dim, update, memory_dim)

    def forward(self, summary: torch.Tensor, memory: torch.Tensor) -> torch.Tensor:
        proposal = torch.tanh(self.proposal(summary))
        both = torch.cat([summary, memory], dim=1)
        retain = torch.sigmoid(self.retain_gate(both))
        update = torch.sigmoid(self.update_gate(both))
        return retain * memory + update * proposal


class MemoryFusionEncoder(nn.Module):
    """MFN without its output layer: three aligned sequences → ``[h_t, h_a, h_v, memory]``.

    Inputs are ``(B, T, d_m)`` with one common ``T``; the result is ``(B, sum(hidden) + memory)``.
    """

    def __init__(
        self,
        feature_dims: Sequence[int],
        hidden_dims: Sequence[int],
        memory_dim: int,
        attention: Mapping[str, Any],
        proposal: Mapping[str, Any],
        retain: Mapping[str, Any],
        update: Mapping[str, Any],
    ):
        super().__init__()
        self.hidden_dims = [int(h) for h in hidden_dims]
        self.cells = nn.ModuleList(nn.LSTMCell(int(d), h) for d, h in zip(feature_dims, self.hidden_dims, strict=True))
        window_dim = 2 * sum(self.hidden_dims)  # cell states of the previous and the current step
        self.attention = two_layer_net(window_dim, attention, window_dim)
        self.memory = GatedMemory(window_dim, memory_dim, proposal, retain, update)
        self.out_dim = sum(self.hidden_dims) + memory_dim

    @classmethod
    def from_hparams(cls, hp: Mapping[str, Any]) -> MemoryFusionEncoder:
        """The encoder of MMSA's ``MFN(args)`` from a table (``NN1Config`` … ``gamma2Config``)."""
        if int(hp.get("windowsize", 2)) != 2:
            raise InvalidArgument(
                "MFN's delta-memory attention spans exactly two steps (windowsize=2); "
                f"got windowsize={hp['windowsize']!r}: leave it out or set it to 2"
            )
        return cls(
            hp["feature_dims"],
            hp["hidden_dims"],
            int(hp["memsize"]),
            hp["NN1Config"],
            hp["NN2Config"],
            hp["gamma1Config"],
            hp["gamma2Config"],
        )

    def forward(self, text: torch.Tensor, audio: torch.Tensor, vision: torch.Tensor) -> torch.Tensor:
        batch, steps = text.size(0), text.size(1)
        hidden = [text.new_zeros(batch, h) for h in self.hidden_dims]
        cell = [text.new_zeros(batch, h) for h in self.hidden_dims]
        memory = text.new_zeros(batch, self.memory.memory_dim)
        for t in range(steps):
            new_states = [
                lstm(x[:, t], (h, c)) for lstm, x, h, c in zip(self.cells, (text, audio, vision), hidden, cell)
            ]
            new_cell = [c for _, c in new_states]
            window = torch.cat(cell + new_cell, dim=1)
            attended = torch.softmax(self.attention(window), dim=1) * window
            memory = self.memory(attended, memory)
            hidden, cell = [h for h, _ in new_states], new_cell
        return torch.cat(hidden + [memory], dim=1)


@register
class MFN(MSAModel):
    """Memory Fusion Network on averaged audio/vision repeated to the text length."""

    key = "mfn"
    display_name = "MFN"
    normalized_input = True
    aligned_input = True

    def __init__(self, hp: Mapping[str, Any]):
        super().__init__(hp)
        self.encoder = MemoryFusionEncoder.from_hparams(self.hp)
        self.head = two_layer_net(self.encoder.out_dim, self.hp["outConfig"], 1)

    def forward(self, text: torch.Tensor, audio: torch.Tensor, vision: torch.Tensor) -> Outputs:
        """``M`` ``(B, 1)`` and ``L``, the final ``[h_t, h_a, h_v, memory]`` ``(B, 208)``."""
        audio = align_to_length(audio, text.size(1))
        vision = align_to_length(vision, text.size(1))
        final = self.encoder(text, audio, vision)
        return {"M": self.head(final), "L": final}
