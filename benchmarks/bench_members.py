"""Benchmark: K seeds of a model as stacked members against K solo runs, and what bounds a step.

For each model, at the real padded sizes (demo features: text 39 × 768, audio 553 × 13, vision
321 × 347) and MMSA's batch size, it prints:

* **solo step**: one training step (forward, the model's training loss, backward) of one model,
  median of ``--repeats``;
* **stacked step**: the same step for K members stacked (:mod:`csmsasr_utils.msa.members`), each
  member on its own batch, and the ratio ``stacked / (K × solo)`` — below 1 is what stacking saves
  per step (models that cannot be stacked print ``—``);
* **GFLOP per step** of the solo step: the products torch's ``FlopCounterMode`` sees, plus the
  fused ``nn.LSTM`` modules it does not see, counted by hand (forward ``2·B·T·4H·(in + H)`` per
  layer, backward twice that);
* **GFLOP/s** achieved by the solo step, against this machine's float32 matrix-product rate (one
  2048 × 2048 product, best of 5). A step near that rate is bound by arithmetic: stacking cannot
  make it cheaper on this device, only fewer FLOPs could.

    .venv/bin/python benchmarks/bench_members.py --models MFN Graph_MFN --members 5
    .venv/bin/python benchmarks/bench_members.py          # the eight light models
    .venv/bin/python benchmarks/bench_members.py --threads 1 --members 2   # one --workers 2 worker
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

LIGHT_MODELS = ("LF_DNN", "LMF", "MLF_DNN", "MLMF", "EF_LSTM", "MFN", "MFM", "Graph_MFN")


def gemm_gflops(size: int = 2048, repeats: int = 5) -> float:
    """This machine's float32 matrix-product rate (best of ``repeats``), in GFLOP/s."""
    import torch

    a, b = torch.randn(size, size), torch.randn(size, size)
    torch.mm(a, b)
    best = min(_seconds(lambda: torch.mm(a, b)) for _ in range(repeats))
    return 2 * size**3 / best / 1e9


def _seconds(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def lstm_flops(module, x) -> int:
    """Forward FLOPs of a batch-first ``nn.LSTM`` on ``x`` ``(B, T, in)``: ``2·B·T·4H·(in + H)`` per layer."""
    batch, steps, width = x.shape
    hidden, total = module.hidden_size, 0
    directions = 2 if module.bidirectional else 1
    for layer in range(module.num_layers):
        layer_in = width if layer == 0 else hidden * directions
        total += directions * 2 * batch * steps * 4 * hidden * (layer_in + hidden)
    return total


def step_flops(model, inputs, labels) -> int:
    """FLOPs of one training step: FlopCounterMode's count plus 3 × the LSTMs' forward FLOPs."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    lstm_forward = 0

    def count(module, args, _output):
        nonlocal lstm_forward
        lstm_forward += lstm_flops(module, args[0])

    hooks = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, torch.nn.LSTM)]
    try:
        with torch.random.fork_rng(devices=[]), FlopCounterMode(display=False) as counter:
            model.training_loss(model(*inputs), labels).backward()
    finally:
        for hook in hooks:
            hook.remove()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops() + 3 * lstm_forward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=list(LIGHT_MODELS))
    parser.add_argument("--members", type=int, default=5, help="K, the stacked members")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--clips", type=int, default=400, help="demo clips to draw batches from")
    parser.add_argument(
        "--threads",
        type=int,
        help="torch threads for the steps and the GEMM rate (default: the package's budget, every core); "
        "1 is what each worker of `csmsasr msa run --workers 2` has on two cores",
    )
    args = parser.parse_args()

    import torch

    if args.threads is not None:
        torch.set_num_threads(args.threads)

    from csmsasr_utils.data import make_demo
    from csmsasr_utils.data.demo import FULL_SEQ_LENS
    from csmsasr_utils.data.features import features_from_dict
    from csmsasr_utils.msa.members import build_members, can_stack, member_outputs, stack_members
    from csmsasr_utils.msa.tensors import MSATensors
    from csmsasr_utils.msa.trainer import _Batches

    data = MSATensors.from_features(
        features_from_dict(make_demo(n_clips=args.clips, seq_lens=FULL_SEQ_LENS), source="demo")
    )
    peak = gemm_gflops()
    k = args.members
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; float32 GEMM 2048²: {peak:.1f} GFLOP/s")
    print(f"{'model':<10} {'batch':>5} {'solo ms':>8} {'K×solo ms':>9} {'stacked ms':>10} {'ratio':>6} "
          f"{'GFLOP':>7} {'GFLOP/s':>8} {'of GEMM':>7}")  # fmt: skip
    for name in args.models:
        models, states = build_members(name, list(range(1111, 1111 + k)), data)
        solo = models[0].train()
        batches = _Batches(data, solo, torch.device("cpu"))
        size = int(solo.hp["batch_size"])
        member_rows = [np.arange(size) + (j * size) % (args.clips - size) for j in range(k)]
        solo_inputs, solo_labels = batches(member_rows[0])

        def solo_step():
            solo.training_loss(solo(*solo_inputs), solo_labels).backward()

        stacked_step = None
        if can_stack(name):
            stacked = stack_members(models, states).module.train()
            inputs, labels = batches(np.concatenate(member_rows))

            def stacked_step():
                outputs = stacked(*inputs)
                losses = [
                    stacked.training_loss(member_outputs(outputs, k, j), {n: v.chunk(k)[j] for n, v in labels.items()})
                    for j in range(k)
                ]
                torch.stack(losses).sum().backward()

        flops = step_flops(solo, solo_inputs, solo_labels)
        solo_times, stacked_times = [], []
        for _ in range(args.repeats + 1):  # alternate, so that drifts of the machine hit both alike
            solo_times.append(_seconds(solo_step))
            if stacked_step is not None:
                stacked_times.append(_seconds(stacked_step))
        solo_s = statistics.median(solo_times[1:])
        rate = flops / solo_s / 1e9
        if stacked_times:
            stacked_s = statistics.median(stacked_times[1:])
            stacked_text = f"{stacked_s * 1e3:10.1f} {stacked_s / (k * solo_s):6.2f}"
        else:
            stacked_text = f"{'—':>10} {'—':>6}"
        print(
            f"{name:<10} {size:5d} {solo_s * 1e3:8.1f} {k * solo_s * 1e3:9.1f} {stacked_text} "
            f"{flops / 1e9:7.2f} {rate:8.1f} {rate / peak:7.0%}",
            flush=True,
        )


if __name__ == "__main__":
    main()
