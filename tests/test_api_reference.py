"""The package reference (book/api/*.md) documents every module, and every one of its pages is in the book.

Fast checks of the sources only; the build itself (`-n -W`) is checked by tests/test_book.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "csmsasr_utils"
API = REPO / "book" / "api"
AUTOMODULE = re.compile(r"^\.\. automodule:: *(\S+) *$", re.MULTILINE)
AUTOSUMMARY = re.compile(r"^\.\. autosummary::[^\n]*\n((?:[ \t]*\n|[ \t]+\S[^\n]*\n)*)", re.MULTILINE)


def _modules() -> set[str]:
    """Every public module of the package, found from its files (so a new module is caught)."""
    names = set()
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(REPO).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if any(part.startswith("_") for part in parts):
            continue
        names.add(".".join(parts))
    return names


def _pages() -> dict[str, str]:
    return {path.stem: path.read_text(encoding="utf-8") for path in sorted(API.glob("*.md"))}


def _documented() -> dict[str, list[str]]:
    """Module → the pages with an ``automodule`` of it."""
    found: dict[str, list[str]] = {}
    for page, text in _pages().items():
        for name in AUTOMODULE.findall(text):
            found.setdefault(name, []).append(page)
    return found


def _autosummary(text: str) -> list[str]:
    """The entries of a page's ``autosummary`` tables (options such as ``:nosignatures:`` left out)."""
    entries = []
    for body in AUTOSUMMARY.findall(text):
        entries += [line.strip() for line in body.splitlines() if line.strip() and not line.strip().startswith(":")]
    return entries


def test_the_module_discovery_sees_the_package():
    modules = _modules()
    assert {
        "csmsasr_utils",
        "csmsasr_utils.data.dataset",
        "csmsasr_utils.asr.engines.base",
        "csmsasr_utils.msa.models.tfn",
        "csmsasr_utils.encoders",
    } <= modules


def test_every_module_is_documented_exactly_once():
    documented = _documented()
    missing = sorted(_modules() - set(documented))
    assert not missing, f"modules without an automodule in book/api/*.md: {missing}"
    twice = {name: pages for name, pages in documented.items() if len(pages) > 1}
    assert not twice, f"modules documented on more than one page (duplicate objects): {twice}"
    stale = sorted(set(documented) - _modules())
    assert not stale, f"automodule of a module that does not exist (renamed?): {stale}"


def test_each_page_summarises_the_modules_it_documents():
    for page, text in _pages().items():
        assert sorted(_autosummary(text)) == sorted(AUTOMODULE.findall(text)), page


def test_every_reference_page_is_in_the_table_of_contents():
    toc = yaml.safe_load((REPO / "_toc.yml").read_text(encoding="utf-8"))
    files: list[str] = []

    def collect(entries):
        for entry in entries:
            if "file" in entry:
                files.append(entry["file"])
            collect(entry.get("sections", []))

    for part in toc.get("parts", []):
        collect(part.get("chapters", []))
    in_toc = {f.removesuffix(".md") for f in files if f.startswith("book/api/")}
    pages = {f"book/api/{page}" for page in _pages()}
    assert pages, "no reference pages"
    assert pages == in_toc, f"not in _toc.yml: {sorted(pages - in_toc)}; missing files: {sorted(in_toc - pages)}"


def test_the_reference_is_built_offline_and_must_resolve_the_package():
    config = yaml.safe_load((REPO / "_config.yml").read_text(encoding="utf-8"))["sphinx"]
    assert {"sphinx.ext.autodoc", "sphinx.ext.autosummary", "sphinx_codeautolink"} <= set(config["extra_extensions"])
    assert "sphinx.ext.intersphinx" not in config["extra_extensions"]
    # no stub files are generated: the pages in book/api are the whole source
    assert config["config"]["autosummary_generate"] is False
    # third-party names may stay unresolved; the package's own may not
    for kind, target in config["config"]["nitpick_ignore_regex"]:
        for name in ("csmsasr_utils", "csmsasr_utils.data.dataset.Dataset", "Dataset", "load_dataset"):
            assert not re.fullmatch(target, name), (kind, target, name)
