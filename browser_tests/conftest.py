"""Fixtures of the browser test (`make browser-test`): the built book, the system Chromium driven by Playwright.

Not collected by `make test` (which runs pytest on tests/ and book/). Environment:
    BOOK_HTML   the built book (default: _build/html at the repository root)
    CHROMIUM    the browser executable (default: the first of chromium, chromium-browser, google-chrome on PATH)
    SCREENSHOTS where the page screenshots go (default: _build/screenshots)
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BOOK_HTML = Path(os.environ.get("BOOK_HTML", ROOT / "_build" / "html"))
SCREENSHOTS = Path(os.environ.get("SCREENSHOTS", ROOT / "_build" / "screenshots"))


def chromium_executable() -> str:
    candidates = [os.environ["CHROMIUM"]] if os.environ.get("CHROMIUM") else [
        "chromium", "chromium-browser", "google-chrome"]
    for name in candidates:
        path = shutil.which(name)
        if path:
            return path
    pytest.fail(
        f"no Chromium found ({', '.join(candidates)}): install it (Debian/Ubuntu: `sudo apt-get install chromium`)"
        " or set CHROMIUM=/path/to/chromium. Playwright drives the system browser; no `playwright install`.",
        pytrace=False,
    )


@pytest.fixture(scope="session")
def book_html() -> Path:
    if not (BOOK_HTML / "index.html").is_file():
        pytest.fail(f"no built book in {BOOK_HTML}: run make book first", pytrace=False)
    return BOOK_HTML


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS


@pytest.fixture(scope="session")
def browser():
    from pagecheck import CHROMIUM_ARGS
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_executable(), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def context(browser):
    from pagecheck import new_offline_context

    context = new_offline_context(browser)
    yield context
    context.close()
