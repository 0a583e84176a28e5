# Two commands: `make run` (set up and serve the demo) and `make test` (install and run the tests).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
export FLASK_APP := app.py
HOST   ?= 127.0.0.1
PORT   ?= 5000

.PHONY: run test install install-test translations bytecode db demo lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[prod]'
	$(MAKE) --no-print-directory translations bytecode

install-test: $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test,prod]'
	$(MAKE) --no-print-directory translations bytecode

# Our own modules compiled ahead (pip does it for the libraries): with PYTHONDONTWRITEBYTECODE
# set, every process (a parse worker, the mailer, a test's subprocess) would compile them again.
bytecode:
	@$(BIN)/python -m compileall -q -j 0 helpdesk mail_ingest reports migrations >/dev/null

translations:
	@for d in helpdesk/translations reports/translations; do \
	  if [ -d $$d ]; then \
	    dom=messages; [ $$d = reports/translations ] && dom=reports; \
	    $(BIN)/pybabel -q compile -f -d $$d -D $$dom || exit 1; \
	  fi; \
	done

db: install
	$(BIN)/flask db upgrade

demo: db
	$(BIN)/flask demo --if-empty

# `make run PORT=5001`: the port is bound before "Serving on" is printed; a busy one is one line.
run:
	@$(PYTHON) scripts/serve.py --check --host $(HOST) --port $(PORT)
	@$(MAKE) --no-print-directory demo
	@$(BIN)/python scripts/serve.py --host $(HOST) --port $(PORT)

test: install-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install-test
	$(BIN)/ruff check helpdesk mail_ingest reports tests bench

bench: install-test
	$(BIN)/python bench/sla.py
	$(BIN)/python bench/usage.py
	$(BIN)/python bench/report.py

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
