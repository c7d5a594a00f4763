"""Mistakes a new user makes, met the way they meet them: real processes on real files.

Each one is one line on stderr and exit status 2, never a traceback, and
leaves the database as it was.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import pytest

from conftest import PG_DSN, postgres_schema, query, queuetop_command, run_cli, scalar, subprocess_env


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The single stderr line of a refused command (status 2, no traceback)."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@contextmanager
def unwritable(path: Path) -> Iterator[None]:
    """``path`` cannot be written by this user for the duration (mode 0444, a folder 0555, or immutable for root)."""
    mode = path.stat().st_mode
    path.chmod(0o555 if path.is_dir() else 0o444)
    immutable = False
    try:
        if os.access(path, os.W_OK):  # root writes whatever the mode says
            done = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
            if done.returncode != 0 or os.access(path, os.W_OK):
                pytest.skip("this user can write any file here (no chattr +i)")
            immutable = True
        yield
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        path.chmod(mode)


def test_a_read_only_database_is_one_line_for_every_writer(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    assert run_cli("submit", "demo.noop", "--db", db, cwd=tmp_path).returncode == 0
    with unwritable(db):
        for args in (["submit", "demo.noop"], ["pause"], ["retry", "1"], ["schedule", "add", "n", "* * * * *", "x.y"],
                     ["--engine-only"]):
            line = one_line_error(run_cli(*args, "--db", db, cwd=tmp_path, timeout=30))
            assert line == (f"queuetop: error: {db} is read-only: this command cannot write to it (commands that "
                            f"only read, and the TUI with --read-only, can open it)"), args
        # Reading still works, and nothing was written.
        listing = run_cli("jobs", "--db", db, cwd=tmp_path)
        assert listing.returncode == 0 and "demo.noop" in listing.stdout, listing.stderr
        # The TUI without --read-only says the same before it takes the screen.
        tui = subprocess.run([*queuetop_command(), "--db", str(db)], cwd=tmp_path, env=subprocess_env(),
                             capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        assert "is read-only" in one_line_error(tui)
    assert scalar(db, "SELECT count(*) FROM jobs") == 1
    assert scalar(db, "SELECT paused FROM queue_state WHERE id = 1") == 0
    assert scalar(db, "SELECT count(*) FROM schedules WHERE name = 'n'") == 0


def test_a_bad_line_of_submit_many_is_named_in_the_file_s_own_words(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    jobs = tmp_path / "jobs.ndjson"
    jobs.write_text('{"intent": "demo.noop"}\n{"intent": "demo.noop", "chunk_days": 3}\n')
    line = one_line_error(run_cli("submit-many", jobs, "--db", db, cwd=tmp_path))
    assert line == f"queuetop: error: {jobs} line 2: chunk_days (--chunk-days) needs a date_range (--range)"
    assert not db.exists() or scalar(db, "SELECT count(*) FROM jobs") == 0


@pytest.mark.parametrize("signame, code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_ctrl_c_during_submit_many_says_which_lines_were_submitted(tmp_path: Path, signame: str, code: int) -> None:
    """Batches of 2,000 commit one by one: after Ctrl+C the user must know where to resume. SIGTERM (a
    timeout, CI, systemd) used to kill it between batches with no word of what was written."""
    import signal
    import time

    db = tmp_path / "q.db"
    assert run_cli("submit", "demo.noop", "--db", db, cwd=tmp_path).returncode == 0  # the schema, job 1
    jobs = tmp_path / "jobs.ndjson"
    jobs.write_text("".join(f'{{"intent": "demo.noop", "params": {{"n": {n}}}}}\n' for n in range(400_000)))
    proc = subprocess.Popen([*queuetop_command(), "submit-many", str(jobs), "--db", str(db)], cwd=tmp_path,
                            env=subprocess_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while scalar(db, "SELECT count(*) FROM jobs") <= 2_000 and proc.poll() is None:  # two batches in
        assert time.monotonic() < deadline, "submit-many wrote no batch"
        time.sleep(0.01)  # polling with a deadline, not for synchronization
    proc.send_signal(getattr(signal, signame))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == code, (proc.returncode, err)
    assert "Traceback" not in err and out == ""
    written = scalar(db, "SELECT count(*) FROM jobs") - 1
    assert 0 < written < 400_000 and written % 2_000 == 0
    assert err == (f"queuetop: interrupted: lines 1-{written} of {jobs} were submitted "
                   f"(jobs 2-{written + 1}), lines from {written + 1} on were not\n")


@pytest.mark.parametrize("setting, named", [
    ("[engine]\nconcurrency = 99999999999999999999", "[engine] concurrency must be an integer ≥ 1 and ≤ 10000"),
    ("[engine]\nworkers = 5000", "[engine] workers must be an integer ≥ 1 and ≤ 256"),
    ("[engine]\nmax_retries = 99999999999999999999", "[engine] max_retries must be an integer ≥ 0 and ≤ 1000"),
    ("[engine]\ngrace_period = 1e300", "[engine] grace_period must be a number > 0 and ≤ 3.16224e+07"),
    ("[engine]\nchunk_timeout = 1e300", "[engine] chunk_timeout must be a number > 0 and ≤ 3.16224e+07"),
    ('[[alerts]]\non = ["job.failed"]\nwebhook = "http://[::1/SECRET"', "webhook must be an http:// or https:// URL"),
    ('[[alerts]]\non = ["job.failed"]\nwebhook = "https://h.example:99999/SECRET"',
     "webhook must be an http:// or https:// URL"),
])
def test_a_config_value_out_of_range_is_refused_when_read(tmp_path: Path, setting: str, named: str) -> None:
    """A number no engine could use, or a URL that does not parse, stops every command in one line.

    These used to start an engine that died later (a worker's first write
    overflowed a 64-bit column, a huge grace period crashed the signal
    handler's wait) or to print a traceback on every command.
    """
    (tmp_path / "queuetop.toml").write_text(setting + "\n")
    db = tmp_path / "q.db"
    for args in (["--engine-only"], ["submit", "demo.noop"], ["jobs"]):
        line = one_line_error(run_cli(*args, "--db", db, cwd=tmp_path, timeout=15))
        assert named in line, (args, line)
        assert "SECRET" not in line
    assert not db.exists()


def test_finalize_does_not_offer_chunk_in_its_help(tmp_path: Path) -> None:
    """finalize ends a whole job: its --help must not offer the --chunk that it refuses."""
    shown = run_cli("finalize", "--help", cwd=tmp_path)
    assert shown.returncode == 0 and "finalize" in shown.stdout
    assert "--chunk" not in shown.stdout
    for command in ("retry", "cancel"):
        assert "--chunk" in run_cli(command, "--help", cwd=tmp_path).stdout


@pytest.mark.parametrize("args", [
    ["submit", "x.y", "--dedupe-key", "k\udced\udca0\udc80"],
    ["jobs", "--where", "k\udced\udca0\udc80"],
    ["jobs", "--where", "err:\udcff"],
    ["sessions", "--search", "\udcff"],
    ["schedule", "add", "n\udcff", "* * * * *", "x.y"],
    ["events", "--session", "\udcff"],
])
def test_an_argument_that_is_not_utf8_is_one_line(tmp_path: Path, args: list[str]) -> None:
    """Bytes that are not UTF-8 on the command line (a Latin-1 terminal, a binary paste) are named, not a traceback.

    Python hands them over as lone surrogates, which SQLite stored as they came and
    PostgreSQL and every encoder refused with a UnicodeEncodeError.
    """
    db = tmp_path / "q.db"
    assert run_cli("submit", "demo.noop", "--db", db, cwd=tmp_path).returncode == 0
    line = one_line_error(run_cli(*args, "--db", db, cwd=tmp_path))
    assert "is not UTF-8 text" in line, line
    assert scalar(db, "SELECT count(*) FROM jobs") == 1
    assert scalar(db, "SELECT count(*) FROM schedules") == 0


def test_a_schedule_that_could_never_submit_is_refused_when_added(tmp_path: Path) -> None:
    """A schedule's intent is checked like submit's, and it needs a name; a bad one used to be stored and
    fail at every firing (and an empty name could not be named again to remove it)."""
    db = tmp_path / "q.db"
    line = one_line_error(run_cli("schedule", "add", "bad", "* * * * *", "not an intent!", "--db", db, cwd=tmp_path))
    assert "'not an intent!' is not a valid intent key" in line
    line = one_line_error(run_cli("schedule", "add", "", "* * * * *", "x.y", "--db", db, cwd=tmp_path))
    assert "a schedule needs a name" in line
    line = one_line_error(run_cli("schedule", "add", "  ", "* * * * *", "x.y", "--db", db, cwd=tmp_path))
    assert "a schedule needs a name" in line
    (tmp_path / "queuetop.toml").write_text('[[schedules]]\nname = "a"\ncron = "* * * * *"\nintent = "bad intent!"\n')
    line = one_line_error(run_cli("--engine-only", "--db", db, cwd=tmp_path, timeout=15))
    assert "schedule 'a': intent 'bad intent!' is not a valid intent key" in line
    assert not db.exists() or scalar(db, "SELECT count(*) FROM schedules") == 0


def test_schedule_next_near_the_end_of_time_lists_what_there_is(tmp_path: Path) -> None:
    """Fire times past the year 9999 do not exist: `next` lists those before it, without a traceback."""
    db = tmp_path / "q.db"
    assert run_cli("schedule", "add", "nightly", "30 2 * * *", "x.y", "--db", db, cwd=tmp_path).returncode == 0
    shown = run_cli("schedule", "next", "nightly", "--after", "9999-12-29T12:00", "--db", db, cwd=tmp_path)
    assert shown.returncode == 0 and "Traceback" not in shown.stderr, shown.stderr
    assert "9999-12-31 02:30" in shown.stdout and "9999-12-30 02:30" in shown.stdout, shown.stdout


def test_a_read_only_tui_on_a_missing_database_creates_nothing(tmp_path: Path) -> None:
    """`queuetop --read-only --db typo.db` says there is no database, like every command that only reads;
    it used to create the file, its schema and its folders, and show an empty dashboard."""
    db = tmp_path / "typo.db"
    tui = subprocess.run([*queuetop_command(), "--read-only", "--db", str(db)], cwd=tmp_path, env=subprocess_env(),
                         capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
    assert one_line_error(tui) == f"queuetop: error: no database at {db}"
    assert not db.exists()


def test_a_read_command_on_an_empty_file_refuses_and_leaves_it_empty(tmp_path: Path) -> None:
    """`: > q.db; queuetop --db q.db jobs` wrote a whole schema into the file and listed nothing,
    where a missing file is refused: an empty file holds no database either. A write makes one."""
    db = tmp_path / "q.db"
    db.touch()
    for args in (["jobs"], ["events"], ["--read-only"]):
        done = subprocess.run([*queuetop_command(), *args, "--db", str(db)], cwd=tmp_path, env=subprocess_env(),
                              capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        assert one_line_error(done) == f"queuetop: error: no database at {db} (the file is empty)", args
        assert db.stat().st_size == 0
    assert run_cli("submit", "demo.noop", "--db", db, cwd=tmp_path).returncode == 0
    assert scalar(db, "SELECT count(*) FROM jobs") == 1
    # A SQLite file that holds no table (made, then emptied, by another tool) is no database either.
    bare = tmp_path / "bare.db"
    with closing(sqlite3.connect(bare)) as conn:
        conn.executescript("CREATE TABLE t (x); DROP TABLE t;")
    size = bare.stat().st_size
    assert one_line_error(run_cli("jobs", "--db", bare, cwd=tmp_path)) == (
        f"queuetop: error: no database at {bare} (the file has no tables)")
    assert bare.stat().st_size == size and not Path(f"{bare}-wal").exists()


def test_metrics_without_prometheus_client_is_one_line_naming_the_extra(tmp_path: Path) -> None:
    """--metrics-port where prometheus_client is not installed says which extra to install, not a traceback."""
    hidden = tmp_path / "no_prometheus"
    (hidden / "prometheus_client").mkdir(parents=True)
    # stands in for an environment without the package: importing it fails as it would there
    (hidden / "prometheus_client" / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'prometheus_client'\", name='prometheus_client')\n")
    result = subprocess.run([*queuetop_command(), "--engine-only", "--metrics-port", "19464",
                             "--db", str(tmp_path / "q.db")], cwd=tmp_path,
                            env=subprocess_env(PYTHONPATH=str(hidden)), capture_output=True, text=True, timeout=30)
    line = one_line_error(result)
    assert "pip install 'queuetop[metrics]'" in line, line


def test_ctrl_c_while_queuetop_is_still_importing_is_exit_130_without_a_traceback(tmp_path: Path) -> None:
    # An import hook sends the process SIGINT as Python starts importing the
    # command line, the moment an impatient ctrl+c lands on a slow start.
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(
        "import os, signal, sys\n"
        "class Interrupt:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'queuetop.cli':\n"
        "            os.kill(os.getpid(), signal.SIGINT)\n"
        "        return None\n"
        "sys.meta_path.insert(0, Interrupt())\n")
    env = subprocess_env(PYTHONPATH=str(hook))
    done = subprocess.run([*queuetop_command(), "jobs", "--db", str(tmp_path / "q.db")], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=30)
    assert (done.returncode, done.stderr) == (130, "")
    assert not (tmp_path / "q.db").exists()


@pytest.mark.parametrize("setting, named", [
    ("[engine]\nheartbeat_interval = 600\nstale_after = 10",
     "[engine] stale_after (10) must be at least twice heartbeat_interval (600)"),
    ("[engine]\nheartbeat_interval = 400", "[engine] stale_after (300) must be at least twice heartbeat_interval (400)"),
    ('[engine]\nhandler_path = ["lib", "nosuch"]', "queuetop.toml: [engine] handler_path: no folder at nosuch"),
])
def test_an_engine_setting_that_cannot_work_is_refused_when_read(tmp_path: Path, setting: str, named: str) -> None:
    """A worker that heartbeats less often than it is declared stale is rescued while it runs its chunks
    (each then runs twice); a handler_path folder that is not there is a typo. Both used to start an engine."""
    (tmp_path / "lib").mkdir()
    (tmp_path / "queuetop.toml").write_text(setting + "\n")
    db = tmp_path / "q.db"
    for args in (["--engine-only"], ["jobs"]):
        line = one_line_error(run_cli(*args, "--db", db, cwd=tmp_path, timeout=15))
        assert named in line, (args, line)
    assert not db.exists()


def test_a_database_in_a_read_only_folder_names_the_folder(tmp_path: Path) -> None:
    """SQLite in WAL mode makes q.db-wal and q.db-shm beside the file, even to read it. In a folder this
    user cannot write, every command said `q.db is not a usable queuetop database: unable to open database
    file`, as if the file were damaged."""
    folder = tmp_path / "shared"
    folder.mkdir()
    db = folder / "q.db"
    assert run_cli("submit", "demo.noop", "--db", db, cwd=tmp_path).returncode == 0
    with unwritable(folder):
        for args in (["jobs"], ["submit", "demo.noop"], ["--engine-only"]):
            line = one_line_error(run_cli(*args, "--db", db, cwd=tmp_path, timeout=30))
            assert line == (f"queuetop: error: cannot open {db}: SQLite cannot make q.db-wal and q.db-shm beside "
                            f"it (a WAL database needs them, even to read): is {folder} read-only?"), args
    assert scalar(db, "SELECT count(*) FROM jobs") == 1


def test_a_read_only_folder_is_named_for_a_user_who_may_write_the_file(tmp_path: Path) -> None:
    """A writable q.db in a folder this user cannot write: SQLite says `attempt to write a readonly
    database` (not `unable to open`), and the error blamed the file as unusable."""
    folder = tmp_path / "shared"
    folder.mkdir()
    db = folder / "q.db"
    assert run_cli("submit", "demo.noop", "--db", db, cwd=tmp_path).returncode == 0
    # Root writes any folder; without its capabilities it is held to the modes, as any user is.
    as_a_user = ["setpriv", "--inh-caps=-all", "--bounding-set=-all"] if os.geteuid() == 0 else []
    folder.chmod(0o555)
    try:
        for args in (["jobs"], ["submit", "demo.noop"]):
            done = subprocess.run([*as_a_user, *queuetop_command(), *args, "--db", str(db)], cwd=tmp_path,
                                  env=subprocess_env(), capture_output=True, text=True, timeout=30,
                                  stdin=subprocess.DEVNULL)
            assert one_line_error(done) == (
                f"queuetop: error: cannot open {db}: SQLite cannot make q.db-wal and q.db-shm beside it (a WAL "
                f"database needs them, even to read): is {folder} read-only?"), args
    finally:
        folder.chmod(0o755)
    assert scalar(db, "SELECT count(*) FROM jobs") == 1


def test_a_read_only_database_in_a_read_only_folder_offers_no_command_that_fails_too(tmp_path: Path) -> None:
    """A read-only file used to point at read commands and the TUI's --read-only; in a read-only folder
    those fail as well (SQLite must make q.db-wal and q.db-shm to read), so the hint led to a second error."""
    folder = tmp_path / "shared"
    folder.mkdir()
    db = folder / "q.db"
    assert run_cli("submit", "demo.noop", "--db", db, cwd=tmp_path).returncode == 0
    with unwritable(db), unwritable(folder):
        for args in (["submit", "demo.noop"], ["--engine-only"]):
            line = one_line_error(run_cli(*args, "--db", db, cwd=tmp_path, timeout=30))
            assert line == (f"queuetop: error: {db} is read-only, and so is {folder}: no command can open it "
                            f"there, since SQLite must make q.db-wal and q.db-shm beside it even to read (copy it "
                            f"to a folder you can write)"), args
        assert "read-only?" in one_line_error(run_cli("jobs", "--db", db, cwd=tmp_path, timeout=30))
    assert scalar(db, "SELECT count(*) FROM jobs") == 1


def test_a_submit_that_matches_by_dedupe_key_says_so(tmp_path: Path) -> None:
    """The second `submit --dedupe-key K` prints the first job's id, as before, and says on stderr that
    nothing was submitted: its --params are not those of the job it names."""
    db = tmp_path / "q.db"
    first = run_cli("submit", "demo.noop", "--dedupe-key", "k1", "--db", db, cwd=tmp_path)
    assert (first.returncode, first.stdout, first.stderr) == (0, "1\n", "")
    again = run_cli("submit", "demo.noop", "--dedupe-key", "k1", "--params", '{"n": 2}', "--db", db, cwd=tmp_path)
    assert (again.returncode, again.stdout) == (0, "1\n")
    assert again.stderr == "queuetop: job 1 is unfinished with that dedupe key: nothing submitted\n"
    assert scalar(db, "SELECT count(*) FROM jobs") == 1


def test_pausing_a_misspelt_queue_is_refused(tmp_path: Path, db_path: Path | str) -> None:
    """`pause --queue TYPO` would pause a queue nobody uses and leave the real one running: refused, the
    known queues named; `--new` pauses a queue ahead of its first job on purpose."""
    db = str(db_path)
    (tmp_path / "queuetop.toml").write_text('[queues.reports]\nintents = ["reports.*"]\n')
    assert run_cli("submit", "demo.noop", "--queue", "mail", "--db", db, cwd=tmp_path).returncode == 0
    line = one_line_error(run_cli("pause", "--queue", "mial", "--db", db, cwd=tmp_path))
    assert line == "queuetop: error: no queue named 'mial' (known: default, mail, reports); --new pauses it anyway"
    line = one_line_error(run_cli("resume", "--queue", "mial", "--db", db, cwd=tmp_path))
    assert line == "queuetop: error: no queue named 'mial' (known: default, mail, reports)"
    assert one_line_error(run_cli("pause", "--new", "--db", db, cwd=tmp_path)).endswith("--queue NAME")
    assert scalar(db, "SELECT count(*) FROM queues WHERE paused = 1") == 0
    # a queue known from a job, from the config, and a new one said on purpose
    for args in (("mail",), ("reports",), ("later", "--new")):
        done = run_cli("pause", "--queue", *args, "--db", db, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    assert run_cli("resume", "--queue", "later", "--db", db, cwd=tmp_path).returncode == 0
    assert scalar(db, "SELECT count(*) FROM queues WHERE paused = 1") == 2


@pytest.mark.parametrize(("args", "said"), [
    # before the fix: "argument COMMAND: invalid choice: '3'", the typo unnamed
    (["--engine-only", "--concurency", "3"], "unknown option --concurency (did you mean --concurrency?)"),
    (["submit", "x.y", "--parms", "{}"], "unknown option --parms (did you mean --params?)"),
    (["jobs", "--were=state:failed"], "unknown option --were (did you mean --where?)"),
    (["--engine-onyl"], "unknown option --engine-onyl (did you mean --engine-only?)"),
    (["jobs", "--frobnicate"], "unknown option --frobnicate"),
])
def test_a_mistyped_option_is_named_with_the_one_meant(tmp_path: Path, args: list[str], said: str) -> None:
    db = tmp_path / "q.db"
    assert one_line_error(run_cli(*args, "--db", db, cwd=tmp_path)) == f"queuetop: error: {said}"
    assert not db.exists()


def test_a_handler_target_without_a_colon_names_the_config_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "queuetop.toml"
    config.write_text('[handlers]\n"reports.send" = "myhandlers.send"\n')
    db = tmp_path / "q.db"
    for args in (["submit", "reports.send"], ["jobs"]):
        line = one_line_error(run_cli(*args, "--db", db, cwd=tmp_path))
        assert "queuetop.toml" in line and "[handlers] reports.send" in line and "'myhandlers.send'" in line, line
    assert not db.exists() or scalar(db, "SELECT COUNT(*) FROM jobs") == 0


def test_a_postgres_search_path_naming_a_missing_schema_names_it(tmp_path: Path) -> None:
    dsn = os.environ.get("QUEUETOP_TEST_PG_DSN")
    if not dsn:
        pytest.skip("QUEUETOP_TEST_PG_DSN not set")
    schema = f"qt_missing_{os.getpid()}"
    url = f"{dsn}{'&' if '?' in dsn else '?'}options=-csearch_path%3D{schema}"
    for args in (["submit", "a.b"], ["jobs"]):
        line = one_line_error(run_cli(*args, "--db", url, cwd=tmp_path, timeout=30))
        assert f"no schema {schema} exists" in line, line


def test_a_db_in_a_missing_folder_is_refused_naming_the_folder(tmp_path: Path) -> None:
    for args in (["submit", "a.b"], ["jobs"]):
        line = one_line_error(run_cli(*args, "--db", "some/missing/q.db", cwd=tmp_path))
        assert "no folder some/missing" in line, line
    assert not (tmp_path / "some").exists()


@pytest.mark.skipif(not PG_DSN, reason="needs a PostgreSQL server (QUEUETOP_TEST_PG_DSN)")
def test_a_read_command_on_an_empty_postgres_schema_refuses_and_creates_nothing(tmp_path: Path) -> None:
    """As a read command on a missing SQLite file says there is no database, one on a schema
    without queuetop's tables says so, and leaves the schema empty (it used to create them)."""
    with postgres_schema() as url:
        schema = url.rsplit("%3D", 1)[1]
        line = one_line_error(run_cli("jobs", "--db", url, cwd=tmp_path, timeout=30))
        assert f"no queuetop tables in schema {schema}" in line, line
        assert query(PG_DSN, "SELECT count(*) FROM pg_tables WHERE schemaname = ?", (schema,)) == [(0,)]
        made = run_cli("submit", "demo.noop", "--db", url, cwd=tmp_path, timeout=30)
        assert made.returncode == 0, made.stderr
        assert run_cli("jobs", "--db", url, cwd=tmp_path, timeout=30).returncode == 0
