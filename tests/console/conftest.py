"""Fixtures of the console tests: a browser per module (skipped, with the reason, where
Chromium cannot be had), screenshots kept where GUMSHOE_SCREENSHOTS names a folder."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from console_browser import Browser, unavailable


@pytest.fixture(scope="module")
def make_browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], Browser]]:
    reason = unavailable()
    if reason is not None:
        pytest.skip(f"browser tests skipped: {reason}")
    shots = Path(os.environ["GUMSHOE_SCREENSHOTS"]) if os.environ.get("GUMSHOE_SCREENSHOTS") else None
    made: list[Browser] = []

    def factory(base_url: str) -> Browser:
        browser = Browser(base_url, shots or tmp_path_factory.mktemp("shots"))
        made.append(browser)
        return browser

    yield factory
    for browser in made:
        browser.quit()


@pytest.fixture
def no_console_errors(request: pytest.FixtureRequest) -> Iterator[Callable[[Any], None]]:
    """Tests register their browser here; after the test, its console must have no SEVERE entry."""
    watched: list[Any] = []
    yield watched.append
    for browser in watched:
        errors = browser.console_errors()
        assert errors == [], errors
