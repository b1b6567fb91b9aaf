"""HealthTopology: readings -> parse -> BMI -> threshold alerts -> trend windows -> sinks.
Wiring only.

config.yaml is read here, on the machine that runs or submits the topology, and its settings
travel in the Storm config (``HealthTopology.config``), so the components work the same under
``squall run``, ``sparse run`` and ``sparse submit`` (where only ``src/`` reaches the workers).

    synthetic ──> parse ──> bmi ──> threshold ──> trend ──> console, jsonl
                    │        │          │            └─late─> console, jsonl
                    │        │          └───────────────────> console, jsonl
                    └────────┴─invalid──────────────────────> console, jsonl

The jsonl sink writes only when ``sinks.jsonl_path`` is set.
"""

from pathlib import Path

from streamparse import Grouping

from bolts.bmi import BMIBolt
from bolts.parse import ParseBolt
from bolts.sinks import ConsoleSinkBolt, JsonlSinkBolt
from bolts.threshold import ThresholdBolt
from bolts.trend import TrendBolt
from health_core.config import load_config
from health_core.panels import health_panels
from spouts.synthetic import SyntheticHealthSpout
from squall.storm import topology

# $SQUALL_HEALTH_CONFIG if set, else this project's config.yaml
CONFIG = load_config(Path(__file__).resolve().parents[1] / "config.yaml")
PAR = CONFIG.parallelism


class HealthTopology(topology.Topology):
    config = CONFIG.to_storm_conf()

    synthetic = SyntheticHealthSpout.spec(par=1)
    parse = ParseBolt.spec(inputs=[synthetic], par=PAR.parse)
    bmi = BMIBolt.spec(inputs=[parse], par=PAR.bmi)
    threshold = ThresholdBolt.spec(inputs=[bmi], par=PAR.threshold)
    # Grouped by rule: each rule's windows are counted by one task.
    trend = TrendBolt.spec(inputs={threshold: Grouping.fields("rule")}, par=PAR.trend)

    # Everything a user should see: alerts, trend windows, late alerts and invalid payloads.
    _results = {
        threshold: Grouping.SHUFFLE,
        trend: Grouping.SHUFFLE,
        trend["late"]: Grouping.SHUFFLE,
        parse["invalid"]: Grouping.SHUFFLE,
        bmi["invalid"]: Grouping.SHUFFLE,
    }
    console = ConsoleSinkBolt.spec(
        inputs=dict(_results),
        par=1,  # one printer keeps lines whole and in arrival order
    )
    # Always wired: it writes nothing while sinks.jsonl_path is null, so a run can switch it on
    # with `-o health.sinks.jsonl.path=...` without another topology definition.
    jsonl = JsonlSinkBolt.spec(inputs=dict(_results), par=1)  # one writer per file

    # What `squall run --ui` shows besides the graph and counters (docs/ui.md): the course's
    # countByWindow as a chart, the latest alerts and invalid inputs (payloads hidden).
    ui_panels = health_panels(trend, threshold, (parse["invalid"], bmi["invalid"]))
