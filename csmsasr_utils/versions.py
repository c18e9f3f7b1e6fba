"""What code and which libraries produced a committed results file (ASR benchmark, fine-tuned e5).

A results file that the book renders instead of recomputing must say what made it: the git commit
(``+dirty`` when the package had uncommitted changes), a hash of the sources that compute it (which
survives a checkout without ``.git``), and the versions of the libraries that shape its numbers.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import subprocess
from collections.abc import Iterable
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
REPO = PACKAGE.parent


def code_version(sources: Path, key: str) -> dict[str, str]:
    """``{"git": commit[+dirty], key: hash of every .py under sources}``."""
    digest = hashlib.sha256()
    for path in sorted(Path(sources).rglob("*.py")):
        digest.update(path.relative_to(sources).as_posix().encode() + path.read_bytes())
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "csmsasr_utils"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        commit += "+dirty" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {"git": commit, key: digest.hexdigest()[:12]}


def package_versions(names: Iterable[str]) -> dict[str, str]:
    """The installed version of each distribution in ``names`` (those not installed are left out)."""
    out = {}
    for name in names:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out
