"""The models' (text, audio, vision) sizes are the feature file's, defined once in data.features."""

from csmsasr_utils.data.features import FEATURE_DIMS, MODALITIES, PADDED_LENGTHS
from csmsasr_utils.msa import registry


def test_registry_tuples_follow_the_feature_file_schema():
    assert MODALITIES == ("text", "audio", "vision")
    # BERT 768, MFCC 13, OpenFace 347; padded to 39, 553, 321 frames (the released file)
    assert registry.FEATURE_DIMS == (768, 13, 347) == tuple(FEATURE_DIMS[m] for m in MODALITIES)
    assert registry.SEQ_LENS == (39, 553, 321) == tuple(PADDED_LENGTHS[m] for m in MODALITIES)
