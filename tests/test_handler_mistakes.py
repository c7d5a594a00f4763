"""Handler modules as users write them on a first day: a module that exits, or takes its time, while it is
imported, and a handler that forks. Real `queuetop --engine-only` processes on both backends.

One bad module never stops the engine or the intents whose modules are fine.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import Engines, query, run_cli, scalar, wait_until
from test_first_use import job_status, submit

pytestmark = pytest.mark.slow

OK = '''
def collect(ctx):
    return {"rows": 3}
'''


def project(folder: Path, handlers: str, modules: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "queuetop.toml").write_text(
        f"[engine]\npoll_interval = 0.05\nheartbeat_interval = 0.2\n\n[handlers]\n{handlers}\n")
    for name, text in modules.items():
        (folder / f"{name}.py").write_text(text)
    return folder


def test_a_module_that_exits_while_imported_gives_its_chunks_back(tmp_path: Path, db_path: Path | str,
                                                                  engines: Engines) -> None:
    """`sys.exit()` (or `raise SystemExit`) at a module's top level, a script's habit: the intent is
    disabled like any module that fails to import. It used to end the engine (exit status 4) with
    every chunk it held left processing until the stuck-chunk rescue."""
    folder = project(tmp_path / "proj", '"my.exits" = "exits:collect"\n"my.ok" = "okjobs:collect"',
                     {"exits": "import sys\nsys.exit(4)\n", "okjobs": OK})
    exits = submit(db_path, tmp_path, "my.exits", "--range", "2024-01-01..2024-01-05")
    fine = submit(db_path, tmp_path, "my.ok", "--range", "2024-01-01..2024-01-05")
    engine = engines.start(db_path, cwd=folder)
    wait_until(lambda: "stops claiming intent 'my.exits'" in engine.log(), timeout=30, message=engine.log)
    wait_until(lambda: job_status(db_path, fine) == "completed", timeout=30, message=engine.log)
    assert "cannot load handler exits:collect: SystemExit: 4" in engine.log()
    assert query(db_path, f"SELECT DISTINCT status, attempt FROM chunks WHERE job_id = {exits}") == [("pending", 0)]
    later = submit(db_path, tmp_path, "my.ok")
    wait_until(lambda: job_status(db_path, later) == "completed", timeout=30, message=engine.log)
    assert engine.stop() == 0, engine.log()


SLOW_IMPORT = '''
import asyncio, os, time

# stands in for a heavy import (a data library, a model, a connection made at import time)
while not os.path.exists({release!r}):
    time.sleep(0.02)


def collect(ctx):
    return {{"rows": 1}}


async def forever(ctx):
    await asyncio.sleep(3600)
'''


def test_a_module_slow_to_import_does_not_hold_up_the_engine(tmp_path: Path, db_path: Path | str,
                                                              engines: Engines) -> None:
    """A handler module is imported off the engine's event loop: while it loads, the other intents run,
    the worker heartbeats and a signal is answered. Its import used to stop the whole process."""
    release = tmp_path / "release"
    folder = project(tmp_path / "proj", '"my.slow" = "slow:collect"\n"my.forever" = "slow:forever"\n'
                                        '"my.ok" = "okjobs:collect"',
                     {"slow": SLOW_IMPORT.format(release=str(release)), "okjobs": OK})
    slow = submit(db_path, tmp_path, "my.slow")
    engine = engines.start(db_path, cwd=folder)
    wait_until(lambda: job_status(db_path, slow) == "running", timeout=30, message=engine.log)
    beat = scalar(db_path, "SELECT max(last_heartbeat) FROM workers")
    fine = submit(db_path, tmp_path, "my.ok", "--range", "2024-01-01..2024-01-03")
    wait_until(lambda: job_status(db_path, fine) == "completed", timeout=30, message=engine.log)
    wait_until(lambda: scalar(db_path, "SELECT max(last_heartbeat) FROM workers") > beat, timeout=10,
               message=engine.log)
    assert job_status(db_path, slow) == "running"
    release.touch()
    wait_until(lambda: job_status(db_path, slow) == "completed", timeout=30, message=engine.log)
    # an async handler first loaded by its chunk still has its timeout
    forever = submit(db_path, tmp_path, "my.forever", "--timeout", "1", "--max-retries", "0")
    wait_until(lambda: job_status(db_path, forever) == "failed", timeout=30, message=engine.log)
    assert scalar(db_path, f"SELECT last_error FROM chunks WHERE job_id = {forever}") == "timed out after 1s"
    assert engine.stop() == 0, engine.log()


def test_ctrl_c_while_a_module_is_imported_stops_the_engine(tmp_path: Path, db_path: Path | str,
                                                           engines: Engines) -> None:
    """SIGINT during a handler module's import: the engine stops within its grace period, and the chunk
    goes back unspent."""
    import signal

    release = tmp_path / "release"  # never made: the import never ends
    folder = project(tmp_path / "proj", '"my.slow" = "slow:collect"',
                     {"slow": SLOW_IMPORT.format(release=str(release))})
    config = folder / "queuetop.toml"
    config.write_text(config.read_text().replace("[engine]\n", "[engine]\ngrace_period = 1\n"))
    slow = submit(db_path, tmp_path, "my.slow")
    engine = engines.start(db_path, cwd=folder)
    wait_until(lambda: job_status(db_path, slow) == "running", timeout=30, message=engine.log)
    engine.signal(signal.SIGINT)
    assert engine.wait(15) in (0, 1), engine.log()
    assert query(db_path, f"SELECT status, attempt FROM chunks WHERE job_id = {slow}") == [("pending", 0)]


FORKS = '''
import os


def collect(ctx):
    pid = os.fork()
    if pid == 0:  # the child returns too, as a careless handler's child does
        return {"child": True}
    _, status = os.waitpid(pid, 0)
    return {"parent": True, "child_status": os.waitstatus_to_exitcode(status)}
'''


def test_a_handler_whose_forked_child_returns(tmp_path: Path, db_path: Path | str, engines: Engines) -> None:
    """A child forked by a sync handler that returns into the engine exits there: it never runs the
    engine's code (its worker thread, the parent's database connection). It used to stay alive for
    good, and the parent waiting for it held its chunk until the timeout."""
    folder = project(tmp_path / "proj", '"my.forks" = "forks:collect"', {"forks": FORKS})
    job = submit(db_path, tmp_path, "my.forks", "--timeout", "20", "--max-retries", "0")
    engine = engines.start(db_path, cwd=folder)
    wait_until(lambda: job_status(db_path, job) in ("completed", "failed"), timeout=30, message=engine.log)
    assert job_status(db_path, job) == "completed", query(db_path, "SELECT last_error FROM chunks")
    shown = run_cli("chunks", str(job), "--json", "--db", db_path, cwd=tmp_path)
    result = json.loads(shown.stdout)[0]["result"]
    assert result == {"parent": True, "child_status": 0}
    assert engine.stop() == 0, engine.log()


def test_a_module_named_like_a_standard_one_is_named_at_start(tmp_path: Path) -> None:
    """`calendar.py` beside queuetop.toml is hidden by Python's own calendar (the project's folders come
    after the interpreter's). The engine used to start, then fail the intent at first use with `module
    'calendar' has no attribute 'collect'`; it now says which file is hidden, before it starts."""
    import subprocess

    from conftest import queuetop_command, subprocess_env

    folder = project(tmp_path / "proj", '"my.collect" = "calendar:collect"', {"calendar": OK})
    db = tmp_path / "q.db"
    result = subprocess.run([*queuetop_command(), "--engine-only", "--db", str(db)], cwd=folder,
                            env=subprocess_env(), capture_output=True, text=True, timeout=30)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith("queuetop: error: handler 'my.collect' = 'calendar:collect': module 'calendar' is "
                           "Python's own ("), line
    assert line.endswith(f"), which hides {folder / 'calendar.py'}: rename that file"), line


def test_the_engine_says_which_config_it_read(tmp_path: Path, engines: Engines) -> None:
    """Started from the wrong folder, an engine runs no project handler and its jobs wait: its first line
    says there was no queuetop.toml where it looked, and from the right folder which file it read."""
    folder = project(tmp_path / "proj", '"my.collect" = "okjobs:collect"', {"okjobs": OK})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    db = tmp_path / "q.db"
    for cwd, says in ((elsewhere, f"no queuetop.toml in {elsewhere}: only the built-in demo.* handlers run"),
                      (folder, f"config {folder / 'queuetop.toml'}")):
        engine = engines.start(db, cwd=cwd)
        wait_until(lambda: "engine started" in engine.log(), timeout=30, message=engine.log)
        assert engine.stop() == 0, engine.log()
        (line,) = [line for line in engine.log().splitlines() if "engine started" in line]
        assert line.endswith(f"engine started: 1 worker(s), database {db}, {says}"), line


BLOCKS = '''
import time


async def collect(ctx):
    time.sleep(4)  # blocking call in an async def: the whole loop waits
    return {"rows": 1}
'''


def test_an_async_handler_that_blocks_the_loop_is_named(tmp_path: Path, db_path: Path | str,
                                                        engines: Engines) -> None:
    """`time.sleep` in an `async def` stops heartbeats, other chunks and timeouts, and nothing can cut it
    short: the engine says so, naming the job, the chunk and the line, once per stall."""
    folder = project(tmp_path / "proj", '"my.blocks" = "blocks:collect"', {"blocks": BLOCKS})
    job = submit(db_path, tmp_path, "my.blocks", "--max-retries", "0")
    engine = engines.start(db_path, cwd=folder)
    wait_until(lambda: "the event loop ran again" in engine.log(), timeout=30, message=engine.log)
    assert engine.stop() == 0, engine.log()
    (line,) = [line for line in engine.log().splitlines() if "event loop has been blocked" in line]
    assert f"by job {job} chunk 0 ({folder / 'blocks.py'}:6 in collect)" in line, line
    assert "make it a plain def" in line


NO_ARGS = '''
def collect():  # forgot ctx
    return 1

def kw_only(*, ctx):
    return 1
'''


@pytest.mark.parametrize("function", ["collect", "kw_only"])
def test_a_handler_that_cannot_take_ctx_is_refused_not_retried(tmp_path: Path, db_path: Path | str,
                                                               engines: Engines, function: str) -> None:
    """`def collect():` fails every chunk with the same TypeError: it is named once, its chunks keep their
    attempts, as for a function that is not callable."""
    folder = project(tmp_path / "proj", f'"my.collect" = "bad:{function}"', {"bad": NO_ARGS})
    result = run_cli("submit", "my.collect", "--range", "2024-01-01..2024-01-03", "--db", db_path, cwd=folder)
    assert result.returncode == 0, result.stderr
    engine = engines.start(db_path, cwd=folder)
    wait_until(lambda: "stops claiming intent 'my.collect'" in engine.log(), timeout=20, message=engine.log)
    assert (f"handler bad:{function} cannot take the one argument every handler is given "
            f"(def {function}(ctx): ...)") in engine.log()
    # the warning is logged as the chunk is given back: wait for its release to commit
    wait_until(lambda: query(db_path, "SELECT DISTINCT status, attempt FROM chunks") == [("pending", 0)],
               timeout=10, message=lambda: f"{query(db_path, 'SELECT status, attempt FROM chunks')}\n{engine.log()}")
    assert scalar(db_path, "SELECT count(*) FROM chunk_attempts") == 0
    assert engine.stop() == 0
