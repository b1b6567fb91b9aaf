# Storm area: Apache Storm 2.8 from Maven Central (runtime/storm/*, src/squall/storm), the `storm`
# command sparse calls, and a single-node cluster. `storm-runtime` also installs Leiningen and
# Maven from Debian when missing (sparse builds topology jars with lein).

STORM_BIN := $(CURDIR)/.runtime/storm/bin
STORM_STAMP := .runtime/storm/PROVISIONED
PROVISION += storm-runtime
# topologies/health.py cannot go through sparse as named (sparse would import the `health`
# package of src/ instead), so the Kafka-fed health topology is the default here. The console
# sink prints to stdout, Storm's multilang pipe: off under Storm.
STORM_TOPOLOGY ?= health_kafka
STORM_OPTS ?= -o health.sinks.console=false
# sparse finds `storm` (and the worker's `streamparse_run`) on the PATH.
STORM_PATH := $(STORM_BIN):$(CURDIR)/$(BIN):$(PATH)
# sparse's environment (PATH as above, LEIN_ROOT, filters for the warnings its dependencies
# print on every call: src/squall/storm/sparse_env.py), the same as docs/storm.md's.
SPARSE_ENV = eval "$$($(BIN)/squall storm env)" &&

$(STORM_STAMP): runtime/storm/pom.xml runtime/storm/lib/pom.xml runtime/storm/lib-worker/pom.xml runtime/storm/lib-flux/pom.xml src/squall/storm/provision.py | $(BIN)/squall
	$(BIN)/squall storm provision

storm-runtime: $(STORM_STAMP) ## assemble Apache Storm 2.8 into .runtime/storm (+ lein, mvn from Debian)

storm-start: $(STORM_STAMP) ## start ZooKeeper, Nimbus, a Supervisor (2 slots), the UI (Nimbus :6627, UI :8081)
	$(BIN)/squall storm start

storm-stop: ## stop the cluster started by storm-start
	$(BIN)/squall storm stop

storm-status: ## the cluster's daemons and topologies
	$(BIN)/squall storm status

sparse-run: $(STORM_STAMP) ## STORM_TOPOLOGY in Storm's local mode for SECONDS (sparse run)
	$(SPARSE_ENV) $(BIN)/sparse run -e local -n $(STORM_TOPOLOGY) -t $(SECONDS) $(STORM_OPTS)

sparse-submit: $(STORM_STAMP) ## submit STORM_TOPOLOGY to the cluster of storm-start (sparse submit)
	$(SPARSE_ENV) $(BIN)/sparse submit -e local -n $(STORM_TOPOLOGY) $(STORM_OPTS)

sparse-kill: ## kill STORM_TOPOLOGY on the cluster of storm-start
	$(SPARSE_ENV) $(BIN)/sparse kill -e local -n $(STORM_TOPOLOGY)

storm-test: storm-runtime ## only the Storm tests (real Storm, started by the tests)
	PATH=$(STORM_PATH) $(BIN)/pytest tests/storm

.PHONY: storm-runtime storm-start storm-stop storm-status sparse-run sparse-submit sparse-kill storm-test
