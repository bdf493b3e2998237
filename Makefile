# City Eye: `make run` starts everything with live simulated data, `make test` runs ruff, mypy and the tests.
# SCENARIO=name SPEED=n WORKERS=n tune `make run`; ARGS="-k redis" is passed to pytest.

PYTHON_SYS := $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run lint test bench clean

run: $(STAMP)
	$(PY) -m services run $(if $(SCENARIO),--scenario $(SCENARIO)) $(if $(SPEED),--speed $(SPEED)) $(if $(WORKERS),--workers $(WORKERS))

# ruff and mypy with their settings in pyproject.toml (mypy checks the files listed there: the whole checkout).
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m mypy

test: lint
	$(PY) -m pytest $(ARGS)

bench: $(STAMP)
	@for script in bench/*.py; do [ -e "$$script" ] || continue; echo "== $$script"; $(PY) "$$script" || exit 1; done

# Removes run data (.run/: Redis AOF, broker database, logs) and caches; keeps .venv.
clean:
	rm -rf .run .pytest_cache .mypy_cache .ruff_cache test-artifacts
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +

$(PY):
	$(PYTHON_SYS) -m venv $(VENV)

# Reinstall only when requirements.txt is newer than the stamp (order-only on the venv: its mtime never counts).
$(STAMP): requirements.txt | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@
