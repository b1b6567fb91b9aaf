# UI area: Debian's chromium, the real browser of the UI tests (tests/ui/browser.py drives it headless
# over the DevTools protocol; no browser download of a test framework's own).

PROVISION += chromium

chromium: ## install Debian's chromium (apt) for the browser tests of tests/ui, when missing
	@bash tests/ui/setup_chromium.sh

ui-test: chromium venv ## only the browser tests (headless chromium)
	$(BIN)/pytest tests/ui

.PHONY: chromium ui-test
