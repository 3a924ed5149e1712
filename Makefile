# `make run` and `make test` each set everything up from nothing into .venv.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
TEACH  := artifacts/teaching

.PHONY: install run test bench clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

# Until the dashboard exists: build the teaching set, train and explain both presets' four models on it
# (each step only if its result is not there yet), then print their metrics.
run: install
	$(PY) -m emojax.cli demo --root $(TEACH)

test: install
	$(PY) -m pytest -q

bench: install
	$(PY) benchmarks/extract.py
	$(PY) benchmarks/train.py
	$(PY) benchmarks/pfi.py

clean:
	rm -rf $(VENV) artifacts/features artifacts/teaching artifacts/runs
