"""Error analysis of ASR output: alignments, confusions, recall of dialect markers, loops.

All functions take *normalised* reference and hypothesis strings (see
:mod:`csmsasr_utils.asr.normalize`), the same ones the CER is computed on.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import jiwer
import pandas as pd

from csmsasr_utils.asr.normalize import traditional_to_simplified
from csmsasr_utils.dialect import marker_forms
from csmsasr_utils.errors import CsmsasrError


def align(reference: str, hypothesis: str) -> list[tuple[str, str, str]]:
    """Character alignment as ``(operation, reference char, hypothesis char)`` triples.

    Operations are ``'equal'``, ``'substitute'``, ``'delete'`` (hypothesis char ``''``) and
    ``'insert'`` (reference char ``''``).

    >>> align("长沙话啰", "长花话")
    [('equal', '长', '长'), ('substitute', '沙', '花'), ('equal', '话', '话'), ('delete', '啰', '')]
    """
    if not hypothesis:
        return [("delete", c, "") for c in reference]
    if not reference:
        return [("insert", "", c) for c in hypothesis]
    out: list[tuple[str, str, str]] = []
    for chunk in jiwer.process_characters(reference, hypothesis).alignments[0]:
        ref = reference[chunk.ref_start_idx : chunk.ref_end_idx]
        hyp = hypothesis[chunk.hyp_start_idx : chunk.hyp_end_idx]
        if chunk.type == "delete":
            out += [("delete", c, "") for c in ref]
        elif chunk.type == "insert":
            out += [("insert", "", c) for c in hyp]
        else:
            out += [(chunk.type, r, h) for r, h in zip(ref, hyp)]
    return out


def confusions(references: Sequence[str], hypotheses: Sequence[str]) -> pd.DataFrame:
    """The most frequent substitutions, with ``reference``, ``hypothesis``, ``count``."""
    counts: Counter[tuple[str, str]] = Counter()
    for ref, hyp in zip(references, hypotheses):
        counts.update((r, h) for op, r, h in align(ref, hyp) if op == "substitute")
    rows = [{"reference": r, "hypothesis": h, "count": n} for (r, h), n in counts.most_common()]
    return pd.DataFrame(rows, columns=["reference", "hypothesis", "count"])


def character_recall(
    references: Sequence[str], hypotheses: Sequence[str], groups: dict[str, Iterable[str]]
) -> pd.DataFrame:
    """Share of reference characters of each group that the alignment marks ``'equal'``.

    ``groups`` maps a name to its characters (e.g. dialect particles); the row ``'other'``
    covers every character in no group. Columns: ``occurrences``, ``recalled``, ``recall``.
    """
    membership = {c: name for name, chars in groups.items() for c in chars}
    seen: Counter[str] = Counter()
    hit: Counter[str] = Counter()
    for ref, hyp in zip(references, hypotheses):
        for op, r, _ in align(ref, hyp):
            if not r:
                continue
            group = membership.get(r, "other")
            seen[group] += 1
            hit[group] += op == "equal"
    rows = {
        name: {
            "occurrences": seen[name],
            "recalled": hit[name],
            "recall": hit[name] / seen[name] if seen[name] else float("nan"),
        }
        for name in [*groups, "other"]
    }
    return pd.DataFrame.from_dict(rows, orient="index")


#: Mandarin's common sentence particles: the control group for the Changsha particles.
MANDARIN_PARTICLES = "啊的了呢吧嘛吗呀"


def dialect_character_groups() -> dict[str, str]:
    """The groups of characters whose recognition the book scores apart, each as one string.

    ``'Changsha particles'`` (the particle markers of :mod:`csmsasr_utils.dialect`), ``'other
    dialect characters'`` (its single-character dialect words) and ``'Mandarin particles'``
    (:data:`MANDARIN_PARTICLES`, the control): the ``groups`` of :func:`character_recall` and of
    :func:`~csmsasr_utils.asr.token_cost.token_cost_table`.
    """
    return {
        "Changsha particles": "".join(marker_forms("particle")),
        "other dialect characters": "".join(marker_forms("word", single_character=True)),
        "Mandarin particles": MANDARIN_PARTICLES,
    }


def recall_by_run(runs: Mapping[str, pd.DataFrame], groups: dict[str, Iterable[str]]) -> pd.DataFrame:
    """:func:`character_recall` of several recogniser runs, stacked: index ``(decoding, group)``.

    ``runs`` maps a name (a decoding, a transcripts file) to its transcripts, with the normalised
    ``reference`` and ``hypothesis`` columns of :func:`~csmsasr_utils.asr.transcribe.read_transcripts`.
    """
    if not runs:
        raise CsmsasrError("recall_by_run needs at least one run")
    return pd.concat(
        {name: character_recall(run["reference"], run["hypothesis"], groups) for name, run in runs.items()},
        names=["decoding"],
    )


_REPEAT = re.compile(r"(.{1,4}?)\1{3,}")


def is_looping(hypothesis: str, reference: str) -> bool:
    """True when the hypothesis repeats a 1–4 character unit 4+ times in a row and is more than
    twice as long as the reference — Whisper's "repetition loop" hallucination.

    >>> is_looping("天天天天天天天天", "今天天气很好")
    False
    >>> is_looping("天天天天天天天天天天天天天天", "今天天气很好")
    True
    """
    return len(hypothesis) > 2 * len(reference) and _REPEAT.search(hypothesis) is not None


def traditional_share(raw_hypothesis: str) -> float:
    """Share of a raw hypothesis's characters that OpenCC's t2s changes (Traditional forms)."""
    if not raw_hypothesis:
        return 0.0
    converted = traditional_to_simplified(raw_hypothesis)
    if len(converted) != len(raw_hypothesis):  # phrase-level conversions may change the length
        return float(converted != raw_hypothesis)
    return sum(a != b for a, b in zip(raw_hypothesis, converted)) / len(raw_hypothesis)


_DIGIT = re.compile(r"[0-9]")


def digit_effect(references: Sequence[str], hypotheses: Sequence[str]) -> pd.DataFrame:
    """Arabic digits on either side: Whisper writes ``25`` where a transcriber wrote 二十五 (or the
    reverse), and each such number costs several edits.

    Rows ``reference``/``hypothesis``: how many utterances contain a digit. Row
    ``digit mismatch``: utterances where exactly one side has digits.
    """
    ref_digits = [bool(_DIGIT.search(r)) for r in references]
    hyp_digits = [bool(_DIGIT.search(h)) for h in hypotheses]
    mismatch = [a != b for a, b in zip(ref_digits, hyp_digits)]
    n = len(ref_digits)
    counts = {
        "reference has digits": sum(ref_digits),
        "hypothesis has digits": sum(hyp_digits),
        "digit mismatch": sum(mismatch),
    }
    return pd.DataFrame({"utterances": counts, "share": {k: v / n if n else float("nan") for k, v in counts.items()}})


def _full_width(char: str) -> str:
    """ASCII letters and digits as full-width forms, so they line up with Chinese characters."""
    return chr(ord(char) + 0xFEE0) if "!" <= char <= "~" else char


def alignment_rows(reference: str, hypothesis: str) -> tuple[str, str, str]:
    """Three aligned lines for display: reference, hypothesis, and the operation marks
    (Ｓ substitution, Ｄ deletion, Ｉ insertion); gaps are shown as ＊.

    >>> alignment_rows("长沙话啰", "长花话")
    ('长沙话啰', '长花话＊', '\u3000Ｓ\u3000Ｄ')
    """
    marks = {"equal": "\u3000", "substitute": "Ｓ", "delete": "Ｄ", "insert": "Ｉ"}
    ops = align(reference, hypothesis)
    ref = "".join(_full_width(r) if r else "＊" for _, r, _ in ops)
    hyp = "".join(_full_width(h) if h else "＊" for _, _, h in ops)
    return ref, hyp, "".join(marks[op] for op, _, _ in ops)


#: Colours of the aligned display: substitution, deletion (reference character missed), insertion.
EDIT_COLOURS: dict[str, str] = {"substitute": "#c44e52", "delete": "#4c72b0", "insert": "#dd8452"}


def alignment_html(reference: str, hypotheses: dict[str, str]) -> str:
    """An HTML table: the reference, then each recogniser's hypothesis aligned to it and coloured.

    Each hypothesis row shows what the recogniser wrote for every reference character: correct
    characters plain, substitutions red, deletions as a blue struck-through reference character,
    insertions orange in brackets. Characters are HTML-escaped.

    >>> html = alignment_html("长沙话啰", {"A": "长花话"})
    >>> "花" in html and "line-through" in html and "啰" in html
    True
    """
    from html import escape

    def cell(op: str, ref: str, hyp: str) -> str:
        if op == "equal":
            return escape(hyp)
        colour = EDIT_COLOURS[op]
        if op == "delete":
            return f'<span style="color:{colour};text-decoration:line-through" title="deleted">{escape(ref)}</span>'
        text = escape(hyp) if op == "substitute" else f"[{escape(hyp)}]"
        return f'<span style="color:{colour};font-weight:bold" title="{op}d">{text}</span>'

    rows = [f"<tr><th style='text-align:left'>reference</th><td style='text-align:left'>{escape(reference)}</td></tr>"]
    for name, hypothesis in hypotheses.items():
        line = "".join(cell(*op) for op in align(reference, hypothesis))
        rows.append(f"<tr><th style='text-align:left'>{escape(name)}</th><td style='text-align:left'>{line}</td></tr>")
    legend = " · ".join(
        f'<span style="color:{c}">{n}</span>'
        for n, c in (
            ("substitution", EDIT_COLOURS["substitute"]),
            ("deletion", EDIT_COLOURS["delete"]),
            ("[insertion]", EDIT_COLOURS["insert"]),
        )
    )
    return f"<table>{''.join(rows)}</table><p style='font-size:0.85em'>{legend}</p>"
