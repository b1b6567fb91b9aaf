"""The ``squall`` command.

Each area contributes its sub-commands through a ``register(subparsers)`` function in its own
module, listed in ``COMMAND_MODULES``; the chosen sub-command's ``func(args) -> int`` runs.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from squall.errors import SquallError

COMMAND_MODULES: tuple[str, ...] = (
    "squall.run_cli",
    "squall.kafka.cli",
    "squall.storm.cli",
    "squall.plan.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="squall", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except SquallError as exc:
        print(f"squall {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
