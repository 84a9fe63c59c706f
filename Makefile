# MsPASS container platform. `make help` lists targets and variables.
SHELL := /bin/bash
.DEFAULT_GOAL := help

IMAGE            ?= mspass#                  image name (docker run mspass)
TAG              ?= latest#                  image tag
BASE_IMAGE       ?= debian:bookworm-slim#    base image; made locally with debootstrap when it cannot be pulled
MSPASS_DB_ENGINE ?= auto#                    auto, mongodb or ferretdb; auto: mongodb when its repository answers
MSPASS_VERSION   ?= 2.4.3#                   mspasspy in the image and the virtualenv (built from its PyPI sdist); none: without it
SOURCE_CACHE     ?=#                         directory of byte-identical upstream source archives with SHA256SUMS, for offline builds
EXTRA_CA_CERT    ?= $(wildcard /etc/ssl/certs/ca-certificates.crt)#  CA bundle for downloads during the build (a BuildKit secret, never in the image)
PLATFORM         ?=#                         build for another platform, e.g. linux/arm64
WORK_DIR         ?= $(CURDIR)#               run, run-local: the work dir (notebooks; db/, logs/ are created there)
JUPYTER_HOST_PORT ?= 8888#                   run: host port for Jupyter (127.0.0.1 only; the next free one if taken)
RUN_NAME         ?= mspass#                  run, stop: container name
PYTHON           ?= python3#                 interpreter for the virtualenv (>= 3.10)
VENV             ?= .venv#                   virtualenv with mspass_roles and its test tools
PYTEST_ARGS      ?=#                         extra pytest arguments, e.g. -x -k batch
PIN_PYTHON       ?= /usr/bin/python3#        constraints: the same Python version as the image's
APPTAINER        ?= apptainer#               apptainer or singularity; when absent, the helper image runs it

BIN := $(VENV)/bin
FERRETDB := .build/bin/ferretdb
WHEEL_DIR := .build/wheels/$(MSPASS_VERSION)
# the virtualenv with mspasspy when MSPASS_VERSION names one
MSPASSPY_WHEEL := $(if $(filter none,$(MSPASS_VERSION)),,$(WHEEL_DIR)/.exported)
# the project's FerretDB and virtualenv come first for every target
export PATH := $(CURDIR)/.build/bin:$(CURDIR)/$(BIN):$(PATH)

.PHONY: help deps build wheel run stop install run-local test test-unit test-process test-image test-cluster test-sharding test-compose test-reliability test-desktop test-sif test-hpc apptainer-image slurm-image sif \
        bench bench-compose bench-engine bench-image bench-mspass bench-sif bench-hpc bench-schedulers bench-security constraints clean clean-image
export IMAGE TAG BASE_IMAGE MSPASS_DB_ENGINE MSPASS_VERSION SOURCE_CACHE EXTRA_CA_CERT PLATFORM WORK_DIR JUPYTER_HOST_PORT RUN_NAME

help: ## list targets and variables
	@echo "usage: make TARGET [VARIABLE=value ...]"
	@echo
	@echo "targets:"
	@grep -E '^[a-z][a-z-]*:.*## ' $(MAKEFILE_LIST) | sed -E 's/^([a-z-]+):.*## (.*)/  \1|\2/' | column -t -s '|'
	@echo
	@echo "variables:"
	@grep -E '^[A-Z_]+ +\?=.*#' $(MAKEFILE_LIST) | sed -E 's/^([A-Z_]+) +\?= *([^#]*)# *(.*)/  \1|\3 (default: \2)/' | column -t -s '|'

deps: ## provision this machine: Docker engine, buildx, Compose v2, debootstrap (idempotent; checks only when present)
	scripts/host/provision-host.sh

build: ## build IMAGE:TAG (engine MSPASS_DB_ENGINE, mspasspy MSPASS_VERSION; base image made locally when it cannot be pulled); needs the engine (make deps)
	scripts/build/build-image.sh

wheel: $(MSPASSPY_WHEEL) ## the mspasspy wheel from the image's build stage (.build/wheels/VERSION), for the virtualenv

# the same build stage as the image's, so `make build` reuses this compile from the layer cache
$(WHEEL_DIR)/.exported: Dockerfile constraints.txt $(wildcard scripts/build/mspasspy/* scripts/build/mspasspy/patches/*/*)
	scripts/host/provision-host.sh
	OUTPUT=$(WHEEL_DIR) scripts/build/build-image.sh
	touch $@

run: deps build $(BIN)/.installed ## all-in-one container with WORK_DIR as /home (mspass-desktop up); prints the URLs when healthy
	$(BIN)/mspass-desktop up "$(WORK_DIR)" --no-browser --name $(RUN_NAME) --image $(IMAGE):$(TAG) --port $(JUPYTER_HOST_PORT)

apptainer-image: deps ## helper image with Debian sid's Apptainer, for machines without it
	scripts/build/make-base-image.sh mspass-base:sid
	DOCKER_BUILDKIT=1 docker build -q -f scripts/test-images/apptainer.Dockerfile -t mspass-apptainer:sid scripts/test-images >/dev/null
	@echo "apptainer-image: mspass-apptainer:sid ($$(docker run --rm mspass-apptainer:sid))"

sif: build $(if $(shell command -v $(APPTAINER)),,apptainer-image) ## build/mspass_TAG.sif from the image, and its sha256
	APPTAINER=$(APPTAINER) scripts/build/build-sif.sh

stop: $(BIN)/.installed ## stop the container of `make run` (the database shuts down cleanly)
	$(BIN)/mspass-desktop down --name $(RUN_NAME)

install: $(BIN)/.installed $(FERRETDB) ## virtualenv with mspass_roles and mspasspy (MSPASS_VERSION) + FerretDB built from source

# mspasspy comes from `make wheel`: Docker builds it once, for the image too (a manylinux
# wheel with its libraries inside, so any Linux host with glibc >= 2.35 runs it)
$(BIN)/.installed: pyproject.toml constraints.txt $(MSPASSPY_WHEEL) $(wildcard scripts/build/python/patches/*/*.patch)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[spark,launchers,test]' \
	    $(if $(MSPASSPY_WHEEL),$(WHEEL_DIR)/mspasspy-$(MSPASS_VERSION)-*.whl)
	# a rebuilt wheel keeps its version number: pip would keep the old build without this
	$(if $(MSPASSPY_WHEEL),$(BIN)/pip install --quiet --no-deps --force-reinstall $(WHEEL_DIR)/mspasspy-$(MSPASS_VERSION)-*.whl)
	$(if $(MSPASSPY_WHEEL),,$(BIN)/pip uninstall --quiet -y mspasspy)
	scripts/build/python/apply-patches.sh $(BIN)/python
	touch $@

$(FERRETDB): scripts/build/ferretdb/build-ferretdb.sh $(wildcard scripts/build/ferretdb/patches/*/*.patch)
	scripts/build/ferretdb/build-ferretdb.sh $@

run-local: install ## all-in-one as local processes in WORK_DIR; prints the Jupyter URL; Ctrl-C stops
	MSPASS_WORK_DIR=$(WORK_DIR) $(BIN)/mspass-role all

test: test-unit test-process ## unit + process-level tests (tiers 1 and 2)

test-unit: install ## tier 1: settings, plans, CLI (no services)
	$(BIN)/python -m pytest tests/unit $(PYTEST_ARGS)

test-process: install ## tier 2: roles as real local processes (FerretDB/mongod, dask, Jupyter)
	$(BIN)/python -m pytest tests/process $(PYTEST_ARGS)

test-image: install ## tier 3: the image (PID 1, labels, health states, user model, no CA inside); needs `make build`
	MSPASS_IMAGE=$(IMAGE):$(TAG) $(BIN)/python -m pytest tests/image $(PYTEST_ARGS)

test-cluster: install ## tier 4: role containers on a docker network (db, scheduler, worker1/2, frontend); needs `make build`
	MSPASS_IMAGE=$(IMAGE):$(TAG) $(BIN)/python -m pytest tests/cluster $(PYTEST_ARGS)

test-sharding: install ## sharded MongoDB: dbmanager + 2 shards + frontend, restart with every host changed; needs `make build MSPASS_DB_ENGINE=mongodb` (fails with a FerretDB image)
	MSPASS_IMAGE=$(IMAGE):$(TAG) $(BIN)/python -m pytest tests/sharding $(PYTEST_ARGS)

test-reliability: install ## kills, tmp databases (mount points, kill then start, full disk, small /tmp), frozen services, health under dask load, bad settings; needs `make build`
	MSPASS_IMAGE=$(IMAGE):$(TAG) $(BIN)/python -m pytest tests/reliability $(PYTEST_ARGS)

test-sif: install ## the SIF under Apptainer as a non-root user (all-in-one, roles on one node, bad dirs); needs `make sif`
	SIF_NAME=mspass_$(TAG).sif $(BIN)/python -m pytest tests/sif $(PYTEST_ARGS)

slurm-image: apptainer-image ## node image of the emulated Slurm cluster (Debian sid's Slurm, Apptainer, sshd, bullseye's Python 3.9)
	DOCKER_BUILDKIT=1 docker build -q -f scripts/test-images/slurm.Dockerfile -t mspass-slurm:sid scripts/test-images >/dev/null
	@echo "slurm-image: mspass-slurm:sid"

test-hpc: install slurm-image ## MsPASS's HPC guide on an emulated Slurm cluster (ctl + 3 nodes): job scripts, single_node.sh, HPCClusterLauncher on Python 3.9, tunnels, layouts; needs `make sif`
	SIF_NAME=mspass_$(TAG).sif $(BIN)/python -m pytest tests/hpc $(PYTEST_ARGS)

test-compose: install ## the compose files: up --wait, notebooks by exec, scale, a killed worker, down/up, Spark; needs `make build`
	$(BIN)/python -m pytest tests/compose

test-desktop: install ## mspass-desktop against the real Docker engine; needs `make build`
	MSPASS_IMAGE=$(IMAGE):$(TAG) $(BIN)/python -m pytest tests/desktop $(PYTEST_ARGS)

bench: install ## startup time of `all` beside its slowest service started alone
	$(BIN)/python bench/startup.py

bench-compose: install ## docker compose up --wait beside the SDK cluster harness (same 5 roles); needs `make build`
	MSPASS_IMAGE=$(IMAGE):$(TAG) $(BIN)/python bench/compose.py

bench-image: install ## full image beside slim (size, cold build), code-change rebuild, docker run -> healthy
	$(BIN)/python bench/image.py

bench-mspass: install ## the MsPASS workflow by stage: all-in-one, 1 and 2 worker containers; needs `make build`
	MSPASS_IMAGE=$(IMAGE):$(TAG) $(BIN)/python bench/mspass.py

bench-sif: install apptainer-image ## SIF build time and size, all-in-one ready under Apptainer beside docker; needs `make build`
	$(BIN)/python bench/sif.py

bench-hpc: install slurm-image ## sbatch -> every role ready on the emulated Slurm cluster, beside the reference's sleeps; needs `make sif`
	$(BIN)/python bench/hpc.py

bench-engine: install ## the database engine on MsPASS's access pattern: FerretDB patched, with patches 01-05, as released, mongod if present
	$(BIN)/python bench/engine.py

bench-schedulers: install ## dask beside Spark: time to ready and a fixed small job, same cluster shape
	$(BIN)/python bench/schedulers.py

bench-security: install ## the MsPASS workflow with a database login and dask TLS beside without: the overhead
	$(BIN)/python bench/security.py

# mspasspy's own dependencies are resolved from its sdist's metadata (nothing is compiled);
# pybind11 keeps its pin: the version mspasspy's CMake would fetch
constraints: ## re-resolve constraints.txt (newest versions, mspasspy's included) with the image's Python (PIN_PYTHON)
	rm -rf .build/pin-venv && $(PIN_PYTHON) -m venv .build/pin-venv
	.build/pin-venv/bin/pip install --quiet --upgrade pip
	.build/pin-venv/bin/pip install --quiet --dry-run --ignore-installed --report .build/pin-report.json \
	    '.[spark,launchers,test]' $(if $(filter none,$(MSPASS_VERSION)),,mspasspy==$(MSPASS_VERSION)) \
	    $$(cat scripts/build/mspasspy/build-requirements.txt | grep -v '^pybind11$$') $$(grep '^pybind11==' constraints.txt)
	{ echo "# Exact versions for the image and the tests, resolved with $$($(PIN_PYTHON) --version)"; \
	  echo "# (the image's Python: Debian bookworm's python3). Regenerate with: make constraints"; \
	  .build/pin-venv/bin/python -c 'import json, sys; r = json.load(open(sys.argv[1])); \
	    pins = {i["metadata"]["name"]: i["metadata"]["version"] for i in r["install"]}; \
	    print(*(f"{n}=={v}" for n, v in sorted(pins.items(), key=lambda p: p[0].lower()) \
	            if not n.lower().startswith("mspass")), sep="\n")' .build/pin-report.json; } > constraints.txt
	rm -rf .build/pin-venv .build/pin-report.json

clean: ## remove the virtualenv, build outputs, caches and containers left by tests
	rm -rf $(VENV) .build build .pytest_cache *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	if docker info >/dev/null 2>&1; then \
	  docker ps -aq --filter label=io.mspass.test | xargs -r docker rm -f >/dev/null; \
	  docker network ls -q --filter label=io.mspass.test | xargs -r docker network rm >/dev/null; \
	  docker volume ls -q --filter label=io.mspass.test | xargs -r docker volume rm >/dev/null; \
	fi

clean-image: ## remove IMAGE:TAG and its engine tags
	docker image rm -f $(IMAGE):$(TAG) $(IMAGE):$(TAG)-ferretdb $(IMAGE):$(TAG)-mongodb 2>/dev/null || true
