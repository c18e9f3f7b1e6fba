"""Where the book's data comes from, and how it is checked.

Start with :func:`.load_dataset`; the other functions are its parts.

``dataset``    :func:`.load_dataset`: one :class:`.Dataset` from the three sources, with its provenance
``sources``    the registry of public CS-MSASR / CS-Mage files (pinned by commit and SHA-256), fetching
``metadata``   the public metadata as one table, one row per clip
``features``   the feature pickle: its schema, its validation and the :class:`.FeatureSet` it becomes
``pickle_io``  reading pickles from the internet without letting them run code
``demo``       a deterministic synthetic dataset with CS-MSASR's exact schema
``ids``        clip identifiers: one canonical form, ``VV_CCCC``
``labels``     the five sentiment classes and MMSA's SIMS bins
``splits``     the two MSA evaluation protocols (paper split, official folds) and video-grouped folds
``vocab``      the bert-base-chinese WordPiece vocabulary (tokenisation only)
"""

from csmsasr_utils.data.dataset import PROVENANCE_FIELDS, SOURCE_NAMES, Dataset, load_dataset
from csmsasr_utils.data.demo import DEMO_SEED, DEMO_SEQ_LENS, FULL_SEQ_LENS, make_demo, make_demo_metadata, save_demo
from csmsasr_utils.data.features import (
    FEATURE_DIMS,
    LABEL_KEYS,
    MODALITIES,
    PADDED_LENGTHS,
    REQUIRED_KEYS,
    FeatureSet,
    features_from_dict,
    load_features,
)
from csmsasr_utils.data.ids import canonical_clip_id, cs_mage_clip_id
from csmsasr_utils.data.labels import CLASS_NAMES, CLASS_VALUES, class_to_value, mmsa_bins, value_to_class_name
from csmsasr_utils.data.metadata import METADATA_COLUMNS, load_metadata
from csmsasr_utils.data.pickle_io import safe_load_pickle
from csmsasr_utils.data.sources import REGISTRY, cache_dir, fetch_all, fetch_public_file
from csmsasr_utils.data.splits import (
    PAPER_SPLIT_NAME,
    fold_name,
    named_splits,
    official_folds,
    paper_split,
    protocol_splits,
    video_grouped_folds,
)
from csmsasr_utils.errors import (
    FeatureFileError,
    FeatureValidationError,
    HashMismatchError,
    PublicDataUnavailable,
    UnknownClipError,
    UnsafePickleError,
)

__all__ = [
    "CLASS_NAMES",
    "CLASS_VALUES",
    "DEMO_SEED",
    "DEMO_SEQ_LENS",
    "FEATURE_DIMS",
    "FULL_SEQ_LENS",
    "LABEL_KEYS",
    "METADATA_COLUMNS",
    "MODALITIES",
    "PADDED_LENGTHS",
    "PAPER_SPLIT_NAME",
    "PROVENANCE_FIELDS",
    "REGISTRY",
    "REQUIRED_KEYS",
    "SOURCE_NAMES",
    "Dataset",
    "FeatureFileError",
    "FeatureSet",
    "FeatureValidationError",
    "HashMismatchError",
    "PublicDataUnavailable",
    "UnknownClipError",
    "UnsafePickleError",
    "cache_dir",
    "canonical_clip_id",
    "class_to_value",
    "cs_mage_clip_id",
    "features_from_dict",
    "fetch_all",
    "fetch_public_file",
    "load_dataset",
    "load_features",
    "load_metadata",
    "make_demo",
    "make_demo_metadata",
    "mmsa_bins",
    "fold_name",
    "named_splits",
    "official_folds",
    "paper_split",
    "protocol_splits",
    "safe_load_pickle",
    "save_demo",
    "video_grouped_folds",
    "value_to_class_name",
]
