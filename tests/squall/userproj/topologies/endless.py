from streamparse import Topology
from userbolts.components import EndlessSpout, SlowBolt


class Endless(Topology):
    config = {"user.delay_s": 0.0}
    source = EndlessSpout.spec()
    work = SlowBolt.spec(inputs=[source], par=2)
    sink = SlowBolt.spec(inputs=[work])
