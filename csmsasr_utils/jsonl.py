"""Append-only JSON-lines files: the results files of every long-running command.

One JSON object per line, appended and flushed to disk as each result finishes, so a run that is
interrupted loses at most the row being written, and a rerun reads what is done and resumes.
Two processes that work on the same file at once (two builds of the book sharing one cache) take
turns through :meth:`JsonLines.exclusive`, so the second finds the first one's rows instead of
doing the same work again and writing it twice.
The MSA runner's results (:class:`csmsasr_utils.msa.runner.ResultsFile`) and Whisper
fine-tuning's ``results.jsonl`` are both such files.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
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

    @contextlib.contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold an exclusive lock on ``<file>.lock`` for the duration of the block.

        Another process asking for the same lock waits until this block ends (POSIX ``flock``;
        where ``fcntl`` is missing, e.g. on Windows, the block runs unlocked). The lock file is
        left in place: deleting it could let a third process lock a different file of that name.
        """
        try:
            import fcntl
        except ImportError:  # not POSIX: no cross-process lock
            yield
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_name(self.path.name + ".lock"), "a") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
