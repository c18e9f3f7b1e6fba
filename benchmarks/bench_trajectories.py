"""Benchmark: how long each seed of a model trains, and what a member-epoch costs, stacked.

Why: the wall time of a five-seed run is decided by early stopping as much as by the speed of a
step — a stacked group ends with its last member, and a seed whose validation loss keeps falling
by the 1e-4 that restarts MMSA's patience trains for many more epochs. ``bench_vs_mmsa.py`` gives
the totals; this script shows, for the seeds given, trained as the members of one stacked model
(:func:`csmsasr_utils.msa.members.train_members`, the paper split) up to ``--max-epochs``, each
member's epochs, best epoch, how it stopped and its validation curve (rounded to 4 decimals, as
MMSA compares them), and the training time per member-epoch (training only: no process start, no
data loading).

    CSMSASR_PUBLIC_DIR=../shared/data .venv/bin/python benchmarks/bench_trajectories.py \\
        --features /scratch/bench-vs-mmsa/demo_full_mmsa_layout.pkl --model MFM \\
        --seeds 1113 1114 1115 --max-epochs 12

The features file is the real-size demo pickle ``bench_vs_mmsa.py`` writes; without
``--features`` the package's default data is used.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the package, also without pip install -e

from csmsasr_utils.msa.hparams import SEEDS  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--features", help="an MMSA-layout feature file (default: the package's data)")
    parser.add_argument("--model", default="MFM")
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    parser.add_argument("--max-epochs", type=int, default=12, help="epoch cap (default 12)")
    args = parser.parse_args()

    from csmsasr_utils.msa.members import train_members
    from csmsasr_utils.msa.runner import DataSpec, load_data, unit_split_rows

    dataset, tensors = load_data(DataSpec(features_path=args.features))
    rows = unit_split_rows(dataset, tensors, "paper", 0)
    start = time.perf_counter()
    results = train_members(args.model, tensors, rows, seeds=args.seeds, max_epochs=args.max_epochs, show_progress=True)
    wall = time.perf_counter() - start
    member_epochs = sum(r.epochs for r in results)
    print(
        f"{args.model}, {len(results)} members stacked, cap {args.max_epochs}: {wall:.1f} s for "
        f"{member_epochs} member-epochs = {wall / member_epochs:.2f} s per member-epoch"
    )
    for r in results:
        curve = " ".join(f"{h.valid_loss:.4f}" for h in r.history)
        print(f"seed {r.seed}: {r.epochs} epochs, best {r.best_epoch}, {r.stopped_by}; validation loss {curve}")


if __name__ == "__main__":
    main()
