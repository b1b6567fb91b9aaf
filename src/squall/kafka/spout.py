"""A reliable Kafka spout: at-least-once from a consumer group into a Storm-style topology.

* Each spout task is one member of the consumer group, so the tasks share the partitions.
* A tuple's id is ``"topic:partition:offset"`` (a string: it survives multilang's JSON).
* Offsets are committed only up to the first tuple not yet acked (``OffsetTracker``), so a
  crash at any moment replays, never skips.
* A failed tuple is replayed from memory (no seek); after ``max.attempts`` failures it is written
  to the dead-letter topic with the reason and counts as done, instead of looping forever.
* In-flight tuples are bounded (``max.in.flight``): the consumer is not polled beyond it.
* On a rebalance the revoked partitions' in-flight state is dropped; their records come back,
  from the last periodic commit, to whichever member gets the partition.

Settings: ``squall.kafka.spout.*`` Storm config keys (``max.attempts``, ``max.in.flight``,
``commit.interval.secs``, ``session.timeout.ms``...), declared with their defaults and ranges in
``squall.kafka.settings``; where to read from is the subclass's to say.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from squall.errors import ConfigError
from squall.kafka.catch_up import first_task_catch_up
from squall.kafka.clients import new_consumer, new_producer
from squall.kafka.dead_letters import DeadLetters
from squall.kafka.errors import KafkaConfigError
from squall.kafka.offsets import OffsetTracker, Outcome, TopicPart, format_tup_id
from squall.kafka.rebalance import Listener, watch_assignment
from squall.kafka.reconnect import BOOTSTRAP_TIMEOUT_MS
from squall.kafka.security import (
    ClientSecurity,
    KafkaRefused,
    SecureReconnect,
    check_consumer_access,
)
from squall.kafka.settings import SPOUT_SETTINGS, KafkaSpoutSettings, kafka_client
from squall.kafka.start import start_offsets
from squall.realtime.context import realtime_of, set_release
from squall.realtime.standalone import attach
from squall.storm.batched_spout import BatchedSpout

DRAINED_PAUSE_S = 0.001  # no poll this long after one that returned fewer records than asked


@dataclass
class _InFlight:
    tp: TopicPart
    offset: int
    values: list[Any]
    raw: bytes | None
    released_s: float | None = None  # the record's timestamp: its release, also when replayed


class ReliableKafkaSpout(DeadLetters, BatchedSpout):
    """Base class: subclasses say where the settings come from and what a record emits."""

    # Subclasses set ``outputs`` and implement ``settings_from_conf`` and ``to_values``.

    def settings_from_conf(self, conf: Mapping[str, Any]) -> KafkaSpoutSettings:
        raise NotImplementedError

    def catch_up_changelog(self, conf: Mapping[str, Any]) -> str | None:
        """The compacted changelog of a state fed by this spout unanchored, if any: at start
        the spout then re-emits, as catch-up, the committed records that state may not have
        counted (``squall.kafka.changelog``). None (the default): no catch-up."""
        return None

    def to_values(
        self,
        topic: str,
        partition: int,
        offset: int,
        value: str,
        stands_for: int = 1,
        timestamp_ms: int | None = None,
    ) -> list[Any]:
        """The tuple for one record (``value`` is its UTF-8 decoded payload). ``stands_for``:
        the records of its key it stands for, itself included — more than 1 after records of
        that key were discarded in overload (``RealtimeContext.keep_weight``); a subclass whose
        results count records may carry it along to weigh them. ``timestamp_ms``: the record's
        Kafka timestamp (None if it has none), the same on every delivery of the record, so a
        subclass may carry it as the event time of a payload that has none of its own."""
        raise NotImplementedError

    # ------------------------------------------------------------------------------ lifecycle

    def initialize(self, storm_conf: dict[str, Any], context: dict[str, Any]) -> None:
        self.settings = self.settings_from_conf(storm_conf)
        s = self.settings
        self.client = kafka_client(storm_conf)  # squall.kafka.client: the library underneath
        self.tracker = OffsetTracker(max_attempts=s.max_attempts)
        self.in_flight: dict[str, _InFlight] = {}
        self.replay: deque[str] = deque()
        self.buffered: deque[Any] = deque()  # fetched records not yet emitted
        self.dead_letter_pending: deque[tuple[str, str]] = deque()  # (tup_id, reason)
        self.dead_letter_sent: deque[tuple[str, str, Any]] = deque()  # + the send's future
        self.stats = {
            "emitted": 0,
            "replayed": 0,
            "acked": 0,
            "dead_lettered": 0,
            "commits": 0,
            "consumer_replacements": 0,
            "shed": 0,  # skipped under overload within the stream's (m,k) bound
            "caught_up": 0,  # committed records re-emitted for a restored state (catch-up)
        }
        self._last_commit = time.monotonic()
        # the asynchronous commit on its way: (future, offsets), until its answer is read
        self._commit_in_flight: tuple[Any, dict[TopicPart, int]] | None = None
        self._idle_until = 0.0
        task = context.get("taskid", 0) if isinstance(context, dict) else 0
        self._task = task
        self._unassigned_since: float | None = None  # no partitions since (monotonic s)
        self._revoked_since: float | None = None  # revoked, not yet assigned again, since
        # partition -> (first unfinished offset, last commit point sent) at its last revoke
        self.resume_at: dict[TopicPart, tuple[int, int | None]] = {}
        # squall.kafka.spout.start: offsets to start from, applied once per partition
        self.start_at: dict[TopicPart, int] = {}
        self.started: set[TopicPart] = set()
        self.consumer: Any = None  # None until the broker answers (squall.kafka.reconnect)
        # Catch-up (squall.kafka.catch_up), planned once, by the component's first task only
        self.catch_up = first_task_catch_up(self.catch_up_changelog(storm_conf), context)
        self.producer: Any = None
        # squall.kafka.security.*: TLS and SCRAM when set; a refusal is logged, then retried
        self.security = ClientSecurity.from_conf(storm_conf)
        self.reconnect = SecureReconnect(
            f"spout {type(self).__name__}", s.bootstrap_servers, self.logger, self.security
        )
        self._connect()
        # Under Storm no runtime times the trees: a self-timed context does, from the records'
        # timestamps to the acks, and keeps this task's overload state for discard and rate
        # (squall.realtime.standalone). Embedded: hooks that do nothing.
        self.timer = attach(self, storm_conf, ("default",), max_pending=s.max_in_flight)

    def _connect(self) -> bool:
        """Make the consumer and the dead-letter producer; False (logged, retried later with
        backoff) while the broker does not answer. A missing topic raises: configuration."""
        from kafka.errors import KafkaError

        s = self.settings
        try:
            # the password is read now, on this host, and again at each reconnect
            self._security_kwargs = self.security.kafka_kwargs()
            self.reconnect.check()  # a refusal named before kafka-python clients retry it
        except (KafkaConfigError, KafkaRefused) as exc:  # e.g. no password file (yet) here
            self.reconnect.failed(exc)
            return False
        try:
            consumer = self._new_consumer()
        except (KafkaError, KafkaRefused) as exc:
            self.reconnect.failed(exc)
            return False
        try:
            self.producer = new_producer(
                self.client,
                bootstrap_servers=list(s.bootstrap_servers),
                acks="all",
                client_id=f"squall-spout-dlq-{self._task}",
                bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS,
                **self._security_kwargs,
            )
        except KafkaError as exc:
            consumer.close(autocommit=False)
            self.reconnect.failed(exc)
            return False
        self.consumer = consumer
        self.reconnect.succeeded()
        if self.catch_up is not None and not self.catch_up.planned:
            self.catch_up.plan(self)
        return True

    def close(self) -> None:
        """Commit what is done, then leave the group (its partitions move to the others)."""
        if self.catch_up is not None:
            self.catch_up.close()  # its own consumer, if the catch-up was not over
        if self.consumer is None:
            return  # never reached the broker: nothing fetched, nothing to commit
        try:
            if self.dead_letter_sent:  # their answers, so that what they cover commits too
                self.producer.flush(timeout=5)
                self._settle_dead_letters()
            self._commit(force=True)
        finally:
            self.consumer.close(autocommit=False)
            self.producer.close(timeout=5)

    def deactivate(self) -> None:
        if self.catch_up is not None:
            self.catch_up.suspend()  # consumer closed; re-read from where it was if activated
        if self.consumer is not None:
            self._commit(force=True)

    def _new_consumer(self) -> Any:
        s = self.settings
        consumer = new_consumer(
            self.client,
            bootstrap_servers=list(s.bootstrap_servers),
            group_id=s.group_id,
            client_id=f"squall-spout-{s.group_id}-{self._task}",
            enable_auto_commit=False,
            auto_offset_reset=s.auto_offset_reset,
            max_poll_records=s.poll_max_records,
            fetch_max_wait_ms=s.fetch_max_wait_ms,
            # A slow topology must not be thrown out of the group: polls may be far apart
            # while in-flight is full.
            max_poll_interval_ms=600_000,
            session_timeout_ms=s.session_timeout_ms,
            heartbeat_interval_ms=max(1000, s.session_timeout_ms // 3),
            bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS,
            **self._security_kwargs,
        )
        consumer.subscribe(list(s.topics), listener=Listener(self))
        # A fresh metadata fetch after subscribing, before the first group join. kafka-python
        # 3.0.12 takes the leader's "assignment snapshot" from metadata seen since subscribe();
        # joined before any arrived, it assigned from an empty snapshot, saw the topic's
        # partitions a moment later and rebalanced (seen: a lone member revoked 0.3 s after its
        # first assignment, its in-flight readings replayed, and under Storm a rejoin that never
        # completed). Joined without the topic at all, dozens of generations passed with no
        # partitions. It also says whether the topics exist: a missing topic is a configuration
        # error, not a wait.
        known = consumer.topics()
        missing = [topic for topic in s.topics if topic not in known]
        if self.security.secured:  # refused with a line naming the ACL to grant
            check_consumer_access(consumer, self.security, s.topics, s.group_id, missing)
        if missing:
            consumer.close(autocommit=False)
            raise KafkaConfigError(
                f"spout {type(self).__name__}: topic {missing[0]!r} does not exist on "
                f"{list(s.bootstrap_servers)}; create it first, e.g. "
                f"`squall kafka start --topics {missing[0]}:4`"
            )
        try:
            # a backfill's offsets, asked now: the rebalance callback that seeks may not ask
            self.start_at = start_offsets(consumer, s.topics, s.start)
        except ConfigError:
            consumer.close(autocommit=False)
            raise
        return consumer

    # ------------------------------------------------------------------------------ the loop

    def next_tuple(self) -> None:
        if self.consumer is None:
            if self.reconnect.due():
                self._connect()
            return
        self._retry_dead_letters()
        if self.catch_up:  # all of it before any new record: the state counts in time order
            self.catch_up.emit_some(self)
            return
        if self.replay:
            tup_id = self.replay.popleft()
            entry = self.in_flight.get(tup_id)
            if entry is not None:
                self.stats["replayed"] += 1
                if entry.released_s is not None:
                    set_release(self, entry.released_s)
                self.timer.released(tup_id, entry.released_s)
                self.emit(entry.values, tup_id=tup_id)
            return
        if not self.timer.turn("default"):
            # Under Storm, the rate policy in overload: no new records this call (they stay
            # in Kafka as lag); commits go on.
            self._maybe_commit()
            return
        if not self.buffered:
            self._poll()
        emitted = 0
        # A few per call keeps the worker loop fair to the bolts while amortising the poll.
        while (
            self.buffered
            and emitted < 16
            and self.tracker.in_flight() < self.settings.max_in_flight
        ):
            self._emit_record(self.buffered.popleft())
            emitted += 1
        self._maybe_commit()

    def _poll(self) -> None:
        room = self.settings.max_in_flight - self.tracker.in_flight()
        now = time.monotonic()
        if room <= 0 or now < self._idle_until:
            return
        watch_assignment(self, now)
        # While the group join is not complete, and nothing is in flight, the poll may wait a
        # little: kafka-python finishes a group join/sync only inside poll, and polls with a
        # zero timeout abandon the sync and rejoin over and over (seen: dozens of generations).
        # Once assigned it never waits: the worker loop is shared, and an idle spout waiting
        # 100 ms held every other spout and bolt (critical alerts missed 50 ms deadlines at
        # 200 readings/s); the loop's own idle back-off keeps an idle spout cheap.
        joining = self._revoked_since is not None or self._unassigned_since is not None
        wait_ms = self.settings.idle_poll_ms if joining and not self.tracker.in_flight() else 0
        asked = min(room, self.settings.poll_max_records)
        batches = self.consumer.poll(timeout_ms=wait_ms, max_records=asked)
        for records in batches.values():
            self.buffered.extend(records)
        if not self.buffered:
            # Nothing there: do not spin on the broker; the worker loop has other work.
            self._idle_until = now + 0.005
        elif len(self.buffered) < asked:
            # The fetched records are drained: more come with the next fetch response, not
            # sooner. A poll is a round trip to the client's network thread (~0.1 ms), and a
            # hard stream's spout is asked until it has nothing due: without this pause it
            # polled after every few records (half the worker's time at 3,200 readings/s).
            self._idle_until = now + DRAINED_PAUSE_S

    def _emit_record(self, record: Any) -> None:
        tp = (record.topic, record.partition)
        if not self.tracker.emitted(tp, record.offset):
            return  # already in flight or done here (a re-fetch after a seek)
        tup_id = format_tup_id(record.topic, record.partition, record.offset)
        raw: bytes = record.value if record.value is not None else b""
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            # Not representable in a JSON tuple (multilang): straight to the dead-letter topic.
            self.in_flight[tup_id] = _InFlight(tp, record.offset, [], raw)
            self._dead_letter(
                tup_id, f"payload is not UTF-8: byte {raw[exc.start]:#04x} at offset {exc.start}"
            )
            return
        # Real-time: under overload a firm stream may skip this job within its (m,k) bound,
        # judged by the record's key (the patient), before any parsing. A skipped record is
        # done (its offset commits), never failed or replayed; the runtime counts it as shed.
        stands_for = realtime_of(self).keep_weight("default", record.key)
        if not stands_for:
            self.stats["shed"] += 1
            self.tracker.acked(tp, record.offset)
            return
        values = self.to_values(
            record.topic, record.partition, record.offset, text, stands_for, record.timestamp
        )
        released = record.timestamp / 1000.0 if record.timestamp is not None else None
        self.in_flight[tup_id] = _InFlight(tp, record.offset, values, raw, released)
        self.stats["emitted"] += 1
        if released is not None:
            set_release(self, released)  # the tree's deadline runs from the record's timestamp
        self.timer.released(tup_id, released)
        self.emit(values, tup_id=tup_id)

    # ------------------------------------------------------------------------------ outcomes

    def ack(self, tup_id: Any) -> None:
        self.timer.done(tup_id, True)
        entry = self.in_flight.pop(tup_id, None) if isinstance(tup_id, str) else None
        if entry is not None and self.tracker.acked(entry.tp, entry.offset):
            self.stats["acked"] += 1
        self._maybe_commit()

    def fail(self, tup_id: Any) -> None:
        self.timer.done(tup_id, False)
        entry = self.in_flight.get(tup_id) if isinstance(tup_id, str) else None
        if entry is None:
            return  # a revoked partition's tuple, or already done: its record comes back anyway
        outcome = self.tracker.failed(entry.tp, entry.offset)
        if outcome is Outcome.REPLAY:
            self.replay.append(tup_id)
        elif outcome is Outcome.DEAD_LETTER:
            self._dead_letter(
                tup_id,
                f"failed {self.settings.max_attempts} times in the topology "
                f"({SPOUT_SETTINGS['max_attempts'].key}={self.settings.max_attempts})",
            )

    # ------------------------------------------------------------------------------ commits

    def _maybe_commit(self) -> None:
        self._settle_dead_letters()
        self._settle_commit()
        if time.monotonic() - self._last_commit >= self.settings.commit_interval_s:
            self._commit()

    def _commit(self, force: bool = False, only: set[TopicPart] | None = None) -> None:
        from kafka import OffsetAndMetadata, TopicPartition
        from kafka.errors import KafkaError

        self._last_commit = time.monotonic()
        self._settle_commit()
        if not force and self._commit_in_flight is not None:
            return  # the previous one is still on its way: one at a time, newer offsets next
        offsets = self.tracker.committable()
        if only is not None:
            offsets = {tp: o for tp, o in offsets.items() if tp in only}
        if not offsets:
            return
        request = {TopicPartition(*tp): OffsetAndMetadata(o, "", -1) for tp, o in offsets.items()}
        if not force:
            # Asynchronous: the worker loop never waits on the broker for a periodic commit
            # (issue 11: nothing in the loop blocks on I/O). The answer is read on a later
            # turn (``_settle_commit``); a failed one is retried with the newer offsets then.
            try:
                future = self.consumer.commit_async(request)
            except KafkaError as exc:
                self.logger.warning("offset commit failed (%s); will retry", exc)
                return
            self._commit_in_flight = (future, offsets)
            return
        try:
            # Bounded: the worker loop is single-threaded, and an unbounded commit while the
            # broker restarts froze it past topology.message.timeout.secs (every tree in flight
            # then timed out and was replayed).
            self.consumer.commit(request, timeout_ms=self.settings.commit_timeout_ms)
        except KafkaError as exc:
            # Broker restarting or group rebalancing: the same offsets are retried next time;
            # anything not committed is replayed after a crash (at-least-once).
            self.logger.warning("offset commit failed (%s); will retry", exc)
            return
        self.tracker.mark_committed(offsets)
        self.stats["commits"] += 1

    def _settle_commit(self) -> None:
        """Take the answer to the asynchronous commit in flight, if it has come."""
        if self._commit_in_flight is None:
            return
        future, offsets = self._commit_in_flight
        if not future.is_done:
            return
        self._commit_in_flight = None
        if future.failed():
            self.logger.warning("offset commit failed (%s); will retry", future.exception)
            return
        self.tracker.mark_committed(offsets)
        self.stats["commits"] += 1

    # ------------------------------------------------------------------------------ rebalance

    def on_revoked(self, revoked: set[TopicPart]) -> None:
        if not revoked:
            return  # the first join: nothing was assigned before
        if self._revoked_since is None:
            self._revoked_since = time.monotonic()
        # No commit here: kafka-python 3 runs this listener on its own event loop, where a
        # blocking consumer.commit() waits for that same loop and hangs the whole group
        # (seen: both members stuck for minutes). What was done since the last periodic commit
        # (commit.interval.secs) is processed again by the next owner: duplicates, not losses.
        # Where to resume if a partition comes back to this member: kafka-python keeps its
        # in-memory fetch position for a partition re-assigned to the same member, which is
        # past the in-flight tuples dropped here (seen: 68 alerts missing after a rebalance).
        # The commit point also has to survive: offsets acked since the last periodic commit
        # are done, and at the end of a partition no later record would ever commit them (seen:
        # a run that never finished, every reading acked and 2,196 of 60,000 never committed).
        for tp in revoked:
            point = self.tracker.commit_point(tp)
            if point is not None:
                self.resume_at[tp] = (point, self.tracker.committed(tp))
        dropped = self.tracker.revoke(revoked)
        self.buffered = deque(r for r in self.buffered if (r.topic, r.partition) not in revoked)
        for tup_id in [t for t, e in self.in_flight.items() if e.tp in revoked]:
            del self.in_flight[tup_id]
        self.replay = deque(t for t in self.replay if t in self.in_flight)
        self.dead_letter_pending = deque(
            p for p in self.dead_letter_pending if p[0] in self.in_flight
        )
        self.logger.info(
            "rebalance: revoked %s, dropped %d in-flight tuples (they come back from the "
            "committed offsets)",
            sorted(revoked),
            dropped,
        )
