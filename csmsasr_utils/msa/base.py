"""The contract every baseline follows, so that one trainer serves all twelve.

A model is an :class:`MSAModel`: a ``torch.nn.Module`` whose ``forward(text, audio, vision)``
returns a dict with at least ``'M'`` (the multimodal prediction, shape ``(batch, 1)``), and which
says, through a few class attributes and methods, everything in which MMSA's per-model trainers
differ:

* which input treatment it expects (:attr:`~MSAModel.normalized_input`, :attr:`~MSAModel.aligned_input`,
  :attr:`~MSAModel.uses_bert_tokens`) — see :mod:`csmsasr_utils.msa.alignment`;
* its optimiser (:meth:`~MSAModel.configure_optimizer`: parameter groups, per-group learning rates and
  weight decay), an optional learning-rate schedule (:meth:`~MSAModel.configure_scheduler`), gradient
  clipping (``clip_grad_value``, ``clip_grad_norm``) and how many batches it accumulates
  before each optimiser step (:attr:`~MSAModel.update_every`);
* its training loss (:meth:`~MSAModel.training_loss`) and the validation loss that early stopping watches
  (:meth:`~MSAModel.validation_loss`), from the model's outputs and the batch's labels ``{'M','T','A','V'}``.

The defaults are MMSA's most common recipe: Adam over every trainable parameter with the model's
``learning_rate`` and ``weight_decay``, L1 loss on the M head, one step per batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import torch
from torch import nn

Outputs = dict[str, torch.Tensor]
Labels = Mapping[str, torch.Tensor]


class MSAModel(nn.Module):
    """Base class of the baselines; ``hp`` is the model's merged hyper-parameter table."""

    #: MMSA key of the model (``'tfn'``, ``'mult'`` …) and its display name.
    key: ClassVar[str] = ""
    display_name: ClassVar[str] = ""
    #: Audio/vision averaged over the padded length before the model (MMSA ``need_normalized``).
    normalized_input: ClassVar[bool] = False
    #: Audio/vision average-pooled to the text length (``need_model_aligned``; MMSA pools inside the
    #: model, every batch; here :class:`~csmsasr_utils.msa.tensors.MSATensors` pools each clip once).
    aligned_input: ClassVar[bool] = False
    #: Text given as BERT token ids/mask/segments ``(batch, 3, length)`` instead of features.
    uses_bert_tokens: ClassVar[bool] = False
    #: Multi-task: heads T, A, V trained on the unimodal labels besides M (MTFN, MLF_DNN, MLMF).
    multitask: ClassVar[bool] = False
    #: Optimiser step every this many batches (MulT's ``update_epochs``).
    update_every: int = 1
    clip_grad_value: float | None = None
    clip_grad_norm: float | None = None
    #: Departures from MMSA a user may switch on, with their (faithful) defaults; ``build_model``
    #: accepts these keys besides the hyper-parameter table's.
    options: ClassVar[dict[str, Any]] = {}
    #: Early-stopping patience in epochs (MMSA ``early_stop``) and an optional epoch cap (no MMSA
    #: trainer has one: ALMT's ``max_epochs`` only sizes its learning-rate schedule).
    patience: int = 8
    max_epochs: int | None = None
    #: How many stacked members a batch holds (:mod:`~csmsasr_utils.msa.members` sets it on a
    #: stacked copy): their rows follow each other along the batch dimension, and a quantity that
    #: mixes the rows of a batch (MFM's batch-mean losses) must be computed per member.
    members: int = 1

    def __init__(self, hp: Mapping[str, Any]):
        super().__init__()
        self.hp = {**self.options, **hp}
        self.patience = int(self.hp.get("early_stop", self.patience))

    # -- training recipe hooks ------------------------------------------------------------------
    def configure_optimizer(self) -> torch.optim.Optimizer:
        """Adam over every trainable parameter (MMSA's LF_DNN, EF_LSTM, MFN, Graph_MFN …)."""
        return torch.optim.Adam(
            self.trainable_parameters(), lr=self.hp["learning_rate"], weight_decay=self.hp.get("weight_decay", 0.0)
        )

    def configure_scheduler(self, optimizer: torch.optim.Optimizer):
        """``None``, or ``(scheduler, when)`` with ``when`` ``'epoch'`` or ``'val_loss'``."""
        return

    def training_loss(self, outputs: Outputs, labels: Labels) -> torch.Tensor:
        """L1 between the M head and the M label."""
        return nn.functional.l1_loss(outputs["M"], labels["M"].view(-1, 1))

    def validation_loss(self, outputs: Outputs, labels: Labels) -> torch.Tensor:
        """The loss early stopping watches; by default the training loss."""
        return self.training_loss(outputs, labels)

    # -- helpers ----------------------------------------------------------------------------------
    def per_member(self, function: Callable[..., torch.Tensor], *tensors: torch.Tensor) -> torch.Tensor:
        """``function(*tensors)`` for a batch-level (0-d) quantity; per member, shape ``(members,)``,
        when the batch holds :attr:`members` stacked members (each tensor's rows split evenly)."""
        if self.members == 1:
            return function(*tensors)
        chunks = [t.chunk(self.members, dim=0) for t in tensors]
        return torch.stack([function(*(c[j] for c in chunks)) for j in range(self.members)])

    def trainable_parameters(self) -> list[nn.Parameter]:
        """Parameters the optimiser updates (``requires_grad``), in definition order."""
        return [p for p in self.parameters() if p.requires_grad]

    def count_trainable_parameters(self) -> int:
        """Number of scalars the optimiser updates (what the tests pin against MMSA)."""
        return sum(p.numel() for p in self.trainable_parameters())


def multitask_loss(model: MSAModel, outputs: Outputs, labels: Labels) -> torch.Tensor:
    """MMSA's multi-task loss: ``sum_m hp[m] * L1(head_m, label_m)`` over M, T, A, V."""
    loss = outputs["M"].new_zeros(())
    for head in ("M", "T", "A", "V"):
        loss = loss + model.hp[head] * nn.functional.l1_loss(outputs[head], labels[head].view(-1, 1))
    return loss
