"""A Sphinx extension of this book: plotly's JavaScript, served from the site, on the pages that need it.

The interactive figures of :mod:`csmsasr_utils.interactive` are HTML fragments whose inline script
calls ``Plotly.newPlot``; plotly.js itself is not in them (a copy per figure would weigh 4.6 MB) and
must never come from a CDN (the site works offline, and ``tests/browser.py`` fails any page that
makes a request off the machine). So:

* :func:`copy_plotly_js` (``builder-inited``) copies the ``plotly.min.js`` that ships inside the
  installed plotly package — the very version that wrote the figures — to ``_static/plotly.min.js``,
  before any page is written (Sphinx then adds the file's checksum to its address, as for its own
  scripts, so a new plotly version is never read from a browser's cache);
* :func:`load_plotly_where_needed` (``html-page-context``) adds that script to the ``<head>`` of the
  pages whose body holds a figure (an element of class
  :data:`~csmsasr_utils.interactive.MARKER_CLASS`), and of no other page. It loads synchronously,
  before the body's inline drawing calls run. It runs before ``offline_site``'s script filter
  (priority 900), which replaces the page's script list.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the package, also without pip install -e

from csmsasr_utils.interactive import MARKER_CLASS, plotly_js_path  # noqa: E402

#: Where the script lies in the site, relative to ``_static/``.
STATIC_NAME = "plotly.min.js"


def page_has_figure(body: str) -> bool:
    """Whether a page's body HTML holds an interactive figure."""
    return f'class="{MARKER_CLASS}' in body


def load_plotly_where_needed(app, pagename, templatename, context, doctree) -> None:
    """``html-page-context`` hook: load ``_static/plotly.min.js`` on pages with a figure."""
    if app.builder.format == "html" and page_has_figure(context.get("body") or ""):
        app.builder.add_js_file(STATIC_NAME)  # this page only: Sphinx resets the list for each page


def copy_plotly_js(app) -> None:
    """``builder-inited`` hook: publish the installed plotly package's ``plotly.min.js``."""
    if app.builder.format != "html":
        return
    target = Path(app.outdir) / "_static" / STATIC_NAME
    target.parent.mkdir(parents=True, exist_ok=True)
    source = plotly_js_path()
    if not target.is_file() or target.read_bytes() != source.read_bytes():
        shutil.copyfile(source, target)


def setup(app):
    app.connect("html-page-context", load_plotly_where_needed, priority=500)
    app.connect("builder-inited", copy_plotly_js)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
