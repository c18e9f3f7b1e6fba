"""The build is pinned, and the conda file says the same as the pip file."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def _requirements() -> list[str]:
    lines = (REPO / "requirements.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def test_every_requirement_is_pinned_exactly():
    for requirement in _requirements():
        assert "==" in requirement, requirement
    names = {r.split("==")[0].lower(): r.split("==")[1] for r in _requirements()}
    assert names["jupyter-book"] == "1.0.4.post1"
    assert names["torch"] == "2.13.0"


def test_environment_yml_matches_requirements():
    env = yaml.safe_load((REPO / "environment.yml").read_text(encoding="utf-8"))
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    pins = [p for p in pip_section if not p.startswith("-e")]
    assert sorted(pins) == sorted(_requirements())
    assert "python=3.11" in env["dependencies"]


def test_mathjax_is_pinned_in_the_lock_file():
    lock = json.loads((REPO / "package-lock.json").read_text(encoding="utf-8"))
    assert lock["packages"]["node_modules/mathjax"]["version"] == "3.2.2"
    config = yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf-8"))
    assert config["sphinx"]["config"]["html_extra_path"] == ["_site_extra"]
    assert config["sphinx"]["config"]["mathjax_path"] == "mathjax/tex-chtml.js"


def test_public_data_files_are_not_committed():
    """The public metadata is downloaded, never part of this repository."""
    import hashlib
    import subprocess

    from csmsasr_utils.data.sources import REGISTRY

    pinned = {entry.sha256 for entry in REGISTRY.values()}
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True).stdout.split()
    for name in tracked:
        path = REPO / name
        if path.is_file():
            assert hashlib.sha256(path.read_bytes()).hexdigest() not in pinned, name
