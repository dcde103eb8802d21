# Two commands on a fresh machine:
#   make demo   - the product on its embedded default (SQLite, embedded broker,
#                 sample feeds replaying, Dash app on http://127.0.0.1:8050)
#   make test   - provision Mosquitto, PostgreSQL+TimescaleDB and Chromium, then run every test
#   make check  - the fast loop: lint, then the unit tests that need no service (under a minute)
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: demo test check lint format provision clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# Reinstall only when the package definition changes.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/ioc demo

provision:
	bash scripts/provision.sh

# Every service is provisioned here, so a missing one fails its tests (--require-services).
test: $(STAMP) provision
	@$(VENV)/bin/pytest --headless --require-services $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

# No PostgreSQL, Mosquitto or browser; two workers for the machine's two cores.
CHECK_MARKERS := not postgres and not mqtt and not browser and not slow
check: lint
	@$(VENV)/bin/pytest -q -p no:cacheprovider -n 2 -m "$(CHECK_MARKERS)" $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) .ioc-data .pytest_cache .ruff_cache
