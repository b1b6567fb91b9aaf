"""The Kafka client library under the spout, the sinks and ``squall produce``: kafka-python
(the default) or confluent-kafka (librdkafka), chosen by ``squall.kafka.client``.

The callers are written against the few kafka-python calls they use (``KafkaConsumer``:
``subscribe`` with a rebalance listener, ``poll``, ``commit``, ``commit_async``, ``seek``,
``committed``, ``assignment``, ``topics``, ``close``, and the offset look-ups of a backfill;
``KafkaProducer``: ``send`` returning a future, ``flush``, ``partitions_for``, ``close``). With
``kafka-python`` :func:`new_consumer` and :func:`new_producer` return kafka-python's own
clients, so that backend is exactly what it was before the choice existed. With ``confluent``
they return ``squall.kafka.confluent``'s ``ConfluentConsumer`` / ``ConfluentProducer``, which
give those calls the same meaning on librdkafka: the same keyword arguments (translated to
librdkafka settings by ``squall.kafka.librdkafka``), kafka-python's ``TopicPartition`` and
error classes, futures with ``is_done`` / ``succeeded()`` / ``failed()`` / ``exception``. So
the spout's commit-on-ack, replays, dead letters, rebalance handling and broker-away retries
are one code path for both.

What librdkafka needs that kafka-python does not, and where ``squall.kafka.confluent``
handles it:

* offsets are stored and committed only by the spout: ``enable.auto.commit`` and
  ``enable.auto.offset.store`` are off (at-least-once: a commit never runs ahead of the acks);
* delivery reports and commit results arrive only inside ``poll``/``consume``/``flush``: a
  send polls the producer, and a future's ``is_done`` polls it again while not done, so the
  sink's acks need no extra call;
* a seek inside the assignment callback cannot work before the partitions are assigned: the
  seeks the listener asks for become the starting offsets of the ``assign`` that follows;
* a synchronous commit has no timeout in librdkafka: it runs on a helper thread, waited for at
  most ``timeout_ms`` (the worker loop must not freeze while the broker restarts); an
  asynchronous commit not answered within ``COMMIT_ANSWER_S`` counts as failed, so the
  spout's next commit is not held back by it;
* a process forked from one holding librdkafka clients crashed building its own:
  ``squall produce --client confluent`` spawns its producer processes.
"""

from __future__ import annotations

from typing import Any

KAFKA_PYTHON = "kafka-python"
CONFLUENT = "confluent"
CLIENTS: tuple[str, ...] = (KAFKA_PYTHON, CONFLUENT)
INSTALL_CONFLUENT = "pip install 'squall[confluent]'"


def confluent_available() -> bool:
    """Whether confluent-kafka can be imported here (the ``squall[confluent]`` extra)."""
    try:
        import confluent_kafka  # noqa: F401
    except ImportError:
        return False
    return True


def new_consumer(client: str, **kwargs: Any) -> Any:
    """A consumer of ``client``'s library, from kafka-python's ``KafkaConsumer`` arguments."""
    if client == CONFLUENT:
        from squall.kafka.confluent import ConfluentConsumer

        return ConfluentConsumer(**kwargs)
    from kafka import KafkaConsumer

    return KafkaConsumer(**kwargs)


def new_producer(client: str, **kwargs: Any) -> Any:
    """A producer of ``client``'s library, from kafka-python's ``KafkaProducer`` arguments."""
    if client == CONFLUENT:
        from squall.kafka.confluent import ConfluentProducer

        return ConfluentProducer(**kwargs)
    from kafka import KafkaProducer

    return KafkaProducer(**kwargs)
