"""Open built pages in headless Chromium, as a reader would, and report what went wrong.

For each page :func:`open_page` records, from Chromium's own network log (``--log-net-log``),
every request the *page* made to a network address (browser-internal traffic — update checks,
account lookups, initiated by the browser process and marked ``not an origin`` — is reported
apart and allowed), the JavaScript errors printed to the console, whether MathJax rendered the
page's formulas (``mjx-container`` elements in the final DOM, no ``merror``), what a reader at a
laptop's width (1280 px) cannot see of the page's content (:data:`MEASURE_CLIPPING`), and optionally
a screenshot. A fresh user-data folder and ``--disable-background-networking`` keep runs
independent and quiet.

:func:`search` types a query into the book's offline search page and returns the links it lists.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from html import unescape
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
NETWORK_SCHEMES = ("http://", "https://", "ws://", "wss://", "ftp://")
LAPTOP_WIDTH = 1280  # px: the window width at which no content may be cut off

# Clipping is measured on the page as built, untouched: a test-only wrapper page (written to a
# scratch folder, never into the build) shows the page in a full-window iframe and, once it has
# loaded and MathJax has typeset, measures inside it (same origin for file: URLs thanks to
# --allow-file-access-from-files). The findings are written into the wrapper's own DOM, which
# --dump-dom returns. Real scrollbars are shown (no --hide-scrollbars), as for a reader. Content is
# "cut off" when
# * it is printed output (PRINTED_SELECTOR) whose lines are wider than their box: printed text
#   must wrap, a reader should not scroll sideways through a sentence;
# * it reaches past the first box above it (itself included) that clips without a usable
#   scrollbar: overflow-x hidden or clip, or auto/scroll with no room taken by a scrollbar
#   (`scrollbar-width: none`, a hidden ::-webkit-scrollbar). A box that scrolls, with its scrollbar
#   shown, makes its content reachable (wide tables); that box itself must then fit;
# * it reaches past the right edge of the article and, scrolled into view, is off the window or
#   covered there by something else (the sticky page-contents sidebar, say).
# Inline boxes (which do not clip), elements not displayed (closed toggles) and everything inside
# an element already reported are skipped; a formula is measured by its rendering (MathJax's
# assistive MathML is visually hidden).
CONTENT_SELECTOR = (
    "p, li, dt, dd, h1, h2, h3, h4, h5, h6, pre, table, img, svg, figure, blockquote, "
    "mjx-container, audio, video, div.output, div.cell_output"
)
PRINTED_SELECTOR = "div.cell_output pre"
MEASURE_CLIPPING = """
const frame = document.getElementById("page");
const report = (findings) => {
  const out = document.createElement("pre");
  out.id = "clipping-report";
  out.textContent = JSON.stringify(findings);
  document.body.appendChild(out);
};
const describe = (element) => {
  const name = element.tagName.toLowerCase() + [...element.classList].slice(0, 2).map((c) => "." + c).join("");
  const section = element.closest("section[id]");
  const text = (element.textContent || "").replace(/\\s+/g, " ").trim().slice(0, 70);
  return `${name}${section ? " in section #" + section.id : ""} "${text}"`;
};
const measure = (win, doc) => {
  const article = doc.querySelector("main .bd-article") || doc.querySelector("main") || doc.body;
  const articleRight = article.getBoundingClientRect().right;
  const viewport = doc.documentElement.clientWidth;
  const findings = [], reported = [];
  // room taken by a horizontal scrollbar at the bottom of a box: 0 when none is shown
  const scrollbarRoom = (node, style) => node.offsetHeight - node.clientHeight
    - parseFloat(style.borderTopWidth) - parseFloat(style.borderBottomWidth);
  const covered = (element, right) => {
    // drawn over by another part of its own cell output (a plotly figure's tool bar) is not covered
    const own = element.closest("div.cell_output") || element;
    element.scrollIntoView({block: "start"});
    const box = element.getBoundingClientRect();
    const xs = [articleRight + 2, Math.min(right, viewport) - 2];
    const ys = [box.top + 4, Math.min(box.bottom, win.innerHeight) - 4].filter((y) => y > 0);
    for (const x of xs) for (const y of ys) {
      const top = doc.elementFromPoint(x, y);
      if (top && !own.contains(top) && !top.contains(element)) return top;
    }
    return null;
  };
  for (const element of article.querySelectorAll(SELECTOR)) {
    // buttons (copy, toggles) show on hover, above the content: not content themselves
    if (element.closest("button") || reported.some((outer) => outer.contains(element))) continue;
    const box = element.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    let cut = null;
    if (element.matches(PRINTED) && element.scrollWidth > element.clientWidth + 1) {
      cut = `printed lines ${element.scrollWidth - element.clientWidth} px wider than their box (they must wrap)`;
    }
    // a formula's extent is that of its rendering (its assistive MathML is hidden, and may be wider)
    const rendered = element.matches("mjx-container") ? element.querySelector("mjx-math") || element : element;
    const drawn = rendered.getBoundingClientRect();
    // where its content ends (what the element itself may clip), and where it or its content ends
    const contentRight = rendered === element
      ? box.left + element.clientLeft + Math.max(element.scrollWidth, element.clientWidth)
      : drawn.right;
    let right = Math.max(contentRight, rendered === element ? box.right : drawn.right);
    for (let node = element; !cut && node && node !== article.parentElement; node = node.parentElement) {
      const style = win.getComputedStyle(node);
      if (style.overflowX === "visible" || ["inline", "contents"].includes(style.display)) continue;
      const edges = node.getBoundingClientRect();
      const limit = edges.left + node.clientLeft + node.clientWidth;
      if ((node === element ? contentRight : right) <= limit + 1) continue;
      const scrolls = ["auto", "scroll"].includes(style.overflowX) && scrollbarRoom(node, style) > 0;
      if (!scrolls) {
        cut = `cut off by ${node === element ? "itself" : describe(node).split(" ")[0]} ` +
              `(overflow-x: ${style.overflowX}${style.overflowX === "visible" ? "" : ", no scrollbar shown"}), ` +
              `${Math.round(right - limit)} px hidden`;
      }
      right = edges.right;  // reachable by scrolling: the scrolling box itself must fit
    }
    if (!cut && right > articleRight + 1) {
      if (right > viewport + 1) cut = `runs ${Math.round(right - viewport)} px off the window`;
      else {
        const above = covered(element, right);
        if (above) cut = `runs ${Math.round(right - articleRight)} px past the article's right edge, ` +
                         `under ${describe(above).split(" ")[0]}`;
      }
    }
    if (cut) { findings.push(`${describe(element)}: ${cut}`); reported.push(element); }
  }
  win.scrollTo(0, 0);
  return findings;
};
frame.addEventListener("load", async () => {
  try {
    const win = frame.contentWindow, doc = frame.contentDocument;
    if (win.MathJax && win.MathJax.startup && win.MathJax.startup.promise) await win.MathJax.startup.promise;
    await new Promise((resolve) => setTimeout(resolve, 500));
    report(measure(win, doc));
  } catch (error) {
    report([`could not measure the page: ${error}`]);
  }
});
"""


#: The flags of every headless run: no sandbox (containers), no GPU, and none of the browser's own
#: traffic (background networking, component updates, first-run pages), so runs stay independent
#: and what the network log shows is the page's.
HEADLESS: tuple[str, ...] = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-component-update",
)


def find_chromium() -> str | None:
    """The path of a Chromium executable, or ``None``."""
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


@dataclass
class PageReport:
    """What happened when one page was opened."""

    page: str
    page_requests: list[str] = field(default_factory=list)
    browser_requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    math_expected: bool = False
    math_rendered: int = 0
    math_errors: int = 0
    clipped: list[str] = field(default_factory=list)  # content cut off at LAPTOP_WIDTH (see MEASURE_CLIPPING)
    screenshot: Path | None = None


def _requests(net_log: Path) -> tuple[list[str], list[str]]:
    """(page-initiated, browser-internal) network URLs from a Chromium net-log file."""
    data = json.loads(net_log.read_text(encoding="utf-8", errors="replace") or "{}")
    start_job = data.get("constants", {}).get("logEventTypes", {}).get("URL_REQUEST_START_JOB")
    page, browser = set(), set()
    for event in data.get("events", []):
        params = event.get("params") or {}
        url = str(params.get("url", ""))
        if event.get("type") != start_job or not url.startswith(NETWORK_SCHEMES):
            continue
        (browser if params.get("initiator") == "not an origin" else page).add(url)
    return sorted(page), sorted(browser)


def _run(chromium: str, flags: list[str], url: str, timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run([chromium, *flags, url], capture_output=True, text=True, timeout=timeout, check=False)


def _clipping_wrapper(page: Path, width: int) -> str:
    """The test-only page that shows ``page`` in a ``width``-wide iframe and measures what is cut off."""
    script = MEASURE_CLIPPING.replace("SELECTOR", json.dumps(CONTENT_SELECTOR)).replace(
        "PRINTED", json.dumps(PRINTED_SELECTOR)
    )
    return (
        f'<!DOCTYPE html><html><head><meta charset="utf-8"></head>'
        f'<body style="margin:0;overflow:hidden"><iframe id="page" src="{page.as_uri()}" '
        f'style="border:0;display:block;width:{width}px;height:100vh"></iframe>'
        f"<script>{script}</script></body></html>"
    )


def _clipped(chromium: str, common: list[str], html_file: Path, scratch: Path, width: int, timeout: float) -> list[str]:
    """What of ``html_file``'s content a reader cannot see at ``width`` px (an empty list: nothing)."""
    wrapper = scratch / "measure-clipping.html"
    wrapper.write_text(_clipping_wrapper(html_file, width), encoding="utf-8")
    # real scrollbars (no --hide-scrollbars): they take their room in the layout, as for a reader
    flags = [flag for flag in common if flag != "--hide-scrollbars"]
    result = _run(
        chromium,
        [
            *flags,
            f"--user-data-dir={scratch / 'profile3'}",
            "--allow-file-access-from-files",
            f"--window-size={width},900",
            "--dump-dom",
        ],
        wrapper.as_uri(),
        timeout,
    )
    found = re.search(r'<pre id="clipping-report">(.*?)</pre>', result.stdout, re.DOTALL)
    if found is None:
        return [
            f"clipping not measured: expected the wrapper page to report within the time budget, found no "
            f"report (Chromium exit {result.returncode}: {result.stderr.strip()[-300:]}); "
            "raise budget_ms if the page is slow to load"
        ]
    return json.loads(unescape(found[1]))


def open_page(
    chromium: str,
    html_file: Path,
    *,
    screenshot: Path | None = None,
    budget_ms: int = 10_000,
    timeout: float = 90,
    check_clipping: bool = True,
    width: int = LAPTOP_WIDTH,
) -> PageReport:
    """Open ``html_file`` two or three times: a DOM dump with network and console logs; the page
    shown ``width`` px wide in a measuring wrapper (``check_clipping``, fills ``clipped``); then a
    screenshot at the same width."""
    html_file = Path(html_file).resolve()
    report = PageReport(page=html_file.name, math_expected='class="math' in html_file.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        common = [
            *HEADLESS,
            f"--virtual-time-budget={budget_ms}",
            "--hide-scrollbars",
        ]
        net_log = scratch / "net.json"
        result = _run(
            chromium,
            [
                *common,
                f"--user-data-dir={scratch / 'profile'}",
                f"--log-net-log={net_log}",
                "--enable-logging=stderr",
                "--v=0",
                "--dump-dom",
            ],
            html_file.as_uri(),
            timeout,
        )
        report.page_requests, report.browser_requests = _requests(net_log) if net_log.exists() else ([], [])
        report.console_errors = [
            line
            for line in result.stderr.splitlines()
            if "CONSOLE" in line and re.search(r"Uncaught|Error|ERROR", line)
        ]
        report.math_rendered = result.stdout.count("<mjx-container")
        report.math_errors = result.stdout.count("<mjx-merror")
        if check_clipping:
            report.clipped = _clipped(chromium, common, html_file, scratch, width, timeout)
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            _run(
                chromium,
                [
                    *common,
                    f"--user-data-dir={scratch / 'profile2'}",
                    f"--window-size={width},2400",
                    f"--screenshot={screenshot}",
                ],
                html_file.as_uri(),
                timeout,
            )
            report.screenshot = screenshot if screenshot.exists() else None
    return report


# --- Hovering an interactive (plotly) figure, through the DevTools protocol ------------------------

#: Finds the first plotly figure of the page once drawn, records the point of the next
#: ``plotly_hover`` event, scrolls the figure into view and returns where point 0 of its first
#: trace is on the screen (CSS pixels of the viewport): a scatter's first clip, a heat map's first cell.
_FIRST_POINT_JS = """(async () => {
  const until = Date.now() + 20000;
  let div;
  while (!(div = document.querySelector('.js-plotly-plot')) || !div._fullLayout || !div._fullData) {
    if (Date.now() > until) return {error: 'no plotly figure was drawn'};
    await new Promise(r => setTimeout(r, 100));
  }
  window.__csmsasrHovered = null;
  div.on('plotly_hover', e => {
    const p = e.points[0];
    window.__csmsasrHovered = {curveNumber: p.curveNumber, pointNumber: p.pointNumber, customdata: p.customdata};
  });
  div.scrollIntoView({block: 'center'});
  await new Promise(r => setTimeout(r, 300));
  const trace = div._fullData[0];
  const xa = div._fullLayout[trace.xaxis.replace('x', 'xaxis')], ya = div._fullLayout[trace.yaxis.replace('y', 'yaxis')];
  const first = (values, start) => (Array.isArray(values) || ArrayBuffer.isView(values)) ? values[0] : start;
  const x0 = first(trace.x, trace.x0), y0 = first(trace.y, trace.y0);  // plotly.py sends typed arrays
  const svg = div.querySelector('.main-svg').getBoundingClientRect();
  return {x: svg.left + xa._offset + xa.c2p(xa.d2c(x0)), y: svg.top + ya._offset + ya.c2p(ya.d2c(y0)), id: div.id};
})()"""

#: Waits for plotly's hover label and returns its text, one line per ``<br>`` of the label.
_HOVER_TEXT_JS = """(async () => {
  for (let i = 0; i < 50 && !document.querySelector('.hoverlayer .hovertext'); i++) {
    await new Promise(r => setTimeout(r, 100));
  }
  const texts = [...document.querySelectorAll('.js-plotly-plot .hoverlayer .hovertext text')];
  const lines = texts.flatMap(t => {
    const parts = [...t.querySelectorAll('tspan.line')];
    return parts.length ? parts.map(p => p.textContent) : [t.textContent];
  });
  return {text: lines.join('\\n'), hovered: window.__csmsasrHovered};
})()"""


@dataclass
class HoverReport:
    """What hovering the first point of a page's first plotly figure showed."""

    page: str
    figure_id: str = ""
    hover_text: str = ""
    point: dict | None = None  # the plotly_hover event's point: curveNumber, pointNumber, customdata
    page_requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)


class _DevTools:
    """A headless Chromium driven through ``--remote-debugging-pipe``: the DevTools protocol as
    NUL-terminated JSON messages on file descriptors 3 (to the browser) and 4 (from it). Only the
    standard library is needed, no WebSocket client and no port."""

    def __init__(self, chromium: str, flags: list[str], timeout: float) -> None:
        import fcntl
        import os

        self.timeout = timeout
        to_browser_r, self._to_browser = os.pipe()
        self._from_browser, from_browser_w = os.pipe()

        def give_pipes() -> None:  # in the child: the protocol's descriptors at 3 and 4
            read_end = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10)  # out of the way of 3 and 4 first
            write_end = fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(read_end, 3)
            os.dup2(write_end, 4)

        self.process = subprocess.Popen(
            [chromium, *flags, "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=False,
            preexec_fn=give_pipes,
        )
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._last_id = 0
        self.events: list[dict] = []

    def _read(self, deadline: float) -> dict:
        import os
        import select
        import time

        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._from_browser], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._from_browser, 1 << 16)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)

    def send(self, method: str, params: dict | None = None, session: str | None = None) -> dict:
        """Send one command and return its result; events read meanwhile are kept in ``events``."""
        import os
        import time

        self._last_id += 1
        message = {"id": self._last_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            answer = self._read(deadline)
            if answer.get("id") != self._last_id:
                self.events.append(answer)
            elif "error" in answer:
                raise RuntimeError(f"{method}: {answer['error']}")
            else:
                return answer.get("result", {})

    def wait_for(self, method: str, timeout: float) -> dict:
        """The first event ``method`` (already read or yet to come)."""
        import time

        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for event in self.events[seen:]:
                if event.get("method") == method:
                    return event
            seen = len(self.events)
            self.events.append(self._read(deadline))

    def evaluate(self, expression: str, session: str) -> object:
        """The value of a JavaScript expression in the page (promises awaited)."""
        result = self.send(
            "Runtime.evaluate", {"expression": expression, "awaitPromise": True, "returnByValue": True}, session
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"script failed: {result['exceptionDetails'].get('text')}")
        return result.get("result", {}).get("value")

    def close(self) -> None:
        import os

        try:
            self.send("Browser.close")
        except (RuntimeError, TimeoutError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._to_browser, self._from_browser):
            os.close(fd)


def _problems(events: list[dict]) -> tuple[list[str], list[str]]:
    """(network requests, console errors) among DevTools events of a page: every uncaught
    exception, and the console's error messages that :func:`open_page` counts (those naming an
    error: the theme's own notices, such as "Got invalid theme mode", are not script errors)."""
    requests, errors = set(), []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Network.requestWillBeSent":
            url = params.get("request", {}).get("url", "")
            if url.startswith(NETWORK_SCHEMES):
                requests.add(url)
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            errors.append(f"Uncaught {details.get('exception', {}).get('description') or details.get('text')}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            errors.append(" ".join(str(arg.get("value", arg.get("description", ""))) for arg in params.get("args", [])))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
            errors.append(params["entry"].get("text", ""))
    return sorted(requests), [error for error in errors if re.search(r"Uncaught|Error|ERROR", error)]


def hover_first_point(
    chromium: str, html_file: Path, *, screenshot: Path | None = None, timeout: float = 90
) -> HoverReport:
    """Open ``html_file`` in headless Chromium, move the mouse onto the first point of the page's
    first plotly figure, as a reader would, and report the hover label's text (one line per line
    of the label), the point plotly reports as hovered, and the page's network requests and console
    errors meanwhile. The mouse event is a real one (``Input.dispatchMouseEvent``): plotly's own
    hover handling decides what to show. ``screenshot``: a PNG of the window, hover label shown."""
    html_file = Path(html_file).resolve()
    report = HoverReport(page=html_file.name)
    with tempfile.TemporaryDirectory() as scratch:
        flags = [
            *HEADLESS,
            "--hide-scrollbars",
            "--window-size=1280,1600",
            f"--user-data-dir={Path(scratch) / 'profile'}",
        ]
        browser = _DevTools(chromium, flags, timeout)
        try:
            target = next(
                t["targetId"] for t in browser.send("Target.getTargets")["targetInfos"] if t["type"] == "page"
            )
            session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
            for domain in ("Page", "Runtime", "Network", "Log"):
                browser.send(f"{domain}.enable", session=session)
            browser.send("Page.navigate", {"url": html_file.as_uri()}, session)
            browser.wait_for("Page.loadEventFired", timeout)
            where = browser.evaluate(_FIRST_POINT_JS, session)
            if not isinstance(where, dict) or "error" in where:
                raise RuntimeError(f"{html_file.name}: {where}")
            report.figure_id = where.get("id", "")
            for dx in (1, 0):  # arrive at the point as a moving mouse does
                browser.send(
                    "Input.dispatchMouseEvent", {"type": "mouseMoved", "x": where["x"] + dx, "y": where["y"]}, session
                )
            shown = browser.evaluate(_HOVER_TEXT_JS, session) or {}
            report.hover_text, report.point = shown.get("text", ""), shown.get("hovered")
            if screenshot is not None:
                import base64

                png = browser.send("Page.captureScreenshot", {"format": "png"}, session)["data"]
                screenshot.parent.mkdir(parents=True, exist_ok=True)
                screenshot.write_bytes(base64.b64decode(png))
            report.page_requests, report.console_errors = _problems(browser.events)
        finally:
            browser.close()
    return report


class _SearchResults(HTMLParser):
    """The ``href`` of every link inside the search page's ``#search-results`` element."""

    VOID = frozenset("area base br col embed hr img input link meta source track wbr".split())

    def __init__(self) -> None:
        super().__init__()
        self.depth = 0  # > 0 while inside #search-results
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if self.depth:
            self.depth += tag not in self.VOID
            if tag == "a" and values.get("href"):
                self.links.append(values["href"])
        elif values.get("id") == "search-results":
            self.depth = 1

    def handle_endtag(self, tag: str) -> None:
        if self.depth and tag not in self.VOID:
            self.depth -= 1


def search(chromium: str, html_dir: Path, query: str, *, budget_ms: int = 10_000, timeout: float = 90) -> list[str]:
    """The result links (``href``, relative to ``html_dir``) that the book's offline search page lists
    for ``query``: ``search.html?q=...`` opened as a reader would, its index (``searchindex.js``)
    loaded from the build folder, the results read from the final DOM."""
    page = Path(html_dir).resolve() / "search.html"
    if not page.is_file():
        raise FileNotFoundError(
            f"expected the search page {page} (Sphinx writes it in every HTML build); found none: build the book first"
        )
    with tempfile.TemporaryDirectory() as scratch:
        flags = [
            *HEADLESS,
            f"--virtual-time-budget={budget_ms}",
            f"--user-data-dir={Path(scratch) / 'profile'}",
            "--dump-dom",
        ]
        result = _run(chromium, flags, f"{page.as_uri()}?q={quote(query)}", timeout)
    parser = _SearchResults()
    parser.feed(result.stdout)
    return parser.links
