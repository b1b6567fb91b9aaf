"""Random arrivals against a brute-force model of what each window must hold.

The model reads the definitions straight: windows with a duration slide end at every multiple
of the slide and hold ``(end - length, end]`` (count length: the last n events up to ``end``);
count triggers fire at every n-th event in timestamp order. Empty windows are not evaluated.
"""

from __future__ import annotations

import random

import pytest

from squall.windows import Count, Duration, WatermarkGenerator, WindowManager
from squall.windows.spec import Size

CONFIGS: list[tuple[Size, Size]] = [
    (Count(5), Count(2)),
    (Count(3), Count(3)),
    (Count(2), Count(5)),  # a gap between windows
    (Count(4), Duration(10)),
    (Duration(20), Count(3)),
    (Duration(20), Duration(10)),
    (Duration(10), Duration(10)),
    (Duration(30), Duration(7)),
    (Duration(5), Duration(15)),  # a gap between windows
]


def model(length: Size, slide: Size, events: list[tuple[int, int, str]], watermark: int) -> list:
    events = sorted(events)  # (ts, seq, name)
    out = []
    if isinstance(slide, Duration):
        if not events:
            return out
        end = -(-events[0][0] // slide.ms) * slide.ms
        while end < watermark:
            upto = [e for e in events if e[0] <= end]
            if isinstance(length, Duration):
                start = end - length.ms
                current = [e for e in upto if e[0] > start]
            else:
                start, current = None, upto[-length.n :]
            if current:
                out.append((start, end, [e[2] for e in current]))
            end += slide.ms
    else:
        for t in range(slide.n - 1, len(events), slide.n):
            end = events[t][0]
            if end > watermark:
                break
            upto = events[: t + 1]
            if isinstance(length, Count):
                out.append((None, end, [e[2] for e in upto[-length.n :]]))
            else:
                start = end - length.ms
                out.append((start, end, [e[2] for e in upto if e[0] > start]))
    return out


def simulate(length: Size, slide: Size, seed: int, event_time: bool):
    rng = random.Random(seed)
    lag = rng.choice([0, 5, 20, 40]) if event_time else 0
    tick_p = rng.choice([0.1, 0.3, 0.7])
    mgr: WindowManager[str] = WindowManager(length, slide)
    gen = WatermarkGenerator(lag, ["a", "b"] if event_time else [])
    base, got, accepted, acked = 0, [], [], []
    for i in range(rng.randint(0, 60)):
        base += rng.choice([0, 1, 3, 8, 25])
        name = f"e{i}"
        if event_time:
            ts = max(0, base - rng.randint(0, lag + (8 if rng.random() < 0.1 else 0)))
            stream = rng.choice("ab")
            if not gen.track(stream, ts):
                assert mgr.is_late(ts) == (mgr.watermark is not None)
                acked.append(name)
                continue
            mgr.add(name, ts)
            accepted.append((ts, i, name))
            if rng.random() < tick_p:
                wm = gen.compute()
                got += mgr.advance(wm) if wm is not None else []
        else:
            mgr.add(name, base)
            accepted.append((base, i, name))
            got += mgr.advance(base)
            if rng.random() < 0.2:
                base += rng.randint(0, 12)
                got += mgr.advance(base)
        acked += mgr.take_evicted()
    final = mgr.watermark if mgr.watermark is not None else -1
    return got, accepted, acked, mgr, final


@pytest.mark.parametrize("event_time", [False, True], ids=["processing", "event"])
@pytest.mark.parametrize("length,slide", CONFIGS, ids=lambda v: str(v))
def test_windows_match_the_model(length: Size, slide: Size, event_time: bool) -> None:
    for seed in range(40):
        got, accepted, acked, mgr, final = simulate(length, slide, seed, event_time)
        expected = model(length, slide, accepted, final)
        assert [(w.start, w.end, list(w.current)) for w in got] == expected, f"seed {seed}"
        # new/expired chain the windows together (when consecutive windows overlap or touch)
        prev: list[str] = []
        for w in got:
            assert set(w.new) == set(w.current) - set(prev), f"seed {seed}"
            left = set(prev) - set(w.current)
            if set(w.expired) <= set(prev):
                assert set(w.expired) == left, f"seed {seed}"
            else:  # events that fell in a gap between windows are reported expired too
                assert left <= set(w.expired), f"seed {seed}"
            prev = list(w.current)
        # nothing acked twice; acked + buffered = everything that arrived
        assert len(acked) == len(set(acked)), f"seed {seed}"
        names = {n for _, _, n in accepted}
        assert set(mgr.buffered()) | (set(acked) & names) == names, f"seed {seed}"
        assert not set(mgr.buffered()) & set(acked), f"seed {seed}"


def test_out_of_order_within_lag_gives_the_in_order_windows() -> None:
    rng = random.Random(7)
    events = [(f"e{i}", 100 + 10 * i) for i in range(40)]
    results = []
    for _ in range(20):
        shuffled = events[:]
        # local shuffles only: each timestamp at most 30 ms behind the latest one seen
        for i in range(len(shuffled) - 1):
            if rng.random() < 0.5 and shuffled[i + 1][1] - shuffled[i][1] <= 30:
                shuffled[i], shuffled[i + 1] = shuffled[i + 1], shuffled[i]
        mgr: WindowManager[str] = WindowManager(Duration(50), Duration(20))
        gen = WatermarkGenerator(30, ["s"])
        out = []
        for k, (name, ts) in enumerate(shuffled):
            assert gen.track("s", ts), f"{name} should not be late"
            mgr.add(name, ts)
            if k % 3 == 2:
                wm = gen.compute()
                out += mgr.advance(wm) if wm is not None else []
        out += mgr.advance(events[-1][1] - 30)  # the same final watermark: latest ts - lag
        results.append([(w.start, w.end, w.current) for w in out])
    assert all(r == results[0] for r in results) and results[0]
