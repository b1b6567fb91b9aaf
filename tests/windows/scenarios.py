"""Window scenarios as timelines, shared by the pure, harness and multilang tests.

A scenario is a list of steps in arrival order:

* ``("e1", 603)`` — event ``e1`` with timestamp 603 ms (processing time: arrives at clock 603);
  ``("e1", 603, "b")`` — the same, from source component ``b`` (default ``source``);
* ``Tick(631)``   — a tick: event time computes a watermark (``Tick(None)``: none yet);
  processing time moves the clock.

and the windows it must produce, each ``(start, end, current, new, expired)`` with names, the
tuples sent to the late stream, and the tuples the bolt fails (memory bound).
"""

from __future__ import annotations

from dataclasses import dataclass

from squall.windows import Count, Duration, WindowSpec


@dataclass(frozen=True)
class Tick:
    at: int | None  # event time: the watermark it yields; processing time: the clock


SOURCE = "source"
Step = tuple[str, int] | tuple[str, int, str] | Tick


def event(step: tuple) -> tuple[str, int, str]:
    """(name, ts, source) of an event step."""
    return (step[0], step[1], step[2] if len(step) > 2 else SOURCE)


Expect = tuple[int | None, int, list[str], list[str], list[str]]


@dataclass(frozen=True)
class Scenario:
    name: str
    spec: WindowSpec
    steps: list[Step]
    windows: list[Expect]
    late: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()

    @property
    def sources(self) -> list[str]:
        return sorted({event(s)[2] for s in self.steps if not isinstance(s, Tick)})

    @property
    def arrived(self) -> list[str]:
        return [event(s)[0] for s in self.steps if not isinstance(s, Tick)]


def names(text: str) -> list[str]:
    return text.split() if text else []


def w(start: int | None, end: int, current: str, new: str, expired: str) -> Expect:
    return (start, end, names(current), names(new), names(expired))


# Processing time, count window of 5 sliding every 2 (Storm's WindowManagerTest).
#
#   arrival   e1 e2 | e3 e4 | e5 e6 | e7 e8
#   window          [e1 e2]                       <- loading up: fewer than 5
#                   [e1 e2 e3 e4]
#                   [e2 e3 e4 e5 e6]              e1 expired
#                   [e4 e5 e6 e7 e8]              e2 e3 expired
COUNT_SLIDING = Scenario(
    "count-sliding-5-2",
    WindowSpec.sliding(Count(5), Count(2)),
    [("e1", 1), ("e2", 2), ("e3", 3), ("e4", 4), ("e5", 5), ("e6", 6), ("e7", 7), ("e8", 8)],
    [
        w(None, 2, "e1 e2", "e1 e2", ""),
        w(None, 4, "e1 e2 e3 e4", "e3 e4", ""),
        w(None, 6, "e2 e3 e4 e5 e6", "e5 e6", "e1"),
        w(None, 8, "e4 e5 e6 e7 e8", "e7 e8", "e2 e3"),
    ],
)

# Processing time, tumbling count window of 3.
#
#   arrival   e1 e2 e3 | e4 e5 e6 | e7
#   window    [e1 e2 e3] [e4 e5 e6]   (e7 waits)
COUNT_TUMBLING = Scenario(
    "count-tumbling-3",
    WindowSpec.tumbling(Count(3)),
    [("e1", 1), ("e2", 2), ("e3", 3), ("e4", 4), ("e5", 5), ("e6", 6), ("e7", 7)],
    [
        w(None, 3, "e1 e2 e3", "e1 e2 e3", ""),
        w(None, 6, "e4 e5 e6", "e4 e5 e6", "e1 e2 e3"),
    ],
)

# Processing time, 10 s window sliding every 5 s (clock in ms; windows end at multiples of 5 s).
#
#   clock  1000 2000 4000  5001 | 6000 9000  10001 | 12000  15001 | 20001 | 25001
#          e1   e2   e3    tick | e4   e5    tick  | e6     tick  | tick  | tick
#   (-5000, 5000]   e1 e2 e3                <- loading up: covers time before the bolt started
#   (0, 10000]      e1 e2 e3 e4 e5
#   (5000, 15000]   e4 e5 e6                e1 e2 e3 expired (acked)
#   (10000, 20000]  e6                      e4 e5 expired
#   (15000, 25000]  empty: skipped; e6 leaves its last window and is acked
DURATION_SLIDING = Scenario(
    "duration-sliding-10s-5s",
    WindowSpec.sliding(Duration.seconds(10), Duration.seconds(5)),
    [
        ("e1", 1000),
        ("e2", 2000),
        ("e3", 4000),
        Tick(5001),
        ("e4", 6000),
        ("e5", 9000),
        Tick(10001),
        ("e6", 12000),
        Tick(15001),
        Tick(20001),
        Tick(25001),
    ],
    [
        w(-5000, 5000, "e1 e2 e3", "e1 e2 e3", ""),
        w(0, 10000, "e1 e2 e3 e4 e5", "e4 e5", ""),
        w(5000, 15000, "e4 e5 e6", "e6", "e1 e2 e3"),
        w(10000, 20000, "e6", "", "e4 e5"),
    ],
)

# Processing time, tumbling 5 s windows.
#
#   clock  1000 3000 | 5000 7000 | 11000       (windows end at multiples of 5 s)
#   (0, 5000]     e1 e2 e3           e3 arrives at exactly 5000: inside (0, 5000]
#   (5000, 10000] e4
#   (10000,15000] e5
DURATION_TUMBLING = Scenario(
    "duration-tumbling-5s",
    WindowSpec.tumbling(Duration.seconds(5)),
    [
        ("e1", 1000),
        ("e2", 3000),
        ("e3", 5000),
        ("e4", 7000),
        Tick(10500),
        ("e5", 11000),
        Tick(15001),
    ],
    [
        w(0, 5000, "e1 e2 e3", "e1 e2 e3", ""),
        w(5000, 10000, "e4", "e4", "e1 e2 e3"),
        w(10000, 15000, "e5", "e5", "e4"),
    ],
)

# Processing time, the last 3 tuples every 2 s (Storm's withWindow(Count, Duration)).
#
#   clock  500 900 1500 1800 | 2001 | 3000 | 4001 | 6001
#          e1  e2  e3   e4   | tick | e5   | tick | tick
#   end 2000: last 3 = e2 e3 e4   e1 pushed out before any window: reported expired
#   end 4000: e3 e4 e5
#   end 6000: e3 e4 e5 again: a count window keeps its last 3 however old they are
COUNT_EVERY_DURATION = Scenario(
    "count3-every-2s",
    WindowSpec.sliding(Count(3), Duration.seconds(2)),
    [
        ("e1", 500),
        ("e2", 900),
        ("e3", 1500),
        ("e4", 1800),
        Tick(2001),
        ("e5", 3000),
        Tick(4001),
        Tick(6001),
    ],
    [
        w(None, 2000, "e2 e3 e4", "e2 e3 e4", "e1"),
        w(None, 4000, "e3 e4 e5", "e5", "e2"),
        w(None, 6000, "e3 e4 e5", "", ""),
    ],
)

# Processing time, the last second, evaluated on every tuple (Storm's withWindow(Duration)).
#
#   clock  100 600 1200 2500
#          e1  e2  e3   e4
#   (-900, 100]   e1
#   (-400, 600]   e1 e2
#   (200, 1200]   e2 e3          e1 expired
#   (1500, 2500]  e4             e2 e3 expired
DURATION_EVERY_TUPLE = Scenario(
    "duration-1s-every-tuple",
    WindowSpec.sliding(Duration.seconds(1)),
    [("e1", 100), ("e2", 600), ("e3", 1200), ("e4", 2500)],
    [
        w(-900, 100, "e1", "e1", ""),
        w(-400, 600, "e1 e2", "e2", ""),
        w(200, 1200, "e2 e3", "e3", "e1"),
        w(1500, 2500, "e4", "e4", "e2 e3"),
    ],
)

# Replay after a fail in processing time: the replayed tuples are new arrivals and are windowed
# again (at-least-once: e1 and e2 are counted twice). Event time: see REPLAY_EVENT.
#
#   e1(1) e2(2) e3(3) | r1(4) r2(5) e4(6)       tumbling count 3
#   [e1 e2 e3]          [r1 r2 e4]
REPLAY_PROCESSING = Scenario(
    "processing-replay-after-fail",
    WindowSpec.tumbling(Count(3)),
    [("e1", 1), ("e2", 2), ("e3", 3), ("r1", 4), ("r2", 5), ("e4", 6)],
    [w(None, 3, "e1 e2 e3", "e1 e2 e3", ""), w(None, 6, "r1 r2 e4", "r1 r2 e4", "e1 e2 e3")],
)

PROCESSING_TIME = [
    COUNT_SLIDING,
    COUNT_TUMBLING,
    DURATION_SLIDING,
    DURATION_TUMBLING,
    COUNT_EVERY_DURATION,
    DURATION_EVERY_TUPLE,
    REPLAY_PROCESSING,
]

# Event time: Storm's documentation example (length 20 s, slide 10 s, lag 5 s; ts in ms).
#
#   ts     603 605 607 | 618 | 626 | 636          watermark = latest - lag = 636 - 5 = 631
#          e1  e2  e3    e4    e5    e6
#   (590, 610]  e1 e2 e3      the first end is the ceiling of the earliest ts
#   (600, 620]  e1 e2 e3 e4
#   (610, 630]  e4 e5         e6 (636) waits: beyond the watermark
#   then e7 825 e8 826 e9 827 e10 839; watermark 839 - 5 = 834
#   (620, 640]  e5 e6
#   (630, 650]  e6
#   (640, 660]  empty -> skipped, jump to the window holding e7
#   (810, 830]  e7 e8 e9      e10 (839) waits
EVENT_SLIDING = Scenario(
    "event-sliding-20-10-lag5",
    WindowSpec.sliding(Duration(20), Duration(10), timestamp_field="ts", lag=Duration(5)),
    [
        ("e1", 603),
        ("e2", 605),
        ("e3", 607),
        ("e4", 618),
        ("e5", 626),
        ("e6", 636),
        Tick(631),
        ("e7", 825),
        ("e8", 826),
        ("e9", 827),
        ("e10", 839),
        Tick(834),
    ],
    [
        w(590, 610, "e1 e2 e3", "e1 e2 e3", ""),
        w(600, 620, "e1 e2 e3 e4", "e4", ""),
        w(610, 630, "e4 e5", "e5", "e1 e2 e3"),
        w(620, 640, "e5 e6", "e6", "e4"),
        w(630, 650, "e6", "", "e5"),
        w(810, 830, "e7 e8 e9", "e7 e8 e9", "e6"),
    ],
)

# Event time, out of order within the lag: same windows as in order.
#
#   arrival  e2(605) e1(603) e4(618) e3(607) e6(629) e5(626) e7(636)   lag 10
#   watermark 636 - 10 = 626: windows ending 610 and 620 are due
#   (600, 610]  e1 e2 e3      e3 arrived after e4, 11 ms behind the latest: within the lag
#   (610, 620]  e4
EVENT_OUT_OF_ORDER = Scenario(
    "event-tumbling-10-out-of-order",
    WindowSpec.tumbling(Duration(10), timestamp_field="ts", lag=Duration(10)),
    [
        ("e2", 605),
        ("e1", 603),
        ("e4", 618),
        ("e3", 607),
        ("e6", 629),
        ("e5", 626),
        ("e7", 636),
        Tick(626),
    ],
    [
        w(600, 610, "e1 e2 e3", "e1 e2 e3", ""),
        w(610, 620, "e4", "e4", "e1 e2 e3"),
    ],
)

# Event time, late tuples: behind the watermark they go to the late stream.
#
#   e1(100) e2(250) tick -> watermark 250 - 50 = 200: (0, 100] = e1 is due
#   e3(150) arrives: 150 < 200 -> late.   e4(199) late.   e5(200) is not late (== watermark)
#   e6(400) tick -> watermark 350:  (100, 200] = e5,  (200, 300] = e2
EVENT_LATE = Scenario(
    "event-tumbling-100-late",
    WindowSpec.tumbling(Duration(100), timestamp_field="ts", lag=Duration(50)),
    [
        ("e1", 100),
        ("e2", 250),
        Tick(200),
        ("e3", 150),
        ("e4", 199),
        ("e5", 200),
        ("e6", 400),
        Tick(350),
    ],
    [
        w(0, 100, "e1", "e1", ""),
        w(100, 200, "e5", "e5", "e1"),
        w(200, 300, "e2", "e2", "e5"),
    ],
    late=("e3", "e4"),
)

# Event time, count window of 3 evaluated every 10 ms (Storm's testCountBasedWindowWithEventTs).
#
#   ts 603 605 607 618 626 636, lag 5: watermark 631: ends 610, 620, 630
#   610: last 3 with ts <= 610 = e1 e2 e3; 620: e2 e3 e4; 630: e3 e4 e5
EVENT_COUNT_LENGTH = Scenario(
    "event-count3-every-10",
    WindowSpec.sliding(Count(3), Duration(10), timestamp_field="ts", lag=Duration(5)),
    [("e1", 603), ("e2", 605), ("e3", 607), ("e4", 618), ("e5", 626), ("e6", 636), Tick(631)],
    [
        w(None, 610, "e1 e2 e3", "e1 e2 e3", ""),
        w(None, 620, "e2 e3 e4", "e4", "e1"),
        w(None, 630, "e3 e4 e5", "e5", "e2"),
    ],
)

# Event time, 20 ms window evaluated every 3 tuples (Storm's testCountBasedTriggerWithEventTs).
#
#   ts 603 605 607 618 625 626 629 636, lag 5: watermark 631
#   3rd tuple (607): (587, 607] = e1 e2 e3;  6th (626): (606, 626] = e3 e4 e5 e6
#   the 9th tuple has not arrived yet
EVENT_COUNT_TRIGGER = Scenario(
    "event-20ms-every-3",
    WindowSpec.sliding(Duration(20), Count(3), timestamp_field="ts", lag=Duration(5)),
    [
        ("e1", 603),
        ("e2", 605),
        ("e3", 607),
        ("e4", 618),
        ("e5", 625),
        ("e6", 626),
        ("e7", 629),
        ("e8", 636),
        Tick(631),
    ],
    [
        w(587, 607, "e1 e2 e3", "e1 e2 e3", ""),
        w(606, 626, "e3 e4 e5 e6", "e4 e5 e6", "e1 e2"),
    ],
)

# Two input streams: the watermark waits for the slower one.
#
#   a: e1(100) e2(300)                    e4(600)
#   b:                   e3(250)                   e5(700)          e6(550)
#   tick after e2: b silent -> no watermark, no window
#   tick after e3: min(300, 250) = 250 -> (0, 100] = e1; (100, 200] empty, skipped
#   tick after e5: min(600, 700) = 600 -> (200, 300] = e3 e2 (timestamp order); e4 waits
#   e6(550) on b: behind the watermark 600 -> late
TWO_STREAMS = Scenario(
    "event-two-input-streams",
    WindowSpec.tumbling(Duration(100), timestamp_field="ts"),
    [
        ("e1", 100, "a"),
        ("e2", 300, "a"),
        Tick(None),
        ("e3", 250, "b"),
        Tick(250),
        ("e4", 600, "a"),
        ("e5", 700, "b"),
        Tick(600),
        ("e6", 550, "b"),
    ],
    [w(0, 100, "e1", "e1", ""), w(200, 300, "e3 e2", "e3 e2", "e1")],
    late=("e6",),
)

# Memory bound, max_events=3:
#
#   e1(10) e2(20) e3(30) fill the buffer; e4(40) and e5(250) are failed (the spout replays
#   them) but their timestamps still move event time, so the tick's watermark 250 closes
#   (0, 100] and frees the buffer: e6 fits. A full buffer cannot stall event time.
MEMORY_BOUND = Scenario(
    "event-memory-bound-3",
    WindowSpec.tumbling(Duration(100), timestamp_field="ts", max_events=3),
    [("e1", 10), ("e2", 20), ("e3", 30), ("e4", 40), ("e5", 250), Tick(250), ("e6", 260)],
    [w(0, 100, "e1 e2 e3", "e1 e2 e3", "")],
    failed=("e4", "e5"),
)

# Replay after a fail, as the bolt sees it: the result of (0, 10] failed downstream, so the
# spout re-emits e1 and e2 as new tuples r1 r2 with the same values. In event time they are
# behind the watermark: late stream, acked, not counted twice into a closed window.
#
#   e1(5) e2(8) e3(15) tick -> watermark 15: (0, 10] = e1 e2   ... r1(5) r2(8) -> late
#   e4(31) tick -> watermark 31: (10, 20] = e3
REPLAY_EVENT = Scenario(
    "event-replay-after-fail",
    WindowSpec.tumbling(Duration(10), timestamp_field="ts"),
    [("e1", 5), ("e2", 8), ("e3", 15), Tick(15), ("r1", 5), ("r2", 8), ("e4", 31), Tick(31)],
    [w(0, 10, "e1 e2", "e1 e2", ""), w(10, 20, "e3", "e3", "e1 e2")],
    late=("r1", "r2"),
)


EVENT_TIME = [
    TWO_STREAMS,
    MEMORY_BOUND,
    REPLAY_EVENT,
    EVENT_SLIDING,
    EVENT_OUT_OF_ORDER,
    EVENT_LATE,
    EVENT_COUNT_LENGTH,
    EVENT_COUNT_TRIGGER,
]
ALL = PROCESSING_TIME + EVENT_TIME
