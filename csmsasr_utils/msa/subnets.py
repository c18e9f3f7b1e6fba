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

    def __init__(self, in_size: int, hidden_size: int, out_size: int, num_layers: int = 1,
                 dropout: float = 0.2, bidirectional: bool = False):
        super().__init__()
        if num_layers == 1:
            dropout = 0.0
        self.rnn = nn.LSTM(in_size, hidden_size, num_layers=num_layers, dropout=dropout,
                           bidirectional=bidirectional, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.linear_1 = nn.Linear(hidden_size, out_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (h_n, _) = self.rnn(x)
        return self.linear_1(self.dropout(h_n.squeeze(0)))
