"""queuetop.toml: engine settings, handlers, schedules, event sources.

Everything has a default; the file only says what differs. Unknown keys are
errors, so a typo never silently leaves a default in force.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from queuetop.engine.model.exceptions import ConfigError

DEFAULT_CONFIG_NAME = "queuetop.toml"

# Built-in maintenance, as the systems queuetop replaces ran it (seed 000).
MAINTENANCE_CRONS: dict[str, str] = {
    "mark-stale-workers-offline": "*/2 * * * *",
    "reset-stuck-tasks": "*/10 * * * *",
    "cleanup-old-task-logs": "0 3 * * *",
    "cleanup-old-events": "30 3 * * *",
}


@dataclass(frozen=True)
class EngineSettings:
    """``[engine]``: how workers and maintenance behave."""

    concurrency: int = 4             # chunks one worker runs at once
    workers: int = 1                 # worker tasks per engine process
    heartbeat_interval: float = 5.0  # seconds between heartbeats
    stale_after: float = 300.0       # a worker silent this long is marked offline
    poll_interval: float = 0.5       # idle workers look for due chunks this often
    grace_period: float = 30.0       # on SIGTERM, in-flight chunks get this long to finish
    chunk_timeout: float = 3600.0    # default per-chunk timeout for new jobs
    max_retries: int = 3             # default retries for new jobs
    retry_base: float = 5.0          # back-off after the first failed attempt (seconds)
    retry_cap: float = 600.0         # longest back-off
    log_flush_interval: float = 5.0  # the log buffer writes at least this often
    log_flush_entries: int = 100     # ... or when this many entries wait
    log_retention_days: float = 30.0
    scheduler_interval: float = 1.0  # how often due schedules are looked for
    # What handlers hand back is cut to these many characters, with a marker.
    max_error_chars: int = 8_000
    max_log_chars: int = 8_000
    max_result_chars: int = 20_000

    def __post_init__(self) -> None:
        for spec in fields(self):
            value = getattr(self, spec.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"[engine] {spec.name} must be a number, got {value!r}")
            if value < 0 or (value == 0 and spec.name != "max_retries"):
                raise ConfigError(f"[engine] {spec.name} must be positive, got {value!r}")


@dataclass(frozen=True)
class ScheduleSpec:
    """One ``[[schedules]]`` entry."""

    name: str
    cron: str
    intent: str
    params: dict[str, Any] = field(default_factory=dict)
    active: bool = True


@dataclass(frozen=True)
class Config:
    """A whole queuetop.toml."""

    engine: EngineSettings = field(default_factory=EngineSettings)
    handlers: dict[str, str] = field(default_factory=dict)
    schedules: tuple[ScheduleSpec, ...] = ()
    maintenance: dict[str, str] = field(default_factory=lambda: dict(MAINTENANCE_CRONS))
    events: dict[str, Any] = field(default_factory=dict)
    http: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    def with_engine(self, **changes: Any) -> "Config":
        """A copy with some engine settings changed (CLI flags, tests)."""
        return replace(self, engine=replace(self.engine, **changes))


_SECTIONS = {"engine", "handlers", "schedules", "maintenance", "events", "http"}
# [events] is read by the tailer (engine/tail.py, enrich.py, sessions.py) and maintenance.
_EVENT_KEYS = {"paths", "max_line_bytes", "retention_days", "thresholds", "rules"}


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
    engine = EngineSettings(**engine_data)

    handlers = _table(data, "handlers", where)
    for key, target in handlers.items():
        if not isinstance(target, str):
            raise ConfigError(f"{where}: [handlers] {key} must be a 'module:function' string")

    maintenance = dict(MAINTENANCE_CRONS)
    for name, cron in _table(data, "maintenance", where).items():
        if name not in MAINTENANCE_CRONS:
            raise ConfigError(f"{where}: unknown maintenance task {name!r} "
                              f"(known: {', '.join(MAINTENANCE_CRONS)})")
        if not isinstance(cron, str):
            raise ConfigError(f"{where}: [maintenance] {name} must be a cron string")
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
        extra = set(entry) - {"name", "cron", "intent", "params", "active"}
        if extra:
            raise ConfigError(f"{where}: unknown [[schedules]] key(s): {', '.join(sorted(extra))}")
        if not isinstance(entry.get("params", {}), dict):
            raise ConfigError(f"{where}: schedule {entry['name']!r}: params must be a table")
        schedules.append(ScheduleSpec(**entry))

    events = _table(data, "events", where)
    unknown_events = set(events) - _EVENT_KEYS
    if unknown_events:
        raise ConfigError(f"{where}: unknown [events] key(s): {', '.join(sorted(unknown_events))} "
                          f"(known: {', '.join(sorted(_EVENT_KEYS))})")
    if not isinstance(events.get("paths", []), list) or not all(isinstance(p, str) for p in events.get("paths", [])):
        raise ConfigError(f"{where}: [events] paths must be a list of file paths or globs")
    return Config(engine=engine, handlers=dict(handlers), schedules=tuple(schedules),
                  maintenance=maintenance, events=events,
                  http=_table(data, "http", where), path=path)


def _table(data: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    value = data.get(name, {})
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: [{name}] must be a table")
    return value


def resolve_db(given: str | None) -> Path | str:
    """The database to open: ``given``, else the default; URLs stay strings."""
    target = given or os.environ.get("QUEUETOP_DB") or str(default_db_path())
    if target.startswith(("postgresql://", "postgres://")):
        return target
    return Path(target).expanduser()


def default_db_path() -> Path:
    """``$QUEUETOP_DB``, else ``queuetop.db`` in the user's data directory."""
    env = os.environ.get("QUEUETOP_DB")
    if env:
        return Path(env)
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "queuetop" / "queuetop.db"
