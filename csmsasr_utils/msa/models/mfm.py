"""MFM — Multimodal Factorization Model (Tsai et al., ICLR 2019, "Learning Factorized Multimodal
Representations").

MFM factorises the data into one *multimodal discriminative* factor, from which the sentiment is
predicted, and one *modality-specific generative* factor per modality. An MFN encoder (without its
output layer) summarises the three sequences into ``z_y``; one LSTM per modality encodes it into
``z_t``, ``z_a``, ``z_v``. Each ``z`` is mapped to a factor ``f``; the label is predicted from
``f_y`` alone, and each modality is reconstructed from ``[f_y, f_m]`` by an LSTM decoder. Training
minimises L1 on the label + weighted reconstruction errors + ``lda_mmd`` × a maximum mean
discrepancy pulling every ``z`` towards a standard normal sample (a Wasserstein-autoencoder prior).

Shape walk-through with CS-MSASR sizes and MMSA's ``sims`` table:

* input: raw padded audio ``(B, 553, 13)`` and vision ``(B, 321, 347)`` average-pooled to the text
  length (``MFM.aligned_input``): ``(B, 39, 13)``, ``(B, 39, 347)``; text ``(B, 39, 768)``;
* MFN encoder (hidden 64/16/64, memory 128, window 2·144 = 288) → ``(B, 272)`` → ``z_y (B, 48)``;
  LSTM encoders (last hidden state → Linear) → ``z_t (B, 256)``, ``z_a (B, 32)``, ``z_v (B, 80)``;
* factors (Linear → ReLU → Dropout → Linear → ReLU): ``f_y 48``, ``f_t 256``, ``f_a 80``,
  ``f_v 48``; prediction ``f_y → 48 → (B, 1)``;
* decoders: an ``LSTMCell`` of width ``[f_y, f_m]`` = 304 / 128 / 96 unrolled for 39 steps
  (input ``[f_y, f_m]`` at the first step, its own hidden state afterwards), each hidden state
  read out by a Linear to 768 / 13 / 347: reconstructions ``(B, 39, d_m)`` of the *aligned*
  inputs.

``forward`` returns ``M`` plus the auxiliary terms ``gen_loss`` (``lda_xl·MSE_t + lda_xa·MSE_a +
lda_xv·MSE_v``), ``mmd_loss`` (unweighted sum over ``z_t, z_a, z_v, z_y``) and ``missing_loss`` (0).

MMSA facts honoured (``models/singleTask/MFM.py``, ``trains/singleTask/MFM.py`` at ``a94e65d``):

* the encoder is MMSA's own ``MFN(args)`` built from MFM's table (``NN1Config`` … ``gamma2Config``,
  ``memsize``, ``windowsize``) and only its ``'L'`` output is used; MFN's output layer
  (``outConfig``, 35,073 scalars) is built by MMSA and handed to Adam, but never reaches the
  loss, so its gradient stays ``None`` and Adam never updates it (weight decay included). It is
  left out of the model here; the pinned count is the 3,193,769 scalars Adam actually updates. Its
  initial weights are still drawn, in MMSA's place, so that the random stream — and with it every
  later layer's initial weights — is MMSA's for the same seed;
* the MMD kernel is ``exp(-mean_d((x_i - y_j)^2) / d)`` (the mean over features divided by ``d``
  again) against a fresh ``randn`` sample of ``z``'s shape at every call, in evaluation too;
* optimiser: ``Adam(model.parameters(), weight_decay=0.005)`` with Adam's *default* learning rate
  1e-3 — the table's ``learning_rate`` (0.002) is not used by MMSA's trainer;
* training loss ``L1(pred, label) + gen_loss + lda_mmd·mmd_loss + missing_loss``; the validation
  loss MMSA's early stopping watches is the L1 term alone (``do_test``), averaged over batches and
  rounded to 4 digits. MMSA squeezes both sides to ``(B,)`` before the L1, so there is no
  ``(B, 1)``-against-``(B,)`` broadcasting (a batch of one gives a 0-d label, still correct); no bug
  option is needed.

* the modality encoders step an ``LSTMCell`` over the sequence and read out its last hidden state
  (``encoderLSTM``).

Checked against the authors' MMSA copy (``Yaoooyu/CS-MSASR``, imported outside this repository;
seed 1111, batches of 4, 32 and 128 at the real padded sizes): the same initial weights, parameter
by parameter; the same ``M`` and ``mmd_loss`` bit for bit, in evaluation and in training (dropout
masks and prior samples included); ``gen_loss`` and the training loss equal or one rounding apart
(~6e-8), and the gradients to ~1e-7 (relative): the one departure below sums the reconstructions'
errors and the read-outs' weight gradients over their rows in another order.

Departure: reconstructions are batch-first, ``(B, T, d)`` (MMSA's are time-first; the MSE is the
same number), so that stacked members (:mod:`~csmsasr_utils.msa.members`) find each member's rows
in one block.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from csmsasr_utils.msa.alignment import align_to_length
from csmsasr_utils.msa.base import Labels, MSAModel, Outputs
from csmsasr_utils.msa.models.mfn import MemoryFusionEncoder, two_layer_net
from csmsasr_utils.msa.registry import register

#: Adam's default learning rate, which MMSA's MFM trainer uses (it passes no ``lr``).
ADAM_DEFAULT_LR = 1e-3


def _gaussian_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``K[i, j] = exp(-mean_d((x_i - y_j)^2) / d)`` for ``x (n, d)``, ``y (m, d)``."""
    dim = x.size(1)
    return torch.exp(-(x.unsqueeze(1) - y.unsqueeze(0)).pow(2).mean(dim=2) / dim)


class StandardNormalSample(nn.Module):
    """``randn_like(z)``: the fresh prior sample of the MMD term, drawn from torch's global generator.

    A module (without weights) so that stacked members (:mod:`~csmsasr_utils.msa.members`) can
    draw each member's sample from that member's own stream.
    """

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.randn_like(z)


def mmd_to_standard_normal(z: torch.Tensor, prior: torch.Tensor | None = None) -> torch.Tensor:
    """MMD between the rows of ``z`` and as many standard-normal draws ``prior`` (MFM's prior term).

    ``prior`` defaults to a fresh ``randn_like(z)``.
    """
    prior = torch.randn_like(z) if prior is None else prior
    return (
        _gaussian_kernel(prior, prior).mean() + _gaussian_kernel(z, z).mean() - 2.0 * _gaussian_kernel(prior, z).mean()
    )


class LastStateEncoder(nn.Module):
    """``(B, T, in_dim) → (B, code_dim)``: an ``LSTMCell`` stepped over ``T``, its last hidden state
    through a Linear — MMSA's ``encoderLSTM``, step for step.

    Why a cell and not the fused ``nn.LSTM`` (the same function and the same initial weights): the
    fused kernel's products are summed in another order (its last state differs from the cell's by
    ~1e-6), and on a CPU it is the slower of the two here, because its backward also computes the
    gradient for the input features, which are data and need none (text: 768 wide, 39 steps).
    """

    def __init__(self, in_dim: int, code_dim: int):
        super().__init__()
        self.cell = nn.LSTMCell(in_dim, code_dim)
        self.project = nn.Linear(code_dim, code_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = x.new_zeros(x.size(0), self.cell.hidden_size)
        state = x.new_zeros(x.size(0), self.cell.hidden_size)
        for t in range(x.size(1)):
            hidden, state = self.cell(x[:, t], (hidden, state))
        return self.project(hidden)


class UnrolledDecoder(nn.Module):
    """``(B, code_dim) → (B, steps, out_dim)``: an ``LSTMCell`` fed the code, then its output."""

    def __init__(self, code_dim: int, out_dim: int):
        super().__init__()
        self.cell = nn.LSTMCell(code_dim, code_dim)
        self.readout = nn.Linear(code_dim, out_dim)

    def forward(self, code: torch.Tensor, steps: int) -> torch.Tensor:
        hidden = code.new_zeros(code.shape)
        state = code.new_zeros(code.shape)
        step_input, outputs = code, []
        for _ in range(steps):
            hidden, state = self.cell(step_input, (hidden, state))
            outputs.append(hidden)
            step_input = hidden
        return self.readout(torch.stack(outputs, dim=1))


def _factor_net(in_dim: int, out_dim: int, dropout: float) -> nn.Sequential:
    """Linear → ReLU → Dropout → Linear → ReLU (MFM's ``z → f`` maps)."""
    return nn.Sequential(
        nn.Linear(in_dim, out_dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(out_dim, out_dim), nn.ReLU()
    )


@register
class MFM(MSAModel):
    """Multimodal Factorization Model: MFN-encoded discriminative factor + generative factors."""

    key = "mfm"
    display_name = "MFM"
    aligned_input = True

    def __init__(self, hp: Mapping[str, Any]):
        super().__init__(hp)
        hp = self.hp
        feature_dims = [int(d) for d in hp["feature_dims"]]
        z_sizes = [int(hp[k]) for k in ("zl_size", "za_size", "zv_size")]
        f_sizes = [int(hp[k]) for k in ("fl_size", "fa_size", "fv_size")]
        f_dropouts = [float(hp[f"z{m}_to_f{m}_dropout"]) for m in "lav"]
        zy_size, fy_size = int(hp["zy_size"]), int(hp["fy_size"])
        self.reconstruction_weights = [float(hp[k]) for k in ("lda_xl", "lda_xa", "lda_xv")]

        self.encoders = nn.ModuleList(LastStateEncoder(d, z) for d, z in zip(feature_dims, z_sizes, strict=True))
        self.decoders = nn.ModuleList(
            UnrolledDecoder(fy_size + f, d) for f, d in zip(f_sizes, feature_dims, strict=True)
        )
        self.mfn_encoder = MemoryFusionEncoder.from_hparams(hp)
        # MMSA's MFN(args) also builds MFN's output layer, which MFM never uses: its weights are
        # drawn (and dropped) here too, so that every later layer gets MMSA's initial weights; and
        # MMSA runs that layer in every forward pass, whose dropout draws a mask in training.
        unused_output = two_layer_net(self.mfn_encoder.out_dim, hp["outConfig"], 1)
        self.unused_output_width = unused_output[0].out_features
        self.unused_output_dropout = nn.Dropout(float(hp["outConfig"]["drop"]))
        self.to_zy = nn.Linear(self.mfn_encoder.out_dim, zy_size)
        self.factor_y = _factor_net(zy_size, fy_size, float(hp["zy_to_fy_dropout"]))
        self.factors = nn.ModuleList(_factor_net(z, f, p) for z, f, p in zip(z_sizes, f_sizes, f_dropouts))
        predictor = {"shapes": fy_size, "drop": hp["fy_to_y_dropout"]}
        self.predictor = two_layer_net(fy_size, predictor, 1)
        self.prior = StandardNormalSample()

    def forward(self, text: torch.Tensor, audio: torch.Tensor, vision: torch.Tensor) -> Outputs:
        """``M`` ``(B, 1)``, ``gen_loss``, ``mmd_loss`` (unweighted) and ``missing_loss`` (0-d).

        The three auxiliary terms are batch means; for stacked members (``self.members`` > 1, the
        batch holding each member's rows in turn) each is computed per member, shape ``(members,)``.
        """
        steps = text.size(1)
        inputs = (text, align_to_length(audio, steps), align_to_length(vision, steps))
        zero = text.new_zeros(() if self.members == 1 else (self.members,))
        z_modal = [encoder(x) for encoder, x in zip(self.encoders, inputs)]
        zy = self.to_zy(self.mfn_encoder(*inputs))
        if self.training:  # the mask MMSA's unused MFN output layer draws (the random stream stays MMSA's)
            self.unused_output_dropout(zy.new_zeros(zy.size(0), self.unused_output_width))
        mmd_loss = sum((self.per_member(mmd_to_standard_normal, z, self.prior(z)) for z in (*z_modal, zy)), zero)

        fy = self.factor_y(zy)
        f_modal = [factor(z) for factor, z in zip(self.factors, z_modal)]
        reconstructions = [decoder(torch.cat([fy, f], dim=1), steps) for decoder, f in zip(self.decoders, f_modal)]
        errors = [self.per_member(nn.functional.mse_loss, x_hat, x) for x_hat, x in zip(reconstructions, inputs)]
        gen_loss = sum((w * e for w, e in zip(self.reconstruction_weights, errors)), zero)
        return {"M": self.predictor(fy), "gen_loss": gen_loss, "mmd_loss": mmd_loss, "missing_loss": zero}

    # -- MMSA's MFM trainer ----------------------------------------------------------------------
    def configure_optimizer(self) -> torch.optim.Optimizer:
        """Adam with its default learning rate (MMSA passes none) and the table's weight decay."""
        return torch.optim.Adam(
            self.trainable_parameters(), lr=ADAM_DEFAULT_LR, weight_decay=self.hp.get("weight_decay", 0.0)
        )

    @staticmethod
    def _label_l1(outputs: Outputs, labels: Labels) -> torch.Tensor:
        return nn.functional.l1_loss(outputs["M"].reshape(-1), labels["M"].reshape(-1))

    def training_loss(self, outputs: Outputs, labels: Labels) -> torch.Tensor:
        """``L1 + gen_loss + lda_mmd · mmd_loss + missing_loss``."""
        return (
            self._label_l1(outputs, labels)
            + outputs["gen_loss"]
            + float(self.hp["lda_mmd"]) * outputs["mmd_loss"]
            + outputs["missing_loss"]
        )

    def validation_loss(self, outputs: Outputs, labels: Labels) -> torch.Tensor:
        """The L1 term alone, as MMSA's ``do_test``."""
        return self._label_l1(outputs, labels)
