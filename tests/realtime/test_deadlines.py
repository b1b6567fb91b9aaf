"""squall.realtime.deadlines: stream deadlines read from config, every refusal word for word.

Also the key families of squall.settings (keys with ``<name>`` parts) that the
``squall.realtime.<component>.<stream>.*`` keys rely on.
"""

from __future__ import annotations

import re

import pytest

from squall.errors import ConfigError
from squall.realtime.deadlines import (
    DEFAULT_POLICIES,
    REALTIME_SCHEMA,
    DeadlineError,
    Deadlines,
    StreamDeadline,
)
from squall.settings import (
    Schema,
    Setting,
    check_known,
    integer,
    key_pattern,
    register,
    unknown_key_message,
)

# The streams of the health topology as issue 11 will wire it: two spouts, one per class of
# readings (critical: intensive care, its own topic; routine: the ward), then the bolts.
HEALTH_STREAMS = {
    ("critical", "default"),
    ("routine", "default"),
    ("parse", "default"),
    ("parse", "invalid"),
    ("bmi", "default"),
    ("bmi", "invalid"),
    ("threshold", "default"),
    ("trend", "default"),
    ("trend", "late"),
}

# The health app's intended declaration: critical alerts hard (D = 50 ms), routine alerts firm
# (D = 1 s, at most 3 of any 4 consecutive readings of a patient skipped), trend windows firm
# (D = 1 s; issue 11 gives them no (m,k): (1,2) here, at most every other update of a rule
# skipped), invalid records soft.
HEALTH_CONF = {
    "squall.realtime.critical.default.deadline.ms": 50,
    "squall.realtime.critical.default.criticality": "hard",
    "squall.realtime.critical.default.policies": "late,imprecise",
    "squall.realtime.routine.default.deadline.ms": 1000,
    "squall.realtime.routine.default.criticality": "firm",
    "squall.realtime.routine.default.mk": "3,4",
    "squall.realtime.routine.default.policies": "imprecise,discard",
    "squall.realtime.trend.default.deadline.ms": 1000,
    "squall.realtime.trend.default.criticality": "firm",
    "squall.realtime.trend.default.mk": "1,2",
    "squall.realtime.trend.default.policies": "imprecise,discard",
    "squall.realtime.parse.invalid.deadline.ms": 1000,
    "squall.realtime.parse.invalid.criticality": "soft",
    "squall.realtime.bmi.invalid.deadline.ms": 1000,
    "squall.realtime.bmi.invalid.criticality": "soft",
}

KEY = "squall.realtime.routine.default."
MK_VALID = "valid: 0 <= m <= k and k >= 1 (at most m of any k consecutive jobs discarded)"


def _raises(message: str):
    return pytest.raises(DeadlineError, match="^" + re.escape(message) + "$")


def _routine(**fields):
    """The routine stream's keys, firm (3,4) with D = 1 s unless ``fields`` say otherwise."""
    conf = {KEY + "deadline.ms": 1000, KEY + "criticality": "firm", KEY + "mk": "3,4"}
    conf.update({KEY + name.replace("_", "."): value for name, value in fields.items()})
    return {k: v for k, v in conf.items() if v is not ...}


def test_the_health_declaration_reads_as_intended():
    deadlines = Deadlines.from_conf(HEALTH_CONF, declared=HEALTH_STREAMS)
    assert len(deadlines) == 5
    assert deadlines.for_root("critical") == StreamDeadline(
        "critical", "default", 0.05, "hard", policies=frozenset({"late", "imprecise"})
    )
    routine = deadlines.for_root("routine", "default")
    assert routine is not None
    assert (routine.deadline_s, routine.criticality, routine.mk) == (1.0, "firm", (3, 4))
    assert routine.policies == {"imprecise", "discard"}
    trend = deadlines.get("trend")
    assert trend is not None and (trend.criticality, trend.mk) == ("firm", (1, 2))
    invalid = deadlines.get("parse", "invalid")
    assert invalid is not None
    assert (invalid.criticality, invalid.policies) == ("soft", DEFAULT_POLICIES)
    # streams without a declaration are best effort
    assert deadlines.get("threshold") is None and deadlines.for_root("trend", "late") is None
    assert [(d.component, d.stream) for d in deadlines] == [
        ("bmi", "invalid"),
        ("critical", "default"),
        ("parse", "invalid"),
        ("routine", "default"),
        ("trend", "default"),
    ]


def test_the_keys_round_trip():
    deadlines = Deadlines.from_conf(HEALTH_CONF, declared=HEALTH_STREAMS)
    conf = deadlines.to_conf()
    assert Deadlines.from_conf(conf, declared=HEALTH_STREAMS) == deadlines
    assert conf[KEY + "mk"] == "3,4" and conf[KEY + "policies"] == "imprecise,discard"
    assert conf["squall.realtime.critical.default.deadline.ms"] == 50
    assert conf["squall.realtime.parse.invalid.policies"] == "late"  # the default, written out
    # what from_conf read is what to_conf writes, apart from the default policies written out
    assert {k: v for k, v in conf.items() if k in HEALTH_CONF} == HEALTH_CONF


@pytest.mark.parametrize("deadline_s", [0.05, 0.0125, 1 / 3, 1e-6, 7200.0])
def test_a_deadline_built_in_code_round_trips_through_milliseconds(deadline_s):
    stream = StreamDeadline("critical", "default", deadline_s, "hard")
    back = Deadlines.from_conf(stream.to_conf(), declared=HEALTH_STREAMS).get("critical")
    assert back is not None and back.deadline_s == pytest.approx(deadline_s, rel=1e-9)
    assert back.to_conf() == stream.to_conf()


def test_values_are_read_in_the_forms_config_yaml_and_dash_o_give():
    yaml_like = _routine(mk=[3, 4], policies=["discard", "late"])
    dash_o = _routine(mk=" 3 , 4 ", policies="discard, late", deadline_ms=1000.0)
    for conf in (yaml_like, dash_o):
        routine = Deadlines.from_conf(conf, declared=HEALTH_STREAMS).for_root("routine")
        assert routine == StreamDeadline(
            "routine", "default", 1.0, "firm", 3, 4, frozenset({"discard", "late"})
        )


def test_a_null_value_is_an_absent_key():
    # so `-o` can take back a declaration of config.yaml, key by key
    conf = _routine(mk=None, criticality="soft")
    assert Deadlines.from_conf(conf, declared=HEALTH_STREAMS).for_root("routine").mk is None
    nothing = {k: None for k in HEALTH_CONF}
    assert len(Deadlines.from_conf(nothing, declared=set())) == 0


def test_other_keys_are_not_ours_and_no_declaration_is_no_deadline():
    conf = {"topology.workers": 2, "squall.batch": 8, "health.rules": ["bmi > 35"]}
    deadlines = Deadlines.from_conf(conf, declared=HEALTH_STREAMS)
    assert len(deadlines) == 0 and deadlines.for_root("critical") is None


def test_hard_streams_may_be_imprecise_or_rate_modulated_but_never_discarded():
    for policies in ("late", "imprecise", "rate", "late,imprecise,rate"):
        conf = _routine(criticality="hard", mk=..., policies=policies)
        assert Deadlines.from_conf(conf, declared=HEALTH_STREAMS).for_root("routine")


@pytest.mark.parametrize(
    ("conf", "message"),
    [
        (
            _routine(policies="late,drop"),
            f"setting {KEY}policies names unknown policy 'drop'; "
            "valid: late, imprecise, discard, rate",
        ),
        (
            _routine(policies="late,,discard"),
            f"setting {KEY}policies must be policies separated by commas (or a list), none "
            "empty, from late, imprecise, discard, rate; got 'late,,discard' (str)",
        ),
        (
            _routine(policies=3),
            f"setting {KEY}policies must be policies separated by commas (or a list), none "
            "empty, from late, imprecise, discard, rate; got 3 (int)",
        ),
        (_routine(deadline_ms=0), f"setting {KEY}deadline.ms must be a number > 0; got 0"),
        (_routine(deadline_ms=-50), f"setting {KEY}deadline.ms must be a number > 0; got -50"),
        (
            _routine(deadline_ms="50ms"),
            f"setting {KEY}deadline.ms must be a number > 0; got '50ms' (str)",
        ),
        (_routine(mk="5,4"), f"setting {KEY}mk has m = 5 > k = 4; {MK_VALID}"),
        (_routine(mk="-1,4"), f"setting {KEY}mk has m = -1 < 0; {MK_VALID}"),
        (_routine(mk="0,0"), f"setting {KEY}mk has k = 0 < 1; {MK_VALID}"),
        (
            _routine(mk="3/4"),
            f"setting {KEY}mk must be 'M,K' or [M, K], two integers such as '3,4' (at most M "
            "of any K consecutive jobs discarded); got '3/4' (str)",
        ),
        (
            _routine(mk=[3, 4, 5]),
            f"setting {KEY}mk must be 'M,K' or [M, K], two integers such as '3,4' (at most M "
            "of any K consecutive jobs discarded); got [3, 4, 5] (list)",
        ),
        (
            _routine(criticality="critical"),
            f"setting {KEY}criticality must be one of 'hard', 'firm', 'soft'; got 'critical' (str)",
        ),
        (
            _routine(criticality="hard", mk=..., policies="late,discard"),
            f"setting {KEY}policies gives 'discard' to a hard stream; hard streams are never "
            "shed: valid for hard are late, imprecise (its mandatory part always runs) and rate",
        ),
        (
            _routine(criticality="soft", mk=..., policies="discard"),
            f"setting {KEY}policies gives 'discard' to a soft stream; discard skips jobs within "
            "(m, k), which only firm streams declare: valid for soft are late, imprecise and rate",
        ),
        (
            _routine(mk=...),
            f"setting {KEY}criticality is firm, which needs (m, k): set {KEY}mk to 'M,K' (at "
            "most M of any K consecutive jobs discarded, 0 <= M <= K, K >= 1), e.g. '3,4'",
        ),
        (
            _routine(criticality="soft"),
            f"setting {KEY}mk is set on a soft stream; (m, k) bounds the discards of a firm "
            f"stream only: remove it, or make {KEY}criticality firm",
        ),
        (
            _routine(criticality="hard"),
            f"setting {KEY}mk is set on a hard stream; (m, k) bounds the discards of a firm "
            f"stream only: remove it, or make {KEY}criticality firm",
        ),
        (
            _routine(deadline_ms=...),
            f"setting {KEY}criticality is given but {KEY}deadline.ms is not: a stream's "
            "deadline needs deadline.ms (milliseconds > 0) and criticality (hard, firm or soft)",
        ),
        (
            {KEY + "deadline.ms": 1000},
            f"setting {KEY}deadline.ms is given but {KEY}criticality is not: a stream's "
            "deadline needs deadline.ms (milliseconds > 0) and criticality (hard, firm or soft)",
        ),
        (
            {"squall.realtime.thresold.default.deadline.ms": 50},
            "setting squall.realtime.thresold.default.deadline.ms names stream "
            "thresold.default, which the topology does not declare; did you mean "
            "'threshold.default'? declared streams: bmi.default, bmi.invalid, critical.default, "
            "parse.default, parse.invalid, routine.default, threshold.default, trend.default, "
            "trend.late",
        ),
        (
            {KEY + "deadline.secs": 1},
            f"unknown setting '{KEY}deadline.secs': not a key of the real-time deadlines; did "
            f"you mean '{KEY}deadline.ms'? valid: "
            "squall.realtime.<component>.<stream>.criticality, "
            "squall.realtime.<component>.<stream>.deadline.ms, "
            "squall.realtime.<component>.<stream>.mk, "
            "squall.realtime.<component>.<stream>.policies",
        ),
    ],
)
def test_a_bad_declaration_is_refused_naming_the_value_the_key_and_what_is_valid(conf, message):
    with _raises(message):
        Deadlines.from_conf(conf, declared=HEALTH_STREAMS)


def test_every_refusal_is_a_config_error():
    assert issubclass(DeadlineError, ConfigError)


def test_a_stream_nobody_declares_is_refused_even_in_a_topology_with_no_streams():
    with _raises(
        "setting squall.realtime.x.default.criticality names stream x.default, which the "
        "topology does not declare; declared streams: none"
    ):
        Deadlines.from_conf({"squall.realtime.x.default.criticality": "soft"}, declared=())


def test_an_undeclared_stream_is_named_before_its_bad_values():
    conf = {"squall.realtime.trnd.default.deadline.ms": -1, "squall.realtime.trnd.default.mk": 1}
    with pytest.raises(DeadlineError, match=re.escape("names stream trnd.default, which")):
        Deadlines.from_conf(conf, declared=HEALTH_STREAMS)


def test_a_declaration_built_in_code_is_held_to_the_same_rules_naming_its_keys():
    with _raises(f"setting {KEY}deadline.ms must be a number > 0; got -1000.0"):
        StreamDeadline("routine", "default", -1.0, "firm", 3, 4)
    with _raises(f"setting {KEY}mk needs both m and k; got m = 3, k = None"):
        StreamDeadline("routine", "default", 1.0, "firm", 3)
    with _raises(
        "setting squall.realtime.routine.default.policies must name at least one policy of "
        "late, imprecise, discard, rate; got none"
    ):
        StreamDeadline("routine", "default", 1.0, "soft", policies=frozenset())
    with _raises(
        "deadline of routine.default: deadline_s must be a number of seconds > 0; got '1s' (str)"
    ):
        StreamDeadline("routine", "default", "1s", "soft")  # type: ignore[arg-type]
    with _raises(
        "deadline of 'a.b'/'default': the component id must be a non-empty string without dots "
        "(one word of squall.realtime.<component>.<stream>.*); got 'a.b'"
    ):
        StreamDeadline("a.b", "default", 1.0, "soft")
    # a set given in code is stored frozen
    stream = StreamDeadline("routine", "default", 1.0, "soft", policies={"late"})  # type: ignore[arg-type]
    assert isinstance(stream.policies, frozenset) and hash(stream)


def test_a_stream_is_declared_once():
    one = StreamDeadline("routine", "default", 1.0, "soft")
    with _raises("stream routine.default is given two deadlines; declare it once"):
        Deadlines((one, StreamDeadline("routine", "default", 2.0, "soft")))
    assert Deadlines((one,)) == Deadlines.from_conf(one.to_conf(), declared=HEALTH_STREAMS)


# --- the realtime keys in squall.settings.check_known (every squall.* key must be declared)


def test_check_known_accepts_the_realtime_keys_and_suggests_the_field_meant():
    check_known(HEALTH_CONF)
    with pytest.raises(DeadlineError) as caught:
        check_known({KEY + "policy": "late"})
    assert str(caught.value).startswith(
        f"unknown setting '{KEY}policy': not a key of the real-time deadlines; did you mean "
        f"'{KEY}policies'? valid: "
    )
    # a component or stream id is one word: a dotted one does not fit the family
    with pytest.raises(
        DeadlineError, match=re.escape("unknown setting 'squall.realtime.a.b.c.mk'")
    ):
        check_known({"squall.realtime.a.b.c.mk": "3,4"})
    assert REALTIME_SCHEMA.declares(KEY + "mk") and not REALTIME_SCHEMA.declares(KEY + "m")


# --- key families in squall.settings (keys with <name> parts), on a schema of their own


def test_a_key_with_name_parts_matches_one_dotted_word_per_part():
    pattern = key_pattern("fam.<component>.<stream>.size")
    assert pattern is not None
    assert pattern.fullmatch("fam.trend.late.size")
    assert not pattern.fullmatch("fam.trend.size")
    assert not pattern.fullmatch("fam.a.b.c.size")
    assert not pattern.fullmatch("fam.a+b.size")  # the fixed parts are matched literally
    assert key_pattern("fam.size") is None


def test_a_schema_reads_every_key_of_a_family_and_refuses_others_under_its_prefix():
    schema = register(
        Schema(
            "the family test area",
            "testfam.",
            (
                Setting("testfam.<name>.size", integer(1)),
                Setting("testfam.limit", integer(0), 7),
            ),
        ),
        root="testfam.",
    )
    conf = {"testfam.a.size": 2, "testfam.b.size": 3, "testfam.c.size": None, "other": 1}
    assert schema.read(conf) == {"testfam.a.size": 2, "testfam.b.size": 3, "testfam.limit": 7}
    check_known(conf)
    with _config_raises("setting testfam.b.size must be an integer >= 1; got 0"):
        schema.read({"testfam.b.size": 0})
    with _config_raises(
        "unknown setting 'testfam.b.sise': not a key of the family test area; did you mean "
        "'testfam.b.size'? valid: testfam.<name>.size, testfam.limit"
    ):
        check_known({"testfam.b.sise": 2})
    with _config_raises(
        "unknown setting 'testfam.b.sise': not a key of the family test area; did you mean "
        "'testfam.b.size'? valid: testfam.<name>.size, testfam.limit"
    ):
        schema.read({"testfam.b.sise": 2})


def test_an_unknown_key_message_fills_a_family_with_the_keys_own_words():
    message = unknown_key_message("f.x.sizes", ["f.<n>.size", "f.limit"], {}, "why")
    assert message == "unknown setting 'f.x.sizes': why; did you mean 'f.x.size'? valid: " + (
        "f.<n>.size, f.limit"
    )


def _config_raises(message: str):
    return pytest.raises(ConfigError, match="^" + re.escape(message) + "$")
