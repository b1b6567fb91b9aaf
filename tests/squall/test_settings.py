"""squall.settings: typed readers, schemas, unknown keys and old spellings, word for word."""

from __future__ import annotations

import re

import pytest

from squall import run_topology
from squall.engine.run_settings import RunSettings
from squall.errors import ConfigError
from squall.settings import (
    Schema,
    Setting,
    boolean,
    check_known,
    choice,
    duration,
    integer,
    number,
    optional,
    register,
    text,
)
from tests.squall import scenarios as sc


def _raises(message: str):
    return pytest.raises(ConfigError, match="^" + re.escape(message) + "$")


@pytest.mark.parametrize(
    ("reader", "value", "message"),
    [
        (integer(1), 0, "k must be an integer >= 1; got 0"),
        (integer(1, 64), 65, "k must be an integer in [1, 64]; got 65"),
        (integer(0), True, "k must be an integer >= 0; got True (bool)"),
        (integer(0), "3", "k must be an integer >= 0; got '3' (str)"),
        (number(0, low_open=True), 0, "k must be a number > 0; got 0"),
        (number(0, 1), 1.5, "k must be a number in [0, 1]; got 1.5"),
        (number(0), float("nan"), "k must be a number >= 0; got nan"),
        (number(0), None, "k must be a number >= 0; got None (null)"),
        (
            duration(0),
            "soon",
            "k must be a duration >= 0 s: seconds, or a number with a unit "
            "ms, s, m or h such as '250ms'; got 'soon'",
        ),
        (duration(0), -1, "k must be a duration >= 0 s; got -1"),
        (duration(0), [1], "k must be a duration in seconds >= 0 s; got [1] (list)"),
        (choice("fifo", "edf"), "lifo", "k must be one of 'fifo', 'edf'; got 'lifo' (str)"),
        (boolean, "yes", "k must be true or false; got 'yes' (str)"),
        (text, "  ", "k must be a non-empty string; got '  ' (str)"),
    ],
)
def test_readers_name_the_key_the_value_and_what_is_valid(reader, value, message):
    with _raises(message):
        reader(value, "k")


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (2, 2.0),
        (0.5, 0.5),
        ("250ms", 0.25),
        ("2s", 2.0),
        ("1.5m", 90.0),
        ("1h", 3600.0),
        ("1e3ms", 1.0),
    ],
)
def test_durations_read_numbers_as_seconds_and_strings_with_units(value, seconds):
    assert duration(0)(value, "k") == seconds


def test_readers_return_typed_values():
    assert integer(1)(5, "k") == 5
    assert number(0)(3, "k") == 3.0 and isinstance(number(0)(3, "k"), float)
    assert optional(integer(1))(None, "k") is None
    assert choice("a", "b")("b", "k") == "b"


def test_a_schema_reads_defaults_values_and_refuses_unknown_keys_under_its_prefix():
    class AreaError(ConfigError):
        pass

    schema = Schema(
        "the test area",
        "test.area.",
        (
            Setting("test.area.size", integer(1), 8),
            Setting("test.area.wait.secs", duration(0), 1.0),
        ),
        renamed={"test.area.wait_s": "test.area.wait.secs"},
        error=AreaError,
    )
    assert schema.read({}) == {"test.area.size": 8, "test.area.wait.secs": 1.0}
    assert schema.read({"test.area.size": 3, "test.area.wait.secs": "500ms", "other": 1}) == {
        "test.area.size": 3,
        "test.area.wait.secs": 0.5,
    }
    with pytest.raises(
        AreaError,
        match=re.escape(
            "unknown setting 'test.area.sise': not a key of the test area; did you mean "
            "'test.area.size'? valid: test.area.size, test.area.wait.secs"
        ),
    ):
        schema.read({"test.area.sise": 3})
    with pytest.raises(
        AreaError,
        match=re.escape(
            "setting 'test.area.wait_s' is the old spelling of 'test.area.wait.secs'; "
            "use 'test.area.wait.secs'"
        ),
    ):
        schema.read({"test.area.wait_s": 3})
    with pytest.raises(
        AreaError, match=re.escape("setting test.area.size must be an integer >= 1; got 0")
    ):
        schema.read({"test.area.size": 0})


def test_an_unknown_squall_key_is_an_error_with_the_closest_valid_key():
    with pytest.raises(ConfigError) as caught:
        check_known({"squall.drain.sec": 2})
    message = str(caught.value)
    assert message.startswith(
        "unknown setting 'squall.drain.sec': no component of this run reads it; did you mean "
        "'squall.drain.secs'? valid: "
    )
    valid = message.split("valid: ")[1].split(", ")
    assert valid == sorted(valid) and {"squall.drain.secs", "squall.queue.capacity"} <= set(valid)


def test_an_app_prefix_is_closed_once_registered():
    register(
        Schema("the test app", "testapp.", (Setting("testapp.size", integer(1), 1),)),
        root="testapp.",
    )
    check_known(
        {"testapp.size": 2, "topology.workers": 3, "other.key": 1}
    )  # Storm's and others' keys pass
    with _raises(
        "unknown setting 'testapp.sizes': not a key of the test app; did you mean 'testapp.size'? "
        "valid: testapp.size"
    ):
        check_known({"testapp.sizes": 2})


def test_a_run_with_a_typo_in_a_squall_key_fails_before_any_tuple_runs():
    with pytest.raises(ConfigError, match=re.escape("unknown setting 'squall.fail.fastt'")):
        run_topology(sc.WordCount, {"squall.fail.fastt": True}, until_idle=True)


def test_storm_keys_keep_their_defaults_and_are_typed():
    s = RunSettings.from_conf({"topology.max.spout.pending": None, "squall.drain.secs": "250ms"})
    assert (s.max_spout_pending, s.drain_s, s.message_timeout_s, s.acking) == (None, 0.25, 30, True)
    assert RunSettings.from_conf({"topology.acker.executors": 0}).acking is False
