# flowplane: everything a fresh machine needs is done by these targets.
#   make run   local control plane (unless KUBECONFIG is set) + CRDs + operator in the foreground
#   make test  lint, type-check, CRD drift check, unit and e2e tests on a real API server
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: all venv controlplane crds check-crds lint typecheck unit e2e test run down bench clean image image-check

all: test

$(INSTALLED): pyproject.toml devtools/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]' -e ./devtools
	touch $(INSTALLED)

venv: $(INSTALLED)

controlplane:
	hack/build-controlplane.sh

crds: venv
	$(BIN)/flowplane-crds --write crds

check-crds: venv
	$(BIN)/flowplane-crds --check crds

lint: venv
	$(BIN)/ruff check src tests bench devtools

typecheck: venv
	$(BIN)/mypy

unit: venv
	$(BIN)/pytest tests/unit -q

e2e: venv controlplane
	$(BIN)/pytest tests/e2e -q

test: venv controlplane lint typecheck check-crds
	$(BIN)/pytest -q -p no:cacheprovider

run: venv controlplane
	hack/run.sh

down: venv
	$(BIN)/flowplane-cluster down

bench: venv controlplane
	$(BIN)/pip install --quiet -e '.[dev,bench]'
	$(BIN)/python -m bench.run $(BENCH_ARGS)
	$(BIN)/python -m bench.failover

# The operator/runtime image as an OCI (+ docker-archive) tarball, without a Docker
# engine: debootstrap + hack/image/oci.py (root; the Debian rootfs is cached in .cache/image).
IMAGE ?= docker.io/library/flowplane-operator:latest
IMAGE_ARCHIVE ?= dist/flowplane-image.oci.tar

image: venv
	hack/image/build.sh $(IMAGE_ARCHIVE) $(IMAGE)

image-check:
	hack/image/check.sh $(IMAGE_ARCHIVE)

clean:
	-$(BIN)/flowplane-cluster down
	rm -rf $(VENV) .cache/cluster .pytest_cache .mypy_cache .ruff_cache
