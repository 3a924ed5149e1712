# `make run` and `make test` each set everything up from nothing into .venv (`make test` adds MLflow).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
MLFLOW := $(VENV)/.installed-mlflow
TEACH  := artifacts/teaching
PORT   ?= 8501

.PHONY: install run test bench clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

install: $(STAMP)

# MLflow (`--track`, the extra emojax[mlflow]): the tests need it, the dashboard does not.
$(MLFLOW): $(STAMP) requirements-mlflow.txt
	$(PY) -m pip install --quiet --only-binary=:all: -r requirements-mlflow.txt
	touch $(MLFLOW)

# Build the embedded default if it is not there (the teaching set; both presets' four models trained and
# explained on it), print its metrics, then serve the dashboard on 127.0.0.1 (PORT=8501 by default).
run: install
	$(PY) -m emojax.cli demo --root $(TEACH)
	@echo "emojax dashboard: http://127.0.0.1:$(PORT)  (Ctrl-C stops it)"
	$(PY) -m streamlit run dashboard/app.py --server.address 127.0.0.1 --server.port $(PORT) \
		--server.headless true --browser.gatherUsageStats false --server.maxUploadSize 200

test: install $(MLFLOW)
	$(PY) -m pytest -q --durations=25

bench: install
	$(PY) benchmarks/extract.py
	$(PY) benchmarks/train.py
	$(PY) benchmarks/pfi.py
	$(PY) benchmarks/corpus.py
	$(PY) benchmarks/live.py
	$(PY) benchmarks/dashboard.py
	$(PY) benchmarks/hrv.py
	$(PY) benchmarks/architecture.py
	$(PY) benchmarks/voice_info.py
	$(PY) benchmarks/voice_teaching.py
	$(PY) benchmarks/fusion_gain.py

clean:
	rm -rf $(VENV) artifacts/features artifacts/teaching artifacts/runs artifacts/screenshots
