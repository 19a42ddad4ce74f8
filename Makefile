# Two commands on a fresh clone: `make demo` runs the main job, `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.docket-installed
PIP_FLAGS := --disable-pip-version-check -q --only-binary grpcio

.PHONY: demo test lint typecheck unit lock clean vendor browser notebooks

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) --upgrade pip
	$(BIN)/python -m pip install $(PIP_FLAGS) -c constraints.txt -e ".[dev,spark]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/docket demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python tools/strip_notebooks.py --check notebooks/

# runs every notebook (starting the service the later ones need) and writes HTML
# copies with their outputs to .docket/notebooks/; the stored notebooks stay clean
notebooks: $(STAMP)
	$(BIN)/python tools/run_notebooks.py .docket/notebooks

typecheck: $(STAMP)
	$(BIN)/mypy

# The console's one script (htmx) and the browser tests' accessibility checker
# (axe-core) come from the npm registry, copied with their licences into the repo:
# pages never fetch anything from the internet. Run after changing a version.
HTMX_VERSION := 2.0.11
AXE_VERSION := 4.14.1
CONSOLE_STATIC := serving/console/static
AXE_DIR := tests/console/vendor
vendor:
	rm -rf .vendor && mkdir -p .vendor
	cd .vendor && npm pack -q htmx.org@$(HTMX_VERSION) axe-core@$(AXE_VERSION)
	cd .vendor && for f in *.tgz; do mkdir -p "$${f%.tgz}" && tar -xzf "$$f" -C "$${f%.tgz}"; done
	cp .vendor/htmx.org-$(HTMX_VERSION)/package/dist/htmx.min.js $(CONSOLE_STATIC)/htmx.min.js
	cp .vendor/htmx.org-$(HTMX_VERSION)/package/LICENSE $(CONSOLE_STATIC)/htmx.LICENSE.txt
	mkdir -p $(AXE_DIR)
	cp .vendor/axe-core-$(AXE_VERSION)/package/axe.min.js $(AXE_DIR)/axe.min.js
	cp .vendor/axe-core-$(AXE_VERSION)/package/LICENSE $(AXE_DIR)/axe-core.LICENSE.txt
	echo "htmx.org $(HTMX_VERSION) from the npm registry (make vendor)" > $(CONSOLE_STATIC)/htmx.VERSION.txt
	echo "axe-core $(AXE_VERSION) from the npm registry (make vendor)" > $(AXE_DIR)/axe-core.VERSION.txt
	rm -rf .vendor

# The browser tests drive Debian's Chromium; install it when missing (CI machines
# start without it). If it cannot be installed the browser tests fail, never skip.
CHROMIUM := /usr/bin/chromium
browser:
	@test -x $(CHROMIUM) || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium; } \
	  || echo "could not install $(CHROMIUM): the browser tests will fail"

# one worker per core; tests/scheduling.py says how tests are handed to the workers
unit: $(STAMP) browser
	$(BIN)/pytest -n auto

test: lint typecheck unit

lock: $(STAMP)
	( echo "# Pinned versions for reproducible installs; both make targets install with -c constraints.txt."; \
	  echo "# Regenerate with: make lock"; \
	  $(BIN)/pip freeze --exclude-editable | grep -v '^-e' | sort -f ) > constraints.txt

clean:
	rm -rf $(VENV) .docket .pytest_cache .mypy_cache .ruff_cache
