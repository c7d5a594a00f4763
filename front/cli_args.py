"""The ``queuetop`` command line: its arguments and their types.

Every value is checked here, as argparse parses it, so that a bad one is one
line on stderr and exit status 2 before anything is opened.
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import os
import sys
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, NoReturn

from queuetop.engine.model.exceptions import UsageError
from queuetop.engine.model.query import QueryError, SortColumn, parse, parse_sort
from queuetop.engine.model.states import AlertState, JobState

#: A command: ``(queue or None, parsed args) -> exit status``.
Handler = Callable[..., Awaitable[int]]

def _columns() -> int:
    """The terminal's width as :func:`shutil.get_terminal_size` finds it, without importing shutil
    (argparse's formatter would, for every parse, and with it bz2 and lzma)."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


class _Formatter(argparse.HelpFormatter):
    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position, _columns() - 2 if width is None else width)


class Parser(argparse.ArgumentParser):
    """argparse, but errors are one line and exit status 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> Any:
        self._argv = list(sys.argv[1:] if args is None else args)  # for error(): which option was mistyped
        return super().parse_known_args(args, namespace)

    def _options(self) -> set[str]:
        """Every option string of this parser and of its commands."""
        found = set(self._option_string_actions)
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                for parser in action.choices.values():
                    found |= parser._options() if isinstance(parser, Parser) else set(parser._option_string_actions)
        return found

    def error(self, message: str) -> NoReturn:
        # A mistyped option is taken for a value (`--concurency 3` read as the command `3`) or listed
        # among other words: name it, and the option it was probably meant to be.
        known = self._options()
        argv = getattr(self, "_argv", [])
        words = argv[:argv.index("--")] if "--" in argv else argv
        unknown = [word.partition("=")[0] for word in words
                   if word.startswith("--") and word.partition("=")[0] not in known]
        if unknown:
            near = difflib.get_close_matches(unknown[0], sorted(known), n=1)
            message = f"unknown option {unknown[0]}" + (f" (did you mean {near[0]}?)" if near else "")
        sys.stderr.write(f"queuetop: error: {message}\n")
        raise SystemExit(2)


def _where(text: str) -> str:
    """A jobs query, checked here so a bad one is refused before the database is opened."""
    try:
        parse(text)
    except QueryError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _sort(text: str) -> str:
    try:
        parse_sort(text)
    except QueryError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _json_arg(text: str) -> Any:
    """An argparse type: a JSON object (``--params``), with a one-line error otherwise."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"invalid JSON {text!r}: {exc.msg} at column {exc.colno}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"must be a JSON object, got {text!r}")
    return value


def _integer(low: int, high: int = 2 ** 31) -> Callable[[str], int]:
    """An argparse type: an integer in [low, high], with a one-line error otherwise."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, got {value}")
        return value

    parse.__name__ = "integer"
    return parse


def _seconds(text: str) -> float:
    """An argparse type: a finite, positive number of seconds (no nan, no inf)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number of seconds > 0, got {text!r}")
    return value


_LIMIT = _integer(1, 1_000_000)


def _queue(text: str) -> str:
    """An argparse type: a queue name (letters, digits, '_', '.', '-')."""
    from queuetop.engine.model.queues import queue_name_problem

    problem = queue_name_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def _iso_time(text: str) -> Any:
    """An argparse type: an ISO 8601 date or time (``2026-03-29T02:30``, ``…+01:00``, ``…Z``)."""
    from datetime import datetime

    try:
        return datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an ISO time such as 2026-03-29T02:30 or "
                                         f"2026-03-29T01:30Z, got {text!r}") from None


def _rate(text: str) -> float:
    """An argparse type: events per second, finite and ≥ 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number ≥ 0, got {text!r}")
    return value


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("queuetop")
    except PackageNotFoundError:
        return "unknown"


class _Version(argparse.Action):
    """``--version``: the installed version, looked up only when asked for (importlib.metadata is slow to import)."""

    def __init__(self, option_strings: list[str], dest: str = argparse.SUPPRESS, help: str | None = None) -> None:
        super().__init__(option_strings, dest=dest, default=argparse.SUPPRESS, nargs=0, help=help)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        sys.stdout.write(f"queuetop {_version()}\n")
        parser.exit()


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", metavar="PATH", default=argparse.SUPPRESS,
                        help="database file (default: $QUEUETOP_DB, else ~/.local/share/queuetop/queuetop.db)")
    parser.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                        help="config file (default: ./queuetop.toml when present)")


# The top-level options that take a value: the word after one is not a command.
_VALUE_OPTIONS = ("--db", "--config", "--workers", "--concurrency", "--events")


def _command_word(argv: Sequence[str]) -> str | None:
    """The first word of ``argv`` that is neither an option nor an option's value (the command, if any)."""
    value_next = False
    for word in argv:
        if value_next:
            value_next = False
        elif word == "--":
            return None
        elif word.startswith("-"):
            # argparse takes any unambiguous prefix of an option: count a
            # prefix of a value-taking one as taking the next word too.
            value_next = "=" not in word and len(word) > 2 and any(o.startswith(word) for o in _VALUE_OPTIONS)
        else:
            return word
    return None


class _NotBuilt:
    """Stands in for the parser of a command the command line does not name: takes its arguments, builds nothing."""

    def add_argument(self, *args: Any, **kwargs: Any) -> "_NotBuilt":
        return self

    def add_mutually_exclusive_group(self, *args: Any, **kwargs: Any) -> "_NotBuilt":
        return self


def build_parser(handlers: Mapping[str, Handler], argv: Sequence[str] | None = None) -> Parser:
    """The parser of every command, or with ``argv`` only of the command it names.

    Building all seventeen subcommand parsers costs a call that runs one of
    them more than some whole commands do; a word that names no command gets
    the full parser, whose error lists them.
    """
    only = _command_word(argv) if argv is not None else None
    built: list[str] = []
    parser = Parser(prog="queuetop", description="A local job-queue monitor with its engine inside.")
    parser.add_argument("--version", action=_Version, help="print the version and exit")
    _common(parser)
    parser.add_argument("--engine-only", action="store_true",
                        help="run workers, schedules and maintenance headless (no TUI)")
    parser.add_argument("--demo", action="store_true",
                        help="open the TUI on a temporary database with demo jobs, workers and events")
    parser.add_argument("--read-only", action="store_true", help="TUI: disable every action")
    parser.add_argument("--no-workers", action="store_true", help="TUI: run no workers in this process")
    parser.add_argument("--workers", type=_integer(0, 256), metavar="N",
                        help="worker tasks in this process (TUI: 0 = none; by default the TUI runs none "
                             "while another process's workers are online)")
    parser.add_argument("--concurrency", type=_integer(1, 10_000), metavar="N", help="chunks each worker runs at once")
    parser.add_argument("--events", action="append", metavar="PATH", default=[],
                        help="NDJSON event file or glob to follow (repeatable)")
    parser.add_argument("--metrics-port", type=_integer(1, 65535), metavar="PORT",
                        help="--engine-only: serve Prometheus metrics on GET /metrics at this port")
    parser.add_argument("--metrics-host", metavar="HOST",
                        help="the address /metrics binds (default 127.0.0.1, or [engine] metrics_host)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug lines too")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)

    def command(name: str, help: str, handler: Callable[..., Awaitable[int]], *,
                needs_db: bool = True, reads: bool = False) -> Any:
        # reads: the command only reads, so it never creates a database and
        # --read-only allows it.
        if only is not None and name != only:
            return _NotBuilt()
        built.append(name)
        p = sub.add_parser(name, help=help, description=help)
        _common(p)
        p.set_defaults(handler=handler, needs_db=needs_db, reads=reads)
        return p

    p = command("submit", "submit a job and print its id", handlers["cmd_submit"])
    p.add_argument("intent", help="the intent key of the handler to run")
    source = p.add_mutually_exclusive_group()
    source.add_argument("--range", dest="date_range", metavar="A..B", help="date range to split, e.g. 2024-01-01..2025-12-31 (1-day chunks unless --chunk-days says otherwise)")
    source.add_argument("--chunks", metavar="FILE", help="JSON file with a list of chunk params objects ('-' for stdin)")
    p.add_argument("--chunk-days", type=_integer(1, 10 ** 7), metavar="N", help="days per chunk with --range (default 1)")
    p.add_argument("--max-chunks", type=_integer(1, 10 ** 9), default=1_000_000, metavar="N",
                   help="refuse a job of more chunks than this (default 1,000,000)")
    p.add_argument("--params", type=_json_arg, metavar="JSON", help="job params, a JSON object")
    p.add_argument("--dedupe-key", metavar="K", help="return the unfinished job with this key instead of a new one")
    p.add_argument("--max-retries", type=_integer(0, 1000), metavar="N", help="retries after a transient error (default 3)")
    p.add_argument("--priority", type=_integer(-10 ** 9, 10 ** 9), default=0, metavar="N",
                   help="higher runs first (default 0)")
    p.add_argument("--timeout", type=_seconds, metavar="S", help="seconds a chunk may run (default 3600)")
    p.add_argument("--on-finalize", metavar="INTENT", help="intent to enqueue when the job ends")
    p.add_argument("--queue", type=_queue, metavar="NAME",
                   help="the job's queue (default: the [queues] table whose intents match, else 'default')")
    p.add_argument("--json", action="store_true", help="print {job_id, created} as JSON")

    p = command("submit-many", "submit one job per line of an NDJSON file, in batches", handlers["cmd_submit_many"])
    p.add_argument("file", metavar="FILE", help="one JSON object per line: intent plus any of submit's keys, "
                                                "e.g. date_range, chunks, params, dedupe_key, queue ('-' for stdin)")
    p.add_argument("--json", action="store_true", help="print [{job_id, created}, ...] in the file's order")

    p = command("jobs", "list jobs, newest first (or as --sort says)", handlers["cmd_jobs"], reads=True)
    p.add_argument("--status", choices=[state.value for state in JobState], help="only jobs in this state")
    p.add_argument("--where", type=_where, metavar="QUERY",
                   help="only the jobs this query matches, e.g. 'state:failed err:timeout' (words: free text, "
                        "state:, intent:GLOB, queue:, age:>1h/<30m, err:, id:; all must match)")
    p.add_argument("--sort", type=_sort, default="id:desc", metavar="COLUMN[:asc|:desc]",
                   help=f"sort by {', '.join(c.value for c in SortColumn)} (default id:desc, the newest first)")
    p.add_argument("--limit", type=_LIMIT, default=50, help="how many (default 50)")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command("chunks", "list a job's chunks with every failed attempt", handlers["cmd_chunks"], reads=True)
    p.add_argument("job", type=int, help="job id")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command("logs", "print a job's log lines", handlers["cmd_logs"], reads=True)
    p.add_argument("job", type=int, help="job id")
    p.add_argument("--limit", type=_LIMIT, default=200, help="newest N lines (default 200)")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command("workers", "list workers and their heartbeats", handlers["cmd_workers"], reads=True)
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command("circuits", "list HTTP circuit breakers by host (open ones first)", handlers["cmd_circuits"], reads=True)
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command("alerts", "list alerts, newest first, with their delivery state", handlers["cmd_alerts"], reads=True)
    p.add_argument("--status", choices=[state.value for state in AlertState], help="only alerts in this state")
    p.add_argument("--limit", type=_LIMIT, default=50, help="how many (default 50)")
    p.add_argument("--json", action="store_true", help="print JSON, with every delivery attempt")

    p = command("schedules", "list schedules with their last run", handlers["cmd_schedules"], reads=True)
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command("schedule", "add, enable, disable, run or remove a schedule; its runs or next fire times",
                handlers["cmd_schedule"])
    p.add_argument("action", choices=["add", "enable", "disable", "run", "remove", "runs", "next"], help="what to do")
    p.add_argument("name", help="schedule name")
    p.add_argument("cron", nargs="?", help="cron expression (add)")
    p.add_argument("intent", nargs="?", help="intent to submit each time it fires (add)")
    p.add_argument("--params", type=_json_arg, metavar="JSON", help="job params (add)")
    p.add_argument("--tz", metavar="ZONE", default="UTC",
                   help="add: IANA time zone the cron is read in, e.g. Europe/Berlin (default UTC)")
    p.add_argument("--catch-up", choices=["none", "once", "all"], default="none",
                   help="add: due times missed while no engine ran: skip them, run once, or run each (default none)")
    p.add_argument("--max-catch-up", type=_integer(1, 1000), default=10, metavar="N",
                   help="add: with --catch-up all, at most the latest N (default 10)")
    p.add_argument("--queue", type=_queue, metavar="NAME",
                   help="add: its jobs' queue (default: the [queues] table whose intents match, else 'default')")
    p.add_argument("--count", type=_integer(1, 1000), default=5, metavar="N", help="next: how many (default 5)")
    p.add_argument("--after", type=_iso_time, metavar="ISO-TIME",
                   help="next: fire times after this (default now); without an offset, in the schedule's zone")
    p.add_argument("--replace", action="store_true", help="add: overwrite a schedule of the same name")
    p.add_argument("--json", action="store_true", help="print JSON")

    for name, text in (("retry", "failed and cancelled chunks of a job (or one chunk) back to pending"),
                       ("cancel", "cancel a job (or one chunk): pending and running chunks stop"),
                       ("finalize", "end a job now: unfinished chunks cancelled, final status set")):
        p = command(name, text, handlers["cmd_action"])
        p.add_argument("job", type=int, help="job id")
        # finalize takes --chunk only to refuse it with a pointer to cancel: not offered in its help
        p.add_argument("--chunk", type=int, metavar="N",
                       help=argparse.SUPPRESS if name == "finalize" else "only this chunk index")
        p.add_argument("--json", action="store_true", help="print JSON")

    for name, text in (("pause", "stop new claims (running chunks finish)"), ("resume", "allow claims again")):
        p = command(name, text, handlers["cmd_pause"])
        p.add_argument("--queue", type=_queue, metavar="NAME",
                       help=f"{name} only this queue (without it: the whole database)")
        if name == "pause":
            p.add_argument("--new", action="store_true",
                           help="pause a queue no job, config or earlier pause names yet (else refused as a typo)")
        p.add_argument("--json", action="store_true", help="print JSON")

    p = command("queues", "list queues: pending, running, ended in the last hour, limits, rate, pause",
                handlers["cmd_queues"], reads=True)
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command("events", "print stored coordination events, oldest first (or --stats per event file)", handlers["cmd_events"],
                reads=True)
    p.add_argument("--session", metavar="ID", help="only this work session's events")
    p.add_argument("--since", type=_integer(0, 2 ** 62), metavar="ID",
                   help="events after this event id (default: the newest --limit)")
    p.add_argument("--limit", type=_LIMIT, default=50, help="how many (default 50)")
    p.add_argument("--follow", action="store_true", help="keep printing new events as they are stored")
    p.add_argument("--stats", action="store_true", help="per event file: progress, restarts, bad lines by reason")
    p.add_argument("--json", action="store_true", help="print JSON (one object per line with --follow)")

    p = command("sessions", "list work sessions, latest activity first", handlers["cmd_sessions"], reads=True)
    p.add_argument("--status", type=str.upper, choices=["ACTIVE", "QUIET", "ARCHIVED"], help="only this status")
    p.add_argument("--search", metavar="TEXT", help="match session id, category or agent")
    p.add_argument("--limit", type=_LIMIT, default=50, help="how many (default 50)")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command("demo-events", "append realistic demo events to an NDJSON file", handlers["cmd_demo_events"], needs_db=False,
                reads=True)
    p.add_argument("path", help="the file to append to (created if missing)")
    p.add_argument("--rate", type=_rate, default=5.0, help="events per second; 0 for as fast as possible (default 5)")
    p.add_argument("--count", type=_integer(0, 10 ** 9), metavar="N", help="stop after N events (default: until interrupted)")
    p.add_argument("--seed", type=int, default=0, help="the same seed writes the same events (default 0)")

    if only is not None and not built:
        return build_parser(handlers)
    return parser


# -- commands ------------------------------------------------------------------


# Arguments that name files: bytes that are not UTF-8 are a valid file name there.
_PATH_ARGUMENTS = frozenset({"db", "config", "chunks", "file", "events", "path"})


def check_text(args: argparse.Namespace) -> None:
    """Refuse an argument that is not UTF-8 text, naming it.

    Python hands such bytes over as lone surrogates, which no database
    driver or encoder accepts (SQLite stored them as they came).
    """
    for name, value in vars(args).items():
        if name in _PATH_ARGUMENTS:
            continue
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str):
                try:
                    text.encode("utf-8")
                except UnicodeEncodeError:
                    shown = os.fsencode(text)
                    raise UsageError(f"{name.replace('_', '-')} {shown!r} is not UTF-8 text") from None
