"""The same command gives the same tables: two fresh processes, identical results files."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

#: Fields of a result row that describe the run, not its result.
VOLATILE = {"wall_seconds", "finished_at"}


def _fresh_process(code: str, tmp_path, name: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSMSASR_")}
    env["CSMSASR_CACHE_DIR"] = str(tmp_path / f"cache-{name}")
    env["CSMSASR_PUBLIC_DIR"] = str(tmp_path / "no-public")  # the demo, as the default build
    (tmp_path / "no-public").mkdir(exist_ok=True)
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=600)


@pytest.mark.slow
def test_msa_results_files_are_identical_across_runs(tmp_path):
    code = (
        "from csmsasr_utils.cli import main; raise SystemExit(main(['msa', 'run', '--models', 'LF_DNN', "
        "'MLF_DNN', 'EF_LSTM', '--seeds', '1111', '--budget', 'smoke', '--max-clips', '48', '--results', {!r}]))"
    )
    rows = {}
    for name in ("first", "second"):
        path = tmp_path / f"{name}.jsonl"
        _fresh_process(code.format(str(path)), tmp_path, name)
        rows[name] = [
            {k: v for k, v in json.loads(line).items() if k not in VOLATILE} for line in path.read_text().splitlines()
        ]
    assert len(rows["first"]) == 3
    assert rows["first"] == rows["second"]


@pytest.mark.slow
def test_umap_embedding_is_identical_across_processes(tmp_path):
    code = (
        "import numpy as np; from csmsasr_utils.feature_space import umap_embedding; "
        "x = np.random.default_rng(3).normal(size=(150, 6)); np.save({!r}, umap_embedding(x, n_neighbors=15))"
    )
    for name in ("first", "second"):
        _fresh_process(code.format(str(tmp_path / f"{name}.npy")), tmp_path, name)
    assert np.array_equal(np.load(tmp_path / "first.npy"), np.load(tmp_path / "second.npy"))
