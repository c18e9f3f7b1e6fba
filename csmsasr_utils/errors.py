"""One exception family for the whole package.

Every error the package raises on purpose is a :class:`CsmsasrError`, so a
notebook or script can catch "anything csmsasr refused" in one place. Each
message says what was expected, what was found, and what to do about it.
"""

from __future__ import annotations


class CsmsasrError(Exception):
    """Base class of every error raised on purpose by ``csmsasr_utils``."""


class PublicDataUnavailable(CsmsasrError):
    """The public metadata could not be read from a local folder or downloaded."""


class HashMismatchError(CsmsasrError):
    """A data file's SHA-256 differs from the pinned value; the file was refused."""


class UnsafePickleError(CsmsasrError):
    """A pickle asked to import something outside the allow-list.

    The refused global is named in the message and is never imported or called.
    """

    def __init__(self, module: str, name: str):
        self.module = module
        self.name = name
        super().__init__(
            f"refused to unpickle global '{module}.{name}': a feature file may only "
            "contain numpy arrays, numpy dtypes/scalars and builtin containers. "
            "Loading this object could run arbitrary code; the file was not loaded. "
            "If you trust the file and it really is a CS-MSASR feature file, re-save "
            "it with plain numpy arrays."
        )


class FeatureFileError(CsmsasrError):
    """The feature file could not be read as a pickle (missing, empty, truncated, foreign)."""


class FeatureValidationError(CsmsasrError):
    """The feature file was read but its content does not match the MMSA schema.

    ``problems`` lists every problem found, the first one being the most basic.
    """

    def __init__(self, problems: list[str], source: str = "feature data"):
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(
            f"{source} failed validation ({len(self.problems)} problem"
            f"{'s' if len(self.problems) != 1 else ''}):\n{lines}"
        )


class UnknownClipError(CsmsasrError, KeyError):
    """A clip id is malformed or not one of the dataset's clips."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""
