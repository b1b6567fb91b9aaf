"""``squall kafka provision|start|stop|status`` and ``squall produce``."""

from __future__ import annotations

import argparse
import os
import sys

from squall.kafka.admin import list_topics, parse_topics, read_topic, require_broker
from squall.kafka.broker import DEFAULT_HEAP, Broker
from squall.kafka.errors import KafkaRuntimeError
from squall.kafka.producer import (
    FORMATS,
    ProduceSpec,
    parse_patients,
    produce,
    progress_printer,
)
from squall.kafka.provision import is_provisioned, kafka_version, lib_dir, provision

DEFAULT_INSTANCE = "default"
# Lets scripts (and the docs test) use their own broker without repeating --instance.
INSTANCE_ENV = "SQUALL_KAFKA_INSTANCE"


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    kafka = subparsers.add_parser(
        "kafka",
        help="the project's own Apache Kafka broker (KRaft, one node, 127.0.0.1)",
        description="Provision, start, stop and inspect the project's Apache Kafka broker. "
        "Jars come from Maven Central into .runtime/kafka/lib; each instance keeps its config, "
        "data and logs in .runtime/kafka/instances/<name>/.",
    )
    actions = kafka.add_subparsers(dest="kafka_command", required=True)

    prov = actions.add_parser(
        "provision", help="assemble the broker from Maven Central (idempotent)"
    )
    prov.set_defaults(func=_provision)

    start = actions.add_parser("start", help="start the broker and wait until it is ready")
    _instance_arg(start)
    start.add_argument(
        "--topics",
        default="",
        metavar="NAME[:PARTITIONS],...",
        help="topics to create if missing, e.g. readings:4,alerts,trends,dead-letter",
    )
    start.add_argument("--port", type=int, default=None, help="client port (default: a free one)")
    start.add_argument("--heap", default=DEFAULT_HEAP, help="JVM heap (default %(default)s)")
    start.set_defaults(func=_start)

    stop = actions.add_parser("stop", help="SIGTERM the broker's pid and wait for shutdown")
    _instance_arg(stop)
    stop.add_argument("--remove", action="store_true", help="also delete its data and logs")
    stop.set_defaults(func=_stop)

    status = actions.add_parser("status", help="is it running; bootstrap address; topics")
    _instance_arg(status)
    status.set_defaults(func=_status)

    bootstrap = actions.add_parser(
        "bootstrap", help="print the running broker's bootstrap address (for scripts)"
    )
    _instance_arg(bootstrap)
    bootstrap.set_defaults(func=_bootstrap)

    read = actions.add_parser(
        "read", help="print a topic's records (from the beginning to its current end)"
    )
    read.add_argument("topic", help="topic to read, e.g. health.alerts")
    read.add_argument("--max", type=int, default=None, help="print at most this many")
    read.add_argument("--bootstrap", default=None, help="host:port (default: the running broker)")
    _instance_arg(read)
    read.set_defaults(func=_read)

    prod = subparsers.add_parser(
        "produce",
        help="send the course's readings to Kafka from N simultaneous producers",
        description="Send synthetic readings (the course's value model) from N producer "
        "processes; prints a live progress line and the number of sends the broker acknowledged. "
        "Every record is keyed by its reading's id (the patient), as UTF-8 digits.",
    )
    prod.add_argument("--topic", default="readings", help="target topic (default %(default)s)")
    prod.add_argument(
        "--bootstrap",
        default=None,
        help="host:port of the broker (default: the one `squall kafka start` runs)",
    )
    _instance_arg(prod)
    prod.add_argument("--producers", "-n", type=int, default=4, help="producers (default 4)")
    prod.add_argument(
        "--rate", type=float, default=None, help="readings/s per producer (default: unthrottled)"
    )
    amount = prod.add_mutually_exclusive_group(required=True)
    amount.add_argument("--seconds", type=float, help="produce for this long")
    amount.add_argument("--count", type=int, help="readings per producer")
    prod.add_argument("--format", dest="fmt", choices=FORMATS, default="seed", help="payload form")
    prod.add_argument(
        "--unique-ids",
        action="store_true",
        help=f"id = producer * {1_000_000_000:,} + n instead of the course's random 0-1000",
    )
    prod.add_argument(
        "--id-base", type=int, default=0, help="added to --unique-ids ids (default 0)"
    )
    prod.add_argument(
        "--patients",
        default=None,
        metavar="FIRST-LAST",
        help="draw each reading's id (its patient, the record key) from this inclusive range, "
        "e.g. 0-19 for the ward's critical patients (default: the course's 0-1000)",
    )
    prod.add_argument("--seed", type=int, default=None, help="random seed (reproducible values)")
    prod.add_argument("--quiet", "-q", action="store_true", help="no live progress line")
    prod.set_defaults(func=_produce)


def _instance_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--instance",
        default=os.environ.get(INSTANCE_ENV, DEFAULT_INSTANCE),
        help=f"broker instance name (default ${INSTANCE_ENV} or {DEFAULT_INSTANCE!r})",
    )


def _provision(args: argparse.Namespace) -> int:
    provision(out=sys.stderr)
    return 0


def _start(args: argparse.Namespace) -> int:
    topics = parse_topics(args.topics)
    broker = Broker(args.instance, heap=args.heap)
    was_running = broker.is_running()
    state = broker.start(topics=topics, port=args.port, out=sys.stderr)
    verb = "already running" if was_running else "started"
    print(f"kafka {kafka_version()} {verb}: {state.bootstrap} (pid {state.pid})")
    print(f"  data and logs: {broker.home}")
    if topics:
        print("  topics: " + ", ".join(f"{n}:{p}" for n, p in list_topics(state.bootstrap).items()))
    return 0


def _stop(args: argparse.Namespace) -> int:
    broker = Broker(args.instance)
    state = broker.state()
    stopped = broker.stop()
    if stopped and state is not None:
        print(f"kafka stopped (pid {state.pid})")
    else:
        print(f"kafka instance {args.instance!r} was not running")
    if args.remove:
        broker.remove()
        print(f"  removed {broker.home}")
    return 0


def _status(args: argparse.Namespace) -> int:
    broker = Broker(args.instance)
    provisioned = is_provisioned()
    print(f"runtime: {'provisioned' if provisioned else 'not provisioned'} ({lib_dir()})")
    state = broker.state()
    if state is None or not broker.pid_alive():
        print(f"broker {args.instance!r}: stopped")
        return 3
    if not broker.is_running():
        print(
            f"broker {args.instance!r}: pid {state.pid} alive but port {state.port} not accepting"
        )
        return 1
    print(f"broker {args.instance!r}: running at {state.bootstrap} (pid {state.pid})")
    for topic, partitions in list_topics(state.bootstrap).items():
        print(f"  topic {topic}: {partitions} partition(s)")
    return 0


def _bootstrap(args: argparse.Namespace) -> int:
    print(_running_bootstrap(args.instance))
    return 0


def _read(args: argparse.Namespace) -> int:
    if args.max is not None and args.max < 0:
        raise KafkaRuntimeError(f"--max must be >= 0, got {args.max}")
    from kafka.errors import KafkaError

    bootstrap = args.bootstrap or _running_bootstrap(args.instance)
    require_broker(bootstrap)
    try:
        values = read_topic(bootstrap, args.topic, args.max)
    except KafkaError as exc:  # reachable, but not a broker that answers: one line, no trace
        raise KafkaRuntimeError(f"reading {args.topic!r} from {bootstrap}: {exc}") from None
    for value in values:
        print(value.decode("utf-8", errors="backslashreplace") if value is not None else "")
    return 0


def _running_bootstrap(instance: str) -> str:
    broker = Broker(instance)
    if not broker.is_running():
        raise KafkaRuntimeError(
            f"no running broker instance {instance!r}: start one with `squall kafka start` "
            "or pass --bootstrap host:port"
        )
    return broker.bootstrap


def _produce(args: argparse.Namespace) -> int:
    # a bad range is named before any broker is looked for
    patients = None if args.patients is None else parse_patients(args.patients)
    bootstrap = args.bootstrap or _running_bootstrap(args.instance)
    require_broker(bootstrap)  # else each producer process would print its own traceback
    spec = ProduceSpec(
        bootstrap=bootstrap,
        topic=args.topic,
        producers=args.producers,
        rate=args.rate,
        seconds=args.seconds,
        count=args.count,
        fmt=args.fmt,
        unique_ids=args.unique_ids,
        id_base=args.id_base,
        seed=args.seed,
        patients=patients,
    )
    result = produce(spec, progress=None if args.quiet else progress_printer(sys.stderr))
    if not args.quiet:
        sys.stderr.write("\n")
    for error in result.errors:
        print(f"  error: {error}", file=sys.stderr)
    print(
        f"acknowledged by the broker: {result.acked:,} of {result.sent:,} sent "
        f"({result.failed:,} failed) to {spec.topic!r} on {bootstrap} "
        f"by {spec.producers} producer(s) in {result.elapsed_s:.1f}s ({result.rate:,.0f}/s)"
    )
    return 0 if result.failed == 0 and not result.errors and result.acked == result.sent else 1
