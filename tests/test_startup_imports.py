"""A CLI call imports what its command needs and nothing more.

Scripts call ``queuetop submit`` and ``queuetop jobs`` in loops, so every
module they import is paid on every call (``bench/startup.py`` prints what
that costs). These tests run a real command in a child process and read
``sys.modules`` as it exits: the heavy modules a command does not need must
not be there. No timing is asserted; the list of modules is what cannot
silently grow back.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import subprocess_env

# Runs `queuetop ARGS...` in this process (the console script's own call)
# and, at exit, writes every module then imported to the file named first.
PROBE = textwrap.dedent("""
    import atexit, json, sys
    out, args = sys.argv[1], sys.argv[2:]

    def dump():
        with open(out, "w") as f:
            json.dump(sorted(sys.modules), f)

    atexit.register(dump)
    sys.argv = ["queuetop", *args]
    from queuetop.cli import main
    raise SystemExit(main())
""")

# What neither command needs, whatever the backend: the TUI, the cron
# parser, HTTP, the event store and tailer, workers, the runner, the
# scheduler, maintenance, circuit breakers.
NEVER = [
    "textual", "rich", "croniter", "dateutil", "httpx", "httpcore", "h11", "watchfiles",
    "orjson", "tomllib",
    "queuetop.tui", "queuetop.engine.handlers.http", "queuetop.engine.handlers.circuits",
    "queuetop.engine.handlers.context", "queuetop.engine.events.tail", "queuetop.engine.events.parse",
    "queuetop.engine.events.sessions", "queuetop.engine.events.demo", "queuetop.engine.services.worker",
    "queuetop.engine.services.runner", "queuetop.engine.services.scheduler",
    "queuetop.engine.services.maintenance", "queuetop.engine.services.actions", "queuetop.engine.services.claims",
]
# What SQLite calls do not need either (psycopg itself imports package
# metadata, importlib.resources and shutil; queuetop reads its SQL by path).
NOT_ON_SQLITE = ["psycopg", "psycopg_pool", "queuetop.engine.store.postgres.backend", "importlib.metadata",
                 "importlib.resources", "shutil"]


def imported(tmp_path: Path, *args: str | Path) -> set[str]:
    """The modules a ``queuetop ARGS...`` call had imported when it exited (it must exit 0)."""
    out = tmp_path / "modules.json"
    result = subprocess.run([sys.executable, "-c", PROBE, str(out), *map(str, args)], cwd=tmp_path,
                            env=subprocess_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return set(json.loads(out.read_text()))


def present(modules: set[str], names: list[str]) -> list[str]:
    """Which of ``names`` (a package counts with its submodules) are among ``modules``."""
    return sorted(name for name in names if any(m == name or m.startswith(name + ".") for m in modules))


@pytest.mark.parametrize("command", [["submit", "demo.noop"], ["jobs"]], ids=["submit", "jobs"])
def test_submit_and_jobs_import_nothing_they_do_not_need(tmp_path: Path, backend: str, db_path: Path | str,
                                                        command: list[str]) -> None:
    if command[0] == "jobs":  # a read-only command needs a database to read
        imported(tmp_path, "submit", "demo.noop", "--db", db_path)
    modules = imported(tmp_path, *command, "--db", db_path)
    # The probe saw the call itself: the API, the backend and its driver.
    assert {"queuetop.cli", "queuetop.engine.api", "queuetop.engine.services.jobs"} <= modules
    if backend == "sqlite":
        assert {"aiosqlite", "queuetop.engine.store.sqlite.backend"} <= modules
        assert present(modules, NEVER + NOT_ON_SQLITE) == []
    else:
        assert {"psycopg", "queuetop.engine.store.postgres.backend"} <= modules
        assert present(modules, NEVER) == []


def test_a_config_file_brings_tomllib_and_a_schedule_brings_croniter(tmp_path: Path) -> None:
    """The control: the probe does see a module that a call needs (the config's parser, the cron parser)."""
    db = tmp_path / "queuetop.db"
    (tmp_path / "queuetop.toml").write_text("[engine]\nconcurrency = 2\n")
    modules = imported(tmp_path, "schedule", "add", "nightly", "0 3 * * *", "demo.noop", "--db", db)
    assert present(modules, ["tomllib", "croniter", "queuetop.engine.services.scheduler"]) == [
        "croniter", "queuetop.engine.services.scheduler", "tomllib"]
    (tmp_path / "queuetop.toml").unlink()
    assert present(imported(tmp_path, "jobs", "--db", db), ["tomllib", "croniter"]) == []
