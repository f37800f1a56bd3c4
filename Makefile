# Quick start: `make plan` (offline plan of the dev stack) and `make test` (the whole suite).
# Both create the virtualenv .venv on first use; nothing else needs installing but Python 3.11+.

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp
# Checkov lives in its own tool virtualenv: checkov 3.3.30 pins boto3/botocore 1.35, networkx 2.6 and
# packaging 23.2, which would downgrade the project's. tests/policies/test_checkov_crosscheck.py runs it.
CHECKOV_VENV ?= .venv-checkov
CHECKOV_VERSION ?= 3.3.30
STACK  ?= dev
LAMBDA_ARCHES ?= arm64

.PHONY: help venv checkov-venv package plan plan-all policy-config test lint fmt bench clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required; set PYTHON=python3.11")'
	@echo "make: setting up $(VENV) (first run: installs the project and its tools, a minute or two)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)
	@echo "make: $(VENV) ready; the CLI is $(VENV)/bin/blueprint"

venv: $(STAMP)  ## create .venv with everything the project runs and tests

$(CHECKOV_VENV)/bin/checkov:
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet 'checkov==$(CHECKOV_VERSION)'

checkov-venv: $(CHECKOV_VENV)/bin/checkov  ## Checkov in its own virtualenv, for the pack/Checkov cross-check test

package: $(STAMP)  ## build the Lambda deployment packages into build/lambda/<arch>/ (deterministic, cached)
	@for arch in $(LAMBDA_ARCHES); do echo "make: Lambda package for $$arch (cached after the first build)"; $(PY) lambda_src/package.py --arch $$arch --out build/lambda || exit $$?; done

plan: package  ## offline plan of the dev stack (STACK=prod for another)
	$(VENV)/bin/blueprint plan --stack $(STACK)

plan-all: package  ## offline JSON plan of every stack into build/plans/
	@mkdir -p build/plans
	@for f in stacks/Pulumi.*.yaml; do s=$${f#stacks/Pulumi.}; s=$${s%.yaml}; echo "plan $$s -> build/plans/$$s.json"; $(VENV)/bin/blueprint plan --stack $$s --format json --output build/plans/$$s.json || exit $$?; done

policy-config: $(STAMP)  ## regenerate policies/config/<stack>.json of every stack from its stack file and guardrails
	@for f in stacks/Pulumi.*.yaml; do s=$${f#stacks/Pulumi.}; s=$${s%.yaml}; $(VENV)/bin/blueprint policy-config --stack $$s --write || exit $$?; done

test: package checkov-venv  ## run the whole test suite
	env -u PYTHONDONTWRITEBYTECODE $(PY) -m pytest -q -n auto

lint: $(STAMP)  ## ruff and mypy
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	@# mypy reads the library through its installed layout (hybrid_ai_platform.components is components/, ...),
	@# built as links under build/typecheck: the editable install's import hook is invisible to static tools.
	$(PY) -m hybrid_ai_platform.cli.layout . build/typecheck
	ln -sfn ../../stacks build/typecheck/stacks
	cd build/typecheck && ../../$(VENV)/bin/mypy --config-file ../../pyproject.toml -p hybrid_ai_platform -p stacks
	$(VENV)/bin/mypy lambda_src
	$(VENV)/bin/mypy container_src

bench: package  ## run the benchmarks (print figures)
	@for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit $$?; done

clean:  ## remove build outputs (keeps .venv)
	rm -rf build .pytest_cache .mypy_cache .ruff_cache
