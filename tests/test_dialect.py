"""The dialect markers: counts checked by hand on a tiny table, kinds checked against the glosses."""

from __future__ import annotations

import pandas as pd
import pytest

from csmsasr_utils import dialect


@pytest.fixture
def tiny():
    return pd.DataFrame(
        {
            "clip_id": ["01_0001", "01_0002", "02_0001", "02_0002", "02_0003"],
            "text": ["好啰", "要得 啰啰", "冇得事嘞", "嘞", "晓得"],
        }
    )


def test_marker_frequencies(tiny):
    markers = dialect.marker_frequencies(tiny).set_index("marker")
    assert markers.loc["啰", "occurrences"] == 3 and markers.loc["啰", "n_clips"] == 2
    assert markers.loc["嘞", "example"] == "嘞" and markers.loc["嘞", "example_clip"] == "02_0002"
    assert markers.loc["冇", "n_clips"] == 1 and markers.loc["要得", "share_clips"] == pytest.approx(0.2)
    assert markers.loc["咧", "n_clips"] == 0 and markers.loc["咧", "example"] == ""


def test_marker_count_skips_excluded_mandarin_words():
    frame = pd.DataFrame(
        {"clip_id": ["01_0001", "01_0002", "01_0003"], "text": ["国家政策好", "莫策哒，政策", "决策策略"]}
    )
    table = dialect.marker_frequencies(frame, [m for m in dialect.DIALECT_MARKERS if m.form == "策"]).iloc[0]
    # by hand: only the 策 of 莫策哒 is the dialect word
    assert table["occurrences"] == 1 and table["n_clips"] == 1 and table["example_clip"] == "01_0002"
    plain = dialect.DialectMarker("策", "ce", "no exclusions")
    assert sum(plain.count(t) for t in frame["text"]) == 5


def test_marker_frequencies_reports_the_kind(tiny):
    markers = dialect.marker_frequencies(tiny).set_index("marker")
    assert markers.loc["啰", "kind"] == "particle" and markers.loc["冇", "kind"] == "word"


def test_every_marker_has_a_known_kind_and_a_unique_form():
    forms = [m.form for m in dialect.DIALECT_MARKERS]
    assert len(forms) == len(set(forms))
    assert {m.kind for m in dialect.DIALECT_MARKERS} == {"particle", "word"}


def test_marker_forms_select_by_kind_and_length():
    # by hand from the list: the six particles, then the four one-character dialect words
    assert dialect.marker_forms("particle") == ("啰", "嘞", "噻", "咯", "咧", "哒")
    assert dialect.marker_forms("word", single_character=True) == ("冇", "伢", "蛮", "策")
    single = dialect.marker_forms(single_character=True)
    assert len(single) == 10 and set(single) == set(dialect.marker_forms("particle")) | {"冇", "伢", "蛮", "策"}
    assert dialect.marker_forms() == tuple(m.form for m in dialect.DIALECT_MARKERS)
    # the kind is not the gloss: 咯's gloss does not start with "final particle", 冇's does not mention one
    assert "咯" in dialect.marker_forms("particle") and "冇" not in dialect.marker_forms("particle")
