# The README's two commands: `make study` (the whole study on SynthFACS) and `make test`.
# Both create .venv and install what they need on a fresh machine.
PY      ?= python3
VENV    ?= .venv
BIN     := $(VENV)/bin
PROFILE ?= default
ARCH    := $(shell uname -m)
# torch/torchvision pairs that install from wheels known to work here (CUDA build on x86_64 Linux);
# `uname -m` says aarch64 on ARM Linux and arm64 on Apple Silicon macOS: both take the CPU build.
ifneq ($(filter aarch64 arm64,$(ARCH)),)
TORCH := torch==2.9.1 torchvision==0.24.1
else
TORCH := torch==2.14.1 torchvision==0.29.1
endif

.PHONY: study test test-fast install notebooks lessons lessons-kit lessons-record

$(BIN)/.installed: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q $(TORCH)
	$(BIN)/pip install -q -e ".[notebooks,dev]"
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 >/dev/null
	touch $@

install: $(BIN)/.installed

## Run the whole study and render reports/<profile>/. PROFILE=default (params.yaml) or the name of
## a folder in studies/ (smoke, paper, ...): its profile.yaml is merged into studies/<name>/params.yaml
## (the complete file DVC reads) and its dvc.yaml is a link to the one pipeline.
ifeq ($(PROFILE),default)
PIPELINE := dvc.yaml
PARAMS   := params.yaml
else
PIPELINE := studies/$(PROFILE)/dvc.yaml
PARAMS   := studies/$(PROFILE)/params.yaml
endif
study: install
	@test "$(PROFILE)" = default || test -f studies/$(PROFILE)/profile.yaml || \
	  { echo "no profile '$(PROFILE)': expected params.yaml (default) or studies/$(PROFILE)/profile.yaml"; exit 2; }
	@test "$(PROFILE)" = default || $(BIN)/ssfer profile resolve $(PROFILE) >/dev/null
	@test "$(PROFILE)" = default || ln -sfn ../../dvc.yaml studies/$(PROFILE)/dvc.yaml
	@$(BIN)/ssfer profile devices --profile $(PARAMS) >/dev/null
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/dvc repro $(PIPELINE)

## Bring each notebook pair in line after an edit of either file (py:percent source <-> .ipynb).
notebooks: install
	$(BIN)/jupytext --sync notebooks/*.ipynb notebooks/lessons/*.ipynb

## Run the whole test suite (unit tests + the smoke study and every reader end to end): what CI runs.
test: install
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m pytest -q -n 2 --durations=15 tests

## The development lane: everything but the end-to-end runs (tests marked `slow`), under 2 minutes.
test-fast: install
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/python -m pytest -q -n 2 -m "not slow and not cuda" --durations=5 tests

## The lesson kit: data, backbone and lesson 4's converged LEAF and supervised runs (built once,
## reused after; `make lessons` builds it first; its time: docs/teaching.md)
lessons-kit: install
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/ssfer lessons --kit

## Run every lesson (notebooks/lessons/) top to bottom with its default parameters, render each to
## build/lessons/ (not in git: the checkout stays clean), print the times; fails if a lesson errors,
## fails the page check or runs over 3 minutes (read at the machine's reference speed: docs/teaching.md)
lessons: install
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/ssfer lessons

## The same, rendered into the committed pages (reports/lessons/, docs/teaching.md's answers),
## stamped with the CPU that made them
lessons-record: install
	PATH=$(abspath $(BIN)):$$PATH $(BIN)/ssfer lessons --record
