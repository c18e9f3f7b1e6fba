"""Append-only JSON-lines files: the results files of every long-running command.

One JSON object per line, appended and flushed to disk as each result finishes, so a run that is
interrupted loses at most the row being written, and a rerun reads what is done and resumes.
The MSA runner's results (:class:`csmsasr_utils.msa.runner.ResultsFile`) and Whisper
fine-tuning's ``results.jsonl`` are both such files.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from csmsasr_utils.errors import CsmsasrError


class JsonLines:
    """A JSON-lines file of rows; appends are flushed to disk one row at a time."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    def rows(self) -> list[dict[str, Any]]:
        """Every row, in file order (none if the file does not exist); a broken line is an error."""
        if not self.path.exists():
            return []
        rows = []
        with self.path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    try:
                        rows.append(json.loads(line))
                    except json.JSONDecodeError as err:
                        raise CsmsasrError(
                            f"{self.path}:{number} is not a JSON result row ({err}); fix or remove that line"
                        ) from err
        return rows

    def append(self, row: dict[str, Any]) -> None:
        """Write ``row`` as one line and force it to disk before returning."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
