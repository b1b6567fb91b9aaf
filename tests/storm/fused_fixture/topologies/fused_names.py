"""Two Python bolts Storm runs fused (split -> add, squall.storm.fusion) and a recorder, kept
apart, that reads both split's ``odd`` stream and add's output: what it records must name each
tuple's own component, stream and fields, as an unfused run would. The spout is the Storm
fixture project's (tests/storm/fixture_project), copied in by the test."""

from fixture_spouts.numbers import NumberSpout
from fused_fixture.bolts import AddBolt, NamesBolt, SplitBolt
from streamparse import Grouping

from squall.storm import topology


class FusedNamesTopology(topology.Topology):
    config: dict = {}

    numbers = NumberSpout.spec(par=1)
    split = SplitBolt.spec(inputs=[numbers], par=1)
    add = AddBolt.spec(inputs=[split], par=1)
    # Kept apart (squall.fuse: false), or it would join split and add's group: its tuples must
    # cross the JVM, whose serializer gives it the members' own names back.
    names = NamesBolt.spec(
        inputs={split["odd"]: Grouping.SHUFFLE, add: Grouping.SHUFFLE},
        par=1,
        config={"squall.fuse": False},
    )
