"""The UI tests' real browser: the ``browser`` fixture of tests/ui/browser.py (headless chromium)."""

from tests.ui.browser import browser  # noqa: F401  (registers the fixture for tests/ui)
