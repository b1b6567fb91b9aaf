"""kafka-python's consumer and producer calls, as squall uses them, on confluent-kafka
(librdkafka): the ``confluent`` backend of ``squall.kafka.client`` (``squall.kafka.clients``
says what the calls are and what librdkafka needs differently)."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from squall.kafka.librdkafka import (
    DEFAULT_CONNECT_MS,
    LIBRDKAFKA_LOG,
    Future,
    Record,
    kafka_error,
    librdkafka_config,
    unreachable,
)

# longest wait for the answer to an asynchronous commit before it counts as failed
COMMIT_ANSWER_S = 30.0
# Delivery reports are served at most this often by sends and ``is_done`` checks. A poll(0)
# after every send, plus one per check of the oldest write, was 11% of the Kafka topology's
# time (py-spy, 100,000 readings); an alert's ack waits at most this much longer.
SERVE_EVERY_S = 0.0005


class ConfluentConsumer:
    """The kafka-python ``KafkaConsumer`` calls of the spout, on a librdkafka consumer.

    Like kafka-python's, building it raises ``KafkaTimeoutError`` when no broker answers
    within ``bootstrap_timeout_ms`` (librdkafka itself would just keep trying in the
    background, and the spout's reconnect would never hear of the outage).
    """

    def __init__(self, **kwargs: Any) -> None:
        from confluent_kafka import Consumer, KafkaException

        self._connect_s = kwargs.get("bootstrap_timeout_ms", DEFAULT_CONNECT_MS) / 1000
        self._max_records = int(kwargs.get("max_poll_records", 500))
        self._conf = librdkafka_config(kwargs, "consumer")
        self._conf["on_commit"] = self._on_commit
        self._consumer = Consumer(self._conf)
        self._listener: Any = None
        self._seeks: dict[tuple[str, int], int] | None = None  # asked inside on_assign
        # asynchronous commits awaiting their answer: (offsets asked, future, give up at)
        self._commits: deque[tuple[frozenset[tuple[str, int, int]], Future, float]] = deque()
        try:
            self._consumer.list_topics(timeout=self._connect_s)
        except KafkaException as exc:
            self._consumer.close()
            raise unreachable(self._conf, exc) from None

    # -- group -----------------------------------------------------------------------------

    def subscribe(self, topics: Iterable[str], listener: Any = None) -> None:
        self._listener = listener
        self._consumer.subscribe(
            list(topics),
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )

    def _on_assign(self, consumer: Any, partitions: list[Any]) -> None:
        from kafka import TopicPartition

        self._seeks = {}
        try:
            if self._listener is not None:
                self._listener.on_partitions_assigned(
                    [TopicPartition(p.topic, p.partition) for p in partitions]
                )
        except Exception:  # noqa: BLE001 - as kafka-python: logged, the assignment stands
            LIBRDKAFKA_LOG.exception("the rebalance listener failed on assigned partitions")
        finally:
            seeks, self._seeks = self._seeks, None
            for p in partitions:
                if (p.topic, p.partition) in seeks:
                    p.offset = seeks[(p.topic, p.partition)]
            consumer.assign(partitions)

    def _on_revoke(self, consumer: Any, partitions: list[Any]) -> None:
        from kafka import TopicPartition

        if self._listener is None:
            return
        try:
            self._listener.on_partitions_revoked(
                {TopicPartition(p.topic, p.partition) for p in partitions}
            )
        except Exception:  # noqa: BLE001 - as kafka-python: logged, the revoke goes on
            LIBRDKAFKA_LOG.exception("the rebalance listener failed on revoked partitions")

    def assignment(self) -> set[Any]:
        from kafka import TopicPartition

        return {TopicPartition(p.topic, p.partition) for p in self._consumer.assignment()}

    def seek(self, tp: Any, offset: int) -> None:
        from confluent_kafka import KafkaException, TopicPartition

        if self._seeks is not None:  # inside on_assign: the offset the assign starts from
            self._seeks[(tp.topic, tp.partition)] = offset
            return
        try:
            self._consumer.seek(TopicPartition(tp.topic, tp.partition, offset))
        except KafkaException as exc:
            raise kafka_error(exc) from None

    # -- records ---------------------------------------------------------------------------

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[Any, list[Record]]:
        """Records by partition, as kafka-python's ``poll``; also serves the rebalance and
        commit callbacks. Per-partition errors (a topic not there yet) are skipped, as
        kafka-python retries them inside its poll; a fatal error raises."""
        from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, KafkaException
        from kafka import TopicPartition

        try:
            messages = self._consumer.consume(
                num_messages=max_records or self._max_records, timeout=timeout_ms / 1000
            )
        except KafkaException as exc:
            raise kafka_error(exc) from None
        out: dict[Any, list[Record]] = {}
        for msg in messages:
            err = msg.error()
            if err is not None:
                if err.fatal():
                    raise kafka_error(err)
                LIBRDKAFKA_LOG.debug("consume: %s", err)
                continue
            kind, ts = msg.timestamp()
            record = Record(
                str(msg.topic()),
                int(msg.partition() or 0),
                int(msg.offset() or 0),
                msg.key(),
                msg.value(),
                None if kind == TIMESTAMP_NOT_AVAILABLE else ts,
            )
            out.setdefault(TopicPartition(record.topic, record.partition), []).append(record)
        return out

    # -- commits ---------------------------------------------------------------------------

    @staticmethod
    def _parts(offsets: Mapping[Any, Any]) -> list[Any]:
        from confluent_kafka import TopicPartition

        return [TopicPartition(tp.topic, tp.partition, meta.offset) for tp, meta in offsets.items()]

    def commit_async(self, offsets: Mapping[Any, Any]) -> Future:
        """Commit ``{TopicPartition: OffsetAndMetadata}``; the future completes when a later
        ``poll`` serves librdkafka's answer."""
        from confluent_kafka import KafkaException

        parts = self._parts(offsets)
        future = Future(serve=self._expire_commits)
        try:
            self._consumer.commit(offsets=parts, asynchronous=True)
        except KafkaException as exc:
            raise kafka_error(exc) from None
        asked = frozenset((p.topic, p.partition, p.offset) for p in parts)
        self._commits.append((asked, future, time.monotonic() + COMMIT_ANSWER_S))
        return future

    def _expire_commits(self) -> None:
        # The spout sends one asynchronous commit at a time and waits for its answer: one
        # never answered would stop every later commit, so after COMMIT_ANSWER_S it counts as
        # failed and the spout commits its newer offsets instead.
        from kafka.errors import KafkaTimeoutError

        now = time.monotonic()
        while self._commits and self._commits[0][2] <= now:
            _, future, _ = self._commits.popleft()
            future.failure(
                KafkaTimeoutError(f"no answer to an offset commit in {COMMIT_ANSWER_S} s")
            )

    def _on_commit(self, err: Any, partitions: list[Any] | None) -> None:
        """librdkafka's answer to an asynchronous commit (synchronous ones get none).

        Called inside ``consume``, whose caller would get what it raises: it raises nothing."""
        try:
            key = frozenset((p.topic, p.partition, p.offset) for p in partitions or ())
            found = next((i for i, c in enumerate(self._commits) if c[0] == key), None)
            if found is None:
                if err is None or not self._commits:
                    return  # an expired commit's late success, or nothing waiting
                found = 0  # a failure reported without its offsets: the oldest one's
            _, future, _ = self._commits[found]
            del self._commits[found]
            failed = err or next((p.error for p in partitions or () if p.error), None)
            if failed:
                future.failure(kafka_error(failed))
            else:
                future.success(None)
        except Exception:  # noqa: BLE001 - logged; the commit expires and is sent again
            LIBRDKAFKA_LOG.exception("handling an offset commit's answer failed")

    def commit(self, offsets: Mapping[Any, Any], timeout_ms: int | None = None) -> None:
        """Commit and wait for the answer, at most ``timeout_ms`` (then KafkaTimeoutError)."""
        from kafka.errors import KafkaTimeoutError

        parts = self._parts(offsets)
        result: list[Any] = []

        def run() -> None:
            try:
                result.append(self._consumer.commit(offsets=parts, asynchronous=False))
            except Exception as exc:  # handed to the waiting thread
                result.append(exc)

        worker = threading.Thread(target=run, name="squall-confluent-commit", daemon=True)
        worker.start()
        worker.join(None if timeout_ms is None else timeout_ms / 1000)
        if not result:
            raise KafkaTimeoutError(f"offset commit not answered within {timeout_ms} ms")
        if isinstance(result[0], Exception):
            raise kafka_error(result[0])
        for p in result[0] or ():
            if p.error:
                raise kafka_error(p.error)

    def committed(self, tp: Any) -> int | None:
        """The group's committed offset of ``tp`` (None: no commit)."""
        from confluent_kafka import KafkaException, TopicPartition

        try:
            (found,) = self._consumer.committed(
                [TopicPartition(tp.topic, tp.partition)], timeout=self._connect_s
            )
        except KafkaException as exc:
            raise kafka_error(exc) from None
        if found.error:
            raise kafka_error(found.error)
        return found.offset if found.offset >= 0 else None

    # -- metadata and offsets (a backfill's start) ---------------------------------------------

    def topics(self) -> set[str]:
        return set(self._metadata().topics)

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        found = self._metadata(topic).topics.get(topic)
        if found is None or found.error is not None:
            return None
        return set(found.partitions)

    def _metadata(self, topic: str | None = None) -> Any:
        from confluent_kafka import KafkaException

        try:
            return self._consumer.list_topics(topic, timeout=self._connect_s)
        except KafkaException as exc:
            raise kafka_error(exc) from None

    def _watermarks(self, tp: Any) -> tuple[int, int]:
        from confluent_kafka import KafkaException, TopicPartition

        try:
            low, high = self._consumer.get_watermark_offsets(
                TopicPartition(tp.topic, tp.partition), timeout=self._connect_s
            )
        except KafkaException as exc:
            raise kafka_error(exc) from None
        return low, high

    def beginning_offsets(self, partitions: Iterable[Any]) -> dict[Any, int]:
        return {tp: self._watermarks(tp)[0] for tp in partitions}

    def end_offsets(self, partitions: Iterable[Any]) -> dict[Any, int]:
        return {tp: self._watermarks(tp)[1] for tp in partitions}

    def offsets_for_times(self, times: Mapping[Any, int]) -> dict[Any, Any]:
        """``{tp: ms}`` -> ``{tp: found}``: ``found.offset`` is the first record at or after
        that time, None when there is none (kafka-python's form)."""
        from confluent_kafka import KafkaException, TopicPartition
        from kafka.structs import OffsetAndTimestamp

        asked = list(times)
        try:
            found = self._consumer.offsets_for_times(
                [TopicPartition(tp.topic, tp.partition, ms) for tp, ms in times.items()],
                timeout=self._connect_s,
            )
        except KafkaException as exc:
            raise kafka_error(exc) from None
        return {
            tp: (OffsetAndTimestamp(p.offset, times[tp], -1) if p.offset >= 0 else None)
            for tp, p in zip(asked, found, strict=True)
        }

    def close(self, autocommit: bool = False) -> None:
        # never commits: enable.auto.commit is off, and ``autocommit`` is only ever False
        self._consumer.close()


# ---------------------------------------------------------------------------------- producer


class ConfluentProducer:
    """The kafka-python ``KafkaProducer`` calls of the sinks and ``squall produce``.

    ``send`` returns a :class:`Future` completed by librdkafka's delivery report, i.e. when
    the broker acknowledged the record (``acks=all``) or the send finally failed.
    """

    def __init__(self, **kwargs: Any) -> None:
        from confluent_kafka import KafkaException, Producer

        connect_ms = kwargs.get("bootstrap_timeout_ms", DEFAULT_CONNECT_MS)
        self._metadata_s = kwargs.get("max_block_ms", 60_000) / 1000
        self._conf = librdkafka_config(kwargs, "producer")
        self._producer = Producer(self._conf)
        self._next_serve = 0.0  # monotonic s: delivery reports are served from then on
        try:
            self._producer.list_topics(timeout=connect_ms / 1000)
        except KafkaException as exc:
            raise unreachable(self._conf, exc) from None

    def _serve(self) -> None:
        """Run the delivery reports that have arrived, if the last poll is SERVE_EVERY_S old."""
        now = time.monotonic()
        if now >= self._next_serve:
            self._next_serve = now + SERVE_EVERY_S
            self._producer.poll(0)

    def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        partition: int | None = None,
    ) -> Future:
        from confluent_kafka import KafkaException

        future = Future(self._serve)

        def delivered(err: Any, msg: Any) -> None:
            if err is not None:
                future.failure(kafka_error(err))
            else:
                future.success((msg.topic(), msg.partition(), msg.offset()))

        # -1 (RD_KAFKA_PARTITION_UA): the partitioner chooses, by the key's murmur2
        where = -1 if partition is None else partition
        while True:
            try:
                self._producer.produce(
                    topic, value=value, key=key, partition=where, on_delivery=delivered
                )
                break
            except BufferError:
                # librdkafka's queue is full: wait for deliveries, as kafka-python's send
                # blocks on a full buffer
                self._producer.poll(0.1)
            except KafkaException as exc:
                raise kafka_error(exc) from None
        self._serve()
        return future

    def flush(self, timeout: float | None = None) -> None:
        """Wait for every send's answer; KafkaTimeoutError if some are still out after
        ``timeout`` seconds (as kafka-python)."""
        from kafka.errors import KafkaTimeoutError

        left = self._producer.flush(-1 if timeout is None else timeout)
        if left:
            raise KafkaTimeoutError(f"{left} record(s) not acknowledged within {timeout} s")

    def partitions_for(self, topic: str) -> set[int] | None:
        from confluent_kafka import KafkaError, KafkaException

        try:
            found = self._producer.list_topics(topic, timeout=self._metadata_s).topics.get(topic)
        except KafkaException as exc:
            raise kafka_error(exc) from None
        if found is None:
            return None
        if found.error is not None:
            if found.error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
                return None
            raise kafka_error(found.error)
        return set(found.partitions) or None

    def close(self, timeout: float | None = None) -> None:
        # librdkafka has no close: the last flush is the close (what is still out then fails
        # in kafka-python too); the handle goes with the object
        self._producer.flush(30 if timeout is None else timeout)
