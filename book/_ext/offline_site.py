"""A Sphinx extension of this book: an offline site, and each chapter downloadable as a notebook.

**Notebook downloads.** MyST-NB executes each chapter and writes the executed notebook to
``_build/jupyter_execute/<page>.ipynb``. The theme's download menu offers a ``.ipynb`` entry when
a page names one in ``ipynb_source``; :func:`offer_notebook_download` does so for every executed
page and :func:`copy_executed_notebooks` publishes those notebooks, outputs included, under
``_sources/`` at the end of the build, so a reader can open any chapter in Jupyter.

**No unused scripts.**
Jupyter Book 1.x always loads ``sphinx_thebe`` (live code cells on a remote Jupyter server), even
with ``launch_buttons.thebe: false``. It adds an inline script declaring ``THEBE_JS_URL`` (a CDN
address) once per document read, so pages can carry it twice — a JavaScript error in every page
("Identifier 'THEBE_JS_URL' has already been declared") — plus its loader ``sphinx-thebe.js``.
The book is an offline site without live kernels, so both scripts are removed from every page
(thebe's small local style sheet and its inert ``text/x-thebe-config`` block stay).
"""

from __future__ import annotations

import shutil
from pathlib import Path


def _is_thebe(script) -> bool:
    filename = str(getattr(script, "filename", script) or "")
    body = str(getattr(script, "attributes", {}).get("body", "") if hasattr(script, "attributes") else "")
    return "sphinx-thebe" in filename or "thebe@" in filename or "THEBE_JS_URL" in body


def drop_thebe_scripts(app, pagename, templatename, context, doctree) -> None:
    """``html-page-context`` hook: remove the thebe scripts from the page's script list."""
    if context.get("script_files"):
        context["script_files"] = [script for script in context["script_files"] if not _is_thebe(script)]


def _executed_notebook(app, pagename: str) -> Path:
    return Path(app.outdir).parent / "jupyter_execute" / f"{pagename}.ipynb"


def offer_notebook_download(app, pagename, templatename, context, doctree) -> None:
    """``html-page-context`` hook (before the theme builds its buttons): name the page's notebook."""
    if _executed_notebook(app, pagename).is_file():
        context["ipynb_source"] = f"{pagename}.ipynb"


def copy_executed_notebooks(app, exception) -> None:
    """``build-finished`` hook: publish each executed notebook as ``_sources/<page>.ipynb``."""
    if exception is not None or app.builder.format != "html":
        return
    for pagename in app.env.found_docs:
        notebook = _executed_notebook(app, pagename)
        if notebook.is_file():
            target = Path(app.outdir) / "_sources" / f"{pagename}.ipynb"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(notebook, target)


def setup(app):
    app.connect("html-page-context", offer_notebook_download, priority=400)
    app.connect("html-page-context", drop_thebe_scripts, priority=900)
    app.connect("build-finished", copy_executed_notebooks)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
