"""One trainer for every baseline: MMSA's training loop, with the per-model differences as hooks.

The loop (MMSA's ``trains/*/*.py``, which repeat it per model):

1. seed everything (MMSA's ``setup_seed``), build the model;
2. each epoch: shuffle the training rows as MMSA's loader does
   (:func:`~csmsasr_utils.msa.tensors.mmsa_shuffled_batches`: two seeds from torch's global
   generator, then a permutation), and for each batch compute the model's training loss,
   back-propagate, clip gradients if the model asks, and step the optimiser — every batch, or
   every ``update_every`` batches (MulT), dropping gradients left over at the end of the epoch
   exactly as MMSA's MulT trainer does;
3. validation loss = the mean of the per-batch validation losses over MMSA's shuffled validation
   batches (drawn the same way), rounded to 4 decimals (MMSA compares the rounded value); step the
   scheduler if the model has one;
4. keep the weights of the epoch with the lowest validation loss (an improvement must be at least
   1e-6); stop when ``patience`` epochs pass without one (MMSA's ``early_stop``), or at the
   epoch cap (ALMT's ``max_epochs``, or a smaller budget given here);
5. restore the best weights and evaluate on the validation and test rows with
   :func:`~csmsasr_utils.msa.metrics.sims_regression_metrics`.

Because the shuffling draws from the global generator in MMSA's places, a run seeded as MMSA
seeds it draws every dropout mask and every batch as MMSA's ``MMSA_run`` does: on the same data,
its rows in the same order, the same epochs, the same validation losses and the same test metrics
(``benchmarks/bench_vs_mmsa.py`` runs both and compares them seed by seed). Departures, all without effect on the model or
the optimisation: the final predictions are taken in row order rather than shuffled (only the
order of the metrics' sums differs); the best weights are kept in memory instead of a ``.pth``
file; a last training batch of a single clip is skipped (batch normalisation cannot train on one
sample, where MMSA would stop with an error — CS-MSASR's splits never produce one at MMSA's batch
sizes).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from csmsasr_utils.errors import InvalidArgument
from csmsasr_utils.msa.base import MSAModel
from csmsasr_utils.msa.metrics import sims_regression_metrics
from csmsasr_utils.msa.registry import build_model
from csmsasr_utils.msa.tensors import LABEL_NAMES, MSATensors, batch_rows, mmsa_shuffled_batches
from csmsasr_utils.progress import progress
from csmsasr_utils.seeding import seed_everything
from csmsasr_utils.threads import rebalance_threads

#: The smallest improvement of the validation loss that counts (MMSA: ``best_valid - 1e-6``).
MIN_IMPROVEMENT = 1e-6
#: MMSA rounds the validation loss before comparing it.
LOSS_DECIMALS = 4


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``None``/``'auto'`` → CUDA when available, else CPU; anything else as given."""
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


@dataclass
class EpochLog:
    """One epoch: mean training loss, (rounded) validation loss, first group's learning rate."""

    epoch: int
    train_loss: float
    valid_loss: float
    learning_rate: float


@dataclass
class FitResult:
    """What one training run produced (the best epoch's weights, evaluated)."""

    model: str
    seed: int
    epochs: int
    best_epoch: int
    stopped_by: str
    history: list[EpochLog]
    valid_metrics: dict[str, float]
    test_metrics: dict[str, float]
    test_clip_ids: list[str]
    test_predictions: list[float]
    wall_seconds: float
    device: str
    trainable_parameters: int
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Batches:
    """Moves a model's input view to ``device`` once and hands out batches by row index."""

    def __init__(self, data: MSATensors, model: MSAModel, device: torch.device):
        self.inputs = tuple(t.to(device) for t in data.model_inputs(model))
        self.labels = {k: v.to(device) for k, v in data.labels.items() if k in LABEL_NAMES}
        self.device = device

    def __call__(self, rows: np.ndarray) -> tuple[tuple[torch.Tensor, ...], dict[str, torch.Tensor]]:
        index = torch.from_numpy(rows).to(self.device)
        return tuple(t.index_select(0, index) for t in self.inputs), {k: v[index] for k, v in self.labels.items()}


def _train_epoch(model: MSAModel, batches: _Batches, rows: np.ndarray, optimizer: torch.optim.Optimizer) -> float:
    model.train()
    trainable = model.trainable_parameters()
    losses: list[float] = []
    pending = 0  # batches whose gradients are accumulated but not yet applied
    for batch in mmsa_shuffled_batches(rows, int(model.hp["batch_size"])):
        if len(batch) == 1 and len(rows) > 1:
            continue  # batch norm cannot train on one clip (MMSA would crash here)
        if pending == 0:
            optimizer.zero_grad()
        inputs, labels = batches(batch)
        loss = model.training_loss(model(*inputs), labels)
        loss.backward()
        pending += 1
        if model.clip_grad_value is not None:
            torch.nn.utils.clip_grad_value_(trainable, model.clip_grad_value)
        if pending == model.update_every:
            if model.clip_grad_norm is not None:
                torch.nn.utils.clip_grad_norm_(trainable, model.clip_grad_norm)
            optimizer.step()
            pending = 0
        losses.append(loss.item())
    return float(np.mean(losses))


@torch.no_grad()
def validation_loss(model: MSAModel, batches: _Batches, rows: np.ndarray) -> float:
    """The epoch's validation loss, unrounded: the mean of the per-batch losses over MMSA's shuffled
    batches of ``rows`` (its ``do_test``: the mean depends on which clips share the smaller last batch)."""
    model.eval()
    losses = []
    for batch in mmsa_shuffled_batches(rows, int(model.hp["batch_size"])):
        inputs, labels = batches(batch)
        losses.append(model.validation_loss(model(*inputs), labels).item())
    return float(np.mean(losses))


@torch.no_grad()
def predict(model: MSAModel, batches: _Batches, rows: np.ndarray) -> np.ndarray:
    """The M predictions of ``rows``, in order (evaluation mode)."""
    model.eval()
    predictions = []
    for batch in batch_rows(rows, int(model.hp["batch_size"])):
        predictions.append(model(*batches(batch)[0])["M"].reshape(-1).float().cpu().numpy())
    return np.concatenate(predictions)


def fit(
    model: MSAModel,
    data: MSATensors,
    split_rows: Mapping[str, np.ndarray],
    *,
    seed: int,
    device: str | torch.device | None = "cpu",
    max_epochs: int | None = None,
    show_progress: bool = True,
) -> FitResult:
    """Train ``model`` on ``split_rows['train']`` with early stopping on ``'valid'``; test on ``'test'``.

    ``max_epochs`` caps the number of epochs below the model's own cap (a smoke or book budget).
    ``seed`` is the run's label in the result: the shuffling, like the dropout masks, draws from
    torch's global generator as MMSA's does, so seed it before building the model, as
    :func:`train_baseline` does.
    """
    for name in ("train", "valid", "test"):
        if len(split_rows.get(name, ())) == 0:
            raise InvalidArgument(
                f"split_rows['{name}'] is empty: 'train', 'valid' and 'test' each need at least one row"
            )
    start = time.perf_counter()
    device = resolve_device(device)
    model.to(device)
    batches = _Batches(data, model, device)
    optimizer = model.configure_optimizer()
    schedule = model.configure_scheduler(optimizer)
    cap = min(c for c in (max_epochs, model.max_epochs, 10**9) if c is not None)

    best_loss, best_epoch, best_state = float("inf"), 0, None
    history: list[EpochLog] = []
    epoch, stopped_by = 0, "early stopping"
    bar = progress(
        total=cap if cap < 10**9 else None,
        desc=f"{model.display_name} seed {seed}",
        unit="epoch",
        disable=None if show_progress else True,
    )
    while True:
        epoch += 1
        rebalance_threads()  # a local worker takes the cores others freed (threads.CoreShare)
        train_loss = _train_epoch(model, batches, split_rows["train"], optimizer)
        valid_loss = round(validation_loss(model, batches, split_rows["valid"]), LOSS_DECIMALS)
        history.append(EpochLog(epoch, train_loss, valid_loss, float(optimizer.param_groups[-1]["lr"])))
        if schedule is not None:
            scheduler, when = schedule
            scheduler.step(valid_loss) if when == "val_loss" else scheduler.step()
        if valid_loss <= best_loss - MIN_IMPROVEMENT:
            best_loss, best_epoch = valid_loss, epoch
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        bar.update(1)
        bar.set_postfix(valid_loss=valid_loss, best_epoch=best_epoch)
        if epoch - best_epoch >= model.patience:
            break
        if epoch >= cap:
            stopped_by = "epoch cap"
            break
    bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    valid_pred = predict(model, batches, split_rows["valid"])
    test_pred = predict(model, batches, split_rows["test"])
    labels_m = data.labels["M"].numpy()
    return FitResult(
        model=model.display_name,
        seed=seed,
        epochs=epoch,
        best_epoch=best_epoch,
        stopped_by=stopped_by,
        history=history,
        valid_metrics=sims_regression_metrics(valid_pred, labels_m[split_rows["valid"]]),
        test_metrics=sims_regression_metrics(test_pred, labels_m[split_rows["test"]]),
        test_clip_ids=[str(c) for c in data.clip_ids[split_rows["test"]]],
        test_predictions=[float(p) for p in test_pred],
        wall_seconds=time.perf_counter() - start,
        device=str(device),
        trainable_parameters=model.count_trainable_parameters(),
    )


def train_baseline(
    name: str,
    data: MSATensors,
    split_rows: Mapping[str, np.ndarray],
    *,
    seed: int,
    device: str | torch.device | None = "cpu",
    max_epochs: int | None = None,
    show_progress: bool = True,
    **overrides: Any,
) -> FitResult:
    """Seed, build model ``name`` for ``data``'s shapes (MMSA's ``sims`` settings), :func:`fit` it."""
    seed_everything(seed)
    model = build_model(name, feature_dims=data.feature_dims, seq_lens=data.seq_lens, **overrides)
    return fit(model, data, split_rows, seed=seed, device=device, max_epochs=max_epochs, show_progress=show_progress)
