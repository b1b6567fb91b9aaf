"""The realtime bench's trend oracle, on hand-computed examples."""

from __future__ import annotations

from bench.trend_oracle import exact_rules, trend_error

W, B = "weight_kg > 80", "bmi > 35"


def test_rules_from_raw_values() -> None:
    assert exact_rules(81, 150) == [W, B]  # BMI 81 / 1.5^2 = 36.0
    assert exact_rules(80, 150) == [B]  # not > 80; BMI 35.56 is > 35
    assert exact_rules(79, 150) == [B]  # BMI 35.1
    assert exact_rules(70, 150) == []  # BMI 31.1


def test_error_over_the_windows_of_the_runs_middle() -> None:
    # panes (ms) 1000..10000 each with 10 alerts of W; 3 s windows; a 10 s run: windows
    # ending in [1000 + 3000, 1000 + 10000 - 2000] = [4000, 9000] are compared
    exact = {(W, p): 10 for p in range(1000, 11_000, 1000)}
    windows = [
        (W, 3000, 0, 1.0, 0),  # before the middle: ignored
        (W, 4000, 30, 1.0, 0),  # exact
        (W, 5000, 27, 0.5, 2),  # off by 3, bound 2
        (W, 6000, 33, 0.5, 3),  # off by 3, bound 3
        (W, 10_000, 0, 1.0, 0),  # after the middle: ignored
    ]
    got = trend_error(windows, exact, window_ms=3000, seconds=10)
    assert got["compared_windows"] == 3
    assert got["measured_error"] == 6 / 90
    assert got["within_bound"] == 2 / 3
