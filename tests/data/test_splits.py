"""The two MSA protocols, against scikit-learn called directly and the published sizes."""

import numpy as np
import pytest
from sklearn.model_selection import train_test_split

from csmsasr_utils.data import make_demo_metadata, official_folds, paper_split
from csmsasr_utils.errors import CsmsasrError


@pytest.fixture(scope="module")
def ids():
    return list(make_demo_metadata()["clip_id"])


def test_paper_split_is_the_documented_two_stage_split(ids):
    split = paper_split(ids)
    assert {k: len(v) for k, v in split.items()} == {"train": 868, "valid": 108, "test": 109}
    train, rest = train_test_split(sorted(ids), test_size=0.2, random_state=42)
    valid, test = train_test_split(rest, test_size=0.5, random_state=42)
    assert list(split["train"]) == list(train)
    assert list(split["valid"]) == list(valid) and list(split["test"]) == list(test)


def test_paper_split_is_deterministic_and_order_free(ids):
    a = paper_split(ids)
    b = paper_split(list(reversed(ids)))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(paper_split(ids, random_state=0)["test"], a["test"])
    assert set().union(*map(set, a.values())) == set(ids)


def test_paper_split_rejects_duplicates():
    with pytest.raises(CsmsasrError, match="unique"):
        paper_split(["01_0001"] * 20)


def test_official_folds_from_real_metadata(public_dir):
    from csmsasr_utils.data import load_metadata

    meta = load_metadata(public_dir)
    folds = official_folds(meta)
    assert len(folds) == 5
    tests = [set(f["test"]) for f in folds]
    assert sum(map(len, tests)) == 1085 and len(set().union(*tests)) == 1085
    for fold in folds:
        assert {k: len(v) for k, v in fold.items()} == {"train": 759, "valid": 109, "test": 217}
        assert not (set(fold["train"]) & set(fold["valid"])) and not (set(fold["valid"]) & set(fold["test"]))


def test_official_folds_need_fold_columns():
    with pytest.raises(CsmsasrError, match="msa_fold1_split"):
        official_folds(make_demo_metadata().drop(columns=["msa_fold1_split"]))


def test_official_folds_share_videos_between_train_and_test(public_dir):
    """The fact that motivates video-grouped folds: every official test video is also trained on."""
    from csmsasr_utils.data import load_metadata

    meta = load_metadata(public_dir).set_index("clip_id")
    for fold in official_folds(meta.reset_index()):
        test_videos = set(meta.loc[fold["test"], "video_id"])
        assert test_videos <= set(meta.loc[fold["train"], "video_id"])


def test_video_grouped_folds_keep_each_video_in_one_role():
    from csmsasr_utils.data import video_grouped_folds

    meta = make_demo_metadata()
    video = meta.set_index("clip_id")["video_id"]
    folds = video_grouped_folds(meta)
    assert len(folds) == 5
    tests = [set(f["test"]) for f in folds]
    assert sum(map(len, tests)) == len(meta) and set().union(*tests) == set(meta["clip_id"])
    for fold in folds:
        roles = {k: set(video.loc[list(v)]) for k, v in fold.items()}
        assert all(roles.values()), "every role has clips"
        assert not roles["train"] & roles["valid"] and not roles["train"] & roles["test"]
        assert not roles["valid"] & roles["test"]
        assert sum(map(len, fold.values())) == len(meta)  # every clip has a role
    # deterministic, and independent of the row order
    again = video_grouped_folds(meta.sample(frac=1.0, random_state=3))
    assert all(np.array_equal(a[k], b[k]) for a, b in zip(folds, again) for k in a)


def test_video_grouped_folds_refuse_too_few_videos():
    from csmsasr_utils.data import video_grouped_folds

    meta = make_demo_metadata()
    few = meta[meta["video_id"].isin(sorted(set(meta["video_id"]))[:4])]
    with pytest.raises(CsmsasrError, match="videos"):
        video_grouped_folds(few)
    with pytest.raises(CsmsasrError, match="video_id"):
        video_grouped_folds(meta.drop(columns="video_id"))


def test_fold_name_spells_the_protocol_splits_numbers():
    from csmsasr_utils.data import fold_name

    assert [fold_name(k) for k in range(6)] == ["paper 8:1:1", "fold 1", "fold 2", "fold 3", "fold 4", "fold 5"]
    assert fold_name(np.int64(2)) == "fold 2"
    for bad in (-1, 1.0, "1", True):
        with pytest.raises(CsmsasrError, match="fold"):
            fold_name(bad)


def test_named_splits_are_the_paper_split_and_the_official_folds():
    from csmsasr_utils.data import named_splits

    meta = make_demo_metadata()
    named = named_splits(meta)
    expected = {"paper 8:1:1": paper_split(meta["clip_id"])}
    for k, fold in enumerate(official_folds(meta), start=1):
        expected[f"fold {k}"] = fold
    assert list(named) == list(expected)
    assert all(np.array_equal(named[n][s], expected[n][s]) for n in expected for s in ("train", "valid", "test"))
