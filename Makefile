# Two commands do everything on a fresh clone: `make demo` and `make test`.
SHELL := /bin/bash
# A recipe fails when any command of a pipeline fails, not only the last.
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
CHECKOV_VENV := .venv-checkov
CDK := node_modules/.bin/cdk
CDK_OUT := cdk.out

# jsii (under aws-cdk-lib) prints a Node 20 end-of-life banner on every import; Node 20 works here.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
# Synth and the tests never need an AWS account: keep boto3 and the CDK away from real credentials.
OFFLINE_ENV := AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing \
	AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true

.PHONY: install test unit matrix soak scan synth demo templates localcloud screenshot measure compare burst burst-1000 scale results long-encounter bench plan diff deploy destroy lint format lock clean

install: $(VENV)/.installed $(CDK)

$(VENV)/.installed: requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	# The project itself, editable, for the `scribe` command (setuptools from the venv: no download).
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

$(CHECKOV_VENV)/.installed: requirements-checkov.txt
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

$(CDK): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# pytest-xdist workers for `make test` (0: none); each test file runs whole on one worker.
TEST_WORKERS ?= 2
# cfn-lint and checkov over every configuration of the matrix (tests/support/configurations.py), the default
# one first: each synth is cached by content in .cache/synth (the tests built them) and scanned once per content.
SCAN = $(OFFLINE_ENV) $(BIN)/python -m tests.support.template_scan --checkov $(CHECKOV_VENV)/bin/checkov
# The configuration matrix's tests: every documented key covered, each configuration synthesized and deployed.
MATRIX_TESTS := tests/infra/test_configuration_matrix.py tests/localcloud/test_configuration_matrix.py

## test: the whole suite (unit, infrastructure, local cloud, template scanners) plus ruff, on two workers
test: install $(CHECKOV_VENV)/.installed lint
	$(OFFLINE_ENV) $(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile
	$(SCAN)

## unit: the domain and the handlers only (no CDK, no local cloud), in seconds
unit: $(VENV)/.installed
	$(OFFLINE_ENV) $(BIN)/pytest -p no:xdist tests/unit

# The seed sweep of `make soak`: seeds per fault profile, encounters per run, seeds run twice, worker processes.
SOAK_SEEDS ?= 50
SOAK_ENCOUNTERS ?= 12
SOAK_TWICE ?= 10
SOAK_WORKERS ?= 2
## soak: the longer runs make test bounds: the review's stateful test (both variants) with many more examples and steps, then the seed sweep (every fault profile x SOAK_SEEDS seeds, SOAK_TWICE of them twice; writes reports/soak/summary.md)
soak: synth
	$(OFFLINE_ENV) HYPOTHESIS_PROFILE=soak $(BIN)/pytest -n 2 tests/unit/test_review_races.py tests/unit/test_waiting_line_races.py
	$(OFFLINE_ENV) $(BIN)/python -m experiments.soak --seeds $(SOAK_SEEDS) --encounters $(SOAK_ENCOUNTERS) \
		--determinism $(SOAK_TWICE) --workers $(SOAK_WORKERS) --cdk-out $(CDK_OUT) --summary reports/soak/summary.md

## scan: cfn-lint and checkov over the templates of every configuration of the matrix (cached synths; each scanned once)
scan: install $(CHECKOV_VENV)/.installed
	$(SCAN)

## matrix: the configuration matrix alone (make test runs it too): each configuration synthesized with the cdk-nag packs, deployed on the local cloud, scanned
matrix: install $(CHECKOV_VENV)/.installed
	$(OFFLINE_ENV) $(BIN)/pytest -p no:xdist $(MATRIX_TESTS)
	$(SCAN)

## synth: synthesize both stacks into cdk.out (offline, no Docker, cdk-nag packs attached)
synth: install
	$(OFFLINE_ENV) $(BIN)/python app.py

## demo: the main job offline: deploy both stacks on the local cloud, run the samples through them, then a fault scenario
demo: synth
	@$(OFFLINE_ENV) $(BIN)/python -m experiments.demo $(CDK_OUT)

## templates: the app of REF (a commit, or before-deploy-fixes) with CONTEXT ("-c key=value ...") into CDK_OUT (default cdk.out.templates), for make demo CDK_OUT=...
TEMPLATES_OUT = $(if $(filter command line,$(origin CDK_OUT)),$(CDK_OUT),cdk.out.templates)
templates: install
	$(OFFLINE_ENV) $(BIN)/python -m experiments.templates $(TEMPLATES_OUT) $(if $(REF),--ref $(REF)) $(CONTEXT)

## localcloud: a local cloud that stays up (both stacks deployed with the CDK CLI) for `scribe --local`; Ctrl-C stops it
localcloud: synth
	@$(OFFLINE_ENV) $(BIN)/python -m localcloud.serve $(CDK_OUT)

## screenshot: the review page's note view, a statement's evidence highlighted (docs/images/note-view.png), taken by its browser test
screenshot: install
	$(OFFLINE_ENV) REVIEW_PAGE_SCREENSHOT=docs/images/note-view.png $(BIN)/pytest -p no:xdist tests/browser -k signs

## measure: count the AWS operations one encounter takes in each variant (writes scribe/measured_operations.json for scribe cost)
measure: synth
	@$(OFFLINE_ENV) $(BIN)/python -m experiments.measure $(CDK_OUT) --encounters 30

## compare: 200 encounters through both variants under the default faults; writes reports/compare-default and its section of docs/results.md
compare: synth
	@$(OFFLINE_ENV) $(BIN)/scribe compare --cdk-out $(CDK_OUT) --encounters 200 --faults default --report reports/compare-default --results docs/results.md

## burst: the end-of-clinic burst through both variants at default and tight quotas (its reviews left open: make compare signs and expires them); writes reports/clinic-burst and its section of docs/results.md
burst: synth
	@$(OFFLINE_ENV) $(BIN)/scribe compare --cdk-out $(CDK_OUT) --workload clinic-burst --faults none --workers 2 --no-reviews --report reports/clinic-burst --results docs/results.md

## burst-1000: the end-of-clinic burst at 1,000 encounters through both variants at default and tight quotas, on templates whose quota_wait_minutes (360) outlasts the tight quotas' line (its physical bound is over four hours: cdk.json's 180 would fail its last uploads by design); writes reports/clinic-burst-1000 and its section of docs/results.md
BURST_1000_OUT := cdk.out.burst-1000
burst-1000: install
	$(OFFLINE_ENV) $(BIN)/python -m experiments.templates $(BURST_1000_OUT) -c quota_wait_minutes=360
	@$(OFFLINE_ENV) $(BIN)/scribe compare --cdk-out $(BURST_1000_OUT) --workload clinic-burst --encounters 1000 --faults none --workers 2 --no-reviews --report reports/clinic-burst-1000 --results docs/results.md

## scale: both variants at 200 and 2000 encounters, review window on (the same 200 run for real at each, the rest seeded as finished work); writes reports/scale and its section of docs/results.md, exits 1 naming each target a figure missed
scale: synth
	@$(OFFLINE_ENV) $(BIN)/scribe scale --cdk-out $(CDK_OUT) --encounters 200 --larger 2000 --report reports/scale --results docs/results.md

## results: render docs/results.md (its summary and generated sections) and each report.md again from the committed reports/*/report.json, running nothing
results: install
	@$(OFFLINE_ENV) PYTHONPATH=lambdas:. $(BIN)/python -m experiments.results

## long-encounter: a synthetic 4-hour conversation drafted with the local note model; prints each model call's tokens against the budget
long-encounter: install
	@$(OFFLINE_ENV) $(BIN)/python -m experiments.drafting

## bench: each handler's cold path (fresh process, import without the project's byte code, first invocation of a recorded event, AWS answered in-process; deployed function's environment, tracing on) against a bare-boto3 handler making the same calls; fails over 1.5x
# The scenarios draft the encounter's note with this checkout's domain (lambdas/ first on the path, as for lint).
bench: install
	$(OFFLINE_ENV) PYTHONPATH=lambdas:. $(BIN)/python -m benchmarks.cold_start

## plan: what the synthesized stacks would deploy (functions, queues, alarms, outputs)
plan: synth
	$(OFFLINE_ENV) $(BIN)/python -m stacks.summary $(CDK_OUT)

## diff: what `make deploy` would change in the AWS account of your current credentials, both stacks (reads only)
diff: install
	$(CDK) diff --all --app "$(BIN)/python app.py"

## deploy: deploy both stacks to the AWS account of your current credentials
deploy: install
	$(CDK) deploy --all --app "$(BIN)/python app.py"

## destroy: delete both stacks from that account (asks first); the PHI, its keys and the logs are retained (docs/reference.md)
destroy: install
	$(CDK) destroy --all --app "$(BIN)/python app.py"

## lint: ruff, and lint-imports (the one-way imports between the packages: [tool.importlinter] in pyproject.toml)
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PYTHONPATH=lambdas:. $(BIN)/lint-imports

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## lock: re-pin every transitive dependency after changing requirements*.txt
lock:
	rm -rf $(VENV) && $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -r requirements-dev.txt
	(echo "# Every package make test installs, pinned (pip freeze of a working .venv). Regenerate with: make lock"; \
		$(BIN)/pip freeze --all --exclude pip) > constraints.txt
	touch $(VENV)/.installed

clean:
	rm -rf $(CDK_OUT) $(BURST_1000_OUT) .cache .pytest_cache .ruff_cache .import_linter_cache
