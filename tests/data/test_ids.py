import pytest

from csmsasr_utils.data.ids import canonical_clip_id, check_known, cs_mage_clip_id, video_of
from csmsasr_utils.errors import UnknownClipError


@pytest.mark.parametrize(
    "raw,expected",
    [
        ("01_0007", "01_0007"),
        ("video_1_7", "01_0007"),
        ("video_27_54", "27_0054"),
        ("video_0012$_$0040", "12_0040"),
        (b"video_3_105", "03_0105"),
        (" 05_0019 ", "05_0019"),
    ],
)
def test_canonical_forms(raw, expected):
    assert canonical_clip_id(raw) == expected


@pytest.mark.parametrize("raw", ["1_7", "video-1-7", "01_07", "", "video_0_1", "abc"])
def test_unreadable_ids_raise(raw):
    with pytest.raises(UnknownClipError, match="cannot read clip id"):
        canonical_clip_id(raw)


def test_round_trip_and_video():
    assert cs_mage_clip_id("01_0007") == "video_1_7"
    assert canonical_clip_id(cs_mage_clip_id("19_0053")) == "19_0053"
    assert video_of("video_9_1") == "09"


def test_check_known_names_unknown_ids():
    check_known(["01_0001"], ["01_0001", "01_0002"])
    with pytest.raises(UnknownClipError, match="99_0001"):
        check_known(["01_0001", "99_0001"], ["01_0001"])
