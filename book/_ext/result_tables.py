"""A Sphinx extension of this book: each chapter's results as a plain JSON file, to compare builds.

**Why.** A build of the book must be reproducible: building it twice gives the same numbers. The
HTML pages cannot show that — they differ between builds for reasons that are not results (pandas
Styler puts a random uuid in every table's ids and classes, Sphinx and the theme add build-specific
markup). So the results are written a second time, as data: for each executed chapter,
``_build/results/<page>.json`` holds every output of its code cells, in order, with what is not a
result left out. Two builds are reproducible when these files are identical (``tests/test_book.py``).

**What.** MyST-NB writes each executed notebook to ``_build/jupyter_execute/<page>.ipynb``; at the
end of an HTML build, :func:`write_result_files` turns each into a list of entries
``{"cell": i, "kind": ..., "content": ...}``, ``i`` counting the code cells only
(:func:`notebook_results`, usable without Sphinx):

* ``"table"`` — a rich output whose ``text/html`` holds a ``<table``: the list of its tables, each
  ``{"caption": text or null, "rows": [[cell text, ...], ...]}`` with the text of every ``th``/``td``
  (whitespace collapsed). Attributes, styles and scripts are dropped.
* ``"text"`` — any other rich output's ``text/plain``, and the standard output (``stdout`` streams).
  Images and matplotlib's ``<Figure size … with … Axes>`` placeholders are left out, and so are
  ``stderr`` streams (warnings, progress bars). A cell's consecutive stdout chunks are joined, and
  the joined text is kept line by line without its blank lines and with one final newline
  (:func:`printed_text`), so that nothing depends on where the kernel cut the stream: it flushes
  every 0.2 s, and under load a flush can fall between the two writes of one ``print`` (its text,
  then its ``"\\n"``), which arrive as two chunks (CI, three builds on 2 cores:
  ``"greedy hypotheses caught in a loop: 0 of 16"`` then ``"\\n"``). The kernel also forwards what
  native libraries write to the process's standard output, from a thread of its own, so a stray
  newline of theirs lands in whichever cell runs when it is flushed (seen in two demo builds
  running side by side: one newline, in chapter 4 in one build and in chapter 5 in the other): a
  blank line, dropped, or a cell whose printed text is blank, no result.
* ``"error"`` — ``{"ename": ..., "evalue": ...}`` of an error output (the book's build fails on
  those anyway).

The files are written sorted and indented, one value a line where possible, so they diff nicely.

**The notebook the results are read from.** MyST-NB's ``nb_merge_streams`` (on in this book: a
page shows one block of printed text per cell, however the kernel chunked it) merged the stream
outputs *in place* (``myst_nb.core.utils.coalesce_streams``, MyST-NB 1.4.0): the cell's first
stdout output became the merged text and the later chunks stayed, so the notebook written to
``_build/jupyter_execute`` held every chunk after the first twice: once merged, once as itself.
How the kernel chunks a cell's prints depends on timing (it flushes every 0.2 s), so under load
the results of two builds differed: ``"p_o …\nκ …\n(labels …)\nκ …\n(labels …)\n"`` in one, each line once in the other
(CI, three builds on 2 cores). :func:`setup` therefore installs :func:`merge_streams_on_copies`,
which merges copies: the page shows the same merged text, and the written notebook keeps the
kernel's outputs as they came.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

RICH_OUTPUTS = ("execute_result", "display_data")
FIGURE_REPR = re.compile(r"<Figure size \d+(\.\d+)?x\d+(\.\d+)? with \d+ Axes>")


def _text(value: str | list[str] | None) -> str:
    """A notebook text field, which nbformat stores as a string or a list of lines."""
    if value is None:
        return ""
    return value if isinstance(value, str) else "".join(value)


def _collapse(text: str) -> str:
    """Whitespace runs as one space, stripped: how a browser shows a table cell's text."""
    return " ".join(text.split())


class _TableText(HTMLParser):
    """Collect the caption and the cell texts of every ``<table>`` of an HTML fragment.

    Only text matters: tags' attributes are never read, and the content of ``<style>`` and
    ``<script>`` is skipped. A table nested in a cell is a table of its own, and its text is not part
    of the outer cell.
    """

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[dict[str, Any]] = []
        self._open: list[dict[str, Any]] = []  # tables being read, innermost last
        self._skip = 0  # depth inside <style>/<script>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("style", "script"):
            self._skip += 1
        elif tag == "table":
            table = {"caption": None, "rows": [], "_row": None, "_cell": None, "_caption": None}
            self.tables.append(table)  # in document order of the opening tags
            self._open.append(table)
        elif self._open:
            table = self._open[-1]
            if tag == "tr":
                self._end_row(table)
                table["_row"] = []
            elif tag in ("th", "td"):
                self._end_cell(table)
                if table["_row"] is None:  # a cell outside any <tr>
                    table["_row"] = []
                table["_cell"] = []
            elif tag == "caption":
                table["_caption"] = []
            elif tag == "br" and table["_cell"] is not None:
                table["_cell"].append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("style", "script"):
            self._skip = max(0, self._skip - 1)
        elif not self._open:
            return
        elif tag == "table":
            self._end_row(self._open[-1])
            self._finish(self._open.pop())
        else:
            table = self._open[-1]
            if tag == "tr":
                self._end_row(table)
            elif tag in ("th", "td"):
                self._end_cell(table)
            elif tag == "caption" and table["_caption"] is not None:
                table["caption"] = _collapse("".join(table["_caption"]))
                table["_caption"] = None

    def handle_data(self, data: str) -> None:
        if self._skip or not self._open:
            return
        table = self._open[-1]
        if table["_cell"] is not None:
            table["_cell"].append(data)
        elif table["_caption"] is not None:
            table["_caption"].append(data)

    @staticmethod
    def _end_cell(table: dict[str, Any]) -> None:
        if table["_cell"] is not None:
            table["_row"].append(_collapse("".join(table["_cell"])))
            table["_cell"] = None

    def _end_row(self, table: dict[str, Any]) -> None:
        self._end_cell(table)
        if table["_row"] is not None:
            table["rows"].append(table["_row"])
            table["_row"] = None

    def close(self) -> None:
        super().close()
        while self._open:  # tables left open by a truncated fragment
            table = self._open.pop()
            self._end_row(table)
            self._finish(table)

    @staticmethod
    def _finish(table: dict[str, Any]) -> None:
        if table["_caption"] is not None:
            table["caption"] = _collapse("".join(table["_caption"]))
        for key in ("_row", "_cell", "_caption"):
            del table[key]


def html_tables(html: str) -> list[dict[str, Any]]:
    """The tables of an HTML fragment: ``[{"caption": str | None, "rows": [[str, ...], ...]}, ...]``."""
    parser = _TableText()
    parser.feed(html)
    parser.close()
    return parser.tables


def _is_figure(data: Mapping[str, Any]) -> bool:
    """Whether a rich output is a picture: an image, or matplotlib's text stand-in for a figure."""
    if any(mime.startswith("image/") for mime in data):
        return True
    return bool(FIGURE_REPR.fullmatch(_text(data.get("text/plain")).strip()))


def output_result(output: Mapping[str, Any]) -> tuple[str, Any] | None:
    """``(kind, content)`` of one code cell output, or ``None`` when it is not a result."""
    output_type = output.get("output_type")
    if output_type == "stream":
        return ("text", _text(output.get("text"))) if output.get("name") == "stdout" else None
    if output_type == "error":
        return "error", {"ename": output.get("ename", ""), "evalue": output.get("evalue", "")}
    if output_type not in RICH_OUTPUTS:
        return None
    data = output.get("data", {})
    html = _text(data.get("text/html"))
    if "<table" in html:
        return "table", html_tables(html)
    if _is_figure(data) or "text/plain" not in data:
        return None
    return "text", _text(data["text/plain"])


def printed_text(text: str) -> str:
    """A cell's joined standard output as a result: its lines without the blank ones (a native
    library's stray newline, see the module's documentation), each ending in a newline, repeats
    included; ``""`` when nothing but whitespace was printed. Where the kernel cut the text into
    chunks changes nothing, not even whether the last line's newline came with it.

    >>> printed_text("a: 1\\n\\nb: 2\\n\\nb: 2")
    'a: 1\\nb: 2\\nb: 2\\n'
    """
    return "".join(line + "\n" for line in text.split("\n") if line.strip())


def notebook_results(notebook: str | Path | Mapping[str, Any]) -> list[dict[str, Any]]:
    """The results of an executed notebook (a path, or the nbformat dictionary), in order.

    One ``{"cell": i, "kind": "table" | "text" | "error", "content": ...}`` per output that is a
    result (see the module's documentation); ``i`` is the code cell's index among the code cells.
    Consecutive standard-output chunks of a cell are joined into one entry: the kernel sends printed
    text in chunks whose boundaries depend on timing, so one ``print`` may arrive as one output in
    one build and as two in the next. The joined text is then :func:`printed_text`.
    """
    if not isinstance(notebook, Mapping):
        notebook = json.loads(Path(notebook).read_text(encoding="utf-8"))
    code_cells = [cell for cell in notebook.get("cells", []) if cell.get("cell_type") == "code"]
    results: list[dict[str, Any]] = []
    printed: list[bool] = []  # for each entry: whether it is standard output
    for index, cell in enumerate(code_cells):
        previous_was_stdout = False
        for output in cell.get("outputs", []):
            result = output_result(output)
            if result is None:
                continue
            is_stdout = output.get("output_type") == "stream"
            if is_stdout and previous_was_stdout:
                results[-1]["content"] += result[1]  # whitespace-only chunks too: a print's "\n" may be one
            else:
                results.append({"cell": index, "kind": result[0], "content": result[1]})
                printed.append(is_stdout)
            previous_was_stdout = is_stdout
    for entry, is_stdout in zip(results, printed):
        if is_stdout:
            entry["content"] = printed_text(entry["content"])
    return [entry for entry, is_stdout in zip(results, printed) if entry["content"] or not is_stdout]


def dumps(results: list[dict[str, Any]]) -> str:
    """The results as the text of a results file: sorted keys, indented, UTF-8, final newline."""
    return json.dumps(results, ensure_ascii=False, indent=1, sort_keys=True) + "\n"


def write_result_files(app, exception) -> None:
    """``build-finished`` hook: write ``_build/results/<page>.json`` for each executed notebook.

    Results files of pages that are no longer executed are removed, so the folder always describes
    the last build and two builds can be compared file by file.
    """
    if exception is not None or app.builder.format != "html":
        return
    build = Path(app.outdir).parent
    results_dir = build / "results"
    written = set()
    for pagename in sorted(app.env.found_docs):
        notebook = build / "jupyter_execute" / f"{pagename}.ipynb"
        if notebook.is_file():
            target = results_dir / f"{pagename}.json"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(dumps(notebook_results(notebook)), encoding="utf-8")
            written.add(target)
    for stale in results_dir.rglob("*.json") if results_dir.is_dir() else []:
        if stale not in written:
            stale.unlink()


def merge_streams_on_copies(merge: Callable[[list[Any]], list[Any]]) -> Callable[[list[Any]], list[Any]]:
    """MyST-NB's stream merging (``merge``, which changes the outputs it is given) made to leave
    them alone: it merges shallow copies (a stream's text is a string, so a copy's new text never
    reaches the original), and stream chunks of one name are joined as the kernel sent them before
    ``merge`` sees them — ``merge`` ends each chunk at its last non-blank character, which would put
    a line break wherever a flush cut a line. Why: see the module's documentation.
    """

    def merge_copies(outputs: list[Any]) -> list[Any]:
        first: dict[str, Any] = {}  # stream name → its first output (a copy), which takes the rest
        kept: list[Any] = []
        for output in outputs or []:
            output = copy.copy(output)
            if output.get("output_type") == "stream":
                name = output.get("name")
                if name in first:
                    first[name]["text"] += _text(output.get("text"))  # its text is a string already
                    continue
                output["text"] = _text(output.get("text"))
                first[name] = output
            kept.append(output)
        return merge(kept)

    merge_copies.__wrapped__ = merge  # type: ignore[attr-defined]
    return merge_copies


def setup(app):
    from myst_nb.core import render

    if not hasattr(render.coalesce_streams, "__wrapped__"):  # once per process, however many builds
        render.coalesce_streams = merge_streams_on_copies(render.coalesce_streams)
    app.connect("build-finished", write_result_files)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
