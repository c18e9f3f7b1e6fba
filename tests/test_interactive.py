"""The interactive figures (csmsasr_utils/interactive.py) and the extension that serves plotly.js.

The figures are read back from their HTML, as the browser gets them (the JSON of the
``Plotly.newPlot`` call), and checked against the input data: one point per clip, each clip's
transcript and labels in its hover data, counts and example clips in the confusion cells. Browser
behaviour (hovering) is checked on the built book by tests/test_book.py.
"""

from __future__ import annotations

import base64
import importlib.util
import json
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from csmsasr_utils import interactive
from csmsasr_utils.errors import InvalidArgument, UnknownName

REPO = Path(__file__).resolve().parents[1]


def _metadata(n: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    return pd.DataFrame(
        {
            "clip_id": [f"{i % 3 + 1:02d}_{i:04d}" for i in range(n)],
            "video_id": [f"{i % 3 + 1:02d}" for i in range(n)],
            "text_punct": [f"第{i}句话，长沙话讲得好啰<&>" + "嘞" * (i % 30) for i in range(n)],
            "label_m": rng.choice(values, n),
            "label_t": rng.choice(values, n),
            "label_a": rng.choice(values, n),
            "label_v": [np.nan if i == 0 else 0.5 for i in range(n)],
        }
    )


def _decode(values):
    """A plotly array as sent to the browser: a list, or a base64 typed array (with its shape)."""
    if isinstance(values, dict) and "bdata" in values:
        array = np.frombuffer(base64.b64decode(values["bdata"]), dtype=np.dtype(values["dtype"]))
        if "shape" in values:
            array = array.reshape([int(size) for size in str(values["shape"]).split(",")])
        return array.tolist()
    return values


def _plot_call(html: str, div_id: str) -> tuple[list, dict, dict]:
    """(data, layout, config) of the page's ``Plotly.newPlot("<div_id>", data, layout, config)``."""
    start = re.search(r'Plotly\.newPlot\(\s*"' + re.escape(div_id) + r'",\s*', html)
    assert start, "no Plotly.newPlot call for " + div_id
    decoder, position, values = json.JSONDecoder(), start.end(), []
    for _ in range(3):
        value, position = decoder.raw_decode(html, position)
        values.append(value)
        position = re.compile(r"\s*,?\s*").match(html, position).end()
    return values[0], values[1], values[2]


def _unwrap(text: str) -> str:
    """A hover text as read: line breaks removed, HTML entities decoded."""
    import html

    return html.unescape(text.replace("<br>", ""))


def test_the_umap_map_has_one_point_per_clip_with_its_transcript_and_labels():
    meta = _metadata()
    xy = np.random.default_rng(1).normal(size=(len(meta), 2))
    figure = interactive.umap_map(xy, meta, source="synthetic demo data")
    data, layout, _ = _plot_call(figure.to_html(), "umap-map")
    clips = data[0]
    assert len(_decode(clips["x"])) == len(_decode(clips["y"])) == len(clips["customdata"]) == len(meta)
    np.testing.assert_allclose(_decode(clips["x"]), xy[:, 0], atol=1e-4)
    for (clip, video, text, labels), (_, row) in zip(clips["customdata"], meta.iterrows()):
        assert (clip, video) == (row["clip_id"], row["video_id"])
        assert _unwrap(text) == row["text_punct"]
        expected = [
            f"{name} {'–' if np.isnan(row[f'label_{name.lower()}']) else format(row[f'label_{name.lower()}'], '+.1f')}"
            for name in "MTAV"
        ]
        assert labels == " · ".join(expected)
    assert all(part in clips["hovertemplate"] for part in ("%{customdata[0]}", "%{customdata[2]}", "%{customdata[3]}"))
    assert "Data: synthetic demo data" in layout["title"]["text"]
    assert repr(figure).endswith("— Data: synthetic demo data")


def test_the_colour_menu_colours_by_each_label_and_by_video():
    meta = _metadata()
    figure = interactive.umap_map(
        {"text": np.zeros((len(meta), 2)), "all": np.ones((len(meta), 2))}, meta, source="demo", color_by="video"
    )
    data, layout, _ = _plot_call(figure.to_html(), "umap-map")
    colour_menu, feature_menu = layout["updatemenus"]
    by_label = {button["label"]: button["args"][0]["marker.color"][0] for button in colour_menu["buttons"]}
    assert list(by_label) == [
        "colour: M label",
        "colour: T label",
        "colour: A label",
        "colour: V label",
        "colour: source video",
    ]
    # the book's class colours: -1 → first colour, +1 → last; a missing label is grey
    classes = {-1.0: 0, -0.5: 1, 0.0: 2, 0.5: 3, 1.0: 4}
    for name in "MTA":
        expected = [interactive.CLASS_COLOURS[classes[v]] for v in meta[f"label_{name.lower()}"]]
        assert by_label[f"colour: {name} label"] == expected
    assert by_label["colour: V label"][0] == "#dddddd"
    videos = by_label["colour: source video"]
    assert data[0]["marker"]["color"] == videos  # color_by="video" is shown first
    for i in range(len(meta)):
        for j in range(len(meta)):
            assert (videos[i] == videos[j]) == (meta["video_id"][i] == meta["video_id"][j])
    assert [button["label"] for button in feature_menu["buttons"]] == ["features: text", "features: all"]
    assert _decode(feature_menu["buttons"][1]["args"][0]["x"][0]) == [1.0] * len(meta)


def test_the_html_is_deterministic_and_loads_nothing():
    meta = _metadata()
    xy = np.random.default_rng(2).normal(size=(len(meta), 2))
    first = interactive.umap_map(xy, meta, source="demo", div_id="map-a").to_html()
    assert first == interactive.umap_map(xy.copy(), meta.copy(), source="demo", div_id="map-a").to_html()
    assert f'class="{interactive.MARKER_CLASS}"' in first and 'id="map-a"' in first
    assert "<script src" not in first and "cdn" not in first.lower() and "http" not in first
    assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-", first)  # no uuid
    assert meta["text_punct"][1].replace("<&>", "&lt;&amp;&gt;") in first  # Chinese as characters, not \u escapes
    assert "</script>" not in first.split("<script>", 1)[1].rsplit("</script>", 1)[0]


def test_the_confusion_map_counts_the_clips_and_names_examples():
    # six clips of known classes: M and T negative (2 clips), M neutral and T positive (3), M positive
    # and T neutral (1); MMSA's bins put 0.05 in neutral and 0.8 in positive
    clip_ids = ["01_0001", "01_0002", "02_0003", "02_0004", "03_0005", "03_0006"]
    labels = pd.DataFrame(
        {"M": [-1.0, -0.8, 0.0, 0.05, 0.0, 1.0], "T": [-1.0, -1.0, 1.0, 0.8, 1.0, 0.0]},
        index=pd.Index(clip_ids, name="clip_id"),
    )
    meta = pd.DataFrame({"clip_id": clip_ids, "text_punct": [f"句子{i}" for i in range(6)]})
    figure = interactive.confusion_map(labels, meta, source="demo", pairs=[("M", "T")], n_examples=2)
    data, layout, _ = _plot_call(figure.to_html(), "confusion-map")
    counts = np.zeros((5, 5), dtype=int)
    counts[0, 0], counts[2, 4], counts[4, 2] = 2, 3, 1
    assert _decode(data[0]["z"]) == counts.tolist()
    hover = data[0]["customdata"]
    assert "<b>M Neutral · T Positive</b>" in hover[2][4] and "3 clips" in hover[2][4]
    assert "02_0003 句子2" in hover[2][4] and "02_0004 句子3" in hover[2][4] and "and 1 more" in hover[2][4]
    assert "03_0005" not in hover[2][4]
    assert "0 clips" in hover[1][1] and "no clip" in hover[1][1]
    assert "Data: demo" in layout["title"]["text"]


def test_bad_input_is_refused():
    meta = _metadata(5)
    with pytest.raises(InvalidArgument, match="shape"):
        interactive.umap_map(np.zeros((4, 2)), meta, source="demo")
    with pytest.raises(InvalidArgument, match="color_by"):
        interactive.umap_map(np.zeros((5, 2)), meta, source="demo", color_by="speaker")
    with pytest.raises(UnknownName):
        interactive.umap_map(np.zeros((5, 2)), meta.drop(columns=["video_id"]), source="demo")
    with pytest.raises(UnknownName):
        interactive.confusion_map(pd.DataFrame({"M": [0.0]}, index=["01_0001"]), meta, source="demo")


def test_a_notebook_shows_the_figure_and_records_its_title():
    """In a notebook the figure is HTML; the results files (book/_ext/result_tables.py) keep its
    title, with the data source, as text."""
    from IPython.core.formatters import format_display_data

    spec = importlib.util.spec_from_file_location("result_tables", REPO / "book" / "_ext" / "result_tables.py")
    result_tables = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(result_tables)
    meta = _metadata(5)
    figure = interactive.umap_map(np.zeros((5, 2)), meta, source="demo")
    data, _ = format_display_data(figure)
    assert data["text/html"] == figure.to_html()
    output = {"output_type": "display_data", "data": data, "metadata": {}}
    assert result_tables.output_result(output) == ("text", f"Interactive figure (HTML edition): {figure.title}")


def test_the_extension_serves_the_packaged_plotly_js_on_pages_with_a_figure(tmp_path):
    spec = importlib.util.spec_from_file_location(
        "interactive_figures", REPO / "book" / "_ext" / "interactive_figures.py"
    )
    extension = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(extension)
    added = []
    builder = SimpleNamespace(format="html", add_js_file=added.append)
    app = SimpleNamespace(builder=builder, outdir=str(tmp_path))
    figure_html = interactive.umap_map(np.zeros((5, 2)), _metadata(5), source="demo").to_html()
    extension.load_plotly_where_needed(app, "notebooks/03", "page.html", {"body": "<p>no figure</p>"}, None)
    assert added == []
    extension.load_plotly_where_needed(app, "notebooks/03", "page.html", {"body": figure_html}, None)
    assert added == ["plotly.min.js"]
    extension.copy_plotly_js(app)
    served = (tmp_path / "_static" / "plotly.min.js").read_bytes()
    assert served == interactive.plotly_js_path().read_bytes() and len(served) > 1_000_000
    assert b"plotly.js" in served[:500]  # the bundle's licence header


@pytest.mark.slow
def test_hovering_a_point_in_chromium_shows_its_clip(tmp_path):
    """The browser helper of tests/test_book.py on a hand-made page: the mouse on the first point
    shows that clip's id, transcript and labels; the page loads plotly.js from a local file only."""
    from tests.browser import find_chromium, hover_first_point

    chromium = find_chromium()
    if chromium is None:
        pytest.skip("chromium is not installed (CI installs it)")
    meta = _metadata(30)
    xy = np.column_stack([np.arange(30.0), np.arange(30.0) % 7])  # point 0 alone in its corner
    figure = interactive.umap_map(xy, meta, source="demo")
    page = tmp_path / "page.html"
    page.write_text(
        f'<html><head><meta charset="utf-8"><script src="{interactive.plotly_js_path().as_uri()}">'
        f"</script></head><body>{figure.to_html()}</body></html>",
        encoding="utf-8",
    )
    report = hover_first_point(chromium, page)
    assert report.page_requests == [] and report.console_errors == [], report
    assert report.figure_id == "umap-map" and report.point["pointNumber"] == 0, report
    lines = report.hover_text.splitlines()
    assert lines[0] == f"{meta['clip_id'][0]} · video {meta['video_id'][0]}"
    assert "".join(lines[1:-1]) == meta["text_punct"][0]
    assert lines[-1] == interactive.label_summary(meta.iloc[0].to_dict())
