"""``squall kafka provision|start|stop|status|bootstrap|read|secrets`` and ``squall produce``.

``start --secure`` makes a secured broker (docs/security.md); ``produce`` and ``read`` then
connect with TLS and SCRAM: as given by ``--security-protocol``, ``--ca-file``, ``--username``
and ``--password-file`` / ``--password-env``, or, without ``--bootstrap``, as the running
instance's ``producer`` (produce) or ``admin`` (read) user.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from squall.kafka.admin import list_topics, parse_topics, read_topic, require_broker
from squall.kafka.broker import DEFAULT_HEAP, Broker
from squall.kafka.broker_security import USERS, AccessPlan, describe_plan
from squall.kafka.clients import CLIENTS, KAFKA_PYTHON
from squall.kafka.errors import KafkaRuntimeError
from squall.kafka.producer import (
    FORMATS,
    ProduceSpec,
    parse_patients,
    produce,
    progress_printer,
)
from squall.kafka.provision import is_provisioned, kafka_version, lib_dir, provision
from squall.kafka.retention import HOUR_MS, retention_from_file, set_retention
from squall.kafka.security import (
    MECHANISMS,
    PROTOCOLS,
    ClientSecurity,
    check_access,
    refusal,
)

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
    start.add_argument(
        "--retention-from",
        default=None,
        metavar="FILE",
        help="set each topic's retention from FILE's kafka section (<role>_topic with "
        "<role>_retention_hours, e.g. config.yaml)",
    )
    start.add_argument("--port", type=int, default=None, help="client port (default: a free one)")
    start.add_argument("--heap", default=DEFAULT_HEAP, help="JVM heap (default %(default)s)")
    start.add_argument(
        "--secure",
        action="store_true",
        help="a fresh instance with a SASL_SSL listener (TLS + SCRAM-SHA-512), users "
        f"{', '.join(USERS)} and ACLs (docs/security.md); a secured instance stays secured",
    )
    plan = AccessPlan()
    start.add_argument(
        "--acl-readings",
        default=None,
        metavar="PREFIX,...",
        help="topic prefixes the producer writes and the topology reads "
        f"(default {','.join(plan.readings)})",
    )
    start.add_argument(
        "--acl-outputs",
        default=None,
        metavar="PREFIX,...",
        help=f"topic prefixes the topology writes (default {','.join(plan.outputs)})",
    )
    start.add_argument(
        "--acl-group",
        default=None,
        metavar="PREFIX",
        help=f"consumer-group prefix of the topology (default {plan.group})",
    )
    start.add_argument(
        "--acl-changelog",
        default=None,
        metavar="TOPIC",
        help=f"the topology's changelog topic (default {plan.changelog})",
    )
    start.set_defaults(func=_start)

    secrets = actions.add_parser(
        "secrets",
        help="print a secured instance's secrets folder (ca.pem, <user>.password; for scripts)",
    )
    _instance_arg(secrets)
    secrets.set_defaults(func=_secrets)

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
    _security_args(read, "admin")
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
    _security_args(prod, "producer")
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
    prod.add_argument(
        "--client",
        choices=CLIENTS,
        default=KAFKA_PYTHON,
        help="Kafka client library (default %(default)s; confluent: confluent-kafka, "
        "the squall[confluent] extra)",
    )
    prod.add_argument("--quiet", "-q", action="store_true", help="no live progress line")
    prod.set_defaults(func=_produce)


def _instance_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--instance",
        default=os.environ.get(INSTANCE_ENV, DEFAULT_INSTANCE),
        help=f"broker instance name (default ${INSTANCE_ENV} or {DEFAULT_INSTANCE!r})",
    )


def _security_args(parser: argparse.ArgumentParser, default_user: str) -> None:
    group = parser.add_argument_group(
        "security",
        "how to connect to a secured broker (docs/security.md); without --bootstrap and "
        f"these, a secured running instance is used as its {default_user!r} user",
    )
    group.add_argument("--security-protocol", choices=PROTOCOLS, default=None)
    group.add_argument("--ca-file", default=None, help="PEM of the CA that signed the broker")
    group.add_argument("--sasl-mechanism", choices=MECHANISMS, default=None)
    group.add_argument("--username", default=None, help="SCRAM user")
    group.add_argument(
        "--password-file", default=None, help="file holding the password (never the password)"
    )
    group.add_argument(
        "--password-env", default=None, help="environment variable holding the password"
    )


def _client(args: argparse.Namespace, default_user: str) -> tuple[str, ClientSecurity]:
    """The bootstrap address and security of ``produce`` / ``read``, checked with the broker:
    one line naming what to fix when it would refuse the client."""
    flags = (args.security_protocol, args.ca_file, args.username, args.password_file)
    if args.bootstrap is None and not any(flags) and not args.password_env:
        bootstrap = _running_bootstrap(args.instance)
        security = Broker(args.instance).security(default_user)
    else:
        bootstrap = args.bootstrap or _running_bootstrap(args.instance)
        security = ClientSecurity.from_flags(
            args.security_protocol,
            args.ca_file,
            args.sasl_mechanism,
            args.username,
            args.password_file,
            args.password_env,
        )
    require_broker(bootstrap)  # else each client would print its own traceback
    check_access(bootstrap, security)
    return bootstrap, security


def _provision(args: argparse.Namespace) -> int:
    provision(out=sys.stderr)
    return 0


def _start(args: argparse.Namespace) -> int:
    topics = parse_topics(args.topics)
    # read (and refused if wrong) before the broker starts
    retention = retention_from_file(Path(args.retention_from)) if args.retention_from else {}
    broker = Broker(args.instance, heap=args.heap)
    was_running = broker.is_running()
    access = None
    if args.acl_readings or args.acl_outputs or args.acl_group or args.acl_changelog:
        default = AccessPlan()
        access = AccessPlan(
            readings=_names(args.acl_readings) or default.readings,
            outputs=_names(args.acl_outputs) or default.outputs,
            group=args.acl_group or default.group,
            changelog=args.acl_changelog or default.changelog,
        )
    state = broker.start(
        topics=topics, port=args.port, out=sys.stderr, secure=args.secure, access=access
    )
    verb = "already running" if was_running else "started"
    print(f"kafka {kafka_version()} {verb}: {state.bootstrap} (pid {state.pid})")
    print(f"  data and logs: {broker.home}")
    if state.secure:
        print(
            f"  secured: SASL_SSL (TLS + SCRAM-SHA-512) on {state.bootstrap}; controller "
            f"listener SSL (client certificates) on 127.0.0.1:{state.controller_port}"
        )
        print(f"  users {', '.join(USERS)}: CA and passwords in {broker.secrets.dir}")
        for line in describe_plan(broker.access_plan()):
            print(f"    {line}")
    if topics:
        listed = list_topics(state.bootstrap, broker.security())
        print("  topics: " + ", ".join(f"{n}:{p}" for n, p in listed.items()))
    if retention:
        existing = list_topics(state.bootstrap, broker.security())
        wanted = {t: ms for t, ms in retention.items() if t in existing}
        set_retention(state.bootstrap, wanted, broker.security())
        kept = ", ".join(f"{t} {ms // HOUR_MS} h" for t, ms in sorted(wanted.items()))
        absent = sorted(set(retention) - set(wanted))  # named in the file, not created here
        print(f"  retention from {args.retention_from}: {kept or 'none of its topics exists'}")
        if absent:
            print(f"  (not on this broker, so not set: {', '.join(absent)})")
    return 0


def _names(text: str | None) -> tuple[str, ...]:
    return tuple(n.strip() for n in (text or "").split(",") if n.strip())


def _secrets(args: argparse.Namespace) -> int:
    broker = Broker(args.instance)
    state = broker.state()
    if state is None or not state.secure:
        raise KafkaRuntimeError(
            f"broker instance {args.instance!r} is not a secured one; make one with "
            "`squall kafka start --secure` (a fresh --instance)"
        )
    print(broker.secrets.dir)
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
    secured = " secured (SASL_SSL)" if state.secure else ""
    print(f"broker {args.instance!r}: running{secured} at {state.bootstrap} (pid {state.pid})")
    for topic, partitions in list_topics(state.bootstrap, broker.security()).items():
        print(f"  topic {topic}: {partitions} partition(s)")
    return 0


def _bootstrap(args: argparse.Namespace) -> int:
    print(_running_bootstrap(args.instance))
    return 0


def _read(args: argparse.Namespace) -> int:
    if args.max is not None and args.max < 0:
        raise KafkaRuntimeError(f"--max must be >= 0, got {args.max}")
    from kafka.errors import KafkaError

    bootstrap, security = _client(args, "admin")
    try:
        values = read_topic(bootstrap, args.topic, args.max, security)
    except KafkaError as exc:  # reachable, but not a broker that answers: one line, no trace
        line = refusal(exc, security, bootstrap)
        raise KafkaRuntimeError(line or f"reading {args.topic!r} from {bootstrap}: {exc}") from None
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
    bootstrap, security = _client(args, "producer")
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
        security=security,
        client=args.client,
    )
    result = produce(spec, progress=None if args.quiet else progress_printer(sys.stderr))
    if not args.quiet:
        sys.stderr.write("\n")
    denied = [e for e in result.errors if "AuthorizationFailed" in e]
    if denied and result.acked == 0:  # every send refused: one line, not one per producer
        raise KafkaRuntimeError(
            f"Kafka at {bootstrap} refused user {security.username!r} writing to topic "
            f"{spec.topic!r}: no ACL allows it ({denied[0].split(': ', 1)[-1][:120]}); "
            "the producer user may write the readings topics only (docs/security.md)"
        )
    for error in result.errors:
        print(f"  error: {error}", file=sys.stderr)
    print(
        f"acknowledged by the broker: {result.acked:,} of {result.sent:,} sent "
        f"({result.failed:,} failed) to {spec.topic!r} on {bootstrap} "
        f"by {spec.producers} producer(s) in {result.elapsed_s:.1f}s ({result.rate:,.0f}/s)"
    )
    return 0 if result.failed == 0 and not result.errors and result.acked == result.sent else 1
