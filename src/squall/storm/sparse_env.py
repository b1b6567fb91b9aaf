"""The environment ``sparse`` runs in: Storm's and the venv's ``bin/`` on PATH, ``LEIN_ROOT``,
and warning filters for exactly the noise sparse's dependencies print on every call.

``squall storm env`` prints it as one ``export`` line; docs/storm.md and mk/storm.mk apply it with
``eval "$(.venv/bin/squall storm env)"``, so the walkthrough, the make targets and the tests all
run sparse the same way.

The filters go through ``PYTHONWARNINGS`` (sparse is a third-party console script: nothing of
ours runs inside it before its imports). Each matches one message by its start, with the
builtin ``Warning`` category so that Python need not import cryptography to parse the option;
any other warning, and every error, still shows.
"""

from __future__ import annotations

import os
import shlex
import sys
from collections.abc import Mapping
from pathlib import Path

from squall.storm.home import StormHome

SPARSE_WARNING_FILTERS = (
    # paramiko 2.12 reads cryptography's algorithms.TripleDES, moved to hazmat.decrepit in
    # cryptography 43; paramiko 3.4.1+ reads the new place, but streamparse's Fabric39 needs
    # paramiko<3, so no pin removes it. Printed twice on every sparse command.
    "ignore:TripleDES has been moved to cryptography.hazmat.decrepit:Warning",
    # `sparse stats` and `sparse slot_usage` compare Storm's version with
    # parse_version("0.9.2-incubating"), which pkg_resources (setuptools<66, pinned in
    # pyproject.toml for that very comparison) calls invalid in a PkgResourcesDeprecationWarning.
    "ignore:0.9.2-incubating is an invalid version:Warning",
    # setuptools 67.5+ warns when sparse imports pkg_resources; pinned below that here, but a
    # user's own environment may not be.
    "ignore:pkg_resources is deprecated as an API:Warning",
)


def with_warning_filters(pythonwarnings: str | None) -> str:
    """``PYTHONWARNINGS`` with :data:`SPARSE_WARNING_FILTERS` after the user's own filters.

    Later entries take precedence, so even ``PYTHONWARNINGS=error`` keeps turning every other
    warning into an error while these three messages are ignored.
    """
    own = [entry for entry in (pythonwarnings or "").split(",") if entry]
    return ",".join(own + [f for f in SPARSE_WARNING_FILTERS if f not in own])


def sparse_environment(
    home: StormHome | None = None, base: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The variables to set for sparse, on top of ``base`` (default: this process's env)."""
    base = os.environ if base is None else base
    home = home or StormHome.default()
    venv_bin = Path(sys.executable).parent  # sparse, streamparse_run (Storm starts it by name)
    path = os.pathsep.join([str(home.launcher.parent), str(venv_bin), base.get("PATH", "")])
    return {
        "PATH": path,
        "LEIN_ROOT": "1",  # sparse refuses to run lein as root without it
        "PYTHONWARNINGS": with_warning_filters(base.get("PYTHONWARNINGS")),
    }


def shell_exports(variables: Mapping[str, str]) -> str:
    """One POSIX ``export`` line setting ``variables``, for ``eval``."""
    return "export " + " ".join(f"{name}={shlex.quote(value)}" for name, value in variables.items())
