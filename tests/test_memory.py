"""Peak memory of load_features() on real-size arrays (measured by the benchmark script)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_loading_holds_about_one_copy_of_the_arrays():
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "bench_load.py"), "--n-clips", "300", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    # the released (flat) file: arrays are views on the pickled bytes, no second copy
    assert figures["flat"]["ratio"] <= 1.5, figures["flat"]
    # MMSA layout: concatenating the splits holds one split's block of the largest
    # modality twice (train = 70 % of clips here, vision = 75 % of the bytes) → ≤ 1 + 0.53
    assert figures["mmsa"]["ratio"] <= 1.0 + 0.7 * 0.75 + 0.1, figures["mmsa"]
    assert figures["flat"]["clips"] == figures["mmsa"]["clips"] == 300
