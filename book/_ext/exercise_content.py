"""A Sphinx extension of this book: the chapters' exercises (sphinx-exercise) beside sphinx-codeautolink.

**Why.** sphinx-exercise (1.2.1) puts the body of every exercise and solution into a docutils
*section without a title* (``section`` with the id ``exercise-content`` or ``solution-content``).
sphinx-codeautolink, which links the chapters' code to the package reference, pops one section
title when it leaves a section, so each untitled section makes it pop a title it never pushed, and
the build stops on the first chapter with exercises ("IndexError: pop from empty list" in its
``doctree-read`` handler).

**What.** Before codeautolink reads a page (``doctree-read``, priority 400 < its 490), each such
body becomes what it is: a block inside the exercise's admonition, a ``container`` (``<div>``) with
the class ``exercise-content`` or ``solution-content``, not a section of the page. This also
drops the id that sphinx-exercise gives every body alike (repeated ids are invalid HTML), and the
code cells of a solution stay in their chapter's section "Exercises" for codeautolink, whose
chapters are read as one program (a solution sees the chapter's imports).
"""

from __future__ import annotations

from typing import Any

from docutils import nodes

#: The ids sphinx-exercise gives the bodies of exercises and solutions.
CONTENT_IDS = ("exercise-content", "solution-content")


def content_sections_to_containers(app: Any, doctree: nodes.document) -> None:
    """Turn sphinx-exercise's untitled body sections into containers, in place."""
    for section in list(doctree.findall(nodes.section)):
        ids = section.get("ids", [])
        titled = bool(section.children) and isinstance(section.children[0], nodes.title)
        if titled or not ids or ids[0] not in CONTENT_IDS:
            continue
        children = list(section.children)
        section.clear()
        container = nodes.container(classes=[ids[0]])
        container.extend(children)
        container.source, container.line = section.source, section.line
        section["ids"] = []  # replace_self copies the ids over, and this one is on every body alike
        section.replace_self(container)


def setup(app: Any) -> dict[str, Any]:
    app.connect("doctree-read", content_sections_to_containers, priority=400)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
