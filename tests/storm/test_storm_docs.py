"""docs/storm.md stays runnable: every command in its shell blocks parses with the real
parsers (sparse's, squall's, the storm launcher's, make's targets), the UI paths it shows are the
ones squall.storm.ui serves, and its `prod` example is config.json's. The commands themselves are
run by test_storm_local.py, test_storm_cluster.py and test_storm_kafka.py."""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest
from streamparse.cli.sparse import load_subparsers

from squall.cli import build_parser
from squall.storm import ui
from squall.storm.home import StormHome
from squall.storm.launcher import build_invocation

ROOT = Path(__file__).parents[2]
DOC = ROOT / "docs" / "storm.md"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), flags=re.DOTALL)


def commands() -> list[list[str]]:
    lines = [line.strip() for block in blocks("bash") for line in block.splitlines()]
    return [shlex.split(line) for line in lines if line and not line.startswith("#")]


def sparse_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sparse")
    load_subparsers(parser.add_subparsers())
    return parser


def test_the_doc_has_the_walkthrough() -> None:
    programs = [argv[0] for argv in commands()]
    for program in ("make", "storm", "sparse", ".venv/bin/squall", "curl"):
        assert program in programs


@pytest.mark.parametrize("argv", commands(), ids=lambda argv: " ".join(argv)[:60])
def test_every_command_parses(argv: list[str], storm_home: StormHome) -> None:
    program, args = argv[0], argv[1:]
    if program == "sparse":
        parsed = sparse_parser().parse_args(args)  # SystemExit on a bad option
        assert parsed.func
    elif program == ".venv/bin/squall":
        assert build_parser().parse_args(args).func
    elif program == "storm":
        assert build_invocation(args, storm_home).argv
    elif program == "make":
        for target in args:
            out = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True)
            assert out.returncode == 0, out.stderr
    elif program == "curl":
        path = re.sub(r"^https?://[^/]+", "", args[-1])
        assert path.split("?")[0] in ui.__doc__
    elif program == "eval":
        assert args == ["$(.venv/bin/squall storm env)"]
        assert build_parser().parse_args(["storm", "env"]).func
    else:
        assert program == "export", f"unexpected command in docs/storm.md: {argv}"


def test_the_prod_example_is_config_json() -> None:
    [example] = blocks("json")
    documented = json.loads("{" + example + "}")["prod"]
    assert documented == json.loads((ROOT / "config.json").read_text())["envs"]["prod"]


def test_the_local_env_is_what_the_doc_says() -> None:
    local = json.loads((ROOT / "config.json").read_text())["envs"]["local"]
    assert (local["nimbus"], local["use_ssh_for_nimbus"], local["use_virtualenv"]) == (
        "localhost:6627",
        False,
        False,
    )
