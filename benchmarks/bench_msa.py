"""Benchmark: one training epoch of each MSA baseline, pre-tensorised batches vs a naive loader.

The trainer of ``csmsasr_utils.msa`` turns the features into tensors once and takes each batch by
indexing them. The naive way — MMSA's — is a per-sample ``Dataset`` returning a dict of numpy
arrays, collated by a ``DataLoader``, with the input treatment (averaging audio/vision for the
normalised models) done up front as MMSA's loader does. Both run the same model, optimiser and
loss on the same real-size demo clips (text 39 × 768, audio 553 × 13, vision 321 × 347); the
script prints seconds per epoch and the ratio.

    python benchmarks/bench_msa.py [--clips 256] [--models LF_DNN TFN ...] [--device cuda]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset


class PerSampleDataset(Dataset):
    """MMSA-style: one dict of numpy arrays per clip."""

    def __init__(self, text, audio, vision, labels):
        self.text, self.audio, self.vision, self.labels = text, audio, vision, labels

    def __len__(self):
        return len(self.labels["M"])

    def __getitem__(self, i):
        return {
            "text": self.text[i],
            "audio": self.audio[i],
            "vision": self.vision[i],
            "labels": {k: v[i].reshape(-1) for k, v in self.labels.items()},
        }


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def naive_epoch(model, dataset: Dataset, seed: int, device: torch.device) -> float:
    """MMSA's way: collate numpy samples into a batch, then copy the batch to the device."""
    torch.manual_seed(seed)  # MMSA's loaders shuffle from the global stream
    loader = DataLoader(dataset, batch_size=int(model.hp["batch_size"]), shuffle=True)
    optimizer = model.configure_optimizer()
    model.train()
    _sync(device)
    start = time.perf_counter()
    for batch in loader:
        optimizer.zero_grad()
        inputs = [batch[k].to(device) for k in ("text", "audio", "vision")]
        labels = {k: v.to(device) for k, v in batch["labels"].items()}
        loss = model.training_loss(model(*inputs), labels)
        loss.backward()
        optimizer.step()
    _sync(device)
    return time.perf_counter() - start


def tensor_epoch(model, data, rows: np.ndarray, seed: int, device: torch.device) -> float:
    """The book's trainer: inputs moved to the device once, batches by indexing there."""
    from csmsasr_utils.msa.trainer import _Batches, _train_epoch

    batches = _Batches(data, model, device)
    optimizer = model.configure_optimizer()
    _sync(device)
    start = time.perf_counter()
    torch.manual_seed(seed)  # the trainer shuffles from the global stream, as MMSA's loaders do
    _train_epoch(model, batches, rows, optimizer)
    _sync(device)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=256)
    parser.add_argument("--models", nargs="+", default=None)
    parser.add_argument("--device", default="cpu", help="cpu or cuda")
    args = parser.parse_args()
    device = torch.device(args.device)

    from csmsasr_utils.data import FULL_SEQ_LENS, features_from_dict, make_demo
    from csmsasr_utils.msa.registry import available_models, build_model
    from csmsasr_utils.msa.tensors import MSATensors
    from csmsasr_utils.msa.trainer import seed_everything

    features = features_from_dict(make_demo(n_clips=args.clips, seq_lens=FULL_SEQ_LENS), source="demo")
    data = MSATensors.from_features(features)
    rows = np.arange(len(data))
    models = args.models or [m for m in available_models() if m != "ALMT"]
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"{args.clips} real-size demo clips, {where}, torch {torch.__version__}; seconds per training epoch")
    print(f"{'model':10s} {'tensors':>9s} {'naive':>9s} {'naive/tensors':>14s}")
    for name in models:
        seed_everything(1111)
        model = build_model(name, feature_dims=data.feature_dims, seq_lens=data.seq_lens).to(device)
        text, audio, vision = (t.numpy() for t in data.model_inputs(model))
        dataset = PerSampleDataset(text, audio, vision, {k: v.numpy() for k, v in data.labels.items()})
        naive_epoch(model, dataset, 0, device)  # warm-up (allocator, kernels, first-call overheads)
        t_naive = naive_epoch(model, dataset, 1, device)
        t_tensor = tensor_epoch(model, data, rows, 1, device)
        print(f"{name:10s} {t_tensor:9.3f} {t_naive:9.3f} {t_naive / t_tensor:14.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
