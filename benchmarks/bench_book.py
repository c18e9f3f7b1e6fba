"""Benchmark: building the whole book — cold (every notebook executed) and cached (nothing changed).

Builds into a temporary folder with a fresh download/model cache, exactly as ``make book`` does
(``jupyter-book build . -n -W --keep-going``, execution mode ``cache``), twice: the first build
executes every notebook; the second finds every notebook in the execution cache. Data: whatever
the environment gives (``CSMSASR_PUBLIC_DIR`` for the real public metadata, else the download
cache or the demo), printed first.

    python benchmarks/bench_book.py [--keep DIR]

``--keep DIR`` builds into ``DIR`` instead of a temporary folder and leaves the site there
(``DIR/_build/html``), e.g. to look at it in a browser afterwards.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def build(out: Path, env: dict[str, str]) -> float:
    jupyter_book = Path(sys.executable).with_name("jupyter-book")
    start = time.perf_counter()
    result = subprocess.run(
        [str(jupyter_book), "build", str(REPO), "--path-output", str(out), "-n", "-W", "--keep-going"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"build failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return seconds


def main(argv: list[str] | None = None) -> int:
    from csmsasr_utils.data.dataset import data_fingerprint

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, default=None, help="build here and keep the site")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        env = {**os.environ, "CSMSASR_CACHE_DIR": str(Path(scratch) / "cache"), "MPLBACKEND": "Agg"}
        print(
            f"data: CSMSASR_PUBLIC_DIR={env.get('CSMSASR_PUBLIC_DIR', '(unset)')}, "
            f"CSMSASR_FEATURES={env.get('CSMSASR_FEATURES', '(unset: demo features)')}, "
            f"fingerprint {data_fingerprint()}; {os.cpu_count()} CPU cores"
        )
        out = Path(scratch) / "book"
        if args.keep is not None:
            shutil.rmtree(args.keep, ignore_errors=True)
            out = args.keep
        cold = build(out, env)
        print(f"cold build (every notebook executed, empty caches): {cold:7.1f} s")
        cached = build(out, env)
        print(f"cached rebuild (nothing changed):                   {cached:7.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
