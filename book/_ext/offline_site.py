"""A Sphinx extension of this book: keep the published site free of scripts it never uses.

Jupyter Book 1.x always loads ``sphinx_thebe`` (live code cells on a remote Jupyter server), even
with ``launch_buttons.thebe: false``. It adds an inline script declaring ``THEBE_JS_URL`` (a CDN
address) once per document read, so pages can carry it twice — a JavaScript error in every page
("Identifier 'THEBE_JS_URL' has already been declared") — plus its loader ``sphinx-thebe.js``.
The book is an offline site without live kernels, so both scripts are removed from every page
(thebe's small local style sheet and its inert ``text/x-thebe-config`` block stay).
"""

from __future__ import annotations


def _is_thebe(script) -> bool:
    filename = str(getattr(script, "filename", script) or "")
    body = str(getattr(script, "attributes", {}).get("body", "") if hasattr(script, "attributes") else "")
    return "sphinx-thebe" in filename or "thebe@" in filename or "THEBE_JS_URL" in body


def drop_thebe_scripts(app, pagename, templatename, context, doctree) -> None:
    """``html-page-context`` hook: remove the thebe scripts from the page's script list."""
    if context.get("script_files"):
        context["script_files"] = [script for script in context["script_files"] if not _is_thebe(script)]


def setup(app):
    app.connect("html-page-context", drop_thebe_scripts, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
