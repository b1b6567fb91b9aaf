# Kafka area: the project-provisioned Apache Kafka broker (src/squall/kafka, runtime/kafka/pom.xml).

KAFKA_LIB := .runtime/kafka/lib/.provisioned
PROVISION += kafka-runtime

$(KAFKA_LIB): runtime/kafka/pom.xml | $(BIN)/squall
	$(BIN)/squall kafka provision

kafka-runtime: $(KAFKA_LIB) kcat ## assemble Apache Kafka 4 from Maven Central into .runtime/kafka (+ kcat)

# Debian's kcat (librdkafka): the second, independent Kafka client the tests cross-check with.
kcat:
	@command -v kcat >/dev/null || { apt-get update -qq && apt-get install -y -qq kcat; }

kafka-start: $(KAFKA_LIB) ## start the broker in .runtime/kafka/instances/default (topics for the health topology)
	$(BIN)/squall kafka start --topics health.readings:4,health.alerts,health.invalid,health.trends --retention-from config.yaml

kafka-stop: ## stop the broker started by kafka-start
	$(BIN)/squall kafka stop

kafka-test: kafka-runtime ## only the Kafka tests (real broker, started by the tests)
	$(BIN)/pytest tests/kafka

.PHONY: kafka-runtime kcat kafka-start kafka-stop kafka-test
