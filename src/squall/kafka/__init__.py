"""Apache Kafka for squall: a project-provisioned broker, producers, a reliable spout, sinks."""
