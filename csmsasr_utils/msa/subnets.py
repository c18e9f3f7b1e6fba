"""Building blocks shared by several baselines (TFN's pre-fusion subnetworks).

* :class:`SubNet` — batch norm, dropout and three ReLU layers: encodes one averaged audio or
  vision vector (TFN, LMF, LF_DNN's cousins MTFN/MLF_DNN/MLMF).
* :class:`TextSubNet` — a unidirectional LSTM over the text features whose last hidden state,
  after dropout, goes through one linear layer.

Layer order and sizes follow MMSA's ``subNets/FeatureNets.py``, so parameter counts match.
"""

from __future__ import annotations

import torch
from torch import nn


class SubNet(nn.Module):
    """``(batch, in_size) → (batch, hidden_size)``: BatchNorm → Dropout → 3 × (Linear, ReLU)."""

    def __init__(self, in_size: int, hidden_size: int, dropout: float):
        super().__init__()
        self.norm = nn.BatchNorm1d(in_size)
        self.drop = nn.Dropout(p=dropout)
        self.linear_1 = nn.Linear(in_size, hidden_size)
        self.linear_2 = nn.Linear(hidden_size, hidden_size)
        self.linear_3 = nn.Linear(hidden_size, hidden_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.drop(self.norm(x))
        for layer in (self.linear_1, self.linear_2, self.linear_3):
            h = torch.relu(layer(h))
        return h


class TextSubNet(nn.Module):
    """``(batch, time, in_size) → (batch, out_size)`` from the LSTM's final hidden state.

    With one layer the LSTM's inter-layer dropout is 0 and the dropout after it too (MMSA sets
    ``dropout = 0`` when ``num_layers == 1``).
    """

    def __init__(
        self,
        in_size: int,
        hidden_size: int,
        out_size: int,
        num_layers: int = 1,
        dropout: float = 0.2,
        bidirectional: bool = False,
    ):
        super().__init__()
        if num_layers == 1:
            dropout = 0.0
        self.rnn = nn.LSTM(
            in_size, hidden_size, num_layers=num_layers, dropout=dropout, bidirectional=bidirectional, batch_first=True
        )
        self.dropout = nn.Dropout(dropout)
        self.linear_1 = nn.Linear(hidden_size, out_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (h_n, _) = self.rnn(x)
        return self.linear_1(self.dropout(h_n.squeeze(0)))


class UnimodalEncoders:
    """Mixin for LF_DNN, TFN and LMF: MMSA's three pre-fusion subnetworks on averaged input.

    :meth:`add_unimodal_encoders` creates ``audio_subnet``, ``vision_subnet`` and ``text_subnet``
    (MMSA's names and creation order, so parameter counts and seeded initial weights match) from
    ``hp['feature_dims']``, ``hp['hidden_dims']`` (text, audio, vision) and the first three
    ``hp['dropouts']`` (audio, vision, text); :meth:`encode_unimodal` runs them.
    """

    hp: dict

    def add_unimodal_encoders(self, text_out: int) -> tuple[int, int, int]:
        """Create the subnetworks; returns the code sizes ``(audio, vision, text)``."""
        text_in, audio_in, vision_in = self.hp["feature_dims"]
        text_hidden, audio_hidden, vision_hidden = self.hp["hidden_dims"]
        audio_dropout, vision_dropout, text_dropout = self.hp["dropouts"][:3]
        self.audio_subnet = SubNet(audio_in, audio_hidden, audio_dropout)
        self.vision_subnet = SubNet(vision_in, vision_hidden, vision_dropout)
        self.text_subnet = TextSubNet(text_in, text_hidden, text_out, dropout=text_dropout)
        return audio_hidden, vision_hidden, text_out

    def encode_unimodal(
        self, text: torch.Tensor, audio: torch.Tensor, vision: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``text (B, L, D)``, averaged ``audio``/``vision (B, 1, D)`` → the codes (audio, vision, text)."""
        return self.audio_subnet(audio.squeeze(1)), self.vision_subnet(vision.squeeze(1)), self.text_subnet(text)
