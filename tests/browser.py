"""Open built pages in headless Chromium, as a reader would, and report what went wrong.

For each page :func:`open_page` records, from Chromium's own network log (``--log-net-log``),
every request the *page* made to a network address (browser-internal traffic — update checks,
account lookups, initiated by the browser process and marked ``not an origin`` — is reported
apart and allowed), the JavaScript errors printed to the console, whether MathJax rendered the
page's formulas (``mjx-container`` elements in the final DOM, no ``merror``), and optionally a
screenshot. A fresh user-data folder and ``--disable-background-networking`` keep runs
independent and quiet.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
NETWORK_SCHEMES = ("http://", "https://", "ws://", "wss://", "ftp://")


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


def open_page(chromium: str, html_file: Path, *, screenshot: Path | None = None, budget_ms: int = 10_000,
              timeout: float = 90) -> PageReport:
    """Open ``html_file`` twice (DOM dump with network and console logs, then a screenshot)."""
    html_file = Path(html_file).resolve()
    report = PageReport(page=html_file.name, math_expected='class="math' in html_file.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        common = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--no-first-run", "--no-default-browser-check", "--disable-component-update",
                  f"--virtual-time-budget={budget_ms}", "--hide-scrollbars"]
        net_log = scratch / "net.json"
        result = _run(chromium, [*common, f"--user-data-dir={scratch / 'profile'}", f"--log-net-log={net_log}",
                                 "--enable-logging=stderr", "--v=0", "--dump-dom"], html_file.as_uri(), timeout)
        report.page_requests, report.browser_requests = _requests(net_log) if net_log.exists() else ([], [])
        report.console_errors = [line for line in result.stderr.splitlines()
                                 if "CONSOLE" in line and re.search(r"Uncaught|Error|ERROR", line)]
        report.math_rendered = result.stdout.count("<mjx-container")
        report.math_errors = result.stdout.count("<mjx-merror")
        if screenshot is not None:
            screenshot.parent.mkdir(parents=True, exist_ok=True)
            _run(chromium, [*common, f"--user-data-dir={scratch / 'profile2'}", "--window-size=1280,2400",
                            f"--screenshot={screenshot}"], html_file.as_uri(), timeout)
            report.screenshot = screenshot if screenshot.exists() else None
    return report
