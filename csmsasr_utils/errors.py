"""One exception family for the whole package.

Every error the package raises on purpose is a :class:`CsmsasrError`, so a
notebook or script can catch "anything csmsasr refused" in one place. Each
message says what was expected, what was found, and what to do about it.
"""

from __future__ import annotations


class CsmsasrError(Exception):
    """Base class of every error raised on purpose by ``csmsasr_utils``."""


class InvalidArgument(CsmsasrError, ValueError):
    """The caller passed an argument of the wrong value, shape or choice.

    Raised before any work is done, e.g. ``weights='linear'`` where only ``None`` or
    ``'quadratic'`` exist, a non-positive ``batch_size``, or a tensor of the wrong shape.
    The message names the argument, what was expected and what was found.

    It subclasses :class:`ValueError` because these checks raised a bare ``ValueError``
    before this class existed: code written as ``except ValueError`` (or tests using
    ``pytest.raises(ValueError)``) keeps working, while ``except CsmsasrError`` now
    catches them too.
    """


class UnknownName(InvalidArgument, KeyError):
    """A name given by the caller is not known, or a table given by the caller lacks a named column.

    E.g. an unknown model name (``model_key('BERT')``) or metadata without the
    ``label_t`` column. A special case of :class:`InvalidArgument`.

    It also subclasses :class:`KeyError` because these lookups raised a bare ``KeyError``
    before this class existed, so ``except KeyError`` callers keep working.
    """

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return str(self.args[0]) if self.args else ""


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
