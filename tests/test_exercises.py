"""The chapters' exercises are numbered exercises with folded solutions, linked from the teachers' page.

Fast (no build): the MyST sources are read as text. Each chapter's ``## Exercises`` section is a
sequence of sphinx-exercise blocks — an ``{exercise}`` directive with a ``:label:``, then its solution
in the gated form (``{solution-start} <label>`` with ``:class: dropdown``, the solution's code cells,
the insight in prose, ``{solution-end}``) — and nothing else but prose. The chapters' parts of
``_toc.yml`` are numbered, so an exercise is "Exercise 4.2" (chapter 4, second exercise) in the book,
and ``book/teachers.md`` links every exercise by its label.

Label scheme: ``ex-<chapter>-<task>``, ``<chapter>`` one word per chapter (:data:`CHAPTER_KEYS`),
``<task>`` a few words saying what the exercise does (``ex-agreement-kappa-by-hand``).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest
import yaml
from docutils import nodes
from docutils.frontend import get_default_settings
from docutils.parsers.rst import Parser
from docutils.utils import new_document

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = sorted((REPO / "notebooks").glob("0[1-6]_*.md"))
CHAPTER_KEYS = {"01": "stats", "02": "agreement", "03": "features", "04": "msa", "05": "asr", "06": "errors"}
TEACHERS = REPO / "book" / "teachers.md"
OPENING = re.compile(r"^(?P<fence>`{3,}|:{3,})\{(?P<name>[\w-]+)\}[ \t]*(?P<argument>.*)$")
OPTION = re.compile(r"^:(?P<key>[\w-]+):[ \t]*(?P<value>.*)$")


def _exercises_section(path: Path) -> list[str]:
    """The lines of the chapter's ``## Exercises`` section, up to the next ``## `` heading."""
    lines = path.read_text(encoding="utf-8").splitlines()
    start = lines.index("## Exercises")
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    return lines[start + 1 : end]


def _blocks(lines: list[str]) -> list[dict]:
    """Directives (``{name}`` fences) and the prose between them, in order.

    Each block is ``{"name": directive name, or "prose", "argument": ..., "options": {...},
    "body": [lines]}``. Fences do not nest in these sections, which the parse checks.
    """
    blocks: list[dict] = []
    prose: list[str] = []
    i = 0
    while i < len(lines):
        opening = OPENING.match(lines[i])
        if opening is None:
            assert not lines[i].startswith(("```", ":::")), f"a fence that is no directive: {lines[i]!r}"
            prose.append(lines[i])
            i += 1
            continue
        if any(line.strip() for line in prose):
            blocks.append({"name": "prose", "argument": "", "options": {}, "body": prose})
        prose = []
        fence = opening["fence"]
        try:
            close = next(j for j in range(i + 1, len(lines)) if lines[j].strip() == fence)
        except StopIteration:
            raise AssertionError(f"unclosed {fence}{{{opening['name']}}}") from None
        body = lines[i + 1 : close]
        assert not any(OPENING.match(line) for line in body), f"a directive nested in {opening['name']}"
        options = {}
        while body and OPTION.match(body[0]):
            option = OPTION.match(body.pop(0))
            options[option["key"]] = option["value"].strip()
        blocks.append(
            {"name": opening["name"], "argument": opening["argument"].strip(), "options": options, "body": body}
        )
        i = close + 1
    if any(line.strip() for line in prose):
        blocks.append({"name": "prose", "argument": "", "options": {}, "body": prose})
    return blocks


def _exercises(path: Path) -> list[dict]:
    """The chapter's exercises: ``{"label", "question", "solution": [blocks between start and end]}``.

    Asserts the structure on the way: an exercise, then its gated solution, and so on; prose only
    before the first exercise (the section's introduction).
    """
    blocks = _blocks(_exercises_section(path))
    exercises: list[dict] = []
    i = 0
    while i < len(blocks) and blocks[i]["name"] == "prose":
        i += 1
    assert i < len(blocks), f"{path.name}: no exercise in the Exercises section"
    while i < len(blocks):
        exercise = blocks[i]
        assert exercise["name"] == "exercise", f"{path.name}: {exercise['name']} where an exercise should start"
        label = exercise["options"].get("label", "")
        assert label, f"{path.name}: an exercise without a :label:"
        assert i + 1 < len(blocks), f"{path.name}: {label} has no solution"
        start = blocks[i + 1]
        assert start["name"] == "solution-start", f"{path.name}: {label} is followed by {start['name']}"
        assert start["argument"] == label, f"{path.name}: the solution after {label} is for {start['argument']}"
        assert start["options"].get("class") == "dropdown", f"{path.name}: {label}'s solution is not a dropdown"
        end = next(
            (
                j
                for j in range(i + 2, len(blocks))
                if blocks[j]["name"] in ("solution-end", "exercise", "solution-start")
            ),
            None,
        )
        assert end is not None and blocks[end]["name"] == "solution-end", f"{path.name}: {label}'s solution never ends"
        exercises.append({"label": label, "question": exercise, "solution": blocks[i + 2 : end]})
        i = end + 1
    return exercises


def test_every_chapter_has_exercises():
    assert [p.name[:2] for p in CHAPTERS] == list(CHAPTER_KEYS)
    for path in CHAPTERS:
        assert len(_exercises(path)) >= 3, path.name


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_the_exercises_section_holds_exercises_with_gated_solutions(path):
    section = "\n".join(_exercises_section(path))
    assert not re.search(r"(?m)^#{3,} ", section), f"{path.name}: headings in the Exercises section"
    assert "hide-cell" not in section, f"{path.name}: a solution hidden as a code cell, not folded in a solution"
    assert section.count("{solution-start}") == section.count("{solution-end}")
    exercises = _exercises(path)
    for exercise in exercises:
        label, solution = exercise["label"], exercise["solution"]
        assert re.fullmatch(rf"ex-{CHAPTER_KEYS[path.name[:2]]}(-[a-z0-9]+)+", label), label
        assert "".join(exercise["question"]["body"]).strip(), f"{label}: the exercise asks nothing"
        cells = [b for b in solution if b["name"] == "code-cell"]
        assert cells, f"{label}: a solution without code"
        assert {b["name"] for b in solution} <= {"code-cell", "prose"}, f"{label}: {solution}"
        for cell in cells:
            assert "Insight" not in "\n".join(cell["body"]), f"{label}: the code prints the insight"
        # the insight is written as prose, after the code
        last_cell = max(i for i, b in enumerate(solution) if b["name"] == "code-cell")
        assert any(b["name"] == "prose" for b in solution[last_cell + 1 :]), f"{label}: no prose after the code"
    # every code cell of the section is in a solution
    assert sum(b["name"] == "code-cell" for b in _blocks(_exercises_section(path))) == sum(
        b["name"] == "code-cell" for e in exercises for b in e["solution"]
    )


def test_exercise_labels_are_unique_in_the_book():
    labels = [e["label"] for path in CHAPTERS for e in _exercises(path)]
    assert len(labels) == len(set(labels)), labels


def test_exercises_are_numbered_per_chapter():
    """sphinx-exercise is enabled and the chapters are numbered, so an exercise is "Exercise 4.2"."""
    config = yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf-8"))
    assert "sphinx_exercise" in config["sphinx"]["extra_extensions"]
    toc = yaml.safe_load((REPO / "_toc.yml").read_text(encoding="utf-8"))
    for part in toc["parts"]:
        files = [chapter["file"] for chapter in part["chapters"]]
        if any(f.startswith("notebooks/") for f in files):
            assert part.get("numbered"), f"part {part['caption']!r} is not numbered"
            assert all(f.startswith("notebooks/") for f in files), part["caption"]
    numbered = [chapter["file"] for part in toc["parts"] if part.get("numbered") for chapter in part["chapters"]]
    # chapter N of the book is notebooks/0N_*: "Exercise 4.2" is in notebooks/04_*
    assert numbered == [f"notebooks/{p.stem}" for p in CHAPTERS]


def test_the_teachers_page_links_every_exercise():
    text = TEACHERS.read_text(encoding="utf-8")
    linked = set(re.findall(r"\{(?:num)?ref\}`(?:[^`<]*<)?(ex-[a-z0-9-]+)>?`", text))
    labels = {e["label"] for path in CHAPTERS for e in _exercises(path)}
    assert labels - linked == set(), f"exercises the teachers' page does not link: {sorted(labels - linked)}"
    assert linked - labels == set(), f"links to exercises that do not exist: {sorted(linked - labels)}"


def _load_exercise_content():
    spec = importlib.util.spec_from_file_location("exercise_content", REPO / "book" / "_ext" / "exercise_content.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_exercise_bodies_become_containers_for_codeautolink():
    """book/_ext/exercise_content.py: sphinx-exercise's untitled body sections become containers
    (sphinx-codeautolink stops the build on an untitled section); real sections stay."""
    extension = _load_exercise_content()
    doctree = new_document("test", get_default_settings(Parser))
    chapter = nodes.section(ids=["exercises"])
    chapter += nodes.title(text="Exercises")
    for kind in ("exercise", "solution"):
        admonition = nodes.admonition(classes=[kind])
        body = nodes.section(ids=[f"{kind}-content"])
        body += nodes.paragraph(text=f"the {kind}")
        admonition += body
        chapter += admonition
    doctree += chapter
    extension.content_sections_to_containers(None, doctree)
    assert [s["ids"] for s in doctree.findall(nodes.section)] == [["exercises"]]
    containers = list(doctree.findall(nodes.container))
    assert [c["classes"] for c in containers] == [["exercise-content"], ["solution-content"]]
    assert all(not c["ids"] for c in containers)  # no id repeated on every body
    assert [c.astext() for c in containers] == ["the exercise", "the solution"]
    config = yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf-8"))
    assert config["sphinx"]["local_extensions"]["exercise_content"] == "book/_ext"
