"""HealthTopology: readings -> parse -> BMI -> threshold alerts -> sinks. Wiring only.

config.yaml is read here, on the machine that runs or submits the topology, and its settings
travel in the Storm config (``HealthTopology.config``), so the components work the same under
``squall run``, ``sparse run`` and ``sparse submit`` (where only ``src/`` reaches the workers).

    synthetic ──> parse ──> bmi ──> threshold ──> console
                    │        │          │
                    └────────┴─invalid──┴───────> console, jsonl (when sinks.jsonl_path is set)
"""

from streamparse import Grouping, Topology

from bolts.bmi import BMIBolt
from bolts.parse import ParseBolt
from bolts.sinks import ConsoleSinkBolt, JsonlSinkBolt
from bolts.threshold import ThresholdBolt
from health.config import load_config
from spouts.synthetic import SyntheticHealthSpout

CONFIG = load_config()
PAR = CONFIG.parallelism


class HealthTopology(Topology):
    config = CONFIG.to_storm_conf()

    synthetic = SyntheticHealthSpout.spec(par=1)
    parse = ParseBolt.spec(inputs=[synthetic], par=PAR.parse)
    bmi = BMIBolt.spec(inputs=[parse], par=PAR.bmi)
    threshold = ThresholdBolt.spec(inputs=[bmi], par=PAR.threshold)
    console = ConsoleSinkBolt.spec(
        inputs={
            threshold: Grouping.SHUFFLE,
            parse["invalid"]: Grouping.SHUFFLE,
            bmi["invalid"]: Grouping.SHUFFLE,
        },
        par=1,  # one printer keeps lines whole and in arrival order
    )
    # Always wired: it writes nothing while sinks.jsonl_path is null, so a run can switch it on
    # with `-o health.sinks.jsonl_path=...` without another topology definition.
    jsonl = JsonlSinkBolt.spec(
        inputs={
            threshold: Grouping.SHUFFLE,
            parse["invalid"]: Grouping.SHUFFLE,
            bmi["invalid"]: Grouping.SHUFFLE,
        },
        par=1,  # one writer per file
    )
