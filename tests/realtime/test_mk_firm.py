"""squall.realtime.mk_firm: the (m,k) bound per key, checked by replaying the decisions.

The oracle never looks at the controller's state: it keeps each key's decisions as a list and
slides a window of k over them.
"""

from __future__ import annotations

import random
import re

import pytest

from squall.realtime.mk_firm import JobCounts, MKFirm, SkipOverDistance


def worst_window(decisions: list[bool], k: int) -> int:
    """The most discards in any k consecutive decisions (all of them when fewer than k)."""
    if len(decisions) <= k:
        return sum(decisions)
    return max(sum(decisions[i : i + k]) for i in range(len(decisions) - k + 1))


def allowed_by_replay(decisions: list[bool], m: int, k: int) -> bool:
    """Whether one more discard keeps the window of k ending with it to m discards."""
    last = decisions[-(k - 1) :] if k > 1 else []
    return sum(last) + 1 <= m


def test_a_timeline_of_one_key_under_3_4():
    # (m, k) = (3, 4): at most 3 discards in any 4 consecutive jobs.
    #
    #   job        1  2  3  4  5  6  7  8  9 10
    #   want       D  D  D  D  D  .  D  D  D  D
    #   decided    D  D  D  r  D  r  D  D  D  r
    #              └─ 1..4 ─┘                     3 discards already in 1..3: job 4 runs
    #                 └─ 2..5 ─┘                  jobs 2..4 hold 2: job 5 may go
    #                             └─ 6..9 ─┘      job 6 ran (not wanted): 7, 8, 9 may go
    #                                └─ 7..10 ┘   7..9 hold 3: job 10 runs
    controller: MKFirm[str] = MKFirm(3, 4)
    wants = "DDDDD.DDDD"
    decided = "".join("D" if controller.decide("p1", w == "D") else "r" for w in wants)
    assert decided == "DDDrDrDDDr"
    assert controller.counts("p1") == JobCounts(jobs=10, discarded=7)


@pytest.mark.parametrize("seed", range(20))
def test_no_k_consecutive_jobs_of_a_key_hold_more_than_m_discards(seed):
    rng = random.Random(seed)
    for _ in range(25):
        k = rng.randint(1, 10)
        m = rng.randint(0, k)
        keys = [f"patient-{i}" for i in range(rng.randint(1, 6))]
        want_rate = rng.random()
        controller: MKFirm[str] = MKFirm(m, k)
        replay: dict[str, list[bool]] = {key: [] for key in keys}
        for _ in range(rng.randint(0, 300)):
            key = rng.choice(keys)
            want = rng.random() < want_rate
            allowed = allowed_by_replay(replay[key], m, k)
            assert controller.may_discard(key) == allowed
            discarded = controller.decide(key, want)
            # greedy: discarded exactly when wanted and the bound allows it
            assert discarded == (want and allowed), (m, k, key, replay[key])
            replay[key].append(discarded)
        for key, decisions in replay.items():
            assert worst_window(decisions, k) <= m, (m, k, key, decisions)
            assert controller.counts(key) == JobCounts(len(decisions), sum(decisions))
        every = [d for decisions in replay.values() for d in decisions]
        assert controller.total == JobCounts(len(every), sum(every))
        assert len(controller) == sum(1 for d in replay.values() if d)


@pytest.mark.parametrize("k", range(1, 11))
def test_asked_to_discard_everything_it_discards_m_of_every_k(k):
    for m in range(k + 1):
        controller: MKFirm[int] = MKFirm(m, k)
        decisions = [controller.decide(0, True) for _ in range(5 * k)]
        windows = [sum(decisions[i : i + k]) for i in range(len(decisions) - k + 1)]
        assert set(windows) == {m}, (m, k, decisions)
        if m == k - 1:  # exactly one job runs in every k
            assert all(window.count(False) == 1 for window in _windows(decisions, k))


def _windows(decisions: list[bool], k: int) -> list[list[bool]]:
    return [decisions[i : i + k] for i in range(len(decisions) - k + 1)]


@pytest.mark.parametrize("k", [1, 2, 4, 10])
def test_0_k_never_discards_and_k_k_always_may(k):
    never: MKFirm[str] = MKFirm(0, k)
    always: MKFirm[str] = MKFirm(k, k)
    for _ in range(3 * k):
        assert not never.may_discard("p") and not never.decide("p", True)
        assert always.may_discard("p") and always.decide("p", True)
    assert never.total == JobCounts(3 * k, 0) and always.total == JobCounts(3 * k, 3 * k)


def test_keys_are_judged_apart():
    controller: MKFirm[str] = MKFirm(1, 3)
    assert controller.decide("a", True) and controller.decide("b", True)
    assert not controller.decide("a", True) and not controller.decide("b", True)
    assert controller.counts("a") == JobCounts(2, 1) and controller.counts("never") == (0, 0)


def test_may_discard_and_record_split_a_decision_and_record_refuses_to_break_the_bound():
    controller: MKFirm[str] = MKFirm(1, 2)
    assert controller.may_discard("p")
    controller.record("p", True)
    assert not controller.may_discard("p")
    with pytest.raises(
        ValueError,
        match=re.escape(
            "MKFirm(m=1, k=2): discarding this job of 'p' would make 2 discards in 2 "
            "consecutive jobs; ask may_discard first"
        ),
    ):
        controller.record("p", True)
    controller.record("p", False)
    assert controller.may_discard("p") and controller.counts("p") == JobCounts(2, 1)


@pytest.mark.parametrize("s", [2, 3, 5])
def test_a_skip_parameter_s_runs_at_least_s_minus_1_jobs_between_two_skips(s):
    rng = random.Random(s)
    controller: SkipOverDistance[str] = SkipOverDistance(s)
    twin: MKFirm[str] = MKFirm(1, s)
    skipped_at = []
    for job in range(200):
        want = rng.random() < 0.7
        skipped = controller.decide("p", want)
        assert skipped == twin.decide("p", want)  # it is (1, s)-firm
        if skipped:
            skipped_at.append(job)
    gaps = [b - a - 1 for a, b in zip(skipped_at, skipped_at[1:], strict=False)]
    assert skipped_at and min(gaps) >= s - 1
    assert repr(controller) == f"SkipOverDistance(s={s})"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: MKFirm(5, 4), "(m, k) = (5, 4): need integers with 0 <= m <= k, k >= 1"),
        (lambda: MKFirm(-1, 4), "(m, k) = (-1, 4): need integers with 0 <= m <= k, k >= 1"),
        (lambda: MKFirm(0, 0), "(m, k) = (0, 0): need integers with 0 <= m <= k, k >= 1"),
        (lambda: MKFirm(True, 4), "(m, k) = (True, 4): need integers with 0 <= m <= k, k >= 1"),
        (lambda: SkipOverDistance(1), "skip parameter s = 1: need an integer >= 2"),
    ],
)
def test_a_bound_that_is_no_bound_is_refused(make, message):
    with pytest.raises(ValueError, match="^" + re.escape(message) + "$"):
        make()
