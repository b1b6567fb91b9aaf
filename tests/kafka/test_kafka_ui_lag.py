"""`squall run --ui` of the Kafka topology: its spout's consumer lag, per partition, live."""

from __future__ import annotations

from pathlib import Path

import pytest

from squall.kafka.producer import ProduceSpec, produce
from tests.kafka.kit import HealthTopics
from tests.polling import eventually
from tests.ui.live_run import LiveRun, free_port

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def test_the_live_view_shows_the_lag_of_each_partition_until_it_is_consumed(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    topics = HealthTopics.fresh(kafka_bootstrap)
    produce(
        ProduceSpec(
            kafka_bootstrap, topics.readings, producers=4, count=10_000, fmt="json", seed=11
        )
    )
    # few tuples in flight: the spout takes the backlog in slowly, so the lag is seen falling
    options = topics.cli_options(**{"squall.kafka.spout.max.in.flight": 20})
    run = LiveRun(
        ["run", "topologies/health_kafka.py", "--ui", "--port", str(free_port()), "--quiet"]
        + options,
        tmp_path,
    )
    try:
        seen = eventually(
            lambda: (lag := run.state()["lag"]) and sum(p["lag"] for p in lag) > 0 and lag,
            "a partition with records not yet consumed",
            timeout_s=120,
            every_s=0.5,
        )
        assert {(p["component"], p["topic"]) for p in seen} == {("kafka", topics.readings)}
        eventually(
            lambda: (
                (lag := run.state()["lag"]) and len(lag) == 4 and not any(p["lag"] for p in lag)
            ),
            "every partition consumed",
            timeout_s=240,
            every_s=1.0,
        )
        family = run.metrics()["squall_kafka_consumer_lag"]
        assert sorted(dict(labels)["partition"] for _, labels in family) == ["0", "1", "2", "3"]
        run.interrupt()
        run.final_state()
        run.interrupt()
        assert run.wait() == 0
        assert "Traceback" not in run.stderr()
    finally:
        run.close()
