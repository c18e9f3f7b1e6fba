"""Interactive figures for the book's pages: maps and matrices a reader explores by hovering.

Some figures are for *exploring*: on a UMAP map one wants to know which clip a stray point is and
what was said in it; in a confusion matrix, which clips sit in an off-diagonal cell. A static PNG
cannot say that, so beside it the book shows the same data as a `plotly <https://plotly.com/python/>`_
figure whose hover label names the clips (the PNG stays: the results files and the PDF need it).

**Offline.** The figures are HTML fragments without any script of their own besides the call that
draws them: plotly's JavaScript is *not* embedded and *not* fetched from a CDN. The book's Sphinx
extension ``book/_ext/interactive_figures.py`` copies the ``plotly.min.js`` that ships inside the
installed plotly package (:func:`plotly_js_path`) into the site's ``_static/`` and loads it only on
pages holding an element of class :data:`MARKER_CLASS`, which every figure here is wrapped in.

**Reproducible.** Element ids are given (never plotly's random uuids) and every number is rounded,
so the same data give byte-identical HTML in every build. In a notebook an
:class:`InteractiveFigure` shows as the figure (``text/html``) and, for the book's results files,
as one line of text naming the figure and its data source (``text/plain``).

**Data sources.** As every figure of the book, each title carries a second line "Data: …".
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import plotly
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from csmsasr_utils.agreement import LABEL_COLUMNS
from csmsasr_utils.data.labels import CLASS_NAMES, mmsa_bins
from csmsasr_utils.errors import InvalidArgument, UnknownName
from csmsasr_utils.plots import CLASS_COLOURS

#: Class of the element wrapping every interactive figure; the book loads plotly.js on pages that have it.
MARKER_CLASS = "csmsasr-interactive"

#: plotly.js options of every figure: no plotly logo (a link off the site), no "send to Chart
#: Studio" link, no MathJax typesetting of labels (transcripts are text, and the page's MathJax is
#: the book's), resize with the page.
PLOTLY_CONFIG: dict[str, object] = {
    "displaylogo": False,
    "showSendToCloud": False,
    "typesetMath": False,
    "responsive": True,
    "modeBarButtonsToRemove": ["select2d", "lasso2d"],
}

#: Fonts of the hover labels: a CJK font first, so transcripts render where one is installed.
HOVER_FONT = "Noto Sans CJK SC, Noto Sans CJK JP, WenQuanYi Zen Hei, Microsoft YaHei, sans-serif"

_DECIMALS = 4  # coordinates are rounded: smaller pages, and no last-bit noise between builds


def plotly_js_path() -> Path:
    """The ``plotly.min.js`` bundled in the installed plotly package (what the book serves)."""
    path = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise FileNotFoundError(f"plotly {plotly.__version__} ships no {path}: reinstall plotly")
    return path


@dataclass(frozen=True)
class InteractiveFigure:
    """A plotly figure for a book page: shown as HTML, recorded in results files as its title.

    ``title`` is the figure's title with its data source ("… — Data: …"); ``div_id`` the id of the
    element plotly draws into (unique on a page, the same in every build).
    """

    figure: go.Figure
    div_id: str
    title: str

    def to_html(self) -> str:
        """The HTML fragment: a wrapper of class :data:`MARKER_CLASS` around plotly's ``<div>`` and
        its drawing call; plotly.js itself is not included (the page loads it)."""
        fragment = self.figure.to_html(
            include_plotlyjs=False,
            full_html=False,
            div_id=self.div_id,
            config=PLOTLY_CONFIG,
            default_width="100%",
            default_height=f"{self.figure.layout.height}px",
        )
        return f'<div class="{MARKER_CLASS}" id="{self.div_id}-figure">{_literal_text(fragment)}</div>'

    def _repr_html_(self) -> str:
        return self.to_html()

    def __repr__(self) -> str:  # the text of the results files, and of the PDF (which shows no HTML)
        return f"Interactive figure (HTML edition): {self.title}"


_ESCAPE = re.compile(r"\\(?:u([0-9a-fA-F]{4})|.)")


def _literal_text(fragment: str) -> str:
    r"""``fragment`` with plotly's JSON escapes of non-ASCII characters (``\u957f``, 6 bytes) written
    as the characters (3 bytes in UTF-8): Chinese transcripts take half the room. ASCII escapes
    (plotly's ``\u003c`` for ``<``, which keeps ``</script>`` out of the script), surrogates and the
    line separators U+2028/2029 stay escaped; an escaped backslash is read as one token, so
    ``\\u957f`` (a backslash, then the letters) is left alone.

    >>> _literal_text(r'["\u957f\u6c99", "\u003c", "\\u957f"]')
    '["长沙", "\\u003c", "\\\\u957f"]'
    """

    def literal(match: re.Match) -> str:
        code = int(match[1], 16) if match[1] else 0
        keep = code < 0x80 or 0xD800 <= code <= 0xDFFF or code in (0x2028, 0x2029)
        return match[0] if keep else chr(code)

    return _ESCAPE.sub(literal, fragment)


def _title(title: str, source: str) -> str:
    """A plotly title with the data source on a second, smaller line, as in the static figures."""
    return f"<b>{html.escape(title)}</b><br><sup>Data: {html.escape(source)}</sup>"


def _wrap(text: str, width: int) -> str:
    """``text`` HTML-escaped, with a line break every ``width`` characters (hover labels stay narrow;
    the characters themselves are unchanged, so the text reads the same)."""
    text = " ".join(str(text).split())
    return "<br>".join(html.escape(text[i : i + width]) for i in range(0, len(text), width)) or "–"


def _label_text(value: float) -> str:
    """A label value as the hover label shows it: ``+0.5``, ``-1.0``; ``–`` when missing."""
    return "–" if value is None or value != value else f"{value:+.1f}"


def label_summary(row: Mapping[str, object]) -> str:
    """The four labels of one clip on one line, e.g. ``M +0.5 · T +0.0 · A -0.5 · V –``.

    >>> label_summary({"label_m": 0.5, "label_t": 0.0, "label_a": -0.5, "label_v": float("nan")})
    'M +0.5 · T +0.0 · A -0.5 · V –'
    """
    return " · ".join(f"{name} {_label_text(row.get(column))}" for name, column in LABEL_COLUMNS.items())


def _transcripts(metadata: pd.DataFrame) -> pd.Series:
    """The transcript of each row: with punctuation where the metadata has it."""
    for column in ("text_punct", "text"):
        if column in metadata:
            return metadata[column].fillna("").astype(str)
    raise UnknownName("metadata lacks a transcript column ('text_punct' or 'text')")


def _require(metadata: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in metadata]
    if missing:
        raise UnknownName(f"metadata lacks {missing}: use csmsasr_utils.data.load_dataset()'s metadata")


def _class_colours(values: np.ndarray) -> list[str]:
    """The book's class colour (:data:`~csmsasr_utils.plots.CLASS_COLOURS`) of each label value;
    grey where the label is missing."""
    values = np.asarray(values, dtype=float)
    colours = np.asarray(CLASS_COLOURS, dtype=object)[mmsa_bins(np.nan_to_num(values), 5)]
    colours[np.isnan(values)] = "#dddddd"
    return colours.tolist()


def _category_colours(values: Sequence[object]) -> list[str]:
    """One colour per distinct value (sorted), from the same palette as the static maps."""
    import seaborn as sns

    categories, codes = np.unique(np.asarray(values).astype(str), return_inverse=True)
    palette = np.asarray(sns.color_palette("husl", len(categories)).as_hex(), dtype=object)
    return palette[codes].tolist()


def umap_map(
    embeddings: Mapping[str, np.ndarray] | np.ndarray,
    metadata: pd.DataFrame,
    *,
    source: str,
    title: str = "UMAP of the pooled features: hover a point for its clip",
    color_by: str = "M",
    div_id: str = "umap-map",
    height: int = 640,
) -> InteractiveFigure:
    """A 2-d embedding as an interactive map: one point per clip, whose hover label gives the clip
    id, its source video, its transcript and its four labels (M, T, A, V).

    ``embeddings`` is one ``(n_clips, 2)`` array or several by name (e.g. ``{"text": ..., "all": ...}``,
    each row a clip, in the order of ``metadata``'s rows); with several, a menu switches between
    them. A second menu colours the points by the M, T, A or V label (the book's five class colours)
    or by source video; ``color_by`` (``"M"``, ``"T"``, ``"A"``, ``"V"`` or ``"video"``) is the
    colouring shown first. ``metadata`` needs ``clip_id``, ``video_id``, ``label_m`` and a transcript
    (``text_punct`` or ``text``); a missing ``label_t``/``label_a``/``label_v`` shows as "–".
    """
    if not isinstance(embeddings, Mapping):
        embeddings = {"map": embeddings}
    if not embeddings:
        raise InvalidArgument("umap_map needs at least one embedding")
    _require(metadata, ["clip_id", "video_id", "label_m"])
    colourings = ["M", "T", "A", "V", "video"]
    if color_by not in colourings:
        raise InvalidArgument(f"color_by must be one of {colourings}, got {color_by!r}")
    maps = {name: np.round(np.asarray(xy, dtype=float), _DECIMALS) for name, xy in embeddings.items()}
    for name, xy in maps.items():
        if xy.shape != (len(metadata), 2):
            raise InvalidArgument(
                f"embedding {name!r} has shape {xy.shape}; expected ({len(metadata)}, 2): one row per metadata row"
            )

    rows = metadata.reset_index(drop=True)
    labels = {
        name: (rows[column].to_numpy(dtype=float) if column in rows else np.full(len(rows), np.nan))
        for name, column in LABEL_COLUMNS.items()
    }
    transcripts = _transcripts(rows)
    customdata = [
        [str(clip), str(video), _wrap(text, 24), label_summary(row)]
        for clip, video, text, row in zip(
            rows["clip_id"],
            rows["video_id"],
            transcripts,
            rows.reindex(columns=list(LABEL_COLUMNS.values())).to_dict("records"),
        )
    ]
    colours = {name: _class_colours(values) for name, values in labels.items()}
    colours["video"] = _category_colours(rows["video_id"])

    first = next(iter(maps))
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=maps[first][:, 0],
            y=maps[first][:, 1],
            mode="markers",
            name="clips",
            showlegend=False,
            marker={"size": 6, "opacity": 0.85, "color": colours[color_by], "line": {"width": 0}},
            customdata=customdata,
            hovertemplate="<b>%{customdata[0]}</b> · video %{customdata[1]}<br>%{customdata[2]}<br>"
            "%{customdata[3]}<extra></extra>",
        )
    )
    for name, colour in zip(CLASS_NAMES, CLASS_COLOURS):  # legend entries of the class colours
        figure.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="markers",
                name=name,
                hoverinfo="skip",
                marker={"size": 9, "color": colour},
                visible=color_by != "video",
            )
        )
    n_traces = 1 + len(CLASS_NAMES)

    def colour_button(name: str) -> dict:
        """A menu entry recolouring the clips (trace 0) and showing the class legend (traces 1..5)
        except for the video colouring; ``update``'s values are per trace, in the order given."""
        label = "source video" if name == "video" else f"{name} label"
        return {
            "label": f"colour: {label}",
            "method": "update",
            "args": [
                {
                    "marker.color": [colours[name], *CLASS_COLOURS],
                    "visible": [True] + [name != "video"] * len(CLASS_NAMES),
                },
                {},
                list(range(n_traces)),
            ],
        }

    menus = [
        {
            "buttons": [colour_button(name) for name in colourings],
            "active": colourings.index(color_by),
            "direction": "down",
            "x": 0.0,
            "xanchor": "left",
            "y": 1.0,
            "yanchor": "bottom",
            "showactive": True,
        }
    ]
    if len(maps) > 1:
        menus.append(
            {
                "buttons": [
                    {
                        "label": f"features: {name}",
                        "method": "restyle",
                        "args": [{"x": [xy[:, 0]], "y": [xy[:, 1]]}, [0]],
                    }
                    for name, xy in maps.items()
                ],
                "active": 0,
                "direction": "down",
                "x": 0.32,
                "xanchor": "left",
                "y": 1.0,
                "yanchor": "bottom",
                "showactive": True,
            }
        )
    full_title = f"{title} — Data: {source}"
    figure.update_layout(
        template="plotly_white",
        height=height,
        hovermode="closest",
        dragmode="zoom",
        title={"text": _title(title, source), "x": 0.0, "xanchor": "left", "y": 0.98, "yanchor": "top"},
        margin={"l": 10, "r": 10, "t": 110, "b": 10},
        xaxis={"showticklabels": False, "title": None, "zeroline": False},
        yaxis={"showticklabels": False, "title": None, "zeroline": False},
        legend={"orientation": "h", "x": 0.0, "y": -0.02, "yanchor": "top"},
        hoverlabel={"font": {"family": HOVER_FONT, "size": 13}, "align": "left"},
        updatemenus=menus,
    )
    return InteractiveFigure(figure=figure, div_id=div_id, title=full_title)


def _cell_examples(clips: Sequence[str], transcripts: Mapping[str, str], n_examples: int) -> str:
    """The hover text of a confusion cell's example clips: id and the start of the transcript."""
    lines = []
    for clip in clips[:n_examples]:
        text = " ".join(str(transcripts.get(clip, "")).split())
        short = text if len(text) <= 22 else text[:21] + "…"
        lines.append(f"{html.escape(str(clip))} {html.escape(short)}")
    if len(clips) > n_examples:
        lines.append(f"… and {len(clips) - n_examples} more")
    return "<br>".join(lines) if lines else "no clip"


def confusion_map(
    labels: pd.DataFrame,
    metadata: pd.DataFrame,
    *,
    source: str,
    pairs: Sequence[tuple[str, str]] = (("M", "T"), ("M", "A"), ("M", "V")),
    n_examples: int = 3,
    title: str = "Confusion of M with each unimodal label: hover a cell for its clips",
    div_id: str = "confusion-map",
    height: int = 430,
) -> InteractiveFigure:
    """Confusion matrices of label pairs as interactive heat maps, one panel per pair.

    ``labels`` holds the label values by clip (columns ``M, T, A, V``, index the clip ids:
    :func:`csmsasr_utils.agreement.label_matrix`); classes are MMSA's five bins, as in
    :func:`csmsasr_utils.agreement.confusion`, rows the first label of the pair, columns the second.
    Hovering a cell shows the two classes, the number of clips and the first ``n_examples`` of them
    (in the order of ``labels``) with the start of their transcript, taken from ``metadata``
    (``clip_id`` and ``text_punct`` or ``text``).
    """
    _require(metadata, ["clip_id"])
    unknown = sorted({name for pair in pairs for name in pair} - set(labels.columns))
    if unknown:
        raise UnknownName(f"labels lack the column(s) {unknown}; they have {list(labels.columns)}")
    transcripts = dict(zip(metadata["clip_id"].astype(str), _transcripts(metadata)))
    clips = np.asarray(labels.index.astype(str))
    short = ["Neg", "W-neg", "Neu", "W-pos", "Pos"]
    figure = make_subplots(
        rows=1, cols=len(pairs), subplot_titles=[f"{a} ↔ {b}" for a, b in pairs], horizontal_spacing=0.06
    )
    for panel, (a, b) in enumerate(pairs, start=1):
        a_bins, b_bins = mmsa_bins(labels[a], 5), mmsa_bins(labels[b], 5)
        counts = np.zeros((5, 5), dtype=int)
        hover = [[""] * 5 for _ in range(5)]
        for i in range(5):
            for j in range(5):
                members = clips[(a_bins == i) & (b_bins == j)]
                counts[i, j] = len(members)
                hover[i][j] = (
                    f"<b>{a} {CLASS_NAMES[i]} · {b} {CLASS_NAMES[j]}</b><br>{len(members)} clips<br>"
                    + _cell_examples(list(members), transcripts, n_examples)
                )
        figure.add_trace(
            go.Heatmap(
                z=counts,
                x=short,
                y=short,
                customdata=hover,
                colorscale="Blues",
                showscale=False,
                texttemplate="%{z}",
                hovertemplate="%{customdata}<extra></extra>",
                xgap=1,
                ygap=1,
                name=f"{a} ↔ {b}",
            ),
            row=1,
            col=panel,
        )
        figure.update_xaxes(title_text=f"{b} label", row=1, col=panel, constrain="domain")
        figure.update_yaxes(
            title_text=f"{a} label" if panel == 1 else None,
            autorange="reversed",
            scaleanchor=f"x{'' if panel == 1 else panel}",
            row=1,
            col=panel,
            constrain="domain",
        )
    figure.update_layout(
        template="plotly_white",
        height=height,
        hovermode="closest",
        title={"text": _title(title, source), "x": 0.0, "xanchor": "left", "y": 0.97, "yanchor": "top"},
        margin={"l": 10, "r": 10, "t": 100, "b": 10},
        hoverlabel={"font": {"family": HOVER_FONT, "size": 13}, "align": "left"},
    )
    return InteractiveFigure(figure=figure, div_id=div_id, title=f"{title} — Data: {source}")
