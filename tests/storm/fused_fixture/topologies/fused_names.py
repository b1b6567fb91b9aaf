"""Two Python bolts Storm runs fused (split -> add, squall.storm.fusion) and a recorder that
reads both split's ``odd`` stream and add's output: what it records must name each tuple's own
component, stream and fields, as an unfused run would. The spout is the Storm fixture project's
(tests/storm/fixture_project), copied in by the test."""

from fixture_spouts.numbers import NumberSpout
from fused_fixture.bolts import AddBolt, NamesBolt, SplitBolt
from streamparse import Grouping

from squall.storm import topology


class FusedNamesTopology(topology.Topology):
    config: dict = {}

    numbers = NumberSpout.spec(par=1)
    split = SplitBolt.spec(inputs=[numbers], par=1)
    add = AddBolt.spec(inputs=[split], par=1)
    names = NamesBolt.spec(inputs={split["odd"]: Grouping.SHUFFLE, add: Grouping.SHUFFLE}, par=1)
