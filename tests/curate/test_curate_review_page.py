"""The plan's review page renders in headless Chromium with every thumbnail loaded."""
from __future__ import annotations

from pathlib import Path

import pytest

from curatehelp import DLIB_CUTS, _library, library  # noqa: F401

CHROMIUM = Path("/usr/bin/chromium")


@pytest.mark.slow
def test_review_page_renders_with_thumbnails(library, tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("chromium is not installed at /usr/bin/chromium")
    plan = library.plan("consolidate", *DLIB_CUTS)
    page_path = library.plan_path("consolidate").with_suffix(".html")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        page = browser.new_page()
        page.goto(page_path.as_uri())
        page.wait_for_load_state("load")
        sizes = page.eval_on_selector_all("img", "imgs => imgs.map(i => [i.complete, i.naturalWidth])")
        sections = page.locator("section").count()
        page.screenshot(path=str(tmp_path / "review.png"), full_page=True)
        browser.close()
    assert sections == len(plan["groups"]) >= 1
    assert sizes and all(done and width > 0 for done, width in sizes)
    assert (tmp_path / "review.png").stat().st_size > 0
