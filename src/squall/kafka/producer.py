"""The course's reading producer, grown up: N simultaneous producers, a rate, a live count.

Each producer is its own process (kafka-python is pure Python: threads would share one core
through the GIL) with its own producer of the library ``--client`` names (kafka-python, or
confluent-kafka: ``squall.kafka.clients``). A send counts as delivered only when the broker
acknowledged it (``acks=all``); the final line reports exactly that number.

Payload forms (``--format``):
  seed  the course's form: ``[id, {"idade": .., "altura": .., "peso": ..}]``
  json  self-describing: ``{"id": .., "age": .., "height_cm": .., "weight_kg": .., "ts": epoch_ms}``

Every record is keyed by its reading's id, the patient, as UTF-8 digits (``b"17"``): Kafka's
default partitioner then keeps one patient's readings on one partition, in order, and a firm
stream's (m,k) bound is kept per patient (the spout judges a record by its key). ``--patients
FIRST-LAST`` draws the ids from that range instead of the course's 0-1000, so two producers can
send two classes of readings for disjoint patients (the ward: critical 0-19, routine 20-219).
"""

from __future__ import annotations

import json
import multiprocessing
import random
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal, TextIO

from squall.kafka.clients import CLIENTS, CONFLUENT, KAFKA_PYTHON, new_producer
from squall.kafka.errors import KafkaConfigError
from squall.kafka.security import PLAIN, ClientSecurity
from squall.kafka.settings import require_client

Format = Literal["seed", "json"]
FORMATS: tuple[str, ...] = ("seed", "json")

# The course's value ranges (inclusive).
ID_RANGE = (0, 1000)
AGE_RANGE = (10, 50)
HEIGHT_CM_RANGE = (100, 200)
WEIGHT_KG_RANGE = (30, 100)
# With --unique-ids, producer p's n-th reading gets id id_base + p * UNIQUE_ID_STRIDE + n.
UNIQUE_ID_STRIDE = 1_000_000_000


@dataclass(frozen=True)
class Reading:
    id: int
    age: int
    height_cm: int
    weight_kg: int
    ts_ms: int


def random_reading(
    rng: random.Random,
    reading_id: int | None = None,
    ts_ms: int | None = None,
    id_range: tuple[int, int] = ID_RANGE,
) -> Reading:
    """A reading with the course's value model (uniform integers in the course's ranges);
    without ``reading_id``, its id is drawn from ``id_range`` (inclusive)."""
    return Reading(
        id=rng.randint(*id_range) if reading_id is None else reading_id,
        age=rng.randint(*AGE_RANGE),
        height_cm=rng.randint(*HEIGHT_CM_RANGE),
        weight_kg=rng.randint(*WEIGHT_KG_RANGE),
        ts_ms=int(time.time() * 1000) if ts_ms is None else ts_ms,
    )


def encode(reading: Reading, fmt: Format) -> bytes:
    """The record value for ``reading`` in the chosen payload form."""
    if fmt == "seed":
        body: object = [
            reading.id,
            {"idade": reading.age, "altura": reading.height_cm, "peso": reading.weight_kg},
        ]
    elif fmt == "json":
        body = {
            "id": reading.id,
            "age": reading.age,
            "height_cm": reading.height_cm,
            "weight_kg": reading.weight_kg,
            "ts": reading.ts_ms,
        }
    else:
        raise KafkaConfigError(f"unknown payload format {fmt!r}; valid formats are {list(FORMATS)}")
    return json.dumps(body, separators=(",", ":")).encode()


def record_key(reading: Reading) -> bytes:
    """The record key: the reading's id (its patient) as UTF-8 digits, e.g. ``b"17"``."""
    return str(reading.id).encode()


def parse_patients(text: str) -> tuple[int, int]:
    """``--patients``: ``FIRST-LAST`` (inclusive, e.g. ``0-19``) or one id, e.g. ``7``."""
    first, sep, last = text.strip().partition("-")
    try:
        low = int(first, 10)
        high = int(last, 10) if sep else low
    except ValueError:
        raise KafkaConfigError(
            f"--patients {text!r} is not a range of patient ids; give FIRST-LAST "
            "(inclusive, ids >= 0), e.g. 0-19, or one id, e.g. 7"
        ) from None
    patients = (low, high)
    _check_patients(patients)
    return patients


def _check_patients(patients: tuple[int, int]) -> None:
    low, high = patients
    if low < 0 or high < low:
        raise KafkaConfigError(
            f"--patients {low}-{high} is not a range of patient ids; valid: FIRST-LAST with "
            "0 <= FIRST <= LAST, e.g. 0-19"
        )


def readings(
    producer_index: int,
    seed: int | None,
    unique_ids: bool,
    count: int | None,
    id_base: int = 0,
    patients: tuple[int, int] | None = None,
) -> Iterator[Reading]:
    """The endless (or ``count``-long) reading sequence of one producer; ids are drawn from
    ``patients`` (inclusive) when given, else from the course's range."""
    rng = random.Random(None if seed is None else f"{seed}:{producer_index}")
    id_range = ID_RANGE if patients is None else patients
    n = 0
    while count is None or n < count:
        reading_id = id_base + producer_index * UNIQUE_ID_STRIDE + n if unique_ids else None
        yield random_reading(rng, reading_id, id_range=id_range)
        n += 1


@dataclass(frozen=True)
class ProduceSpec:
    bootstrap: str
    topic: str
    producers: int = 4
    rate: float | None = None  # readings/s per producer; None = as fast as possible
    seconds: float | None = None
    count: int | None = None  # per producer
    fmt: Format = "seed"
    unique_ids: bool = False
    id_base: int = 0  # added to unique ids, so successive runs do not reuse ids
    seed: int | None = None
    patients: tuple[int, int] | None = None  # ids drawn from this range (inclusive)
    security: ClientSecurity = PLAIN  # TLS and SCRAM (squall.kafka.security)
    client: str = KAFKA_PYTHON  # the client library (squall.kafka.client): or "confluent"

    def validate(self) -> None:
        if self.producers < 1:
            raise KafkaConfigError(f"--producers must be >= 1, got {self.producers}")
        if self.rate is not None and self.rate <= 0:
            raise KafkaConfigError(f"--rate must be > 0 readings/s per producer, got {self.rate}")
        if self.seconds is None and self.count is None:
            raise KafkaConfigError("give --seconds or --count (how long or how many per producer)")
        if self.seconds is not None and self.seconds <= 0:
            raise KafkaConfigError(f"--seconds must be > 0, got {self.seconds}")
        if self.count is not None and self.count < 0:
            raise KafkaConfigError(f"--count must be >= 0 readings per producer, got {self.count}")
        if self.id_base < 0:
            raise KafkaConfigError(f"--id-base must be >= 0, got {self.id_base}")
        if self.client not in CLIENTS:
            raise KafkaConfigError(f"--client {self.client!r} is not one of {list(CLIENTS)}")
        require_client(self.client, "--client")
        if self.fmt not in FORMATS:
            raise KafkaConfigError(f"--format {self.fmt!r} is not one of {list(FORMATS)}")
        if self.patients is not None:
            _check_patients(self.patients)
            if self.unique_ids:
                raise KafkaConfigError(
                    "--patients and --unique-ids both choose the ids: give one of them "
                    "(--patients draws each reading's patient from a range; --unique-ids "
                    "gives every reading an id of its own)"
                )


@dataclass(frozen=True)
class ProduceResult:
    sent: int
    acked: int
    failed: int
    elapsed_s: float
    errors: tuple[str, ...] = ()

    @property
    def rate(self) -> float:
        return self.acked / self.elapsed_s if self.elapsed_s > 0 else 0.0


# Slots per producer in the shared counter array.
_SENT, _ACKED, _FAILED, _DONE = range(4)
_SLOTS = 4


def _producer_main(spec: ProduceSpec, index: int, counters: object, errors: object) -> None:
    """One producer process: send, count the broker's acknowledgements, flush, report."""
    base = index * _SLOTS
    shared = counters  # multiprocessing.Array('q'); each process writes only its own slots

    def on_ack(_metadata: object) -> None:
        shared[base + _ACKED] += 1  # type: ignore[index]

    def on_error(exc: BaseException) -> None:
        shared[base + _FAILED] += 1  # type: ignore[index]
        if shared[base + _FAILED] <= 5:  # type: ignore[index]
            errors.put(f"producer {index}: {type(exc).__name__}: {exc}")  # type: ignore[attr-defined]

    producer = new_producer(
        spec.client,
        bootstrap_servers=spec.bootstrap,
        acks="all",
        linger_ms=5,
        batch_size=64 * 1024,
        retries=2**31 - 1,  # retried until delivery_timeout_ms, which bounds the whole send
        delivery_timeout_ms=120_000,
        client_id=f"squall-produce-{index}",
        **spec.security.kafka_kwargs(),
    )
    try:
        start = time.monotonic()
        deadline = None if spec.seconds is None else start + spec.seconds
        for n, reading in enumerate(
            readings(index, spec.seed, spec.unique_ids, spec.count, spec.id_base, spec.patients)
        ):
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            if spec.rate is not None:
                due = start + n / spec.rate
                if due > now:
                    time.sleep(due - now)
            future = producer.send(spec.topic, encode(reading, spec.fmt), key=record_key(reading))
            future.add_callback(on_ack)
            future.add_errback(on_error)
            shared[base + _SENT] += 1  # type: ignore[index]
        producer.flush()
    finally:
        producer.close()
        shared[base + _DONE] = 1  # type: ignore[index]


def _librdkafka_here(spec: ProduceSpec) -> bool:
    """Whether this process has (or is about to have) librdkafka loaded: then no fork."""
    return spec.client == CONFLUENT or "confluent_kafka" in sys.modules


def produce(
    spec: ProduceSpec,
    progress: Callable[[int, int, int, float], None] | None = None,
    interval_s: float = 0.5,
) -> ProduceResult:
    """Run ``spec.producers`` producer processes to the end; returns the acknowledged count."""
    spec.validate()
    # fork: the children only build their own clients, and spawn would require every
    # calling script to guard its main module. Not once librdkafka is loaded here (a test's
    # or a topology's clients, whichever backend this run writes with): a forked child
    # inherits librdkafka's state without its threads, and crashed building its own client
    # and, on kafka-python, in its first garbage collection (seen: SIGSEGV, exit -11).
    ctx = (
        multiprocessing.get_context("spawn")
        if _librdkafka_here(spec)
        else multiprocessing.get_context("fork")
    )
    errors = ctx.Queue()
    counters = ctx.Array("q", spec.producers * _SLOTS, lock=False)
    procs = [
        ctx.Process(target=_producer_main, args=(spec, i, counters, errors), daemon=True)
        for i in range(spec.producers)
    ]
    start = time.monotonic()
    try:
        for proc in procs:
            proc.start()

        def totals() -> tuple[int, int, int]:
            return (
                sum(counters[i * _SLOTS + _SENT] for i in range(spec.producers)),
                sum(counters[i * _SLOTS + _ACKED] for i in range(spec.producers)),
                sum(counters[i * _SLOTS + _FAILED] for i in range(spec.producers)),
            )

        while any(proc.is_alive() for proc in procs):
            for proc in procs:
                proc.join(timeout=interval_s / spec.producers)
            if progress is not None:
                progress(*totals(), time.monotonic() - start)
        elapsed = time.monotonic() - start
        sent, acked, failed = totals()
        errs = []
        while not errors.empty():
            errs.append(errors.get())
        for i, proc in enumerate(procs):
            if proc.exitcode != 0:
                errs.append(f"producer {i} exited with code {proc.exitcode}")
        return ProduceResult(sent, acked, failed, elapsed, tuple(errs))
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
        errors.close()


def progress_printer(stream: TextIO = sys.stderr) -> Callable[[int, int, int, float], None]:
    """A one-line live progress display (carriage return, rewritten in place)."""

    def show(sent: int, acked: int, failed: int, elapsed_s: float) -> None:
        rate = acked / elapsed_s if elapsed_s > 0 else 0.0
        stream.write(
            f"\rsent {sent:>10,}  acked {acked:>10,}  failed {failed:>6,}  "
            f"{rate:>9,.0f}/s  {elapsed_s:6.1f}s"
        )
        stream.flush()

    return show
