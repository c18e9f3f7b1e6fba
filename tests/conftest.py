"""Shared fixtures: the real public metadata (when present), isolated environments, demo data."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _public_dir() -> Path | None:
    value = os.environ.get("CSMSASR_PUBLIC_DIR")
    candidates = [Path(value)] if value else []
    candidates.append(REPO.parent / "shared" / "data")
    for folder in candidates:
        if (folder / "cs-msasr-lists" / "all_text.txt").is_file():
            return folder.resolve()
    return None


PUBLIC_DIR = _public_dir()

needs_public = pytest.mark.skipif(
    PUBLIC_DIR is None, reason="real public metadata not found (set CSMSASR_PUBLIC_DIR; CI does)"
)


@pytest.fixture
def public_dir() -> Path:
    """The folder of real public metadata; tests using it are skipped without it."""
    if PUBLIC_DIR is None:
        pytest.skip("real public metadata not found (set CSMSASR_PUBLIC_DIR; CI does)")
    return PUBLIC_DIR


@pytest.fixture(autouse=True)
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No test sees the caller's data variables or cache; each sets what it needs."""
    from csmsasr_utils.settings import SETTINGS

    for setting in SETTINGS:
        monkeypatch.delenv(setting.name, raising=False)
    monkeypatch.setenv("CSMSASR_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def small_demo() -> dict:
    """A small demo feature dict (60 clips, short padding), built once per session."""
    from csmsasr_utils.data import make_demo

    return make_demo(seed=7, n_clips=60, seq_lens={"text": 12, "audio": 20, "vision": 16})
