"""load_metadata() against an independent reading of the public files (csv/json, no package code)."""

from __future__ import annotations

import csv
import json
from collections import Counter

import pytest

from csmsasr_utils.data.metadata import METADATA_COLUMNS, load_metadata
from csmsasr_utils.errors import CsmsasrError


@pytest.fixture(scope="module")
def meta(request):
    from tests.conftest import PUBLIC_DIR

    if PUBLIC_DIR is None:
        pytest.skip("real public metadata not found")
    return load_metadata(PUBLIC_DIR)


def test_schema_and_size(meta):
    assert list(meta.columns) == list(METADATA_COLUMNS)
    assert len(meta) == 1085 and meta["clip_id"].is_unique
    assert meta["video_id"].nunique() == 27
    assert meta["clip_id"].is_monotonic_increasing


def test_labels_match_the_fold_files(meta, public_dir):
    with open(public_dir / "cs-mage-splits/msa/fold_3.csv", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    expected = {}
    for row in rows:
        _, video, clip = row["sample_id"].split("_")
        expected[f"{int(video):02d}_{int(clip):04d}"] = (int(row["multimodal_label"]) - 3) / 2
    got = dict(zip(meta["clip_id"], meta["label_m"]))
    assert got == expected
    counts = Counter(int(r["multimodal_label"]) for r in rows)
    assert meta["label_m_class"].value_counts(sort=False).tolist() == [counts[k] for k in range(1, 6)]


def test_durations_are_published_values_and_never_invented(meta, public_dir):
    published = {}
    for name in ("train.jsonl", "val.jsonl"):
        for line in (public_dir / "cs-msasr-lists" / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                record = json.loads(line)
                published[record["key"]] = record["source_len"] / 100
    assert meta["duration_s"].notna().sum() == len(published) == 977
    known = meta.dropna(subset=["duration_s"])
    assert dict(zip(known["clip_id"], known["duration_s"])) == pytest.approx(published)
    assert meta["duration_s"].sum() == pytest.approx(sum(published.values()))
    assert (meta.loc[meta["duration_s"].isna(), "asr_split_original"] == "test").all()


def test_splits_have_the_published_sizes(meta):
    assert meta["asr_split_original"].value_counts().to_dict() == {"train": 869, "val": 108, "test": 108}
    assert meta["asr_split_official"].value_counts().to_dict() == {"train": 760, "validation": 160, "test": 165}
    assert meta["msa_test_fold"].value_counts().sort_index().tolist() == [217] * 5
    for k in range(1, 6):
        roles = meta[f"msa_fold{k}_split"]
        assert roles.value_counts().to_dict() == {"train": 759, "valid": 109, "test": 217}
        assert ((roles == "test") == (meta["msa_test_fold"] == k)).all()


def test_transcripts(meta, public_dir):
    lines = (public_dir / "cs-msasr-lists/all_text.txt").read_text(encoding="utf-8").splitlines()
    raw = dict(line.split(" ", 1) for line in lines if line.strip())
    assert meta.set_index("clip_id")["text"].to_dict() == {k: v.strip() for k, v in raw.items()}
    row = meta.set_index("clip_id").loc["25_0040"]  # "就是我 自己直接讲是不": the space is not a character
    assert row["n_chars"] == len(row["text"].replace(" ", ""))
    assert meta.set_index("clip_id").loc["01_0003", "text_punct"] == "谢谢大家。"


def test_inconsistent_fold_labels_are_refused(public_dir, tmp_path, monkeypatch):
    import shutil

    folder = tmp_path / "public"
    shutil.copytree(public_dir, folder)
    fold = folder / "cs-mage-splits/msa/fold_2.csv"
    fold.chmod(0o644)
    text = fold.read_text(encoding="utf-8").replace("video_1_1,2,train,4", "video_1_1,2,train,5")
    fold.write_text(text, encoding="utf-8")
    from csmsasr_utils.data import sources
    from csmsasr_utils.data.metadata import build_metadata

    # bypass the hash check on purpose: this tests the consistency check behind it
    with pytest.raises(CsmsasrError, match="label"):
        build_metadata(lambda relpath: folder / relpath)
    with pytest.raises(sources.HashMismatchError):
        load_metadata(folder)
