"""The browser check itself, on hand-made pages: it must see what it is meant to catch."""

from __future__ import annotations

import pytest

from tests.browser import find_chromium, open_page

CHROMIUM = find_chromium()
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (CI installs it)")


@needs_chromium
def test_an_external_image_and_a_script_error_are_caught(tmp_path):
    page = tmp_path / "bad.html"
    page.write_text(
        '<html><body><img src="https://example.invalid/x.png"><script>undefinedFunction()</script></body></html>'
    )
    report = open_page(CHROMIUM, page, budget_ms=2000)
    assert report.page_requests == ["https://example.invalid/x.png"]
    assert any("undefinedFunction" in line for line in report.console_errors)


@needs_chromium
def test_a_clean_local_page_passes_and_is_photographed(tmp_path):
    (tmp_path / "style.css").write_text("body { color: #333 }")
    page = tmp_path / "good.html"
    page.write_text('<html><head><link rel="stylesheet" href="style.css"></head><body><p>长沙话</p></body></html>')
    report = open_page(CHROMIUM, page, screenshot=tmp_path / "shot.png", budget_ms=2000)
    assert report.page_requests == [] and report.console_errors == []
    assert not report.math_expected and report.screenshot is not None and report.screenshot.stat().st_size > 1000
