"""csmsasr_utils: the engine under the CS-MSASR book.

The book's chapters call small, tested functions from this package; every
number in the book can be traced to one of them.

Sub-packages
------------
``csmsasr_utils.data``
    Where data comes from (public metadata, the user's feature pickle, the
    synthetic demo) and how it is validated. Start with
    :func:`csmsasr_utils.data.load_dataset`.
``csmsasr_utils.stats``
    Descriptive statistics used by the dataset-statistics chapter.
``csmsasr_utils.agreement``
    Cross-modal label agreement (κ, α, correlations, bootstrap intervals).
``csmsasr_utils.features``
    Pooling, UMAP maps and separability of the feature space.
``csmsasr_utils.asr``
    The CER protocol, audio sources, recognisers and error analysis.
``csmsasr_utils.threads``
    Thread budget and passive OpenMP waiting, set on import (no stall on a busy machine).
``csmsasr_utils.plots``
    One figure style for the whole book (with a font that renders Chinese).
"""

from csmsasr_utils.errors import CsmsasrError
from csmsasr_utils.threads import configure_threads

# Before torch or numba are loaded by any module of the package: a thread budget that fits the
# cores and idle threads that sleep instead of spinning (a busy machine must not stall training).
# Variables the user has set are left alone. See csmsasr_utils.threads.
configure_threads()

__version__ = "0.1.0"

__all__ = ["CsmsasrError", "__version__"]
