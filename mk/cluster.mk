# Cluster area: test hosts in Linux network namespaces (src/squall/netns.py; root only) and what
# runs across them: 3 Kafka brokers, a 3-host Storm cluster, and the health topology on the
# Storm hosts reading the brokers, with fault tests (docs/cluster.md). Nothing leaves the machine.

test-cluster: venv $(KAFKA_LIB) $(STORM_STAMP) ## the multi-host and fault tests (Kafka and Storm on test hosts; needs root)
	$(BIN)/pytest -m cluster tests/cluster

.PHONY: test-cluster
