# The two commands of the README:
#   make run    install everything and start Redis, a worker and the web app at http://127.0.0.1:5000
#   make test   install everything and run every test (unit, integration, browser)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test install install-dev install-test-services bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt

install-dev: $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt

# Browser tests drive Debian's Chromium (Playwright's own browser download cannot work offline);
# the multi-host tests start a throwaway PostgreSQL from Debian's package.
install-test-services:
	bash scripts/install_browser.sh
	bash scripts/install_test_services.sh

run: install
	bash scripts/run_app.sh

test: install-dev install-test-services
	$(BIN)/python -m pytest --durations=15

bench: install
	$(BIN)/python -m rnncore.bench --compare

clean:
	rm -rf $(VENV) .pytest_cache
