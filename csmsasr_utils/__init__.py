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
``csmsasr_utils.plots``
    One figure style for the whole book (with a font that renders Chinese).
"""

from csmsasr_utils.errors import CsmsasrError

__version__ = "0.1.0"

__all__ = ["CsmsasrError", "__version__"]
