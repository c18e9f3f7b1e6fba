"""Error-analysis helpers against hand-worked alignments."""

import pytest

from csmsasr_utils.asr import error_analysis as errors


def test_alignment_operations_reconstruct_both_strings():
    ref, hyp = "我今天去长沙吃粉啰", "我明天去长沙吃饭了啊"
    ops = errors.align(ref, hyp)
    assert "".join(r for _, r, _ in ops) == ref and "".join(h for _, _, h in ops) == hyp
    assert sum(op != "equal" for op, _, _ in ops) == 4  # 今→明, 粉→饭, 啰→了, +啊
    assert errors.align("", "好") == [("insert", "", "好")]
    assert errors.align("好", "") == [("delete", "好", "")]


def test_confusions_count_substitutions():
    table = errors.confusions(["长沙话", "长沙"], ["长花话", "长花"])
    assert table.iloc[0].to_dict() == {"reference": "沙", "hypothesis": "花", "count": 2}


def test_character_recall_of_groups():
    refs = ["好啰", "要得啰", "嘞"]
    hyps = ["好了", "要得啰", ""]
    table = errors.character_recall(refs, hyps, {"particles": "啰嘞"})
    assert table.loc["particles", "occurrences"] == 3 and table.loc["particles", "recalled"] == 1
    assert table.loc["other", "recall"] == pytest.approx(3 / 3)


@pytest.mark.parametrize(
    "hyp,ref,expected",
    [
        ("天天天天天天天天天天天天天", "今天天气很好", True),
        ("我们去长沙", "我们去长沙", False),
        ("哈哈哈哈", "哈哈", False),  # repeats but not longer than twice the reference... exactly 2×
        ("谢谢谢谢谢谢谢谢谢谢谢谢", "谢谢", True),
    ],
)
def test_loops(hyp, ref, expected):
    assert errors.is_looping(hyp, ref) is expected


def test_traditional_share():
    assert errors.traditional_share("這是長沙") == pytest.approx(2 / 4)
    assert errors.traditional_share("这是长沙") == 0.0 and errors.traditional_share("") == 0.0


def test_digit_effect():
    table = errors.digit_effect(["二十五岁", "2025年", "好"], ["25岁", "2025年", "好"])
    assert table.loc["reference has digits", "utterances"] == 1
    assert table.loc["hypothesis has digits", "utterances"] == 2
    assert table.loc["digit mismatch", "share"] == pytest.approx(1 / 3)


def test_dialect_character_groups_are_the_markers():
    from csmsasr_utils.dialect import DIALECT_MARKERS

    groups = errors.dialect_character_groups()
    assert list(groups) == ["Changsha particles", "other dialect characters", "Mandarin particles"]
    # by hand from the marker list: the six particles, the four one-character dialect words
    assert groups["Changsha particles"] == "啰嘞噻咯咧哒"
    assert groups["other dialect characters"] == "冇伢蛮策"
    assert groups["Mandarin particles"] == "啊的了呢吧嘛吗呀"
    single = {m.form for m in DIALECT_MARKERS if len(m.form) == 1}
    assert set(groups["Changsha particles"] + groups["other dialect characters"]) == single


def test_recall_by_run_stacks_runs():
    import pandas as pd

    runs = {
        "greedy": pd.DataFrame({"reference": ["好啰", "要得啰"], "hypothesis": ["好了", "要得啰"]}),
        "beam": pd.DataFrame({"reference": ["好啰", "要得啰"], "hypothesis": ["好啰", "要的"]}),
    }
    table = errors.recall_by_run(runs, {"particles": "啰"})
    assert table.index.names == ["decoding", None]
    # greedy: 啰 recalled once of twice, 好要得 all three; beam: 啰 once, 好要 of 好要得
    assert table.loc[("greedy", "particles"), "recalled"] == 1 and table.loc[("greedy", "other"), "recall"] == 1.0
    assert table.loc[("beam", "particles"), "recall"] == pytest.approx(1 / 2)
    assert table.loc[("beam", "other"), "recall"] == pytest.approx(2 / 3)
    from csmsasr_utils.errors import CsmsasrError

    with pytest.raises(CsmsasrError, match="at least one run"):
        errors.recall_by_run({}, {"particles": "啰"})
