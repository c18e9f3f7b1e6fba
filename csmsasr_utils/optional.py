"""Optional dependencies, imported quietly and with an error that says which extra to install."""

from __future__ import annotations

import warnings


def import_transformers():
    """The ``transformers`` module, its import-time warnings silenced (e.g. tqdm's notice that
    ipywidgets is absent, which would otherwise print into the book's pages) and its logging
    limited to errors. Raises :class:`~csmsasr_utils.errors.CsmsasrError` when it is missing."""
    from csmsasr_utils.errors import CsmsasrError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import transformers
    except ImportError as err:
        raise CsmsasrError("transformers is not installed: pip install 'csmsasr-utils[hf]'") from err
    transformers.logging.set_verbosity_error()
    return transformers
