"""Benchmark: load time and peak memory of load_features() on a real-size file.

Writes a synthetic demo with the real padded lengths (39 / 553 / 321, 768 / 13 / 347 dims;
1,085 clips ≈ 645 MB of float32 arrays) in both layouts, then loads each in a fresh Python
process and prints the wall time and the peak resident memory added by the load, relative to
the bytes of the arrays. The data layer promises a peak of at most ~1.5× the array bytes.

    python benchmarks/bench_load.py               # real size
    python benchmarks/bench_load.py --n-clips 300 --json   # smaller, machine-readable
"""

from __future__ import annotations

import argparse
import json
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

_CHILD = r"""
import json, sys, time
from csmsasr_utils.data import load_features

def status_kib(field):
    # VmRSS: resident now; VmHWM: peak resident of this process image (unlike ru_maxrss,
    # which Linux carries over from the parent through fork and exec)
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])

before = status_kib("VmRSS")
start = time.perf_counter()
features = load_features(sys.argv[1])
seconds = time.perf_counter() - start
peak = status_kib("VmHWM")
print(json.dumps({"seconds": seconds, "array_bytes": features.nbytes,
                  "peak_added_bytes": (peak - before) * 1024, "clips": len(features)}))
"""


def write_files(folder: Path, n_clips: int | None) -> dict[str, Path]:
    """Write the real-size demo in the flat and the MMSA layout; return their paths."""
    from csmsasr_utils.data import FULL_SEQ_LENS, make_demo

    raw = make_demo(n_clips=n_clips, seq_lens=FULL_SEQ_LENS)
    paths = {"flat": folder / "flat.pkl", "mmsa": folder / "mmsa.pkl"}
    with open(paths["flat"], "wb") as handle:
        pickle.dump(raw, handle, protocol=4)
    n = len(raw["id"])
    cuts = [0, int(n * 0.7), int(n * 0.8), n]
    split = {
        name: {k: v[cuts[i] : cuts[i + 1]] for k, v in raw.items()} for i, name in enumerate(("train", "valid", "test"))
    }
    with open(paths["mmsa"], "wb") as handle:
        pickle.dump(split, handle, protocol=4)
    return paths


def measure(path: Path) -> dict:
    """Load ``path`` in a fresh interpreter and return its timing and memory figures."""
    result = subprocess.run([sys.executable, "-c", _CHILD, str(path)], capture_output=True, text=True, check=True)
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    figures["file_bytes"] = path.stat().st_size
    figures["ratio"] = figures["peak_added_bytes"] / figures["array_bytes"]
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-clips", type=int, default=None, help="clips (default: all 1,085)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_files(Path(tmp), args.n_clips)
        results = {layout: measure(path) for layout, path in paths.items()}
    if args.json:
        print(json.dumps(results))
        return 0
    print(
        f"{'layout':6s} {'clips':>6s} {'arrays MB':>10s} {'file MB':>8s} {'load s':>7s} "
        f"{'peak added MB':>14s} {'peak / arrays':>14s}"
    )
    for layout, r in results.items():
        print(
            f"{layout:6s} {r['clips']:6d} {r['array_bytes'] / 1e6:10.1f} {r['file_bytes'] / 1e6:8.1f} "
            f"{r['seconds']:7.2f} {r['peak_added_bytes'] / 1e6:14.1f} {r['ratio']:14.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
