"""How many tokens a recogniser's tokenizer spends on each character of the transcripts.

Whisper writes text as byte-level BPE tokens. A frequent Chinese character of its training data
has a token of its own; a rarer one is written as two or three byte fragments, which the decoder
must produce in the right order, each one from a prior that saw it seldom. The number of tokens
per character is therefore a cheap, audio-free proxy for how foreign a character is to the
model — and the dialect particles of CS-MSASR turn out to be exactly such characters.

Works with any Hugging Face ``tokenizers`` file (``tokenizer.json``), as shipped with the
CTranslate2 Whisper-base folder the book uses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from csmsasr_utils.errors import CsmsasrError
from csmsasr_utils.stats import character_inventory


def load_tokenizer(model_dir: str | Path):
    """The ``tokenizers.Tokenizer`` of a model folder (its ``tokenizer.json``)."""
    path = Path(model_dir) / "tokenizer.json"
    if not path.is_file():
        raise CsmsasrError(f"{path} not found: not a folder with a Hugging Face tokenizer")
    from tokenizers import Tokenizer

    return Tokenizer.from_file(str(path))


def tokens_per_character(characters: Iterable[str], tokenizer) -> pd.Series:
    """The number of tokens ``tokenizer`` needs for each character on its own (no special tokens)."""
    characters = list(dict.fromkeys(characters))
    if any(len(c) != 1 for c in characters):
        raise CsmsasrError("tokens_per_character takes single characters")
    counts = [len(tokenizer.encode(c, add_special_tokens=False).ids) for c in characters]
    return pd.Series(counts, index=pd.Index(characters, name="char"), name="tokens", dtype=int)


def spell_out_costs(characters: Iterable[str], tokenizer) -> str:
    """:func:`tokens_per_character` as one line of text, ``'啰 2, 嘞 2, 啊 1'``, in the given order.

    A figure shows the cost of groups of characters; this line shows it character by character.
    """
    return ", ".join(f"{char} {tokens}" for char, tokens in tokens_per_character(characters, tokenizer).items())


def token_cost_table(texts: Iterable[str], tokenizer, groups: Mapping[str, str]) -> pd.DataFrame:
    """Per group of characters, how costly they are to write, over their occurrences in ``texts``.

    ``groups`` maps a name to a string of characters; the characters of ``texts`` in no group form
    the group ``'all other characters'``. Columns: ``distinct`` characters that occur, their
    ``occurrences``, ``tokens_per_occurrence`` (mean tokens per written character) and
    ``share_multi_token`` (share of occurrences needing more than one token).
    """
    inventory = character_inventory(texts).set_index("char")["count"]
    if inventory.empty:
        raise CsmsasrError("no characters in the texts")
    cost = tokens_per_character(inventory.index, tokenizer)
    grouped = set("".join(groups.values()))
    members = {
        **{name: [c for c in dict.fromkeys(chars) if c in inventory.index] for name, chars in groups.items()},
        "all other characters": [c for c in inventory.index if c not in grouped],
    }
    rows = {}
    for name, chars in members.items():
        weights, tokens = inventory.loc[chars], cost.loc[chars]
        total = int(weights.sum())
        rows[name] = {
            "distinct": len(chars),
            "occurrences": total,
            "tokens_per_occurrence": float((weights * tokens).sum() / total) if total else float("nan"),
            "share_multi_token": float(weights[tokens > 1].sum() / total) if total else float("nan"),
        }
    table = pd.DataFrame(rows).T
    table[["distinct", "occurrences"]] = table[["distinct", "occurrences"]].astype(int)
    table.index.name = "characters"
    return table
