"""Benchmark: the official protocol's seeds × folds, one at a time or stacked, through the runner.

A user with the real data runs every model × five seeds × CS-Mage's five folds: 25 units per
model. The runner can stack a model's units — its seeds and, since the five folds all hold 759 /
109 / 217 clips, its folds — as the members of one model (:mod:`csmsasr_utils.msa.members`), each
member on its own fold as if alone. This script runs ``csmsasr msa run --protocol official`` once
per ``--units-at-once`` value, in a child process each, on the same real-size pickle, and prints:

* the wall time of the whole command (imports, data loading, training with MMSA's early stopping,
  testing), the sizes of the stacks it trained and the epochs over all units;
* against the first value's command, unit by unit: how many trained the same epochs and kept the
  same best epoch, how many also had the same validation loss at every epoch (to the 4 decimals
  early stopping compares), and the largest test-MAE difference. Stacked members sum their
  products in another order than a solo run, so they agree to float tolerance, not bit for bit.

Values to compare: ``1`` (every unit alone), ``5`` (stacks of five: the size the runner stacked
before it stacked across folds, the five seeds of one fold) and ``auto`` (on a CPU, the models
that gain from stacking; with ``--workers 2``, the 25 units as stacks of 13 and 12).

    CSMSASR_PUBLIC_DIR=../shared/data .venv/bin/python benchmarks/bench_folds.py \\
        --models MFN --units-at-once 1 5 auto --workers 2 --max-clips 200 --work /scratch/bench-folds

The features are the synthetic demo at the real padded sizes (``bench_vs_mmsa.write_mmsa_pickle``,
≈ 645 MB); ``--max-clips N`` keeps the first N clips of each split of every fold (a shorter run
with the same per-step cost).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_vs_mmsa, beside this file

from bench_vs_mmsa import _group_sizes, _timed, write_mmsa_pickle  # noqa: E402

from csmsasr_utils.jsonl import JsonLines  # noqa: E402
from csmsasr_utils.msa.hparams import SEEDS  # noqa: E402


def unit_runs(rows: list[dict]) -> dict[str, dict]:
    """Per unit key: its epochs, best epoch, validation losses and test MAE, from a results file's rows."""
    return {
        r["key"]: {
            "epochs": r["epochs"],
            "best_epoch": r["best_epoch"],
            "valid_losses": [e["valid_loss"] for e in r["history"]],
            "MAE": float(r["test_MAE"]),
        }
        for r in rows
    }


def same_runs(reference: dict[str, dict], other: dict[str, dict]) -> tuple[int, int, float]:
    """Over the units both hold: how many of ``other``'s trained ``reference``'s epochs and best
    epoch, how many of those also had every validation loss equal, and the largest test-MAE difference."""
    keys = sorted(reference.keys() & other.keys())
    stopped_alike = [k for k in keys if all(reference[k][f] == other[k][f] for f in ("epochs", "best_epoch"))]
    losses_alike = sum(reference[k]["valid_losses"] == other[k]["valid_losses"] for k in stopped_alike)
    largest = max((abs(reference[k]["MAE"] - other[k]["MAE"]) for k in keys), default=float("nan"))
    return len(stopped_alike), losses_alike, largest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["MFN"])
    parser.add_argument("--seeds", nargs="+", type=int, default=list(SEEDS))
    parser.add_argument("--units-at-once", nargs="+", default=["1", "5", "auto"])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--max-clips", type=int, help="keep the first N clips of each split of every fold")
    parser.add_argument("--work", type=Path, default=Path("/tmp/bench-folds"))
    args = parser.parse_args()

    from csmsasr_utils.threads import MARKER, THREAD_COUNT_VARIABLES, available_cores, configure_threads

    features = write_mmsa_pickle(args.work / "demo_full_mmsa_layout.pkl")
    print(f"features: {features} ({features.stat().st_size / 1e6:,.0f} MB, synthetic demo, real padded sizes)")
    # The package's own thread budget and wait policy in every child, whatever this shell had set.
    env = {k: v for k, v in os.environ.items() if k not in (*THREAD_COUNT_VARIABLES, "OMP_WAIT_POLICY", MARKER)}
    configure_threads(None, env)
    seeds = [str(s) for s in args.seeds]
    clips = [] if args.max_clips is None else ["--max-clips", str(args.max_clips)]
    for model in args.models:
        reference: dict[str, dict] | None = None
        for units_at_once in args.units_at_once:
            name = f"{model}-k{units_at_once}-w{args.workers}"
            results = args.work / f"{name}.jsonl"
            results.unlink(missing_ok=True)
            command = [str(Path(sys.executable).parent / "csmsasr"), "msa", "run", "--models", model, "--seeds", *seeds,
                       "--budget", "full", "--protocol", "official", "--device", "cpu", "--features", str(features),
                       "--units-at-once", units_at_once, "--workers", str(args.workers), *clips,
                       "--results", str(results)]  # fmt: skip
            seconds = _timed(command, env, args.work / f"{name}.log")
            rows = JsonLines(results).rows()  # read once
            runs = unit_runs(rows)
            reference = reference or runs
            stopped_alike, losses_alike, largest = same_runs(reference, runs)
            stacks = "+".join(str(n) for n in sorted(_group_sizes(rows), reverse=True))
            epochs = sum(r["epochs"] for r in runs.values())
            print(
                f"{model:<10} units at once {units_at_once:>4} → stacks {stacks}, {len(runs)} units, "
                f"{epochs} epochs, {available_cores()} cores, workers {args.workers}: {seconds:7.1f} s"
                f"   against the first: same epochs and best epoch {stopped_alike}/{len(runs)}, every validation"
                f" loss too {losses_alike}/{len(runs)}, largest test-MAE difference {largest:.1e}",
                flush=True,
            )


if __name__ == "__main__":
    main()
