"""EF_LSTM: early fusion by concatenating aligned features, read by one LSTM.

The early-fusion LSTM baseline of *Benchmarking Multimodal Sentiment Analysis* (Cambria et al.,
2017) and *Recognizing Emotions in Video Using Multimodal DNN Feature Fusion* (Williams et al.,
2018): audio and vision are first brought to one step per text token, the three feature vectors
of each step are concatenated, and a stacked LSTM reads the fused sequence; its last hidden state
gives the score through a small MLP.

Shape walk-through with CS-MSASR sizes (``sims`` table: ``hidden_dims`` 32, 3 layers, dropout
0.5), batch ``B``:

* audio ``(B, 553, 13)`` → average pooling to the text length (padded with its last frame to 585,
  windows of 15) → ``(B, 39, 13)``; vision ``(B, 321, 347)`` → (351, windows of 9) ``(B, 39, 347)``;
* concatenation text ‖ audio ‖ vision per step → ``(B, 39, 1128)``;
* BatchNorm1d(39): the *time steps* are the channels, each position normalised over the batch
  and the 1128 features (MMSA builds it on the aligned sequence length; kept as is);
* LSTM(1128→32, 3 layers, dropout 0.5 between layers) → last layer's final hidden state
  ``(B, 32)`` → Dropout → Linear(32→32), ReLU → Dropout → Linear(32→1) → ``'M'`` ``(B, 1)``.

MMSA facts honoured (``models/singleTask/EF_LSTM.py``, ``models/AMIO.py``,
``trains/singleTask/EF_LSTM.py``): the model is ``need_model_aligned``, so AMIO's ``avg_pool``
AlignSubNet runs before it, on every batch (here the trainer's inputs are pooled once per dataset
by :class:`~csmsasr_utils.msa.tensors.MSATensors`, bit for bit the same, and
:func:`~csmsasr_utils.msa.alignment.align_to_length` inside ``forward`` pools raw input given
directly; input already at the text length is left unchanged) and sets ``seq_lens`` to the
text length, which sizes the BatchNorm; the trainer is Adam over all parameters with
``learning_rate`` and ``weight_decay`` and L1 loss on M (the base-class default).

Departure (shape only): MMSA calls ``squeeze()`` on the final hidden state, so a batch of one
gives an output of shape ``(1,)``; here the output is always ``(B, 1)``, with the same values.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from csmsasr_utils.msa.alignment import align_to_length
from csmsasr_utils.msa.base import MSAModel, Outputs
from csmsasr_utils.msa.registry import register


@register
class EFLSTM(MSAModel):
    """Early-fusion LSTM over per-token concatenated text, audio and vision features."""

    key = "ef_lstm"
    display_name = "EF_LSTM"
    aligned_input = True

    def __init__(self, hp: Mapping[str, Any]):
        super().__init__(hp)
        text_len = self.hp["seq_lens"][0]
        hidden, dropout = self.hp["hidden_dims"], self.hp["dropout"]
        self.norm = nn.BatchNorm1d(text_len)
        self.lstm = nn.LSTM(
            sum(self.hp["feature_dims"]), hidden, num_layers=self.hp["num_layers"], dropout=dropout, batch_first=True
        )
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(hidden, hidden)
        self.out = nn.Linear(hidden, 1)

    def forward(self, text: torch.Tensor, audio: torch.Tensor, vision: torch.Tensor) -> Outputs:
        """``text (B, L, 768)`` and padded ``audio (B, Ta, 13)``, ``vision (B, Tv, 347)``."""
        audio = align_to_length(audio, text.size(1))
        vision = align_to_length(vision, text.size(1))
        fused = self.norm(torch.cat([text, audio, vision], dim=-1))
        _, (h_n, _) = self.lstm(fused)
        h = self.dropout(h_n[-1])
        h = self.dropout(torch.relu(self.linear(h)))
        return {"M": self.out(h)}
