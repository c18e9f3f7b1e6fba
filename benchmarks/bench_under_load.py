"""Benchmark: the same small ``csmsasr msa run`` on a quiet machine and beside busy processes.

Issue #13 asks that a small training run beside two CPU-bound processes take at most 3× its quiet
time **with nothing set in the environment** (before the fix it took about 10×: torch's idle
OpenMP threads spun on the cores the working thread needed). This script runs one command three
ways, each ``--repeats`` times, and prints the training seconds the results file records
(``wall_seconds``: training and evaluation, not the imports) and the whole process's wall time:

* **quiet** — nothing else running;
* **busy, defaults** — beside ``--busy`` pure-Python loops (one core each), with every thread and
  wait-policy variable removed from the environment, so the package's own budget applies
  (:mod:`csmsasr_utils.threads`);
* **busy, spinning** — the same load with ``OMP_WAIT_POLICY=ACTIVE``: idle OpenMP threads spin, as
  they did before the package set a passive policy (GNU OpenMP's default spins for a while too).

    python benchmarks/bench_under_load.py [--busy 2] [--repeats 2] [--models MLF_DNN]

Run it on a machine with nothing else at work; it starts and stops its own busy processes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: Variables a user might set that would change the thread pools or their wait policy.
THREAD_VARIABLES = (
    "OMP_NUM_THREADS",
    "OMP_WAIT_POLICY",
    "GOMP_SPINCOUNT",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "NUMBA_NUM_THREADS",
)
#: One core's worth of work that never ends: the load a shared machine's other users put on it.
BUSY_LOOP = "while True:\n    pass\n"


def _environment(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES}
    env.update(extra)
    return env


def _run_once(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(training seconds from the results rows, whole-process seconds) of one run."""
    with tempfile.TemporaryDirectory() as folder:
        results = Path(folder) / "results.jsonl"
        start = time.perf_counter()
        subprocess.run([*command, "--results", str(results)], env=env, check=True, capture_output=True)
        wall = time.perf_counter() - start
        rows = [json.loads(line) for line in results.read_text().splitlines() if line.strip()]
    return sum(row["wall_seconds"] for row in rows), wall


def _measure(label: str, command: list[str], env: dict[str, str], repeats: int, busy: int) -> dict:
    loads = [subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) for _ in range(busy)]
    try:
        runs = [_run_once(command, env) for _ in range(repeats)]
    finally:
        for process in loads:
            process.kill()
            process.wait()
    train = statistics.median(r[0] for r in runs)
    wall = statistics.median(r[1] for r in runs)
    print(f"{label:<34} training {train:7.2f} s   process {wall:7.2f} s   (runs: {[round(r[0], 2) for r in runs]})")
    return {"label": label, "train": train, "wall": wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busy", type=int, default=2, help="busy processes beside the run (default 2)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--models", nargs="+", default=["MLF_DNN"])
    parser.add_argument("--max-clips", type=int, default=256, help="clips per split of the demo features")
    parser.add_argument("--budget", default="book", choices=["smoke", "book", "full"])
    args = parser.parse_args()

    csmsasr = Path(sys.executable).with_name("csmsasr")
    command = [str(csmsasr), "msa", "run", "--models", *args.models, "--seeds", "1111"]
    command += ["--budget", args.budget, "--max-clips", str(args.max_clips)]
    print(" ".join(command), f"on {os.cpu_count()} cores")
    quiet = _measure("quiet", command, _environment(), args.repeats, busy=0)
    passive = _measure(f"busy ({args.busy}), defaults", command, _environment(), args.repeats, args.busy)
    spinning = _measure(
        f"busy ({args.busy}), OMP_WAIT_POLICY=ACTIVE",
        command,
        _environment(OMP_WAIT_POLICY="ACTIVE"),
        args.repeats,
        args.busy,
    )
    for row in (passive, spinning):
        print(f"{row['label']:<34} {row['train'] / quiet['train']:5.1f}× the quiet training time")


if __name__ == "__main__":
    main()
