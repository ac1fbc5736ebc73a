# apocrathia.mlflow: `make demo` runs the main job, `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help

ROOT := $(CURDIR)
VENV := $(ROOT)/.venv
export PATH := $(VENV)/bin:$(ROOT)/.tools/bin:$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(ROOT)/.collections
export ANSIBLE_CONFIG := $(ROOT)/ansible.cfg
# The real schemas the tests read: ../shared/schemas beside the checkout when there is one, else
# .cache/schemas, which `make schemas` lays out (pinned upstream files, checked; tests/support/paths.py).
SHARED_SCHEMAS_DIR ?= $(if $(wildcard $(ROOT)/../shared/schemas),$(abspath $(ROOT)/../shared/schemas),$(ROOT)/.cache/schemas)
export SHARED_SCHEMAS_DIR
PYTEST_ARGS ?=
# Where `make cluster` keeps its certificates, kubeconfig, etcd data, audit log and logs (tests/cluster).
CLUSTER_STATE_DIR ?= $(ROOT)/.cache/cluster

# The venv's Python version, for ansible-test (read when a recipe runs, after setup).
PYVER = $(shell $(VENV)/bin/python -c 'import sys; print("%d.%d" % sys.version_info[:2])')

.PHONY: help setup schemas test lint unit integration sanity ci-local demo demo-down cluster cluster-down build ee-context bench changelog clean

help:
	@echo "make demo        deploy MLflow (kind when Docker is there, else the emulated cluster)"
	@echo "make demo-down   stop everything make demo started"
	@echo "make cluster     start a real Kubernetes v1.36.1 on 127.0.0.1 (etcd, API server, controllers, kwok); prints export KUBECONFIG=..."
	@echo "make cluster-down stop every process make cluster started"
	@echo "make test        lint + unit + integration (sets itself up on first run)"
	@echo "make lint | unit | integration | sanity | build | ee-context | bench | changelog"
	@echo "make schemas     lay out the pinned schemas in SHARED_SCHEMAS_DIR (checked; downloaded when missing)"
	@echo "make ci-local    the GitHub workflow's jobs one after another, as the runner runs them, minus Docker"

# Re-checked every time (fast when nothing changed): venv, pins, helm, PostgreSQL.
setup:
	@scripts/bootstrap.sh

# Only the standard library: the workflow runs it before `make setup`.
schemas:
	@python3 scripts/fetch_schemas.py "$(SHARED_SCHEMAS_DIR)" --check 2>/dev/null \
	  || python3 scripts/fetch_schemas.py "$(SHARED_SCHEMAS_DIR)"

test: setup
	@$(MAKE) --no-print-directory lint unit integration

lint: setup
	yamllint -s .
	ruff check .
	ruff format --check .
	ansible-lint --profile production --offline
	zizmor --offline --persona pedantic .github/workflows
	antsibull-changelog lint
	@$(MAKE) --no-print-directory sanity

# ansible-test needs the collection at ansible_collections/<ns>/<name>; it runs on a copy of
# what the built artifact ships (plugins, meta, galaxy.yml), not on the tests. The copy lives
# outside the checkout: inside it, ansible-test would list files through git and find none.
SANITY_ROOT = $(or $(TMPDIR),/tmp)/apocrathia-mlflow-sanity-$(shell id -u)
SANITY_DIR = $(SANITY_ROOT)/ansible_collections/apocrathia/mlflow
sanity: setup
	@rm -rf $(SANITY_ROOT) && mkdir -p $(SANITY_DIR)
	@cp -r galaxy.yml meta plugins LICENSE README.md $(SANITY_DIR)/
	@# Collection dependencies sit beside it, as ansible-test expects (kubernetes.core from the venv).
	@mkdir -p $(SANITY_ROOT)/ansible_collections/kubernetes && ln -s \
	  $$($(VENV)/bin/python -c 'import ansible_collections.kubernetes.core as c; print(c.__path__[0])') \
	  $(SANITY_ROOT)/ansible_collections/kubernetes/core
	cd $(SANITY_DIR) && \
	  ansible-test sanity --requirements --python $(PYVER) --test validate-modules plugins/ && \
	  ansible-test sanity --python $(PYVER) --test compile plugins/ && \
	  ansible-test sanity --python $(PYVER) --test import plugins/

unit: setup
	pytest tests/unit $(PYTEST_ARGS)

integration: setup
	scripts/integration.sh $(PYTEST_ARGS)

# .github/workflows/ci.yml's jobs in a copy of the checkout laid out like a runner's workspace (no
# ../shared); CI_LOCAL_ARGS e.g. "--job unit" or "--schemas-from DIR --chart-from DIR" (no network). See the script.
ci-local: setup
	$(VENV)/bin/python scripts/ci_local.py $(CI_LOCAL_ARGS)

demo: setup
	@scripts/demo.sh up

demo-down:
	@scripts/demo.sh down

# stdout is only the `export KUBECONFIG=...` line (the set-up's messages go to stderr), so
# eval "$$(make -s cluster)" points a shell at the cluster.
cluster:
	@scripts/bootstrap.sh >&2
	@$(VENV)/bin/python -m tests.cluster up --state-dir "$(CLUSTER_STATE_DIR)"

cluster-down:
	@$(VENV)/bin/python -m tests.cluster down --state-dir "$(CLUSTER_STATE_DIR)"

# The tarball is named after the version in galaxy.yml; older ones are removed, so the
# execution environment (which copies apocrathia-mlflow-*.tar.gz) finds exactly one.
build: setup
	rm -f $(ROOT)/.cache/build/apocrathia-mlflow-*.tar.gz
	ansible-galaxy collection build --force --output-path $(ROOT)/.cache/build

# The execution environment's build context (build it with podman/docker build .cache/ee-context).
ee-context: build
	ansible-builder create -f execution-environment.yml -c $(ROOT)/.cache/ee-context

# Benchmarks (not part of `make test`): converge cost, readiness latency, server defaults.
bench: setup
	bench/run $(BENCH_ARGS)

changelog: setup
	antsibull-changelog release

# A cluster still running from .cache/cluster is stopped first, or its processes would outlive their files.
clean:
	@if [ -f "$(CLUSTER_STATE_DIR)/cluster.json" ]; then $(MAKE) --no-print-directory cluster-down; fi
	rm -rf $(ROOT)/.cache $(ROOT)/.pytest_cache $(ROOT)/.ruff_cache
