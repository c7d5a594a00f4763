"""The `queuetop` command, run as a real process: help, JSON output, one-line errors, no Textual headless."""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import subprocess
import sys
import textwrap
from contextlib import closing
from pathlib import Path

import pytest

from queuetop.engine.services import claims

from queuetop.engine.store.sqlite import backend as engine_db
from queuetop.cli import build_parser
from queuetop.engine.api import Queue

from conftest import assert_counters, queuetop_command, run_cli, scalar, subprocess_env


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "cli.db"


def ok(*args: str | Path, cwd: Path, input: str | None = None) -> str:
    result = run_cli(*args, cwd=cwd, input=input)
    assert result.returncode == 0, f"queuetop {' '.join(map(str, args))} failed:\n{result.stderr}"
    assert "Traceback" not in result.stderr
    return result.stdout


def ok_json(*args: str | Path, cwd: Path) -> object:
    return json.loads(ok(*args, "--json", cwd=cwd))


# -- help ---------------------------------------------------------------------------------


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def test_every_subcommand_and_option_has_help() -> None:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    listed = {action.dest: action.help for action in sub._choices_actions}
    commands = _subcommands()
    assert {"submit", "jobs", "chunks", "logs", "workers", "schedules", "schedule", "retry", "cancel", "finalize",
            "pause", "resume"} <= set(commands)
    for name, command in commands.items():
        assert listed.get(name), f"'{name}' has no one-line help in `queuetop --help`"
        assert command.description, f"'{name}' has no description"
        for action in command._actions:
            if not isinstance(action, argparse._HelpAction):
                assert action.help, f"'{name}': {action.option_strings or action.dest} has no help text"
        text = command.format_help()
        assert command.description in text and "--db" in text and "--config" in text
    for action in parser._actions:
        if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            assert action.help, f"queuetop {action.option_strings} has no help text"


def test_help_runs(tmp_path: Path) -> None:
    out = ok("--help", cwd=tmp_path)
    for name in _subcommands():
        assert name in out
    assert "--engine-only" in out
    assert "--dedupe-key" in ok("submit", "--help", cwd=tmp_path)


# -- JSON output ----------------------------------------------------------------------------


def _fail_one_chunk(db: Path, job_id: int) -> None:
    async def run() -> None:
        async with await Queue.open(db) as queue:
            batch, _ = await claims.claim(queue.db, "cli-test-worker", 10, queue.clock.now())
            (held,) = [c for c in batch if c.job_id == job_id and c.chunk_index == 1]
            await queue.settle([claims.failure(held, "cli-test-worker", "HTTP 400: bad account", permanent=True,
                                               max_retries=3, now=queue.clock.now())]
                               + [claims.success(c, "cli-test-worker", {"rows": 3}, queue.clock.now())
                                  for c in batch if c is not held])
            queue.logs.add(job_id, held.chunk_id, "cli-test-worker", "error", "account 7 refused")
    asyncio.run(run())


def test_commands_print_parseable_json(tmp_path: Path, db: Path) -> None:
    submitted = ok_json("submit", "reports.collect", "--range", "2024-01-01..2024-12-31", "--chunk-days", "90",
                        "--params", '{"account": 7}', "--dedupe-key", "acct-7", "--db", db, cwd=tmp_path)
    assert submitted == {"job_id": 1, "created": True}
    assert ok_json("submit", "reports.collect", "--dedupe-key", "acct-7", "--db", db, cwd=tmp_path) == {
        "job_id": 1, "created": False}
    _fail_one_chunk(db, 1)
    assert ok("submit", "demo.noop", "--db", db, cwd=tmp_path).strip() == "2"  # plain: just the id
    assert ok("submit", "demo.noop", "--chunks", "-", "--db", db, cwd=tmp_path,
              input='[{"a": 1}, {"a": 2}]').strip() == "3"

    jobs = ok_json("jobs", "--db", db, cwd=tmp_path)
    assert [j["id"] for j in jobs] == [3, 2, 1]
    job = jobs[-1]
    assert (job["status"], job["chunks_total"], job["chunks_completed"], job["chunks_failed"], job["log_count"]) == (
        "partial", 5, 4, 1, 1)
    assert job["params"] == {"account": 7}
    assert [j["id"] for j in ok_json("jobs", "--status", "partial", "--db", db, cwd=tmp_path)] == [1]

    chunks = ok_json("chunks", "1", "--db", db, cwd=tmp_path)
    assert [c["status"] for c in chunks] == ["completed", "failed", "completed", "completed", "completed"]
    assert chunks[0]["params"] == {"start": "2024-01-01", "end": "2024-03-30"}
    assert chunks[1]["attempts"][0]["error"] == "HTTP 400: bad account"
    assert chunks[1]["attempts"][0]["outcome"] == "permanent"
    assert "lease_token" not in chunks[0]
    assert [line["message"] for line in ok_json("logs", "1", "--db", db, cwd=tmp_path)] == ["account 7 refused"]

    assert [w["id"] for w in ok_json("workers", "--db", db, cwd=tmp_path)] == []
    retried = ok_json("retry", "1", "--db", db, cwd=tmp_path)
    assert (retried["job_id"], retried["chunks"], retried["status"]) == (1, 1, "running")
    finalized = ok_json("finalize", "1", "--db", db, cwd=tmp_path)
    assert (finalized["status"], finalized["chunks"]) == ("completed", 1)
    cancelled = ok_json("cancel", "2", "--db", db, cwd=tmp_path)
    assert cancelled["status"] == "cancelled"
    assert ok_json("cancel", "3", "--chunk", "0", "--db", db, cwd=tmp_path)["chunks"] == 1
    assert ok_json("pause", "--db", db, cwd=tmp_path)["status"] == "paused"
    assert ok_json("resume", "--db", db, cwd=tmp_path)["status"] == "running"

    added = ok_json("schedule", "add", "nightly", "0 3 * * *", "demo.noop", "--params", '{"n": 1}', "--db", db,
                    cwd=tmp_path)
    assert (added["name"], added["cron"], added["params"], added["active"]) == ("nightly", "0 3 * * *", {"n": 1}, True)
    run = ok_json("schedule", "run", "nightly", "--db", db, cwd=tmp_path)
    assert run["status"] == "ok" and isinstance(run["job_id"], int)
    assert [r["job_id"] for r in ok_json("schedule", "runs", "nightly", "--db", db, cwd=tmp_path)] == [run["job_id"]]
    assert ok_json("schedule", "disable", "nightly", "--db", db, cwd=tmp_path)["active"] is False
    schedules = ok_json("schedules", "--db", db, cwd=tmp_path)
    assert {s["name"] for s in schedules} >= {"nightly"}
    ok("schedule", "remove", "nightly", "--db", db, cwd=tmp_path)
    assert ok_json("circuits", "--db", db, cwd=tmp_path) == []
    assert_counters(db)


def test_plain_output_is_readable(tmp_path: Path, db: Path) -> None:
    ok("submit", "demo.noop", "--chunks", "-", "--db", db, cwd=tmp_path, input='[{"a": 1}, {"a": 2}, {"a": 3}]')
    _fail_one_chunk(db, 1)
    jobs = ok("jobs", "--db", db, cwd=tmp_path).splitlines()
    assert jobs[0].split()[:3] == ["ID", "INTENT", "STATUS"] and jobs[1].split()[:3] == ["1", "demo.noop", "partial"]
    chunks = ok("chunks", "1", "--db", db, cwd=tmp_path)
    assert "Failed attempts:" in chunks and "HTTP 400: bad account" in chunks
    assert ok("retry", "1", "--db", db, cwd=tmp_path).strip() == "job 1: 1 failed chunk(s) back to pending"


def test_db_and_config_come_from_the_environment_and_the_working_directory(tmp_path: Path) -> None:
    env_db = tmp_path / "from-env.db"
    (tmp_path / "queuetop.toml").write_text("[engine]\nmax_retries = 9\n")
    result = subprocess.run([*queuetop_command(), "submit", "demo.noop"], cwd=tmp_path, capture_output=True, text=True,
                            env=subprocess_env(QUEUETOP_DB=str(env_db)), timeout=30)
    assert result.returncode == 0, result.stderr
    assert scalar(env_db, "SELECT max_retries FROM jobs") == 9  # ./queuetop.toml was read


# -- errors: one line, exit 2, no traceback ---------------------------------------------------


def _other_sqlite(path: Path) -> Path:
    with closing(sqlite3.connect(path)) as c:
        c.execute("CREATE TABLE notes (body TEXT)")
        c.commit()
    return path


def _newer_queuetop(path: Path) -> Path:
    engine_db.prepare(path)
    with closing(sqlite3.connect(path)) as c:  # closed: the WAL is checkpointed into the file now
        c.execute(f"PRAGMA user_version = {engine_db.schema_version() + 1}")
    return path


BAD_INPUT: dict[str, tuple[list[str], str]] = {
    # name: (arguments after `queuetop`, a fragment the one line must contain); {db} and {tmp} are filled in
    "unknown job (chunks)": (["chunks", "999", "--db", "{db}"], "no job 999"),
    "unknown job (logs)": (["logs", "999", "--db", "{db}"], "no job 999"),
    "unknown job (retry)": (["retry", "999", "--db", "{db}"], "no job 999"),
    "unknown job (cancel)": (["cancel", "999", "--db", "{db}"], "no job 999"),
    "unknown job (finalize)": (["finalize", "999", "--db", "{db}"], "no job 999"),
    "job id not a number": (["chunks", "seven", "--db", "{db}"], "invalid int value"),
    "malformed range": (["submit", "x", "--range", "2024-01-01", "--db", "{db}"], "malformed range"),
    "range end before start": (["submit", "x", "--range", "2024-02-01..2024-01-01", "--db", "{db}"], "malformed range"),
    "zero chunk days": (["submit", "x", "--range", "2024-01-01..2024-02-01", "--chunk-days", "0", "--db", "{db}"],
                        "--chunk-days: must be between 1"),
    "range and chunks": (["submit", "x", "--range", "2024-01-01..2024-02-01", "--chunks", "f.json", "--db", "{db}"],
                         "not allowed with argument"),
    "invalid JSON params": (["submit", "x", "--params", "{account: 7}", "--db", "{db}"], "invalid JSON"),
    "params not an object": (["submit", "x", "--params", "[7]", "--db", "{db}"], "must be a JSON object"),
    "chunks file invalid JSON": (["submit", "x", "--chunks", "{tmp}/broken.json", "--db", "{db}"], "invalid JSON"),
    "chunks file missing": (["submit", "x", "--chunks", "{tmp}/nope.json", "--db", "{db}"], "cannot read chunks file"),
    "missing config file": (["--config", "{tmp}/nope.toml", "jobs", "--db", "{db}"], "config file not found"),
    "missing config file after the command": (["jobs", "--config", "{tmp}/nope.toml", "--db", "{db}"],
                                              "config file not found"),
    "invalid config file": (["jobs", "--config", "{tmp}/broken.toml", "--db", "{db}"], "invalid TOML"),
    "unknown config key": (["jobs", "--config", "{tmp}/typo.toml", "--db", "{db}"], "unknown [engine] key"),
    "unknown events key": (["jobs", "--config", "{tmp}/events-typo.toml", "--db", "{db}"],
                           "unknown [events] key(s): max_line_byte"),
    "another program's database": (["jobs", "--db", "{tmp}/other.db"], "not a queuetop database"),
    "not a database at all": (["jobs", "--db", "{tmp}/notes.txt"], "not a usable queuetop database"),
    "newer queuetop's database": (["jobs", "--db", "{tmp}/newer.db"], "newer queuetop"),
    "pause twice": (["pause", "--db", "{paused}"], "already paused"),
    "resume when running": (["resume", "--db", "{db}"], "already running"),
    "finalize a chunk": (["finalize", "1", "--chunk", "0", "--db", "{db}"], "cancel JOB --chunk N"),
    "schedule add without cron": (["schedule", "add", "nightly", "--db", "{db}"], "needs NAME CRON INTENT"),
    "schedule with a bad cron": (["schedule", "add", "nightly", "every night", "demo.noop", "--db", "{db}"],
                                 "invalid cron expression"),
    "unknown schedule": (["schedule", "run", "nope", "--db", "{db}"], "no schedule 'nope'"),
    "schedule in an unknown zone": (["schedule", "add", "n", "0 3 * * *", "demo.noop", "--tz", "Europe/Atlantis",
                                     "--db", "{db}"], "tz: unknown time zone 'Europe/Atlantis'"),
    "schedule catch-up unknown": (["schedule", "add", "n", "0 3 * * *", "demo.noop", "--catch-up", "some",
                                   "--db", "{db}"], "invalid choice: 'some'"),
    "schedule next count zero": (["schedule", "next", "nightly", "--count", "0", "--db", "{db}"],
                                 "--count: must be between 1"),
    "schedule next bad time": (["schedule", "next", "nightly", "--after", "tomorrow", "--db", "{db}"],
                               "expected an ISO time"),
    "config zone unknown": (["jobs", "--config", "{tmp}/zone.toml", "--db", "{db}"],
                            "schedule 'n': tz: unknown time zone 'CEST'"),
    "config retention not a number": (["jobs", "--config", "{tmp}/retention.toml", "--db", "{db}"],
                                      "[retention] jobs_days must be a number > 0, got '30'"),
    "config retention unknown key": (["jobs", "--config", "{tmp}/retention-typo.toml", "--db", "{db}"],
                                     "unknown [retention] key(s): job_days"),
    "unknown command": (["frobnicate", "--db", "{db}"], "invalid choice"),
    # numbers: finite, in range, the right kind
    "timeout nan": (["submit", "x", "--timeout", "nan", "--db", "{db}"], "finite number of seconds"),
    "timeout inf": (["submit", "x", "--timeout", "inf", "--db", "{db}"], "finite number of seconds"),
    "timeout zero": (["submit", "x", "--timeout", "0", "--db", "{db}"], "finite number of seconds"),
    "retries too many": (["submit", "x", "--max-retries", "100000", "--db", "{db}"], "--max-retries: must be between"),
    "retries negative": (["submit", "x", "--max-retries=-1", "--db", "{db}"], "--max-retries: must be between"),
    "priority not an integer": (["submit", "x", "--priority", "1e20", "--db", "{db}"], "expected an integer"),
    "priority overflows": (["submit", "x", "--priority", "99999999999999999999", "--db", "{db}"],
                           "--priority: must be between"),
    "chunk days overflow": (["submit", "x", "--range", "2024-01-01..2024-02-01", "--chunk-days", "99999999999999",
                             "--db", "{db}"], "--chunk-days: must be between"),
    "range of millions of chunks": (["submit", "x", "--range", "0001-01-01..9999-12-31", "--db", "{db}"],
                                    "over the limit of 1,000,000"),
    "chunks file over the limit": (["submit", "x", "--chunks", "{tmp}/three.json", "--max-chunks", "2",
                                    "--db", "{db}"], "over the limit of 2"),
    "workers negative": (["--engine-only", "--workers=-1", "--db", "{db}"], "--workers: must be between 0"),
    "concurrency zero": (["--engine-only", "--concurrency", "0", "--db", "{db}"], "--concurrency: must be between 1"),
    "jobs limit negative": (["jobs", "--limit=-1", "--db", "{db}"], "--limit: must be between 1"),
    "events rate nan": (["demo-events", "{tmp}/ev.ndjson", "--rate", "nan"], "finite number"),
    # files and paths
    "chunks file not UTF-8": (["submit", "x", "--chunks", "{tmp}/latin1.json", "--db", "{db}"], "is not UTF-8"),
    "config file not UTF-8": (["jobs", "--config", "{tmp}/latin1.toml", "--db", "{db}"], "cannot read config"),
    "database folder is a file": (["submit", "x", "--db", "{tmp}/notes.txt/sub/q.db"], "no folder"),
    "database folder is missing": (["submit", "x", "--db", "{tmp}/missing/q.db"], "no folder"),
    "database is a folder": (["submit", "x", "--db", "{tmp}"], "it is a folder"),
    "read command on a folder": (["jobs", "--db", "{tmp}"], "it is a folder"),
    "read command on a missing database": (["jobs", "--db", "{tmp}/missing.db"], "no database at"),
    "events on a missing database": (["events", "--db", "{tmp}/missing.db"], "no database at"),
    "unsupported scheme": (["jobs", "--db", "mysql://root@localhost/q"], "unsupported database scheme 'mysql'"),
    "empty --db": (["jobs", "--db", ""], "--db is empty"),
    "TUI on another program's database": (["--db", "{tmp}/other.db"], "not a queuetop database"),
    # config values: type-checked, the key named
    "config fraction for a count": (["jobs", "--config", "{tmp}/fraction.toml", "--db", "{db}"],
                                    "[engine] concurrency must be an integer ≥ 1, got 2.5"),
    "config string for a number": (["jobs", "--config", "{tmp}/string.toml", "--db", "{db}"],
                                   "[engine] poll_interval must be a number > 0, got '1'"),
    "config infinite number": (["jobs", "--config", "{tmp}/inf.toml", "--db", "{db}"],
                               "[engine] chunk_timeout must be a number > 0, got inf"),
    "config active not a boolean": (["jobs", "--config", "{tmp}/active.toml", "--db", "{db}"],
                                    "active must be true or false, got 'no'"),
    "config 7-field cron": (["jobs", "--config", "{tmp}/cron7.toml", "--db", "{db}"], "7 fields"),
    "config handler_path not a list": (["jobs", "--config", "{tmp}/hpath.toml", "--db", "{db}"],
                                       "handler_path must be a list"),
    "handler target without a colon": (["--engine-only", "--config", "{tmp}/nocolon.toml", "--db", "{db}"],
                                       "is not 'package.module:function'"),
    "handler module missing": (["--engine-only", "--config", "{tmp}/nomodule.toml", "--db", "{db}"],
                               "no module named 'nosuchmodule'"),
    # choices and flag conflicts
    "unknown status": (["jobs", "--status", "bogus", "--db", "{db}"], "invalid choice: 'bogus'"),
    "read-only submit": (["--read-only", "submit", "x", "--db", "{db}"], "--read-only cannot be used with 'submit'"),
    "read-only retry": (["--read-only", "retry", "1", "--db", "{db}"], "--read-only cannot be used with 'retry'"),
    "demo with engine-only": (["--engine-only", "--demo"], "cannot be combined with --engine-only"),
    "demo with a command": (["--demo", "jobs"], "cannot be combined with 'jobs'"),
    "engine-only read-only": (["--engine-only", "--read-only", "--db", "{db}"], "--read-only would leave it"),
    "engine-only no-workers": (["--engine-only", "--no-workers", "--db", "{db}"], "--no-workers would leave it"),
    "engine-only zero workers": (["--engine-only", "--workers", "0", "--db", "{db}"], "--workers 0 would leave it"),
    "workers flag on a command": (["--workers", "2", "jobs", "--db", "{db}"], "are for the TUI"),
    "7-field cron": (["schedule", "add", "n7", "* * * * * * *", "demo.noop", "--db", "{db}"], "7 fields"),
    "schedule add on an existing name": (["schedule", "add", "nightly", "0 3 * * *", "demo.noop", "--db", "{db}"],
                                         "already exists; use --replace"),
    "intent key with a space": (["submit", "bad intent", "--db", "{db}"], "not a valid intent key"),
}


@pytest.fixture(scope="module")
def bad_input_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    tmp_path = tmp_path_factory.mktemp("bad-input")
    db = tmp_path / "cli.db"
    (tmp_path / "broken.json").write_text('[{"a": 1},')
    (tmp_path / "broken.toml").write_text("[engine\nconcurrency = 4\n")
    (tmp_path / "typo.toml").write_text("[engine]\nconcurency = 4\n")
    (tmp_path / "events-typo.toml").write_text("[events]\nmax_line_byte = 4\n")
    (tmp_path / "notes.txt").write_text("not a database\n" * 100)
    (tmp_path / "three.json").write_text('[{}, {}, {}]')
    (tmp_path / "latin1.json").write_bytes('[{"name": "Zoë"}]'.encode("latin-1"))
    (tmp_path / "latin1.toml").write_bytes('# Zoë\n[engine]\n'.encode("latin-1"))
    (tmp_path / "fraction.toml").write_text("[engine]\nconcurrency = 2.5\n")
    (tmp_path / "string.toml").write_text('[engine]\npoll_interval = "1"\n')
    (tmp_path / "inf.toml").write_text("[engine]\nchunk_timeout = inf\n")
    (tmp_path / "active.toml").write_text('[[schedules]]\nname = "n"\ncron = "0 3 * * *"\nintent = "x"\nactive = "no"\n')
    (tmp_path / "cron7.toml").write_text('[[schedules]]\nname = "n"\ncron = "* * * * * * *"\nintent = "x"\n')
    (tmp_path / "hpath.toml").write_text('[engine]\nhandler_path = "lib"\n')
    (tmp_path / "zone.toml").write_text('[[schedules]]\nname = "n"\ncron = "0 3 * * *"\nintent = "x"\ntz = "CEST"\n')
    (tmp_path / "retention.toml").write_text('[retention]\njobs_days = "30"\n')
    (tmp_path / "retention-typo.toml").write_text('[retention]\njob_days = 30\n')
    (tmp_path / "nocolon.toml").write_text('[handlers]\n"my.collect" = "myjobs.collect"\n')
    (tmp_path / "nomodule.toml").write_text('[handlers]\n"my.collect" = "nosuchmodule:collect"\n')
    _other_sqlite(tmp_path / "other.db")
    _newer_queuetop(tmp_path / "newer.db")
    paused = tmp_path / "paused.db"
    ok("pause", "--db", paused, cwd=tmp_path)
    ok("submit", "demo.noop", "--db", db, cwd=tmp_path)
    ok("schedule", "add", "nightly", "0 3 * * *", "demo.noop", "--db", db, cwd=tmp_path)
    return tmp_path, {"db": str(db), "tmp": str(tmp_path), "paused": str(paused)}


def test_bad_input_gets_one_line_and_status_2(bad_input_files: tuple[Path, dict[str, str]]) -> None:
    """Every case in BAD_INPUT, run as processes side by side; all problems reported together."""
    tmp_path, places = bad_input_files
    protected = {name: (tmp_path / name).read_bytes() for name in ("other.db", "notes.txt", "newer.db")}
    running = {}
    for case, (args, _) in BAD_INPUT.items():
        filled = []
        for arg in args:
            for name, value in places.items():
                arg = arg.replace("{" + name + "}", value)
            filled.append(arg)
        running[case] = subprocess.Popen([*queuetop_command(), *filled], cwd=tmp_path, env=subprocess_env(),
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    problems = []
    try:
        for case, proc in running.items():
            out, err = proc.communicate(timeout=60)
            fragment = BAD_INPUT[case][1]
            lines = err.splitlines()
            if (proc.returncode != 2 or "Traceback" in err or len(lines) != 1 or out
                    or not lines[0].startswith("queuetop: error: ") or fragment not in lines[0]):
                problems.append(f"{case}: exit {proc.returncode}, stdout {out!r}, stderr:\n{err}")
    finally:
        for proc in running.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait(5)
    assert not problems, "\n\n".join(problems)
    assert {name: (tmp_path / name).read_bytes() for name in protected} == protected  # never modified
    assert not (tmp_path / "missing").exists()  # read commands create no database and no folder
    assert not list(tmp_path.glob("mysql*")) and not list(tmp_path.glob("postgres*"))


# -- headless means no Textual ----------------------------------------------------------------

PROBE = textwrap.dedent("""
    import json, os, signal, sqlite3, sys, threading, time
    from contextlib import closing
    db, preload = sys.argv[1], sys.argv[2] == "preload"
    if preload:
        import textual.app  # the control run: proves the probe sees Textual when it is there
    from queuetop import cli

    def stop_once_running():
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
                    if conn.execute("SELECT count(*) FROM workers WHERE status = 'online'").fetchone()[0]:
                        break
            except sqlite3.Error:
                pass
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=stop_once_running, daemon=True).start()
    code = cli.main(["--engine-only", "--db", db])
    print(json.dumps({
        "code": code,
        "textual": sorted(m for m in sys.modules if m == "textual" or m.startswith("textual.")),
        "runner": "queuetop.engine.services.runner" in sys.modules,
    }))
""")


@pytest.mark.parametrize("preload", [False, True], ids=["engine-only", "control"])
def test_engine_only_imports_no_textual(tmp_path: Path, preload: bool) -> None:
    db = tmp_path / "headless.db"
    result = subprocess.run([sys.executable, "-c", PROBE, str(db), "preload" if preload else "-"], cwd=tmp_path,
                            env=subprocess_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["code"] == 0 and report["runner"], report
    assert "engine started" in result.stderr and "engine stopped" in result.stderr
    if preload:
        assert "textual.app" in report["textual"]
    else:
        assert report["textual"] == [], f"queuetop --engine-only imported {report['textual']}"
    assert scalar(db, "SELECT status FROM workers") == "offline"


def test_no_engine_module_imports_textual(tmp_path: Path) -> None:
    probe = textwrap.dedent("""
        import importlib, json, pkgutil, sys
        import queuetop.engine as engine
        failed = {}
        for info in pkgutil.walk_packages(engine.__path__, "queuetop.engine."):
            try:
                importlib.import_module(info.name)
            except ImportError as exc:  # an optional dependency (e.g. psycopg) that is not installed
                failed[info.name] = str(exc)
        print(json.dumps({"textual": sorted(m for m in sys.modules if m.split(".")[0] == "textual"),
                          "failed": failed}))
    """)
    result = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=subprocess_env(), capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["textual"] == []
    assert not any("textual" in error for error in report["failed"].values()), report["failed"]


def test_postgresql_url_without_the_extra_is_one_clear_line(tmp_path: Path) -> None:
    """Without psycopg installed (hidden here from the child), a postgresql:// URL
    gets one line naming the extra to install, and status 2."""
    program = (
        "import sys; sys.modules['psycopg'] = None; sys.modules['psycopg_pool'] = None\n"
        "from queuetop.cli import main\n"
        "raise SystemExit(main(['jobs', '--db', 'postgresql://nobody@127.0.0.1:1/none']))\n"
    )
    result = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, cwd=tmp_path,
                            timeout=60)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "queuetop: error: PostgreSQL support needs the postgres extra: pip install 'queuetop[postgres]'"]
    assert "Traceback" not in result.stderr


def test_schedule_next_prints_the_zone_and_utc(tmp_path: Path, db: Path) -> None:
    ok("schedule", "add", "nightly", "30 2 * * *", "demo.noop", "--tz", "Europe/Berlin", "--catch-up", "once",
       "--db", db, cwd=tmp_path)
    text = ok("schedule", "next", "nightly", "--after", "2026-03-28T12:00", "--count", "2", "--db", db, cwd=tmp_path)
    assert "2026-03-29 03:00:00+02:00 CEST  2026-03-29 01:00:00Z" in text  # 02:30 does not exist that night
    assert "2026-03-30 02:30:00+02:00 CEST  2026-03-30 00:30:00Z" in text
    shown = ok_json("schedule", "next", "nightly", "--after", "2026-10-24T23:00Z", "--count", "2", "--db", db,
                    cwd=tmp_path)
    assert [t["utc"] for t in shown["next"]] == ["2026-10-25 00:30:00Z", "2026-10-26 01:30:00Z"]
    (listed,) = ok_json("schedules", "--db", db, cwd=tmp_path)
    assert (listed["tz"], listed["catch_up"], listed["max_catch_up"], listed["missed"]) == (
        "Europe/Berlin", "once", 10, 0)
    shown_table = ok("schedules", "--db", db, cwd=tmp_path)
    # the times are UTC beside a zone column that names another zone: the header says so
    assert "Europe/Berlin" in shown_table and "NEXT RUN (UTC)" in shown_table


def test_readme_and_help_say_what_submit_accepts() -> None:
    """The README's submit-many row lists every key a line may carry, and --range says its default chunk size."""
    from queuetop.engine.api import SUBMIT_KEYS

    text = (Path(__file__).resolve().parent.parent / "README.md").read_text("utf-8")
    (row,) = [line for line in text.splitlines() if line.startswith("| `queuetop submit-many")]
    missing = {key for key in SUBMIT_KEYS - {"intent"} if f"`{key}`" not in row}
    assert not missing, f"README's submit-many row does not list {sorted(missing)}"
    (submit_row,) = [line for line in text.splitlines() if line.startswith("| `queuetop submit INTENT")]
    assert "1-day chunks" in submit_row
    help_text = subprocess.run([*queuetop_command(), "submit", "--help"], capture_output=True, text=True,
                               env=subprocess_env(), check=True).stdout
    assert "1-day chunks" in " ".join(help_text.split())


def test_chunks_cuts_a_long_params_value_with_an_ellipsis_when_piped(tmp_path: Path, db: Path) -> None:
    """A params cell too wide for its column ends in ``…``, so a reader sees it was cut (stdout is a pipe here)."""
    params = json.dumps({"account": "a" * 80})
    (tmp_path / "chunks.json").write_text(f"[{params}]")
    ok("submit", "reports.collect", "--chunks", "chunks.json", "--db", db, cwd=tmp_path)
    (row,) = [line for line in ok("chunks", "1", "--db", db, cwd=tmp_path).splitlines() if line.startswith("0 ")]
    cell = row.split("  ")[1]
    assert cell.endswith("…") and len(cell) == 40, row
    assert json.dumps(json.loads(params))[:39] == cell[:-1]
