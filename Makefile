# Two commands on a fresh clone: `make demo` runs the main job, `make test` runs the tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.docket-installed
PIP_FLAGS := --disable-pip-version-check -q --only-binary grpcio

.PHONY: demo test lint typecheck unit lock clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install $(PIP_FLAGS) --upgrade pip
	$(BIN)/python -m pip install $(PIP_FLAGS) -c constraints.txt -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/docket demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

# one worker per core; tests/scheduling.py says how tests are handed to the workers
unit: $(STAMP)
	$(BIN)/pytest -n auto

test: lint typecheck unit

lock: $(STAMP)
	( echo "# Pinned versions for reproducible installs; both make targets install with -c constraints.txt."; \
	  echo "# Regenerate with: make lock"; \
	  $(BIN)/pip freeze --exclude-editable | grep -v '^-e' | sort -f ) > constraints.txt

clean:
	rm -rf $(VENV) .docket .pytest_cache .mypy_cache .ruff_cache
