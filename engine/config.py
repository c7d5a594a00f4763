"""queuetop.toml: engine settings, handlers, schedules, event sources.

Everything has a default; the file only says what differs. Unknown keys are
errors, so a typo never silently leaves a default in force.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from queuetop.engine.model.exceptions import ConfigError
from queuetop.engine.model.queues import HANDLER_TARGET, QueueSpec, is_intent_key, parse_queue_spec, queue_name_problem

DEFAULT_CONFIG_NAME = "queuetop.toml"
DEFAULT_ZONE = "UTC"  # schedules' time zone unless they name one

# Built-in maintenance, as the systems queuetop replaces ran it (seed 000).
MAINTENANCE_CRONS: dict[str, str] = {
    "mark-stale-workers-offline": "*/2 * * * *",
    "reset-stuck-tasks": "*/10 * * * *",
    "cleanup-old-task-logs": "0 3 * * *",
    "cleanup-old-events": "30 3 * * *",
    "cleanup-old-jobs": "15 3 * * *",
}


@dataclass(frozen=True)
class EngineSettings:
    """``[engine]``: how workers and maintenance behave."""

    concurrency: int = 16            # chunks one worker runs at once (README, Performance: why 16)
    workers: int = 1                 # worker tasks per engine process
    heartbeat_interval: float = 5.0  # seconds between heartbeats
    stale_after: float = 300.0       # a worker silent this long is marked offline
    poll_interval: float = 0.5       # idle workers look for due chunks this often
    grace_period: float = 30.0       # on SIGTERM, in-flight chunks get this long to finish
    chunk_timeout: float = 3600.0    # default per-chunk timeout for new jobs
    max_retries: int = 3             # default retries for new jobs
    retry_base: float = 5.0          # back-off after the first failed attempt (seconds)
    retry_cap: float = 600.0         # longest back-off
    log_flush_interval: float = 5.0  # the log buffer writes this long after a line is queued
    log_flush_entries: int = 100     # ... or when this many entries wait
    log_retention_days: float = 30.0
    scheduler_interval: float = 1.0  # how often due schedules are looked for
    misfire_grace: float = 60.0      # a due time found later than this was missed (see catch_up)
    # What handlers hand back is cut to these many characters, with a marker.
    max_error_chars: int = 8_000
    max_log_chars: int = 8_000
    max_result_chars: int = 20_000
    # Alerts: how often the delivery loop looks for due alerts, how long one
    # webhook call may take, the back-off between attempts and how many there are.
    alert_interval: float = 1.0
    alert_timeout: float = 10.0
    alert_retry_base: float = 5.0
    alert_retry_cap: float = 600.0
    alert_attempts: int = 10
    backlog_check_interval: float = 30.0  # how often [[alerts]] on "backlog" look at pending chunks
    # Prometheus: 0 serves nothing; the gauges are read at most every metrics_interval.
    metrics_port: int = 0
    metrics_interval: float = 5.0
    metrics_host: str = "127.0.0.1"

    handler_path: tuple[str, ...] = ()  # more folders to import handler modules from

    def __post_init__(self) -> None:
        for spec in fields(self):
            if spec.name in ("handler_path", "metrics_host"):
                continue
            check_number(f"[engine] {spec.name}", getattr(self, spec.name),
                         integer=spec.name in _INTEGER_SETTINGS, minimum=_MINIMUMS.get(spec.name),
                         maximum=65535 if spec.name == "metrics_port" else None,
                         cap=_MAXIMUMS.get(spec.name, _LONGEST_DAYS if spec.name.endswith("_days")
                                           else _LONGEST_SECONDS))
        if self.stale_after < 2 * self.heartbeat_interval:
            raise ConfigError(f"[engine] stale_after ({self.stale_after:g}) must be at least twice heartbeat_interval "
                              f"({self.heartbeat_interval:g}): a worker would be marked offline between two "
                              f"heartbeats and its chunks run again")
        if not isinstance(self.metrics_host, str) or not self.metrics_host.strip():
            raise ConfigError(f"[engine] metrics_host must be a host name or address, got {self.metrics_host!r}")
        path = self.handler_path
        if not isinstance(path, (list, tuple)) or not all(isinstance(p, str) and p for p in path):
            raise ConfigError(f"[engine] handler_path must be a list of folder paths, got {path!r}")
        object.__setattr__(self, "handler_path", tuple(path))


# Settings that count things: a fraction there is a mistake, not a setting.
_INTEGER_SETTINGS = {"concurrency", "workers", "max_retries", "log_flush_entries", "alert_attempts", "metrics_port"}
# Settings that may be 0 (the rest must be positive).
_MINIMUMS: dict[str, float] = {"max_retries": 0, "metrics_port": 0}
# Upper bounds: past them a value is a typo, and some would overflow a
# 64-bit column or a timer only once the engine is running. Counts have their
# own bound (the CLI's, where it has one); times are at most a year of
# seconds (a job's longest timeout), days at most a century.
_LONGEST_SECONDS = 366 * 86400.0
_LONGEST_DAYS = 36_600.0
_MAXIMUMS: dict[str, float] = {
    "concurrency": 10_000, "workers": 256, "max_retries": 1000, "log_flush_entries": 1_000_000,
    "alert_attempts": 1000,
    "max_error_chars": 100_000_000, "max_log_chars": 100_000_000, "max_result_chars": 100_000_000,
}


def check_number(name: str, value: object, *, integer: bool = False, minimum: float | None = None,
                 maximum: float | None = None, cap: float | None = None) -> None:
    """Refuse a value that is not a finite number in range, naming it.

    ``minimum`` None means "must be positive" (> 0); the message says what
    was expected and what was given, e.g. ``[engine] concurrency must be an
    integer ≥ 1, got 2.5``. ``cap`` is an upper bound like ``maximum`` that
    the message names only when the value passes it.
    """
    if cap is not None and maximum is None and isinstance(value, (int, float)) and not isinstance(value, bool):
        if (isinstance(value, int) or math.isfinite(value)) and value > cap:
            maximum = cap
    kind = "an integer" if integer else "a number"
    if minimum is None:
        bound = "≥ 1" if integer else "> 0"
    else:
        bound = f"≥ {minimum:g}"
    if maximum is not None:
        bound += f" and ≤ {maximum:g}"
    ok = False
    if isinstance(value, (int, float)) and not isinstance(value, bool) and (isinstance(value, int) or not integer):
        # an int too large for a float is beyond every bound (float() would raise)
        number = float(value) if not isinstance(value, int) or abs(value) < 2 ** 62 else math.inf
        ok = math.isfinite(number) and (number > 0 if minimum is None else number >= minimum)
        if maximum is not None and number > maximum:
            ok = False
    if not ok:
        raise ConfigError(f"{name} must be {kind} {bound}, got {value!r}")


@dataclass(frozen=True)
class ScheduleSpec:
    """One ``[[schedules]]`` entry."""

    name: str
    cron: str
    intent: str
    params: dict[str, Any] = field(default_factory=dict)
    active: bool = True
    tz: str = DEFAULT_ZONE           # IANA zone the cron is read in
    catch_up: str = "none"           # missed due times: "none", "once" or "all"
    max_catch_up: int = 10           # with "all": at most this many runs, the latest
    queue: str | None = None         # its jobs' queue; None: routed by [queues] intents


#: ``[retention]`` keys: days of history kept (none given: kept forever).
RETENTION_KEYS = ("jobs_days", "events_days", "alerts_days", "schedule_runs_days")


@dataclass(frozen=True)
class RetentionSettings:
    """``[retention]``: how many days of ended history ``cleanup-old-jobs`` keeps.

    ``None`` keeps it forever. ``events_days`` is also read from the older
    ``[events] retention_days`` (one of the two, not both); events default
    to 90 days. ``batch_size`` rows go per transaction.
    """

    jobs_days: float | None = None
    events_days: float | None = None
    alerts_days: float | None = None
    schedule_runs_days: float | None = None
    batch_size: int = 500

    def __post_init__(self) -> None:
        for key in RETENTION_KEYS:
            value = getattr(self, key)
            if value is not None:
                check_number(f"[retention] {key}", value, cap=_LONGEST_DAYS)
        check_number("[retention] batch_size", self.batch_size, integer=True, maximum=100_000)


def check_schedule_options(tz: object, catch_up: object, max_catch_up: object, where: str = "") -> None:
    """Refuse an unknown zone, catch-up mode or a bad bound, naming the key."""
    from queuetop.engine.model.cron import ZoneError, check_zone
    from queuetop.engine.model.states import CatchUp

    try:
        check_zone(tz)
    except ZoneError as exc:
        raise ConfigError(f"{where}tz: {exc}") from None
    if catch_up not in {mode.value for mode in CatchUp}:
        raise ConfigError(f"{where}catch_up must be \"none\", \"once\" or \"all\", got {catch_up!r}")
    check_number(f"{where}max_catch_up", max_catch_up, integer=True, maximum=1000)


ALERT_KINDS = ("job.failed", "job.partial", "schedule.failed", "schedule.missed", "circuit.open",
               "worker.stale", "backlog")  # engine/model/states.py AlertKind, in the config's words
_ALERT_KEYS = {"on", "intent", "webhook", "submit", "cooldown", "backlog_seconds"}


@dataclass(frozen=True)
class AlertRule:
    """One ``[[alerts]]`` entry: which happenings raise an alert, and where it goes."""

    on: tuple[str, ...]
    intent: str | None = None          # a glob on the intent involved; None: any
    webhook: str | None = None         # POST the alert as JSON here
    submit: str | None = None          # make a job of this intent with the alert as params
    cooldown: float = 300.0            # repeats of one kind and subject within this are collapsed
    backlog_seconds: float | None = None  # with "backlog": pending chunks due longer than this


def parse_alert(entry: object, number: int, where: str) -> AlertRule:
    """Check one ``[[alerts]]`` table (``number`` counts from 1), naming the bad key."""
    name = f"{where}: [[alerts]] #{number}"
    if not isinstance(entry, dict):
        raise ConfigError(f"{name} must be a table")
    extra = set(entry) - _ALERT_KEYS
    if extra:
        raise ConfigError(f"{name}: unknown key(s): {', '.join(sorted(extra))} (known: {', '.join(sorted(_ALERT_KEYS))})")
    on = entry.get("on")
    if not isinstance(on, list) or not on or not all(isinstance(k, str) for k in on):
        raise ConfigError(f"{name}: on must be a non-empty list of kinds ({', '.join(ALERT_KINDS)}), got {on!r}")
    unknown = [k for k in on if k not in ALERT_KINDS]
    if unknown:
        raise ConfigError(f"{name}: on: unknown kind {unknown[0]!r} (known: {', '.join(ALERT_KINDS)})")
    for key in ("intent", "submit"):
        value = entry.get(key)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise ConfigError(f"{name}: {key} must be a non-empty string, got {value!r}")
    webhook = entry.get("webhook")
    if webhook is not None:
        from urllib.parse import urlsplit

        try:  # urlsplit and .port raise ValueError on a bad IPv6 host or port
            parts = urlsplit(webhook) if isinstance(webhook, str) else None
            _ = parts and parts.port
        except ValueError:
            parts = None
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"{name}: webhook must be an http:// or https:// URL")
    if webhook is None and entry.get("submit") is None:
        raise ConfigError(f"{name}: needs a webhook = \"https://…\" or a submit = \"intent.key\" to send it to")
    cooldown = entry.get("cooldown", 300.0)
    check_number(f"{name}: cooldown", cooldown, minimum=0)
    backlog = entry.get("backlog_seconds")
    if "backlog" in on:
        if backlog is None:
            raise ConfigError(f"{name}: on = [\"backlog\"] needs backlog_seconds = N (how long a chunk may "
                              "wait past its due time before it counts)")
        check_number(f"{name}: backlog_seconds", backlog)
    elif backlog is not None:
        raise ConfigError(f"{name}: backlog_seconds is only for on = [\"backlog\"]")
    return AlertRule(on=tuple(dict.fromkeys(on)), intent=entry.get("intent"), webhook=webhook,
                     submit=entry.get("submit"), cooldown=float(cooldown),
                     backlog_seconds=None if backlog is None else float(backlog))


@dataclass(frozen=True)
class Config:
    """A whole queuetop.toml."""

    engine: EngineSettings = field(default_factory=EngineSettings)
    handlers: dict[str, str] = field(default_factory=dict)
    schedules: tuple[ScheduleSpec, ...] = ()
    maintenance: dict[str, str] = field(default_factory=lambda: dict(MAINTENANCE_CRONS))
    events: dict[str, Any] = field(default_factory=dict)
    http: dict[str, Any] = field(default_factory=dict)
    tui: dict[str, Any] = field(default_factory=dict)  # [tui] tag_moves_down
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    alerts: tuple[AlertRule, ...] = ()
    # [queues.NAME] tables; None: the file has no [queues] section (the
    # database's queue settings are left as they are)
    queues: tuple[QueueSpec, ...] | None = None
    path: Path | None = None

    def with_engine(self, **changes: Any) -> "Config":
        """A copy with some engine settings changed (CLI flags, tests)."""
        return replace(self, engine=replace(self.engine, **changes))


_SECTIONS = {"engine", "handlers", "schedules", "maintenance", "events", "http", "tui", "retention", "alerts",
             "queues"}
_TUI_KEYS = {"tag_moves_down"}
# [events] is read by the tailer (engine/tail.py, enrich.py, sessions.py) and maintenance.
_EVENT_KEYS = {"paths", "max_line_bytes", "retention_days", "thresholds", "rules"}


CRON_ALIASES = {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}


def check_cron(cron: object, where: str = "") -> None:
    """Refuse anything but 5 cron fields, 6 with seconds last, or an @-alias such as @daily.

    ``where`` prefixes the message (``"queuetop.toml: schedule 'x': "``).
    """
    from croniter import croniter  # only configs and schedule commands need it

    if not isinstance(cron, str):
        raise ConfigError(f"{where}invalid cron expression {cron!r}: it must be a string")
    if cron.strip().lower() in CRON_ALIASES:
        return
    count = len(cron.split())
    if count not in (5, 6):
        raise ConfigError(f"{where}invalid cron expression {cron!r}: {count} fields; expected 5 "
                          "(minute hour day month weekday), 6 with seconds last, or @daily-style")
    if not croniter.is_valid(cron):
        raise ConfigError(f"{where}invalid cron expression {cron!r}")


def load(path: str | os.PathLike[str] | None, *, required: bool = False) -> Config:
    """Read a config file; ``None`` means ``./queuetop.toml`` when present.

    ``required`` (the file was named explicitly) makes a missing file an error.
    """
    if path is None:
        candidate = Path(DEFAULT_CONFIG_NAME)
        if not candidate.exists():
            return Config()
        path = candidate
    path = Path(path)
    import tomllib  # only when there is a file to read: a call without one does not pay for the parser

    try:
        data = tomllib.loads(path.read_text("utf-8"))
    except FileNotFoundError:
        if required:
            raise ConfigError(f"config file not found: {path}") from None
        return Config()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    return parse(data, path)


def parse(data: dict[str, Any], path: Path | None = None) -> Config:
    """Build a :class:`Config` from parsed TOML."""
    where = str(path) if path else "config"
    unknown = set(data) - _SECTIONS
    if unknown:
        raise ConfigError(f"{where}: unknown section(s): {', '.join(sorted(unknown))}")
    engine_data = _table(data, "engine", where)
    known = {f.name for f in fields(EngineSettings)}
    bad = set(engine_data) - known
    if bad:
        raise ConfigError(f"{where}: unknown [engine] key(s): {', '.join(sorted(bad))}")
    if "handler_path" in engine_data:
        engine_data = dict(engine_data)
        raw = engine_data["handler_path"]
        if not isinstance(raw, list) or not all(isinstance(p, str) and p for p in raw):
            raise ConfigError(f"{where}: [engine] handler_path must be a list of folder paths, got {raw!r}")
        base = path.parent if path else Path.cwd()
        engine_data["handler_path"] = tuple(str((base / p).expanduser()) for p in raw)
        for folder in engine_data["handler_path"]:
            if not os.path.isdir(folder):
                raise ConfigError(f"{where}: [engine] handler_path: no folder at {folder}")
    try:
        engine = EngineSettings(**engine_data)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None

    handlers = _table(data, "handlers", where)
    for key, target in handlers.items():
        if not isinstance(target, str):
            raise ConfigError(f"{where}: [handlers] {key} must be a 'module:function' string")
        if not HANDLER_TARGET.fullmatch(target):
            raise ConfigError(f"{where}: [handlers] {key} = {target!r} is not 'package.module:function'"
                              + (" (a colon goes before the function name)" if ":" not in target else ""))

    maintenance = dict(MAINTENANCE_CRONS)
    for name, cron in _table(data, "maintenance", where).items():
        if name not in MAINTENANCE_CRONS:
            raise ConfigError(f"{where}: unknown maintenance task {name!r} "
                              f"(known: {', '.join(MAINTENANCE_CRONS)})")
        check_cron(cron, f"{where}: [maintenance] {name}: ")
        maintenance[name] = cron

    schedules = []
    raw_schedules = data.get("schedules", [])
    if not isinstance(raw_schedules, list):
        raise ConfigError(f"{where}: schedules must be an array of tables ([[schedules]])")
    for entry in raw_schedules:
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: each [[schedules]] entry must be a table")
        missing = {"name", "cron", "intent"} - set(entry)
        if missing:
            raise ConfigError(f"{where}: a [[schedules]] entry lacks {', '.join(sorted(missing))}")
        extra = set(entry) - {"name", "cron", "intent", "params", "active", "tz", "catch_up", "max_catch_up",
                              "queue"}
        if extra:
            raise ConfigError(f"{where}: unknown [[schedules]] key(s): {', '.join(sorted(extra))}")
        name = entry["name"]
        for key in ("name", "intent"):
            if not isinstance(entry[key], str) or not entry[key].strip():
                raise ConfigError(f"{where}: [[schedules]] {key} must be a non-empty string, got {entry[key]!r}")
        if not isinstance(entry.get("params", {}), dict):
            raise ConfigError(f"{where}: schedule {name!r}: params must be a table")
        if not isinstance(entry.get("active", True), bool):
            raise ConfigError(f"{where}: schedule {name!r}: active must be true or false, got {entry['active']!r}")
        if not is_intent_key(entry["intent"]):
            raise ConfigError(f"{where}: schedule {name!r}: intent {entry['intent']!r} is not a valid intent key "
                              "(letters, digits, '_', '.', '-')")
        check_cron(entry["cron"], f"{where}: schedule {name!r}: ")
        if "queue" in entry and queue_name_problem(entry["queue"]):
            raise ConfigError(f"{where}: schedule {name!r}: {queue_name_problem(entry['queue'])}")
        check_schedule_options(entry.get("tz", DEFAULT_ZONE), entry.get("catch_up", "none"),
                               entry.get("max_catch_up", 10), f"{where}: schedule {name!r}: ")
        if name in {s.name for s in schedules}:
            raise ConfigError(f"{where}: two [[schedules]] are named {name!r}")
        schedules.append(ScheduleSpec(**entry))

    events = _table(data, "events", where)
    unknown_events = set(events) - _EVENT_KEYS
    if unknown_events:
        raise ConfigError(f"{where}: unknown [events] key(s): {', '.join(sorted(unknown_events))} "
                          f"(known: {', '.join(sorted(_EVENT_KEYS))})")
    if not isinstance(events.get("paths", []), list) or not all(isinstance(p, str) for p in events.get("paths", [])):
        raise ConfigError(f"{where}: [events] paths must be a list of file paths or globs")
    tui = _table(data, "tui", where)
    if set(tui) - _TUI_KEYS:
        raise ConfigError(f"{where}: unknown [tui] key(s): {', '.join(sorted(set(tui) - _TUI_KEYS))} "
                          f"(known: {', '.join(sorted(_TUI_KEYS))})")
    if not isinstance(tui.get("tag_moves_down", False), bool):
        raise ConfigError(f"{where}: [tui] tag_moves_down must be true or false")
    raw_alerts = data.get("alerts", [])
    if not isinstance(raw_alerts, list):
        raise ConfigError(f"{where}: alerts must be an array of tables ([[alerts]])")
    alerts = tuple(parse_alert(entry, number, where) for number, entry in enumerate(raw_alerts, 1))
    return Config(engine=engine, handlers=dict(handlers), schedules=tuple(schedules),
                  maintenance=maintenance, events=events,
                  http=_table(data, "http", where), tui=tui, retention=_retention(data, events, where),
                  alerts=alerts, queues=_queues(data, where), path=path)


def _queues(data: dict[str, Any], where: str) -> tuple[QueueSpec, ...] | None:
    """The ``[queues.NAME]`` tables, each checked with the bad key named; None without a [queues] section."""
    if "queues" not in data:
        return None
    try:
        return tuple(parse_queue_spec(name, table, where) for name, table in _table(data, "queues", where).items())
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _retention(data: dict[str, Any], events: dict[str, Any], where: str) -> RetentionSettings:
    table = dict(_table(data, "retention", where))
    unknown = set(table) - {*RETENTION_KEYS, "batch_size"}
    if unknown:
        raise ConfigError(f"{where}: unknown [retention] key(s): {', '.join(sorted(unknown))} "
                          f"(known: {', '.join(RETENTION_KEYS)}, batch_size)")
    if "retention_days" in events:
        if "events_days" in table:
            raise ConfigError(f"{where}: [retention] events_days and [events] retention_days say the same thing; "
                              "keep one")
        check_number("[events] retention_days", events["retention_days"])
        table["events_days"] = events["retention_days"]
    try:
        return RetentionSettings(**table)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _table(data: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: [{name}] must be a table")
    return value


SUPPORTED_DB = "a file path, sqlite:///PATH or postgresql://…"


def resolve_db(given: str | None) -> Path | str:
    """The database to open, from ``--db``, else ``$QUEUETOP_DB``, else the default.

    One rule for the CLI, the engine and the TUI: a plain path or
    ``sqlite:///path`` is a SQLite file (a :class:`Path`); a
    ``postgresql://`` (or ``postgres://``) URL stays a string. Any other
    scheme is an error naming the supported ones, never a file called
    ``mysql:/...`` in the working directory.
    """
    target = given if given is not None else os.environ.get("QUEUETOP_DB") or str(default_db_path())
    source = "--db" if given is not None else "$QUEUETOP_DB"
    if not target.strip():
        raise ConfigError(f"{source} is empty: give {SUPPORTED_DB}")
    if "\x00" in target:
        raise ConfigError(f"{source} contains a NUL byte")
    if target.startswith(("postgresql://", "postgres://")):
        return target
    if target.startswith("sqlite://"):
        rest = target[len("sqlite://"):]
        if not rest.startswith("/") or rest == "/":
            raise ConfigError(f"{source} {target!r}: a SQLite URL is sqlite:///relative/path or sqlite:////absolute/path")
        return _in_existing_folder(Path(rest[1:]).expanduser(), source)
    scheme = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", target)
    if scheme:
        raise ConfigError(f"{source} {target!r}: unsupported database scheme {scheme.group(1)!r}; "
                          f"use {SUPPORTED_DB}")
    path = Path(target).expanduser()
    return path if given is None and not os.environ.get("QUEUETOP_DB") else _in_existing_folder(path, source)


def _in_existing_folder(path: Path, source: str) -> Path:
    """``path`` when its folder exists: a database named by the user is never given a folder it did not make.

    Only the default database (``default_db_path``) has its folder created.
    """
    if not path.parent.is_dir():
        raise ConfigError(f"{source} {path}: no folder {path.parent} (create it first, or check the path)")
    return path


def default_db_path() -> Path:
    """``queuetop.db`` in the user's data directory (``$XDG_DATA_HOME`` or ~/.local/share)."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "queuetop" / "queuetop.db"


def display_db(target: Path | str) -> str:
    """``target`` as shown to an operator: a URL's password is never printed,
    given as ``user:password@`` or as libpq's ``password=`` (``sslpassword=``) parameter."""
    text = str(target)
    if not re.match(r"postgres(?:ql)?://", text):
        return text
    text = re.sub(r"^(postgres(?:ql)?://[^:/@]*:)[^@]*@", r"\1***@", text)
    return re.sub(r"([?&](?:ssl)?password=)[^&#]*", r"\1***", text, flags=re.IGNORECASE)
