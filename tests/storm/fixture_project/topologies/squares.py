# Not named numbers.py: sparse imports a topology file by its bare module name, and the
# standard library already has a `numbers` module.
from fixture_bolts.record import RecordBolt
from fixture_spouts.numbers import NumberSpout
from streamparse import Topology


class SquaresTopology(Topology):
    numbers = NumberSpout.spec(par=1)
    record = RecordBolt.spec(inputs=[numbers], par=2)
