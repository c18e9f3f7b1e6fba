"""The book's results files (book/_ext/result_tables.py): what a notebook's outputs become.

The unit tests build small notebooks with nbformat and need no Sphinx; one slow test builds a tiny
Jupyter Book with the extension to check it writes ``_build/results/<page>.json``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

REPO = Path(__file__).resolve().parents[1]
EXTENSION = REPO / "book" / "_ext" / "result_tables.py"


def _load_extension():
    spec = importlib.util.spec_from_file_location("result_tables", EXTENSION)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


result_tables = _load_extension()

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="


def styler_html(uuid: str = "3ffc4", value: str = "0.75") -> str:
    """A table as pandas' Styler writes it: a random uuid in its ids, a style block, a caption."""
    return f"""<style type="text/css">
#T_{uuid}_row0_col1 {{ background-color: #ffcc00; }}
</style>
<table id="T_{uuid}">
  <caption>Accuracy — synthetic demo data (not results)</caption>
  <thead>
    <tr>
      <th class="blank level0" >&nbsp;</th>
      <th id="T_{uuid}_level0_col0" class="col_heading level0 col0" >model</th>
      <th id="T_{uuid}_level0_col1" class="col_heading level0 col1" >Mult_acc_2</th>
    </tr>
  </thead>
  <tbody>
    <tr>
      <th id="T_{uuid}_level0_row0" class="row_heading level0 row0" >0</th>
      <td id="T_{uuid}_row0_col0" class="data row0 col0" >TFN</td>
      <td id="T_{uuid}_row0_col1" class="data row0 col1" >{value}</td>
    </tr>
  </tbody>
</table>
"""


FRAME_HTML = """<div>
<style scoped>
    .dataframe tbody tr th { vertical-align: top; }
</style>
<table border="1" class="dataframe">
  <thead>
    <tr style="text-align: right;"><th></th><th>clips</th><th>mean
      duration</th></tr>
  </thead>
  <tbody>
    <tr><th>train</th><td>868</td><td>3.6</td></tr>
    <tr><th>test</th><td>109</td><td>3.5</td></tr>
  </tbody>
</table>
</div>"""


def example_notebook(uuid: str = "3ffc4", value: str = "0.75"):
    """A notebook holding every kind of output the book's chapters produce, and some they should not."""
    return new_notebook(
        cells=[
            new_markdown_cell("# A chapter\n\nText, not a result."),
            new_code_cell(
                "print('hello'); warnings.warn('careful'); styled",
                outputs=[
                    new_output("stream", name="stdout", text="hello\n"),
                    new_output("stream", name="stderr", text="UserWarning: careful\n"),
                    new_output(
                        "execute_result",
                        execution_count=1,
                        data={
                            "text/html": styler_html(uuid, value),
                            "text/plain": "<pandas.io.formats.style.Styler at 0x7f3a2c1d9e50>",
                        },
                    ),
                ],
            ),
            new_code_cell("import numpy as np", outputs=[]),
            new_code_cell(
                "display(frame); plt.show(); {'MAE': 0.3}",
                outputs=[
                    new_output("display_data", data={"text/html": FRAME_HTML, "text/plain": "       clips ..."}),
                    new_output(
                        "display_data", data={"image/png": PNG, "text/plain": "<Figure size 640x480 with 1 Axes>"}
                    ),
                    new_output("execute_result", execution_count=3, data={"text/plain": "{'MAE': 0.3}"}),
                ],
            ),
            new_markdown_cell("More text."),
            new_code_cell(
                "fig = plt.figure(); fig; 1 / 0",
                outputs=[
                    new_output("display_data", data={"text/plain": "<Figure size 800x600 with 2 Axes>"}),
                    new_output(
                        "error",
                        ename="ZeroDivisionError",
                        evalue="division by zero",
                        traceback=["Traceback ...", "ZeroDivisionError: division by zero"],
                    ),
                ],
            ),
        ]
    )


EXPECTED = [
    {"cell": 0, "kind": "text", "content": "hello\n"},
    {
        "cell": 0,
        "kind": "table",
        "content": [
            {
                "caption": "Accuracy — synthetic demo data (not results)",
                "rows": [["", "model", "Mult_acc_2"], ["0", "TFN", "0.75"]],
            }
        ],
    },
    {
        "cell": 2,
        "kind": "table",
        "content": [
            {
                "caption": None,
                "rows": [["", "clips", "mean duration"], ["train", "868", "3.6"], ["test", "109", "3.5"]],
            }
        ],
    },
    {"cell": 2, "kind": "text", "content": "{'MAE': 0.3}"},
    {"cell": 3, "kind": "error", "content": {"ename": "ZeroDivisionError", "evalue": "division by zero"}},
]


def test_every_kind_of_output_becomes_the_expected_entry():
    assert result_tables.notebook_results(example_notebook()) == EXPECTED


def test_a_notebook_file_gives_the_same_results_as_its_dictionary(tmp_path):
    path = tmp_path / "chapter.ipynb"
    nbformat.write(example_notebook(), path)
    assert result_tables.notebook_results(path) == EXPECTED
    assert result_tables.notebook_results(str(path)) == EXPECTED
    assert result_tables.notebook_results(json.loads(path.read_text(encoding="utf-8"))) == EXPECTED


def test_table_ids_do_not_change_the_results_but_a_value_does():
    first = result_tables.notebook_results(example_notebook(uuid="3ffc4"))
    assert result_tables.notebook_results(example_notebook(uuid="a91d0")) == first
    assert result_tables.dumps(result_tables.notebook_results(example_notebook(uuid="a91d0"))) == result_tables.dumps(
        first
    )
    changed = result_tables.notebook_results(example_notebook(uuid="3ffc4", value="0.76"))
    assert changed != first
    assert changed[1]["content"][0]["rows"][1] == ["0", "TFN", "0.76"]


def _executed_notebook(*chunks: str):
    """A notebook of one cell whose prints came from the kernel as these stdout chunks, with a
    stderr chunk (a warning) between the first two, and a second cell printing once."""
    outputs = [new_output("stream", name="stdout", text=c) for c in chunks]
    outputs.insert(1, new_output("stream", name="stderr", text="a warning\n"))
    return new_notebook(
        cells=[
            new_code_cell("print(...)", outputs=outputs),
            new_code_cell("print(...)", outputs=[new_output("stream", name="stdout", text="next cell\n")]),
        ]
    )


def test_printed_text_split_into_chunks_gives_the_same_results():
    """The kernel may send one print as several stdout chunks (timing): the entries are the same.
    The warning between the chunks (stderr) is dropped, and does not break the printed text."""
    whole = result_tables.notebook_results(_executed_notebook("Insight: the probe reads the video.\n", "\n"))
    split = result_tables.notebook_results(_executed_notebook("Insight: the probe ", "reads the video.\n", "\n"))
    assert (
        whole
        == split
        == [
            {"cell": 0, "kind": "text", "content": "Insight: the probe reads the video.\n"},
            {"cell": 1, "kind": "text", "content": "next cell\n"},
        ]
    )


def _printed_results(*outputs_per_cell: list[str]) -> list[dict]:
    """The results of a notebook of one cell per list, each printing its list's stdout chunks."""
    cells = [
        new_code_cell("...", outputs=[new_output("stream", name="stdout", text=t) for t in texts])
        for texts in outputs_per_cell
    ]
    return result_tables.notebook_results(new_notebook(cells=cells))


def test_a_stray_newline_in_any_cell_changes_no_result():
    """A whitespace-only stdout chunk (a native library's newline, forwarded whenever it is flushed)
    is no result, wherever it lands: after a print, alone in a cell, or between a print's text and
    its own newline."""

    results = _printed_results
    clean = results(["total: 3\n"], ["loops: 0 of 16\n"])
    assert results(["total: 3\n", "\n"], ["loops: 0 of 16\n"]) == clean
    assert results(["total: 3\n"], ["\n", "loops: 0 of 16\n", " \n"]) == clean
    assert results(["total: 3\n"], ["loops: 0 of 16", "\n", "\n"]) == clean  # the stray one after print's own
    assert results(["\n"], ["total: 3\n"], ["loops: 0 of 16\n"]) == [
        {**entry, "cell": entry["cell"] + 1} for entry in clean
    ]  # a cell with nothing but the stray newline has no entry
    assert results(["total: 3\n"], ["loops: 1 of 16\n"]) != clean  # a value still counts


def test_a_print_whose_newline_came_as_its_own_chunk_gives_the_same_results():
    """``print`` writes its text, then its ``"\\n"``; a flush between the two (the kernel flushes
    every 0.2 s, a busy machine stalls it) makes them two chunks. CI, three builds on 2 cores, had
    ``"greedy hypotheses caught in a loop: 0 of 16"`` then ``"\\n"`` in one build, one chunk in the
    other: the text differed by its final newline. A chunk of whitespace only may also sit between
    two prints, where it is the first one's newline and may not be dropped."""

    def results(*chunks):
        return _printed_results(list(chunks))

    whole = results("greedy hypotheses caught in a loop: 0 of 16\n")
    assert results("greedy hypotheses caught in a loop: 0 of 16", "\n") == whole
    assert whole == [{"cell": 0, "kind": "text", "content": "greedy hypotheses caught in a loop: 0 of 16\n"}]
    two_prints = results("clips: 16\nloops: 0\n")
    assert results("clips: 16", "\n", "loops: 0", "\n") == two_prints
    assert results("clips: 16", "\n", "loops: 0\n") == two_prints
    assert two_prints[0]["content"] == "clips: 16\nloops: 0\n"  # two lines, not "clips: 16loops: 0"


def test_tables_text_only_of_every_table_in_an_output():
    html = (
        "<p>before</p><table><tr><td>a &amp; b</td><td>x<br>y</td></tr></table>"
        "<script>var t = '<table>';</script>"
        "<table><caption> Second\n table </caption><tr><th>cell with <b>bold</b></th>"
        "<td><table><tr><td>inner</td></tr></table></td></tr></table>"
    )
    assert result_tables.html_tables(html) == [
        {"caption": None, "rows": [["a & b", "x y"]]},
        {"caption": "Second table", "rows": [["cell with bold", ""]]},
        {"caption": None, "rows": [["inner"]]},
    ]


def test_results_file_text_is_sorted_indented_utf8_with_a_final_newline():
    text = result_tables.dumps([{"kind": "text", "cell": 0, "content": "κ = 0.51\n"}])
    assert text == '[\n {\n  "cell": 0,\n  "content": "κ = 0.51\\n",\n  "kind": "text"\n }\n]\n'


def _fake_app(outdir: Path, pages: list[str], fmt: str = "html") -> SimpleNamespace:
    return SimpleNamespace(
        outdir=str(outdir), env=SimpleNamespace(found_docs=set(pages)), builder=SimpleNamespace(format=fmt)
    )


def test_build_finished_writes_one_file_per_executed_page_and_removes_stale_ones(tmp_path):
    build = tmp_path / "_build"
    executed = build / "jupyter_execute" / "notebooks" / "01_chapter.ipynb"
    executed.parent.mkdir(parents=True)
    nbformat.write(example_notebook(), executed)
    stale = build / "results" / "notebooks" / "00_removed.json"
    stale.parent.mkdir(parents=True)
    stale.write_text("[]\n", encoding="utf-8")
    app = _fake_app(build / "html", ["notebooks/01_chapter", "book/intro"])  # intro: not a notebook

    result_tables.write_result_files(app, RuntimeError("build failed"))
    result_tables.write_result_files(_fake_app(build / "latex", app.env.found_docs, fmt="latex"), None)
    assert [p.name for p in (build / "results").rglob("*.json")] == ["00_removed.json"]

    result_tables.write_result_files(app, None)
    written = build / "results" / "notebooks" / "01_chapter.json"
    assert sorted((build / "results").rglob("*.json")) == [written]
    assert json.loads(written.read_text(encoding="utf-8")) == EXPECTED
    assert written.read_text(encoding="utf-8") == result_tables.dumps(EXPECTED)


MYST_NOTEBOOK = """---
jupytext:
  text_representation:
    extension: .md
    format_name: myst
kernelspec:
  display_name: Python 3
  language: python
  name: python3
---

# Tiny chapter

```{code-cell} ipython3
print("hello from the tiny book")
```

```{code-cell} ipython3
import pandas as pd

pd.DataFrame({"clips": [868, 109], "split": ["train", "test"]})
```

```{code-cell} ipython3
import sys

print("κ(M, T): 0.5096")
sys.stdout.flush()  # the kernel sends what was printed so far: the next lines are a second chunk
print("κ(M, V): 0.2160")
print("(labels: demo)")
```
"""


@pytest.mark.slow
def test_a_tiny_book_build_writes_its_results_file(tmp_path):
    book = tmp_path / "book"
    (book / "chapters").mkdir(parents=True)
    (book / "index.md").write_text("# Tiny book\n\nNo code here.\n", encoding="utf-8")
    (book / "chapters" / "tiny.md").write_text(MYST_NOTEBOOK, encoding="utf-8")
    (book / "_toc.yml").write_text(
        "format: jb-book\nroot: index\nchapters:\n  - file: chapters/tiny\n", encoding="utf-8"
    )
    (book / "_config.yml").write_text(
        "title: Tiny\nonly_build_toc_files: true\nexecute:\n  execute_notebooks: force\n"
        f"sphinx:\n  local_extensions:\n    result_tables: {EXTENSION.parent}\n"
        "  config:\n    nb_merge_streams: true\n",  # as the book: one block of printed text per cell
        encoding="utf-8",
    )
    jb = Path(sys.executable).with_name("jupyter-book")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CSMSASR_")}
    result = subprocess.run(
        [str(jb), "build", str(book), "--path-output", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"

    results = tmp_path / "out" / "_build" / "results"
    assert sorted(p.relative_to(results).as_posix() for p in results.rglob("*.json")) == ["chapters/tiny.json"]
    assert json.loads((results / "chapters" / "tiny.json").read_text(encoding="utf-8")) == [
        {"cell": 0, "kind": "text", "content": "hello from the tiny book\n"},
        {
            "cell": 1,
            "kind": "table",
            "content": [
                {
                    "caption": None,
                    "rows": [["", "clips", "split"], ["0", "868", "train"], ["1", "109", "test"]],
                }
            ],
        },
        {"cell": 2, "kind": "text", "content": "κ(M, T): 0.5096\nκ(M, V): 0.2160\n(labels: demo)\n"},  # once
    ]


def _render(notebook, coalesce_streams) -> list[list[dict]]:
    """What MyST-NB's renderer does with each code cell's outputs when ``nb_merge_streams`` is on
    (``myst_nb.core.render``: ``outputs = coalesce_streams(outputs)``); returns what the page shows."""
    return [coalesce_streams(cell.outputs) for cell in notebook.cells if cell.cell_type == "code"]


def test_myst_nb_on_its_own_doubles_the_chunks_the_page_merges():
    """The cause of two builds' results differing under load (CI): MyST-NB 1.4.0 merges the stream
    outputs in place, so the notebook it writes afterwards holds the later chunks twice. If this
    test fails, MyST-NB no longer does that and ``merge_streams_on_copies`` may go."""
    from myst_nb.core.utils import coalesce_streams

    notebook = _executed_notebook("κ(M, T): 0.5096\n", "(labels: demo)\n")
    _render(notebook, coalesce_streams)
    assert result_tables.notebook_results(notebook)[0]["content"] == (
        "κ(M, T): 0.5096\n(labels: demo)\n(labels: demo)\n"
    )


def test_merging_on_copies_keeps_the_written_notebook_and_the_page_as_the_kernel_sent_them():
    from myst_nb.core.utils import coalesce_streams

    merge = result_tables.merge_streams_on_copies(coalesce_streams)
    one_chunk = _executed_notebook("κ(M, T): 0.5096\n(labels: demo)\n")
    two_chunks = _executed_notebook("κ(M, T): 0.5096\n", "(labels: demo)\n")
    cut_in_a_line = _executed_notebook("κ(M, T): ", "0.5096\n(labels: demo)\n")
    before = [json.dumps(nb, sort_keys=True) for nb in (one_chunk, two_chunks, cut_in_a_line)]
    pages = [_render(nb, merge) for nb in (one_chunk, two_chunks, cut_in_a_line)]

    # the notebooks MyST-NB goes on to write are untouched
    assert [json.dumps(nb, sort_keys=True) for nb in (one_chunk, two_chunks, cut_in_a_line)] == before
    # the page: one stdout block per cell, each line once, however the prints were chunked
    # (MyST-NB alone breaks the line where a flush cut it: "κ(M, T):\n0.5096")
    assert pages[0] == pages[1] == pages[2]
    shown = [(o["output_type"], o["name"], o["text"]) for o in pages[0][0]]
    assert shown == [("stream", "stdout", "κ(M, T): 0.5096\n(labels: demo)\n"), ("stream", "stderr", "a warning\n")]
    assert coalesce_streams(_executed_notebook("κ(M, T): ", "0.5096\n").cells[0].outputs)[0]["text"] == (
        "κ(M, T):\n0.5096\n"
    )
    # the results files: the same entries from each, each line once
    results = [result_tables.notebook_results(nb) for nb in (one_chunk, two_chunks, cut_in_a_line)]
    assert (
        results[0]
        == results[1]
        == results[2]
        == [
            {"cell": 0, "kind": "text", "content": "κ(M, T): 0.5096\n(labels: demo)\n"},
            {"cell": 1, "kind": "text", "content": "next cell\n"},
        ]
    )


def test_a_line_printed_twice_stays_twice_and_blank_lines_are_no_result():
    """A repeated line is a result (the code printed it twice); blank lines are not."""

    def results(*texts, table=None):
        outputs = [new_output("stream", name="stdout", text=t) for t in texts]
        if table is not None:
            outputs.append(new_output("display_data", data={"text/html": table, "text/plain": "t"}))
        return result_tables.notebook_results(new_notebook(cells=[new_code_cell("...", outputs=outputs)]))

    once = results("where: {'落': 2}\n", "clips: 16\n")
    assert once == [{"cell": 0, "kind": "text", "content": "where: {'落': 2}\nclips: 16\n"}]
    assert results("where: {'落': 2}\n\nclips: 16\n\n") == once
    assert results("where: {'落': 2}\n", "clips: 16\n", "clips: 16\n") != once
    assert results("where: {'落': 2}\n", "clips: 17\n") != once
    table = "<table><tr><td>0.5</td></tr></table>"
    assert results("clips: 16\n", table=table) != results("clips: 16\n", table=table.replace("0.5", "0.6"))


def test_the_extension_installs_the_merge_once():
    from myst_nb.core import render

    original = render.coalesce_streams
    try:
        app = SimpleNamespace(connect=lambda *args: None)
        result_tables.setup(app)
        installed = render.coalesce_streams
        result_tables.setup(app)  # a second build in the same process
        assert installed is render.coalesce_streams
        unwrapped = getattr(installed, "__wrapped__", None)
        assert unwrapped is not None and not hasattr(unwrapped, "__wrapped__")
    finally:
        render.coalesce_streams = original
