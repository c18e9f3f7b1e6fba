"""A Sphinx extension of this book: the offline search finds Chinese characters one by one.

**Why.** Sphinx's search (``searchindex.js`` + ``searchtools.js``) runs in the reader's browser,
offline. Its default (English) splitter cuts text at non-word characters, so a run of Chinese
characters is one "word": the glossary's ``咯`` inside ``好咯`` or a sentence is not found when a
reader searches for ``咯``. Sphinx's own Chinese support (``html_search_language: zh``) segments
with jieba, but drops every one-character word from the index (``len(word) > 1``) — exactly the
dialect particles (啰 嘞 咯) a reader of this book looks up — and jieba's words need not match
what a reader types.

**What.** :class:`SearchHanCharacters` replaces Sphinx's ``zh`` search language (the book sets
``html_search_language: zh`` in ``_config.yml``): every Han character is a term of its own, in the
index (Python, :meth:`SearchHanCharacters.split`) and in the query (the JavaScript ``splitQuery``
of ``language_data.js``, :data:`JS_SPLITTER`), with the same character ranges on both sides. A
query of several characters finds the pages holding all of them (Sphinx's search requires every
term). Latin words are split, stemmed and filtered as by Sphinx's English search, so
"Krippendorff" or "agreement" are found as before.
"""

from __future__ import annotations

import re

from sphinx.search.en import SearchEnglish

# CJK Unified Ideographs: extension A, the basic block, compatibility ideographs, extensions B–F.
HAN_RANGES = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
HAN_RANGES_ASTRAL_PY = r"\U00020000-\U0002fa1f"
HAN_RANGES_ASTRAL_JS = r"\u{20000}-\u{2fa1f}"
HAN_CHARACTER = re.compile(f"([{HAN_RANGES}{HAN_RANGES_ASTRAL_PY}])")

# The query side: Sphinx's default splitter (searchtools.js), then each Han character apart.
JS_SPLITTER = (
    "var splitQuery = (query) => query\n"
    "  .split(/[^\\p{Letter}\\p{Number}_\\p{Emoji_Presentation}]+/gu)\n"
    f"  .flatMap((word) => word.split(/([{HAN_RANGES}{HAN_RANGES_ASTRAL_JS}])/u))\n"
    "  .filter((term) => term);\n"
)


class SearchHanCharacters(SearchEnglish):
    """Sphinx search language ``zh``: English words, and every Han character as a term."""

    lang = "zh"
    language_name = "Chinese"
    js_splitter_code = JS_SPLITTER

    def split(self, input: str) -> list[str]:
        """The words of ``input`` (``\\w+`` runs, as Sphinx's default), each run cut around its Han
        characters: ``"好咯ok"`` gives ``["好", "咯", "ok"]``."""
        return [term for word in self._word_re.findall(input) for term in HAN_CHARACTER.split(word) if term]

    def word_filter(self, word: str) -> bool:
        """Index every Han character, even alone (Sphinx's Chinese search drops one-character
        words); other words as Sphinx's English search does."""
        return bool(HAN_CHARACTER.fullmatch(word)) or super().word_filter(word)


def setup(app):
    app.add_search_language(SearchHanCharacters)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
