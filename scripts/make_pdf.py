"""Print the built book as one PDF (``make pdf``): a title page, contents, every page of the book.

**Why this route.** The book is an offline site; its PDF is printed from the very HTML pages a
reader opens (``make book``, ``_build/html``), by the headless Chromium the tests already use, so
it needs no LaTeX, no network and no second execution of the notebooks: the figures, the rendered
formulas (MathJax, served by the book) and the Chinese text (the system's CJK fonts, Noto CJK on
Debian) are those of the pages.

**How.** The pages are taken in the order of ``_toc.yml``, except the parts of
:data:`ONLINE_ONLY_PARTS` (the package reference: some 280 pages of function entries that a class
handout does not need; it stays on the site). Each is printed on A4 by
``chromium --headless --print-to-pdf`` (the book's print style sheet, ``book/_static/csmsasr.css``,
hides the navigation and lets long lines and wide tables wrap onto the paper). Then, with pypdf:

* a title page and a table of contents (parts, chapters, their first page) are printed the same way
  from a small generated HTML page and put in front;
* every page gets its number, stamped from a generated page of numbers;
* links from one page of the book to another (``file://`` addresses of the build folder in
  Chromium's output) go to that chapter's first page in the PDF; other links into the build folder
  (downloads) are removed, links to the web stay;
* the PDF's outline (bookmarks) lists the parts and chapters, and its metadata carries the book's
  title and author from ``_config.yml``.

Usage: ``python scripts/make_pdf.py [--html _build/html] [--output _build/pdf/csmsasr-book.pdf]``.
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import yaml
from pypdf import PdfReader, PdfWriter
from pypdf.generic import ArrayObject, NameObject

REPO = Path(__file__).resolve().parents[1]
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
PAGE_STYLE = "@page { size: A4; margin: 16mm 15mm 18mm 15mm; }"


@dataclass
class Chapter:
    """One page of the book, in table-of-contents order."""

    part: str | None  # the caption of its part in _toc.yml, if any
    html_file: Path
    title: str = ""
    first_page: int = 0  # 0-based, in the final PDF
    pages: int = 0


def find_chromium() -> str:
    """The path of a Chromium executable; an error saying how to install one if there is none."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    sys.exit(
        f"make_pdf: expected a Chromium executable ({', '.join(CHROMIUM_NAMES)}) on PATH, found none; "
        "install it (Debian: apt-get install chromium)"
    )


#: Parts of ``_toc.yml`` (by caption) that the PDF leaves out: the reference pages of the package.
ONLINE_ONLY_PARTS: tuple[str, ...] = ("Package reference",)


def toc_chapters(toc_file: Path, html_dir: Path) -> list[Chapter]:
    """The book's pages in the order of the Jupyter Book table of contents ``toc_file`` (``root``,
    then ``parts`` with their ``caption`` and ``chapters``, or top-level ``chapters``; nested
    ``sections`` follow their chapter), each as its HTML file in ``html_dir``."""
    toc = yaml.safe_load(toc_file.read_text(encoding="utf-8"))
    entries: list[tuple[str | None, str]] = [(None, toc["root"])]

    def walk(items: list[dict], part: str | None) -> None:
        for item in items or []:
            if "file" in item:
                entries.append((part, item["file"]))
            walk(item.get("sections", []), part)

    for part in toc.get("parts", []):
        if part.get("caption") not in ONLINE_ONLY_PARTS:
            walk(part.get("chapters", []), part.get("caption"))
    walk(toc.get("chapters", []), None)
    chapters = [Chapter(part, html_dir / f"{Path(name).with_suffix('')}.html") for part, name in entries]
    missing = [str(c.html_file) for c in chapters if not c.html_file.is_file()]
    if missing:
        sys.exit(
            f"make_pdf: expected every page of {toc_file.name} in {html_dir}, found these missing: {missing}; "
            "build the book first (make book)"
        )
    return chapters


def page_title(html_file: Path) -> str:
    """The title of a built page as its ``<title>`` gives it, without the book's name: numbered
    where the book numbers it (``1. Dataset statistics``). The page's first ``<h1>`` is not used:
    the theme's header repeats the title there without its number."""
    found = re.search(r"<title>(.*?)</title>", html_file.read_text(encoding="utf-8"), re.S)
    title = html.unescape(found[1]).split(" \u2014 ")[0] if found else ""
    return " ".join(title.split()) or html_file.stem


def print_to_pdf(chromium: str, source: Path, target: Path, scratch: Path, budget_ms: int = 20_000) -> None:
    """Print the HTML file ``source`` to ``target`` with headless Chromium, after ``budget_ms`` of
    virtual time (scripts run: MathJax typesets the formulas)."""
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        "--no-default-browser-check",
        "--disable-component-update",
        "--run-all-compositor-stages-before-draw",
        f"--virtual-time-budget={budget_ms}",
        f"--user-data-dir={scratch / 'profile'}",
        "--no-pdf-header-footer",
        f"--print-to-pdf={target}",
    ]
    result = subprocess.run(
        [chromium, *flags, source.as_uri()], capture_output=True, text=True, timeout=300, check=False
    )
    if not target.is_file() or target.stat().st_size == 0:
        sys.exit(
            f"make_pdf: expected Chromium to print {source} to {target}, found no PDF "
            f"(exit {result.returncode}): {result.stderr.strip()[-1000:]}"
        )


def front_matter_html(title: str, author: str, chapters: list[Chapter]) -> str:
    """The title page and the table of contents (page numbers 1-based, as stamped on the pages)."""
    rows, part = [], object()
    for chapter in chapters:
        if chapter.part != part and chapter.part:
            rows.append(f'<li class="part">{html.escape(chapter.part)}</li>')
        part = chapter.part
        rows.append(
            f'<li class="chapter"><span>{html.escape(chapter.title)}</span>'
            f'<span class="page">{chapter.first_page + 1}</span></li>'
        )
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
{PAGE_STYLE}
body {{ font-family: "Noto Sans", "Noto Sans CJK SC", sans-serif; color: #222; }}
.cover {{ height: 240mm; display: flex; flex-direction: column; justify-content: center; text-align: center;
          break-after: page; }}
.cover h1 {{ font-size: 26pt; font-weight: 600; margin: 0 0 12mm; }}
.cover p {{ font-size: 13pt; margin: 2mm 0; }}
h2 {{ font-size: 18pt; font-weight: 600; }}
ol {{ list-style: none; padding: 0; font-size: 12pt; }}
li.part {{ font-weight: 600; margin-top: 5mm; }}
li.chapter {{ display: flex; justify-content: space-between; margin: 1.5mm 0 1.5mm 6mm;
              border-bottom: 1px dotted #999; }}
</style></head><body>
<section class="cover"><h1>{html.escape(title)}</h1><p>{html.escape(author)}</p>
<p style="font-size:10pt;color:#666">Printed from the HTML book (make pdf)</p></section>
<h2>Contents</h2><ol>{"".join(rows)}</ol>
</body></html>"""


def page_numbers_html(count: int) -> str:
    """``count`` A4 pages that hold nothing but their number, bottom centre (stamped onto the book)."""
    pages = "".join(f'<div class="page"><span>{n}</span></div>' for n in range(1, count + 1))
    return f"""<!DOCTYPE html><html><head><meta charset="utf-8"><style>
@page {{ size: A4; margin: 0; }}
body {{ margin: 0; font-family: "Noto Sans", sans-serif; font-size: 9pt; color: #555; }}
.page {{ height: 297mm; position: relative; break-after: page; overflow: hidden; }}
.page span {{ position: absolute; bottom: 9mm; left: 0; right: 0; text-align: center; }}
</style></head><body>{pages}</body></html>"""


def link_pages(writer: PdfWriter, starts: dict[Path, int]) -> None:
    """Turn Chromium's ``file://`` links between the book's pages into links to the target chapter's
    first page; drop other ``file://`` links (into the build folder, useless in a PDF)."""
    for page in writer.pages:
        if "/Annots" not in page:
            continue
        kept = ArrayObject()
        for reference in page["/Annots"].get_object():
            annotation = reference.get_object()
            action = annotation.get("/A")
            uri = str(action.get_object().get("/URI", "")) if action is not None else ""
            if uri.startswith("file:"):
                target = starts.get(Path(unquote(urlparse(uri).path)).resolve())
                if target is None:
                    continue
                del annotation["/A"]
                annotation[NameObject("/Dest")] = ArrayObject(
                    [writer.pages[target].indirect_reference, NameObject("/Fit")]
                )
            kept.append(reference)
        page[NameObject("/Annots")] = kept


def make_pdf(html_dir: Path, output: Path, toc_file: Path, config_file: Path, chromium: str | None = None) -> Path:
    """Print the book built in ``html_dir`` to ``output``; returns ``output``."""
    chromium = chromium or find_chromium()
    config = yaml.safe_load(config_file.read_text(encoding="utf-8"))
    title, author = str(config.get("title", "")), str(config.get("author", ""))
    chapters = toc_chapters(toc_file, html_dir.resolve())
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        readers = []
        for index, chapter in enumerate(chapters):
            chapter.title = page_title(chapter.html_file)
            target = scratch / f"{index:02d}.pdf"
            print(f"make_pdf: printing {chapter.html_file.relative_to(html_dir.resolve())}", flush=True)
            print_to_pdf(chromium, chapter.html_file, target, scratch)
            readers.append(PdfReader(target))
            chapter.pages = len(readers[-1].pages)
        # the front matter's length does not depend on the page numbers it shows: print it once to
        # count its pages, then again with the numbers
        front = scratch / "front.html"
        front.write_text(front_matter_html(title, author, chapters), encoding="utf-8")
        print_to_pdf(chromium, front, scratch / "front.pdf", scratch)
        page = len(PdfReader(scratch / "front.pdf").pages)
        for chapter in chapters:
            chapter.first_page, page = page, page + chapter.pages
        front.write_text(front_matter_html(title, author, chapters), encoding="utf-8")
        print_to_pdf(chromium, front, scratch / "front.pdf", scratch)

        writer = PdfWriter()
        writer.append(PdfReader(scratch / "front.pdf"))
        for reader in readers:
            writer.append(reader)
        numbers_html = scratch / "numbers.html"
        numbers_html.write_text(page_numbers_html(len(writer.pages)), encoding="utf-8")
        print_to_pdf(chromium, numbers_html, scratch / "numbers.pdf", scratch, budget_ms=2_000)
        numbers = PdfReader(scratch / "numbers.pdf")
        if len(numbers.pages) != len(writer.pages):
            sys.exit(
                f"make_pdf: expected {len(writer.pages)} pages of page numbers, found {len(numbers.pages)}; "
                "check page_numbers_html's page size against PAGE_STYLE"
            )
        for book_page, number in zip(writer.pages, numbers.pages, strict=True):
            book_page.merge_page(number)

        link_pages(writer, {chapter.html_file.resolve(): chapter.first_page for chapter in chapters})
        parts: dict[str, object] = {}
        for chapter in chapters:
            parent = None
            if chapter.part:
                if chapter.part not in parts:
                    parts[chapter.part] = writer.add_outline_item(title=chapter.part, page_number=chapter.first_page)
                parent = parts[chapter.part]
            writer.add_outline_item(title=chapter.title, page_number=chapter.first_page, parent=parent)
        writer.add_metadata({"/Title": title, "/Author": author, "/Creator": "scripts/make_pdf.py (headless Chromium)"})
        writer.page_mode = "/UseOutlines"
        output.parent.mkdir(parents=True, exist_ok=True)
        with output.open("wb") as stream:
            writer.write(stream)
    print(f"make_pdf: wrote {output} ({len(writer.pages)} pages, {output.stat().st_size / 1e6:.1f} MB)")
    return output


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--html", type=Path, default=REPO / "_build" / "html", help="the built book (make book)")
    parser.add_argument("--output", type=Path, default=REPO / "_build" / "pdf" / "csmsasr-book.pdf")
    parser.add_argument("--toc", type=Path, default=REPO / "_toc.yml")
    parser.add_argument("--config", type=Path, default=REPO / "_config.yml")
    parser.add_argument("--chromium", help="the Chromium executable (default: found on PATH)")
    args = parser.parse_args(argv)
    make_pdf(args.html, args.output, args.toc, args.config, args.chromium)


if __name__ == "__main__":
    main()
