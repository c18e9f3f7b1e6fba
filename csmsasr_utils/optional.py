"""Optional dependencies, imported quietly and with an error that says which extra to install."""

from __future__ import annotations

import sys
import warnings


def import_transformers():
    """The ``transformers`` module, its import-time warnings silenced (e.g. tqdm's notice that
    ipywidgets is absent, which would otherwise print into the book's pages), its logging limited
    to errors and, where the output is not a terminal, its progress bars (loading and saving
    weights) off. Raises :class:`~csmsasr_utils.errors.CsmsasrError` when it is missing."""
    from csmsasr_utils.errors import CsmsasrError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import transformers
    except ImportError as err:
        raise CsmsasrError("transformers is not installed: pip install 'csmsasr-utils[hf]'") from err
    transformers.logging.set_verbosity_error()
    if not sys.stderr.isatty():  # no one watches (e.g. the book build): no progress bars in the output
        transformers.utils.logging.disable_progress_bar()
    return transformers


def import_pooch():
    """Import pooch quietly: it imports tqdm.auto, which warns in a notebook without ipywidgets
    (the book has none on purpose: widgets would load JavaScript from a CDN)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pooch

    pooch.get_logger().setLevel("WARNING")
    return pooch
