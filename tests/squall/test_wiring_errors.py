"""Each mistake a user can make in a topology, an emit or a test, and its message word for word.

Where each is caught:

- streamparse rejects some wiring when the ``Topology`` class is defined;
- ``build_model`` (behind ``run_topology`` and ``TopologyDriver``) rejects the rest before any
  component is built; a component failing in ``initialize`` stops the start;
- a bad emit happens inside a component: as under Storm the run goes on, the tuple's tree fails
  and the error lands in ``RunResult.errors`` (pystorm's traceback, ending with the message),
  in both execution modes and on both emit paths;
- ``load_topology`` and the test kit check what they are given.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamparse import Bolt, Grouping, JavaBolt, Spout, Stream, Topology
from streamparse.dsl.component import ComponentSpec
from streamparse.thrift import GlobalStreamId

from squall import TopologyError, run_topology
from squall.engine.model import build_model
from squall.loading import load_topology
from squall.testing import TopologyDriver
from tests.squall import scenarios as sc

MODES = [pytest.param(1, id="single-process"), pytest.param(2, id="multi-process")]


def exactly(message: str) -> str:
    """A ``pytest.raises(match=...)`` pattern for the whole message, not a part of it."""
    return f"^{re.escape(message)}$"


def fresh_word_count() -> type[Topology]:
    """``sc.WordCount`` with specs of its own, for tests that edit them."""

    class WordCount(Topology):
        words = sc.WordSpout.spec()
        count = sc.CountBolt.spec(inputs={words: Grouping.fields("word")})

    return WordCount


# ---------------------------------------------------------------- caught by streamparse
@pytest.mark.parametrize(
    "count, error, message",
    [
        pytest.param(
            lambda words: sc.CountBolt.spec(inputs=[words], par=0),
            ValueError,
            "Parallelism hint must be an integer greater than 0. Given: 0",
            id="par=0",
        ),
        pytest.param(
            lambda words: sc.CountBolt.spec(inputs={words: Grouping.fields("wrod")}),
            ValueError,
            "Field 'wrod' specified in grouping is not a valid output field for the 'words' "
            "'default' stream.",
            id="grouping on an unknown field",
        ),
        pytest.param(
            # the spec has no name yet when it is indexed: streamparse says "None"
            lambda words: sc.CountBolt.spec(inputs=[words["counts"]]),
            KeyError,
            "Invalid stream for None: 'counts'. Valid streams are: ['default']",
            id="unknown stream",
        ),
        pytest.param(
            # a bare KeyError: streamparse looks the name up without checking it
            lambda words: sc.CountBolt.spec(
                inputs=[GlobalStreamId(componentId="wordz", streamId="default")]
            ),
            KeyError,
            "'wordz'",
            id="unknown component by name",
        ),
        pytest.param(
            lambda words: sc.CountBolt.spec(),
            ValueError,
            'CountBolt "count" requires at least one input, because it is a Bolt.',
            id="bolt without inputs",
        ),
    ],
)
def test_streamparse_rejects_the_mistake_when_the_class_is_defined(count, error, message):
    with pytest.raises(error, match=re.escape(message)):
        words = sc.WordSpout.spec()
        type("WordCount", (Topology,), {"words": words, "count": count(words)})


# ---------------------------------------------------------------- caught by build_model
@pytest.mark.parametrize(
    "target, message",
    [
        # a class or function is named by its __name__, anything else by its repr
        pytest.param(
            "topologies/wordcount.py",
            "'topologies/wordcount.py' is not a streamparse Topology subclass",
            id="a path",
        ),
        pytest.param(
            sc.PassBolt, "PassBolt is not a streamparse Topology subclass", id="a bolt class"
        ),
        pytest.param(
            Topology, "Topology is not a streamparse Topology subclass", id="Topology itself"
        ),
    ],
)
def test_run_topology_needs_a_topology_class(target, message):
    with pytest.raises(TopologyError, match=exactly(message)):
        run_topology(target, until_idle=True)


def test_java_components_need_storm():
    class WithJava(Topology):
        words = sc.WordSpout.spec()
        upper = JavaBolt.spec(
            full_class_name="com.example.Upper", args_list=[], inputs=[words], outputs=["word"]
        )

    with pytest.raises(
        TopologyError,
        match=exactly(
            "component 'upper' is a Java component (JavaBoltSpec); the embedded runner runs Python "
            "components only — use `sparse run` for Java ones"
        ),
    ):
        run_topology(WithJava, until_idle=True)


def test_a_spec_of_an_unknown_type_is_refused():
    topology = fresh_word_count()
    # streamparse's metaclass refuses it at definition: only a spec added afterwards gets here
    topology.specs.append(ComponentSpec(sc.PassBolt, name="odd"))
    with pytest.raises(
        TopologyError,
        match=exactly(
            "component 'odd': unexpected spec type ComponentSpec; a topology holds Python components "
            "made with Bolt.spec(...) or Spout.spec(...)"
        ),
    ):
        run_topology(topology, until_idle=True)


def test_per_environment_parallelism_needs_an_int_to_run_embedded():
    # streamparse takes a dict at definition: only the embedded runner needs one number
    class Staged(Topology):
        words = sc.WordSpout.spec()
        count = sc.CountBolt.spec(inputs=[words], par={"prod": 4, "beta": 1})

    with pytest.raises(
        TopologyError,
        match=exactly(
            "component 'count': per-environment parallelism {'prod': 4, 'beta': 1} needs an "
            "environment; give an int par to run it embedded"
        ),
    ):
        run_topology(Staged, until_idle=True)


def shuffled(component: str, stream: str) -> dict:
    return {GlobalStreamId(componentId=component, streamId=stream): Grouping.SHUFFLE}


PAR_MESSAGE = "component 'count': parallelism par={}; it must be an integer >= 1"


@pytest.mark.parametrize(
    "attr, value, message",
    [
        pytest.param(
            "inputs",
            shuffled("wordz", "default"),
            "component 'count' reads unknown component 'wordz'",
            id="unknown component",
        ),
        pytest.param(
            "inputs",
            shuffled("words", "counts"),
            "component 'count' reads stream 'counts' of 'words', which declares only ['default']",
            id="undeclared stream",
        ),
        pytest.param("par", 0, PAR_MESSAGE.format("0"), id="par=0"),
        pytest.param("par", "2", PAR_MESSAGE.format("'2'"), id="par='2'"),
        # streamparse lets this one through even at definition: a bool is an int
        pytest.param("par", True, PAR_MESSAGE.format("True"), id="par=True"),
    ],
)
def test_a_spec_edited_after_definition_is_checked_again(attr, value, message):
    # streamparse refuses the others at definition (a bare KeyError, a ValueError, a TypeError);
    # a tool editing specs afterwards gets past it, build_model does not
    topology = fresh_word_count()
    setattr(next(spec for spec in topology.specs if spec.name == "count"), attr, value)
    with pytest.raises(TopologyError, match=exactly(message)):
        run_topology(topology, until_idle=True)


def test_a_custom_java_grouping_needs_storm():
    class ByLength(Topology):
        words = sc.WordSpout.spec()
        count = sc.CountBolt.spec(
            inputs={words: Grouping.custom_object("com.example.ByLength", [])}
        )

    with pytest.raises(
        TopologyError,
        match=exactly(
            "component 'count' reading stream 'default' of 'words': grouping custom_object(JavaObject("
            "full_class_name='com.example.ByLength', args_list=[])) is not supported by the embedded "
            "runner; supported: shuffle, fields, all, global, none, local_or_shuffle, direct "
            "(custom Java groupings need Storm)"
        ),
    ):
        run_topology(ByLength, until_idle=True)


def test_a_direct_grouping_needs_a_stream_declared_direct():
    class DirectOnPlain(Topology):
        words = sc.WordSpout.spec()
        count = sc.CountBolt.spec(inputs={words: Grouping.DIRECT})

    with pytest.raises(
        TopologyError,
        match=exactly(
            "component 'count' uses a direct grouping on words:default, which is not declared direct "
            "(Stream(..., direct=True))"
        ),
    ):
        run_topology(DirectOnPlain, until_idle=True)


# ---------------------------------------------------------------- bad emits
STREAMS = ["a", "b", Stream(fields=["n"], name="direct", direct=True)]


class OneTupleSpout(Spout):
    """Emits one reliable tuple: ``emit(*args, **kwargs)`` of ``mistake``, or a good one."""

    outputs = STREAMS
    mistake: tuple = (([1, 2],), {})

    def initialize(self, conf, ctx):
        self.done = False

    def next_tuple(self):
        if not self.done:
            self.done = True
            args, kwargs = self.mistake
            self.emit(*args, tup_id=1, **kwargs)


class MistakeBolt(Bolt):
    """Emits ``mistake`` for every tuple it gets."""

    outputs = STREAMS
    mistake: tuple = (([1, 2],), {})

    def process(self, tup):
        args, kwargs = self.mistake
        self.emit(*args, **kwargs)


# Who reads the emitter's default stream decides the emit path: one shuffle-like reader in the
# process gets a compiled plan (emit_plans), anything else the worker's general emit_values.
READERS = {
    "one shuffle reader": lambda e: {"sink": sc.PassBolt.spec(inputs=[e], par=2)},
    "fields grouping": lambda e: {
        "sink": sc.PassBolt.spec(inputs={e: Grouping.fields("a")}, par=2)
    },
    "two readers": lambda e: {
        "sink": sc.PassBolt.spec(inputs=[e]),
        "sink2": sc.PassBolt.spec(inputs=[e]),
    },
}


def misemitting(mistake: tuple, by: str, readers: str = "one shuffle reader") -> type[Topology]:
    """A topology whose component "emitter" (a spout or a bolt) makes ``mistake`` once.

    Task ids: direct_sink sorts first, so it reads the direct stream with a direct grouping as
    tasks 1 and 2; emitter is task 3; shuffled reads the direct stream with a shuffle grouping
    as task 4 (a direct emit may not name it).
    """
    if by == "spout":
        emitter = type("Emitter", (OneTupleSpout,), {"mistake": mistake}).spec()
        body = {"emitter": emitter}
    else:
        source = OneTupleSpout.spec()
        emitter = type("Emitter", (MistakeBolt,), {"mistake": mistake}).spec(inputs=[source])
        body = {"source": source, "emitter": emitter}
    body |= READERS[readers](emitter)
    body["direct_sink"] = sc.PassBolt.spec(inputs={emitter["direct"]: Grouping.DIRECT}, par=2)
    body["shuffled"] = sc.PassBolt.spec(inputs={emitter["direct"]: Grouping.SHUFFLE})
    return type("Misemitting", (Topology,), body)


def assert_reported(errors, message: str) -> None:
    """One error, from the emitter, whose traceback ends with the TopologyError ``message``."""
    assert [e.component for e in errors] == ["emitter"]
    assert errors[0].message.splitlines()[-1] == f"squall.errors.TopologyError: {message}"


TOO_MANY = (([1, 2, 3],), {})
TOO_MANY_MESSAGE = (
    "component 'emitter' emitted 3 values on stream 'default', which declares 2 fields "
    "['a', 'b']: [1, 2, 3]"
)
BAD_TUPLES = [
    pytest.param(TOO_MANY, TOO_MANY_MESSAGE, id="too many values"),
    pytest.param(
        (([1],), {}),
        "component 'emitter' emitted 1 value on stream 'default', "
        "which declares 2 fields ['a', 'b']: [1]",
        id="too few values",
    ),
    pytest.param(
        ((5,), {}),
        "component 'emitter' emitted 5 on stream 'default': a tuple's "
        "values must be a list or a tuple",
        id="not a list",
    ),
]


@pytest.mark.parametrize("workers", MODES)
@pytest.mark.parametrize("readers", list(READERS))
@pytest.mark.parametrize("by", ["bolt", "spout"])
@pytest.mark.parametrize("mistake, message", BAD_TUPLES)
def test_a_bad_tuple_gets_the_same_message_on_every_emit_path(
    mistake, message, by, readers, workers
):
    result = run_topology(misemitting(mistake, by, readers), workers=workers, until_idle=True)
    assert_reported(result.errors, message)


@pytest.mark.parametrize("by", ["bolt", "spout"])
@pytest.mark.parametrize("readers", list(READERS))
def test_the_reader_shapes_cover_both_emit_paths(readers, by):
    # white-box guard for the test above: the plan, when there is one, is the component's emit
    driver = TopologyDriver(misemitting(TOO_MANY, by, readers), replace_spouts=[])
    emitter = next(ex for ex in driver._worker.executors.values() if ex.name == "emitter")
    compiled = "_plan.<locals>" in emitter.instance.emit.__qualname__
    assert compiled is (readers == "one shuffle reader")
    assert_reported(driver.run().errors, TOO_MANY_MESSAGE)


@pytest.mark.parametrize("workers", MODES)
@pytest.mark.parametrize("by", ["bolt", "spout"])
@pytest.mark.parametrize(
    "mistake, message",
    [
        pytest.param(
            (([1, 2],), {"stream": "counts"}),
            "component 'emitter' emitted on undeclared stream 'counts'; declared: "
            "['default', 'direct']",
            id="undeclared stream",
        ),
        pytest.param(
            (([1],), {"stream": "direct"}),
            "component 'emitter' emitted on direct stream 'direct' without direct_task",
            id="direct stream without direct_task",
        ),
        pytest.param(
            (([1],), {"stream": "direct", "direct_task": 99}),
            "component 'emitter' emitted to direct task 99 on stream 'direct'; tasks reading "
            "'direct' with a direct grouping: [1, 2]",
            id="direct_task not subscribed",
        ),
        # as Storm refuses "emitDirect to a task expecting a regular grouping"
        pytest.param(
            (([1],), {"stream": "direct", "direct_task": 4}),
            "component 'emitter' emitted to direct task 4 on stream 'direct'; tasks reading "
            "'direct' with a direct grouping: [1, 2]",
            id="direct_task of a shuffle reader",
        ),
        pytest.param(
            (([1, 2],), {"direct_task": 1}),
            "component 'emitter' gave direct_task=1 on stream 'default', which is not "
            "declared direct",
            id="direct_task on a plain stream",
        ),
        pytest.param(
            (([1, 2],), {"stream": "direct", "direct_task": 1}),
            "component 'emitter' emitted 2 values on stream 'direct', which declares "
            "1 field ['n']: [1, 2]",
            id="too many values on a direct stream",
        ),
    ],
)
def test_an_emit_to_the_wrong_stream_or_task_is_reported(mistake, message, by, workers):
    result = run_topology(misemitting(mistake, by), workers=workers, until_idle=True)
    assert_reported(result.errors, message)


@pytest.mark.parametrize("workers", MODES)
@pytest.mark.parametrize("by", ["bolt", "spout"])
def test_a_direct_emit_to_a_task_reading_with_a_direct_grouping_arrives(by, workers):
    topology = misemitting((([7],), {"stream": "direct", "direct_task": 2}), by)
    # the premise of "direct_task of a shuffle reader" above
    assert build_model(topology).components["shuffled"].task_ids == [4]
    result = run_topology(topology, workers=workers, until_idle=True, capture=True)
    assert result.errors == []
    assert result.outputs["direct_sink"]["default"] == [[7]]
    assert result.stats["shuffled"].executed == 0
    assert result.spout_acked == {"emitter" if by == "spout" else "source": [1]}


class EndlessSpout(Spout):
    outputs = ["n"]

    def initialize(self, conf, ctx):
        self.n = 0

    def next_tuple(self):
        self.n += 1
        self.emit([self.n], tup_id=self.n)


class Endless(Topology):
    config = {"topology.max.spout.pending": 1}
    source = EndlessSpout.spec()
    emitter = type("Emitter", (MistakeBolt,), {"mistake": TOO_MANY}).spec(inputs=[source])


@pytest.mark.parametrize("workers", MODES)
def test_fail_fast_stops_an_endless_run_at_the_first_bad_emit(workers):
    # no time limit but the guard: only the error can end this run
    result = run_topology(Endless, {"squall.fail.fast": True}, workers=workers, seconds=30)
    assert result.elapsed_s < 30
    assert_reported(result.errors[:1], TOO_MANY_MESSAGE)


# ---------------------------------------------------------------- caught at start
class Broken(Bolt):
    def initialize(self, conf, ctx):
        raise ValueError("no database url in conf")


class WithBroken(Topology):
    source = sc.NumberSpout.spec()
    broken = Broken.spec(inputs=[source])


@pytest.mark.parametrize(
    "start",
    [
        pytest.param(lambda t: run_topology(t, workers=1, until_idle=True), id="single-process"),
        pytest.param(lambda t: run_topology(t, workers=2, until_idle=True), id="multi-process"),
        pytest.param(TopologyDriver, id="TopologyDriver"),
    ],
)
def test_a_component_failing_to_initialize_names_component_task_and_class(start):
    with pytest.raises(
        TopologyError,
        match=exactly(
            "component 'broken' (task 1, class Broken) failed to initialize: ValueError: "
            "no database url in conf"
        ),
    ):
        start(WithBroken)


def test_a_run_needs_at_least_one_worker():
    with pytest.raises(ValueError, match=exactly("workers=0: need at least 1")):
        run_topology(sc.WordCount, workers=0, until_idle=True)


# ---------------------------------------------------------------- load_topology
@pytest.mark.parametrize(
    "target, message",
    [
        pytest.param(
            "no/such/topology.py",
            "topology file 'no/such/topology.py' not found (give a .py file or module:Class)",
            id="file not found",
        ),
        pytest.param(
            "tests.squall.scenarios:PassBolt",
            "'tests.squall.scenarios:PassBolt': 'PassBolt' is not a Topology class in "
            "tests.squall.scenarios",
            id="module:Class not a Topology",
        ),
        pytest.param(
            "no_such_module:WordCount",
            "cannot import topology module 'no_such_module': No module named 'no_such_module'",
            id="module not importable",
        ),
    ],
)
def test_load_topology_names_what_it_could_not_find(target, message):
    with pytest.raises(TopologyError, match=exactly(message)):
        load_topology(target)


@pytest.mark.parametrize(
    "source, found",
    [
        # a class imported from elsewhere is not one the file defines
        pytest.param(
            "from tests.squall.scenarios import WordCount\n", "0 Topology classes []", id="none"
        ),
        pytest.param(
            "from streamparse import Topology\n"
            "from tests.squall.scenarios import WordSpout\n\n"
            "class First(Topology):\n    words = WordSpout.spec()\n\n"
            "class Second(Topology):\n    words = WordSpout.spec()\n",
            "2 Topology classes ['First', 'Second']",
            id="two",
        ),
    ],
)
def test_a_topology_file_must_define_exactly_one_topology(tmp_path: Path, source, found):
    path = tmp_path / f"wiring_errors_{len(found)}.py"
    path.write_text(source)
    with pytest.raises(
        TopologyError, match=exactly(f"{str(path)!r} defines {found}; expected exactly one")
    ):
        load_topology(str(path))


# ---------------------------------------------------------------- the test kit
def test_the_driver_replaces_only_spouts():
    with pytest.raises(
        ValueError, match=exactly("'count' is not a spout of WordCount; spouts: ['words']")
    ):
        TopologyDriver(sc.WordCount, replace_spouts=["count"])


def test_clocked_must_name_components_of_the_topology():
    with pytest.raises(
        ValueError,
        match=exactly("clocked=['counter']: no such components; components: ['count', 'words']"),
    ):
        TopologyDriver(sc.WordCount, clocked=["counter"])


def test_clocked_must_name_components_that_read_a_clock():
    with pytest.raises(
        TopologyError,
        match=exactly(
            "component 'count' (task 1, class CountBolt) failed to initialize: TypeError: "
            "CountBolt has no callable `clock` attribute to replace"
        ),
    ):
        TopologyDriver(sc.WordCount, clocked=["count"])


@pytest.mark.parametrize(
    "replace_spouts, name, scripted",
    [
        pytest.param([], "words", [], id="a spout left running"),
        pytest.param(None, "count", ["words"], id="a bolt"),
    ],
)
def test_pipe_only_feeds_scripted_spouts(replace_spouts, name, scripted):
    driver = TopologyDriver(sc.WordCount, replace_spouts=replace_spouts)
    with pytest.raises(
        ValueError, match=exactly(f"{name!r} is not a scripted spout; scripted: {scripted}")
    ):
        driver.pipe(name, [["fig"]])
