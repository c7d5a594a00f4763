"""First real use, as a new user meets it: a project folder with queuetop.toml and a handler
module beside it, a headless engine, processes with different handler sets on one database.

Every process is the installed console script, run from the folder a user would be in.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import (PG_DSN, Engines, postgres_schema, query, queuetop_command, run_cli, scalar, subprocess_env,
                      wait_until)

pytestmark = pytest.mark.slow

HANDLER = '''
def collect(ctx):
    ctx.log.info(f"collecting {ctx.params['start']}..{ctx.params['end']}")
    return {"rows": 3}
'''


def project(folder: Path, handlers: str, module: str | None = HANDLER, name: str = "myjobs") -> Path:
    """A user's project: queuetop.toml with [handlers] and the handler module beside it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "queuetop.toml").write_text(f"[engine]\npoll_interval = 0.05\n\n[handlers]\n{handlers}\n")
    if module is not None:
        (folder / f"{name}.py").write_text(module)
    return folder


def submit(db: Path | str, cwd: Path, *args: str) -> int:
    result = run_cli("submit", *args, "--db", db, "--json", cwd=cwd)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["job_id"]


def job_status(db: Path | str, job: int) -> str:
    return scalar(db, f"SELECT status FROM jobs WHERE id = {job}")


@pytest.mark.parametrize("how", ["cwd", "--config from elsewhere"])
def test_handler_beside_the_config_runs_without_pythonpath(tmp_path: Path, db_path: Path | str, engines: Engines,
                                                           how: str) -> None:
    folder = project(tmp_path / "proj", '"my.collect" = "myjobs:collect"')
    job = submit(db_path, tmp_path, "my.collect", "--range", "2024-01-01..2024-01-10", "--chunk-days", "5")
    assert "PYTHONPATH" not in subprocess_env()
    if how == "cwd":
        engines.start(db_path, cwd=folder)
    else:
        engines.start(db_path, config=folder / "queuetop.toml", cwd=tmp_path)
    wait_until(lambda: job_status(db_path, job) == "completed", timeout=30,
               message=lambda: f"the job to complete: {query(db_path, 'SELECT status, last_error FROM chunks')}"
                               f"\n{engines.logs()}")
    assert query(db_path, "SELECT count(*), max(attempt) FROM chunks WHERE result LIKE '%rows%'") == [(2, 1)]
    # the log buffer writes its lines within the flush interval (5 s) of the first
    wait_until(lambda: "collecting 2024-01-01..2024-01-05" in run_cli("logs", str(job), "--db", db_path,
                                                                      cwd=tmp_path).stdout, timeout=15)


def test_engine_with_a_missing_handler_module_refuses_to_start(tmp_path: Path, db_path: Path | str) -> None:
    folder = project(tmp_path / "proj", '"my.collect" = "myjobs:collect"', module=None)
    job = submit(db_path, tmp_path, "my.collect")
    result = subprocess.run([*queuetop_command(), "--engine-only", "--db", str(db_path)], cwd=folder,
                            env=subprocess_env(), capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "queuetop: error: handler 'my.collect' = 'myjobs:collect': no module named 'myjobs' "
        "(looked in the config's folder, handler_path and sys.path)"]
    assert query(db_path, f"SELECT status, attempt FROM chunks WHERE job_id = {job}") == [("pending", 0)]


def test_handler_path_adds_folders(tmp_path: Path, db_path: Path | str, engines: Engines) -> None:
    folder = project(tmp_path / "proj", '"my.collect" = "deep:collect"', module=None)
    (folder / "lib").mkdir()
    (folder / "lib" / "deep.py").write_text(HANDLER)
    config = folder / "queuetop.toml"
    config.write_text(config.read_text().replace("[engine]\n", '[engine]\nhandler_path = ["lib"]\n'))
    job = submit(db_path, tmp_path, "my.collect", "--range", "2024-01-01..2024-01-02")
    engines.start(db_path, config=config, cwd=tmp_path)
    wait_until(lambda: job_status(db_path, job) == "completed", timeout=30, message=engines.logs)


def test_two_processes_with_different_handlers_share_one_database(tmp_path: Path, db_path: Path | str,
                                                                 engines: Engines) -> None:
    """A process without a handler never claims its chunks: nothing is spent, the right process runs them."""
    alpha = project(tmp_path / "alpha", '"alpha.work" = "alphajobs:collect"', name="alphajobs")
    beta = project(tmp_path / "beta", '"beta.work" = "betajobs:collect"', name="betajobs")
    a_jobs = [submit(db_path, tmp_path, "alpha.work", "--range", "2024-01-01..2024-01-20") for _ in range(3)]
    b_jobs = [submit(db_path, tmp_path, "beta.work", "--range", "2024-01-01..2024-01-20") for _ in range(3)]
    idle = run_cli("jobs", "--db", db_path, cwd=tmp_path)  # no engine yet: all of it waits, and says so
    assert idle.stdout.splitlines()[-1] == (
        "waiting: no engine online: work is not running (6 unfinished jobs; start one with queuetop --engine-only)")

    engines.start(db_path, cwd=alpha)
    wait_until(lambda: all(job_status(db_path, j) == "completed" for j in a_jobs), timeout=30, message=engines.logs)
    # beta's work waits, untouched, and says why
    assert query(db_path, "SELECT DISTINCT status, attempt FROM chunks WHERE job_id IN (4, 5, 6)") == [("pending", 0)]
    listing = run_cli("jobs", "--db", db_path, cwd=tmp_path)
    assert listing.returncode == 0, listing.stderr
    assert "waiting: no worker can run intent beta.work (3 jobs)" in listing.stdout
    as_json = json.loads(run_cli("jobs", "--json", "--db", db_path, cwd=tmp_path).stdout)
    assert {j["id"] for j in as_json if j["waiting_for_handler"]} == set(b_jobs)

    engines.start(db_path, cwd=beta)
    wait_until(lambda: all(job_status(db_path, j) == "completed" for j in b_jobs), timeout=30, message=engines.logs)
    assert scalar(db_path, "SELECT max(attempt) FROM chunks") == 1  # no chunk was ever tried twice
    assert scalar(db_path, "SELECT count(*) FROM chunk_attempts") == 0
    assert "waiting" not in run_cli("jobs", "--db", db_path, cwd=tmp_path).stdout


BROKEN = '''
raise RuntimeError("this module needs a package this process lacks")
'''


def test_a_module_that_fails_to_import_gives_its_chunks_back(tmp_path: Path, db_path: Path | str,
                                                              engines: Engines) -> None:
    """The module exists (the start-up check passes) but raises on import: chunks go back unspent."""
    folder = project(tmp_path / "proj", '"my.collect" = "myjobs:collect"\n"demo.ok" = "okjobs:collect"',
                     module=BROKEN)
    (folder / "okjobs.py").write_text(HANDLER)
    broken = submit(db_path, tmp_path, "my.collect", "--range", "2024-01-01..2024-01-05")
    fine = submit(db_path, tmp_path, "demo.ok", "--range", "2024-01-01..2024-01-05")
    engine = engines.start(db_path, cwd=folder)
    wait_until(lambda: job_status(db_path, fine) == "completed", timeout=30, message=engines.logs)
    wait_until(lambda: "stops claiming intent 'my.collect'" in engine.log(), timeout=10, message=engine.log)
    assert query(db_path, f"SELECT DISTINCT status, attempt FROM chunks WHERE job_id = {broken}") == [("pending", 0)]
    assert engine.log().count("stops claiming intent") == 1  # one warning, not one per chunk
    assert scalar(db_path, "SELECT count(*) FROM chunk_attempts") == 0
    assert engine.stop() == 0


def test_closed_pipe_ends_quietly(tmp_path: Path, db_path: Path | str) -> None:
    for _ in range(3):
        submit(db_path, tmp_path, "demo.noop")
    env = subprocess_env()
    command = " ".join([*queuetop_command(), "jobs", "--limit", "1000", "--db", f"'{db_path}'"])
    result = subprocess.run(f"{command} | head -c 1", shell=True, cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=30, executable="/bin/bash")
    assert result.stderr == ""
    done = subprocess.run(["bash", "-c", f"set -o pipefail; {command} | head -c 1 >/dev/null"], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and done.stderr == ""


def test_version(tmp_path: Path) -> None:
    result = run_cli("--version", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.startswith("queuetop ")


def test_schedule_add_replace(tmp_path: Path, db_path: Path | str) -> None:
    assert run_cli("schedule", "add", "n", "0 3 * * *", "demo.noop", "--db", db_path, cwd=tmp_path).returncode == 0
    again = run_cli("schedule", "add", "n", "0 4 * * *", "demo.noop", "--db", db_path, cwd=tmp_path)
    assert again.returncode == 2 and "already exists" in again.stderr
    assert scalar(db_path, "SELECT cron FROM schedules WHERE name = 'n'") == "0 3 * * *"  # left as it was
    replaced = run_cli("schedule", "add", "n", "0 4 * * *", "demo.noop", "--replace", "--db", db_path, cwd=tmp_path)
    assert replaced.returncode == 0, replaced.stderr
    assert scalar(db_path, "SELECT cron FROM schedules WHERE name = 'n'") == "0 4 * * *"


def test_a_url_password_is_never_shown() -> None:
    from queuetop.engine.config import display_db

    assert display_db("postgresql://app:s3cret@db.internal:5432/q") == "postgresql://app:***@db.internal:5432/q"
    assert display_db("postgres://app@db/q") == "postgres://app@db/q"
    assert display_db(Path("/var/q.db")) == "/var/q.db"
    # libpq also takes the password (and a client key's) as query parameters
    assert (display_db("postgresql://app@db/q?sslmode=require&password=s3cret&sslpassword=k3y")
            == "postgresql://app@db/q?sslmode=require&password=***&sslpassword=***")
    assert display_db("postgresql:///q?host=/run/pg&PASSWORD=s3cret") == "postgresql:///q?host=/run/pg&PASSWORD=***"


@pytest.mark.skipif(not PG_DSN, reason="needs a PostgreSQL server (QUEUETOP_TEST_PG_DSN)")
def test_a_password_in_the_url_s_query_is_not_logged(tmp_path: Path, engines: Engines) -> None:
    """`--db postgresql://…?password=…` (libpq's keyword form): the engine's start line hides it as it hides
    `user:password@`; it used to be printed whole."""
    with postgres_schema() as url:
        engine = engines.start(f"{url}&password=SECRETQ", cwd=tmp_path)
        wait_until(lambda: "engine started" in engine.log(), timeout=30, message=engine.log)
        assert engine.stop() == 0, engine.log()
    assert "SECRETQ" not in engine.log() and "password=***" in engine.log(), engine.log()


def test_db_url_forms(tmp_path: Path) -> None:
    """sqlite:///relative and a plain path name the same file; $QUEUETOP_DB is honoured."""
    assert run_cli("submit", "demo.noop", "--db", "sqlite:///rel.db", cwd=tmp_path).returncode == 0
    assert (tmp_path / "rel.db").exists()
    assert run_cli("jobs", "--db", "rel.db", cwd=tmp_path).stdout.count("demo.noop") == 1
    env = {**subprocess_env(), "QUEUETOP_DB": "mysql://x@y/z"}
    bad = subprocess.run([*queuetop_command(), "jobs"], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=30)
    assert bad.returncode == 2
    assert bad.stderr.splitlines() == ["queuetop: error: $QUEUETOP_DB 'mysql://x@y/z': unsupported database scheme "
                                       "'mysql'; use a file path, sqlite:///PATH or postgresql://…"]
    assert os.listdir(tmp_path) == ["rel.db"] or set(os.listdir(tmp_path)) <= {"rel.db", "rel.db-wal", "rel.db-shm"}


# -- the TUI beside a running engine ------------------------------------------------------------


async def test_tui_beside_a_running_engine_runs_no_workers(tmp_path: Path, db_path: Path | str,
                                                           engines: Engines) -> None:
    """An engine process is online: the TUI watches (no workers) unless --workers N asks for some."""
    from queuetop.engine.config import Config
    from queuetop.tui.app import QueuetopApp

    from conftest import async_wait_until

    folder = project(tmp_path / "proj", '"my.collect" = "myjobs:collect"')
    submit(db_path, tmp_path, "my.collect")  # the database exists before the engine and the TUI open it
    engines.start(db_path, cwd=folder)
    await async_wait_until(lambda: scalar(db_path, "SELECT count(*) FROM workers WHERE status = 'online'") == 1,
                           timeout=20, message=engines.logs)

    watching = QueuetopApp(str(db_path), Config(), engine=True)
    async with watching.run_test(size=(160, 50)):
        await watching.settle()
        assert watching.runner is None
        assert watching.engine_label().startswith("1 engine online, 0 in this process")
    asked = QueuetopApp(str(db_path), Config(), engine=True, workers=1)
    async with asked.run_test(size=(160, 50)):
        await asked.settle()
        assert asked.runner is not None
        await async_wait_until(lambda: asked.totals is not None and asked.totals.engines_here == 1, timeout=20)
        assert asked.engine_label().startswith("2 engines online, 1 in this process")
        await asked.action_quit()


async def test_tui_says_which_intents_it_cannot_run(tmp_path: Path, db_path: Path | str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from queuetop.engine import config as config_module
    from queuetop.tui.app import QueuetopApp

    folder = project(tmp_path / "proj", '"my.collect" = "gonejobs:collect"')
    monkeypatch.chdir(tmp_path)
    app = QueuetopApp(str(db_path), config_module.load(folder / "queuetop.toml"), engine=True, workers=1)
    async with app.run_test(size=(80, 24)):
        await app.settle()
        notes = [n.message for n in app._notifications]
        assert any("cannot run intent(s) my.collect" in n and "gonejobs" in n for n in notes), notes
        assert "my.collect" not in app.queue.registry.runnable()
        await app.action_quit()


# -- the README's first job, as written ------------------------------------------------------------


def readme_blocks() -> dict[str, str]:
    """The fenced blocks of README.md that follow a ``<!-- first-job: NAME -->`` marker."""
    text = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    blocks = {}
    for part in text.split("<!-- first-job: ")[1:]:
        name, _, rest = part.partition(" -->")
        body = rest.split("```", 2)[1]
        blocks[name] = body.split("\n", 1)[1]  # drop the fence's language tag
    return blocks


def test_the_readme_first_job_runs_as_written(tmp_path: Path, db_path: Path | str, engines: Engines) -> None:
    blocks = readme_blocks()
    assert set(blocks) == {"queuetop.toml", "myjobs.py", "commands"}
    folder = tmp_path / "reports"
    folder.mkdir()
    (folder / "queuetop.toml").write_text(blocks["queuetop.toml"])
    (folder / "myjobs.py").write_text(blocks["myjobs.py"])
    commands = [line.split("#")[0].split() for line in blocks["commands"].splitlines() if line.strip()]
    assert commands[0][:2] == ["queuetop", "submit"] and commands[1] == ["queuetop", "--engine-only"]
    submitted = run_cli(*commands[0][1:], "--db", db_path, cwd=folder)
    assert submitted.returncode == 0, submitted.stderr
    job = int(submitted.stdout)
    engines.start(db_path, cwd=folder)
    wait_until(lambda: job_status(db_path, job) == "completed", timeout=30, message=engines.logs)
    assert scalar(db_path, "SELECT chunks_completed FROM jobs WHERE id = 1") == 9  # two years in 90-day chunks
    listing = run_cli(*commands[3][1:], "--db", db_path, cwd=folder)
    assert "reports.collect  completed" in listing.stdout


PARAMS_HANDLER = '''
def send(ctx):
    # a handler that trusts ctx.params to hold what the submitter passed with --params
    return {"to": ctx.params["to"], "day": ctx.params.get("start"), "own": ctx.chunk_params,
            "job": ctx.job_params}
'''


def test_job_params_reach_ctx_params(tmp_path: Path, db_path: Path | str, engines: Engines) -> None:
    """A job of one chunk submitted with --params (by submit and by submit-many) finds them in ctx.params;
    a chunk's own key wins over the job's."""
    folder = project(tmp_path / "proj", '"mail.send" = "myjobs:send"', module=PARAMS_HANDLER)
    one = submit(db_path, folder, "mail.send", "--params", '{"to": "ops"}')
    ranged = submit(db_path, folder, "mail.send", "--range", "2024-01-01..2024-01-02", "--chunk-days", "1",
                    "--params", '{"to": "ops", "start": "job"}')
    lines = json.dumps({"intent": "mail.send", "params": {"to": "many"}}) + "\n"
    many = run_cli("submit-many", "-", "--db", db_path, "--json", cwd=folder, input=lines)
    assert many.returncode == 0, many.stderr
    engines.start(db_path, cwd=folder)
    for job in (one, ranged, one + 2):
        wait_until(lambda: job_status(db_path, job) == "completed", timeout=30,
                   message=lambda: f"{query(db_path, 'SELECT job_id, status, last_error FROM chunks')}\n{engines.logs()}")
    results = [json.loads(r) for (r,) in query(db_path, "SELECT result FROM chunks ORDER BY job_id, chunk_index")]
    assert results == [
        {"to": "ops", "day": None, "own": {}, "job": {"to": "ops"}},
        {"to": "ops", "day": "2024-01-01", "own": {"start": "2024-01-01", "end": "2024-01-01"},
         "job": {"to": "ops", "start": "job"}},
        {"to": "ops", "day": "2024-01-02", "own": {"start": "2024-01-02", "end": "2024-01-02"},
         "job": {"to": "ops", "start": "job"}},
        {"to": "many", "day": None, "own": {}, "job": {"to": "many"}},
    ]


def test_submitting_an_intent_nothing_can_run_warns(tmp_path: Path, db_path: Path | str) -> None:
    """A misspelt intent is kept (another process may run it) but said on stderr, once per intent."""
    folder = project(tmp_path / "proj", '"reports.collect" = "myjobs:collect"')
    typo = run_cli("submit", "reports.colect", "--db", db_path, cwd=folder)
    assert typo.returncode == 0 and typo.stdout.strip().isdigit()
    assert typo.stderr.splitlines() == [
        "queuetop: warning: no handler for intent 'reports.colect' in the [handlers] of queuetop.toml, and no "
        "online worker runs it: the job waits until a process with one starts"]
    for intent in ("reports.collect", "demo.noop"):  # this config's handler, a built-in
        fine = run_cli("submit", intent, "--db", db_path, cwd=folder)
        assert (fine.returncode, fine.stderr) == (0, "")
    lines = "".join(json.dumps({"intent": i}) + "\n" for i in ("zzz", "reports.collect", "zzz"))
    many = run_cli("submit-many", "-", "--db", db_path, cwd=folder, input=lines)
    assert many.returncode == 0 and len(many.stderr.splitlines()) == 1 and "'zzz'" in many.stderr
    assert scalar(db_path, "SELECT count(*) FROM jobs") == 6
