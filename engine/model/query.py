"""The jobs query language: what `/` in the TUI and `queuetop jobs --where` read.

A query is words separated by spaces; every word narrows the jobs (words
combine with AND)::

    timeout                 free text: in the intent, the params or a chunk's last error
    "two words"             free text with a space in it (double quotes group)
    state:failed            the job's state; state:failed,partial for either
    intent:reports.*        the intent, as a glob (* any run of characters, ? one); commas for either
    queue:reports           the job's queue (exactly); queue:a,b for either
    age:>1h  age:<30m       older / younger than (s, m, h, d, w)
    err:timeout             a chunk's last error contains the text
    id:123                  the job id; id:1,2,3 for any of them

Text matches are case-insensitive substrings. :func:`parse` reads a query
once into a frozen :class:`JobQuery`; the store turns that into SQL with
every value bound as a parameter. A bad query raises :class:`QueryError`,
one line that says what is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

from queuetop.engine.model.exceptions import UsageError
from queuetop.engine.model.states import JobState

#: The queue of jobs submitted without one.
DEFAULT_QUEUE = "default"
#: How long a unit of `age:` is, in seconds.
AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
KEYS = ("state", "intent", "queue", "age", "err", "id")
#: The longest query accepted, and the most words in one.
MAX_LENGTH = 1000
MAX_TERMS = 32

_KEY = re.compile(r"^([A-Za-z_]+):(.*)$", re.DOTALL)
_AGE = re.compile(r"^([<>])\s*(\d+(?:\.\d+)?)\s*([smhdw])$")
_GLOB = re.compile(r"^[^\s]+$")


class QueryError(UsageError):
    """A query that cannot be read: the message is one line for the operator."""


@dataclass(frozen=True)
class JobQuery:
    """A parsed jobs query; the empty query matches every job.

    Filters given more than once are intersected at parse time (two
    ``state:`` words leave the states in both); ``nothing`` is set when that
    leaves no job that could match.
    """

    #: Free-text words, each matched against intent, params and chunks' last errors.
    text: tuple[str, ...] = ()
    #: The states allowed (None: any).
    states: frozenset[JobState] | None = None
    #: Each entry is one `intent:` word: its globs, any of which may match.
    intents: tuple[tuple[str, ...], ...] = ()
    #: Created longer ago than this many seconds.
    older_than: float | None = None
    #: Created less long ago than this many seconds.
    younger_than: float | None = None
    #: Each must be in some chunk's last error.
    errors: tuple[str, ...] = ()
    #: The job ids allowed (None: any).
    ids: frozenset[int] | None = None
    #: The queues allowed (None: any).
    queues: frozenset[str] | None = None
    #: True when the filters contradict each other.
    nothing: bool = False
    #: The words as read, for titles and messages.
    words: tuple[str, ...] = field(default=(), compare=False)

    @property
    def empty(self) -> bool:
        """True for the query that matches every job."""
        return not self.words

    @property
    def counted(self) -> bool:
        """True when the state counters alone answer how many jobs match."""
        return not (self.text or self.intents or self.errors or self.ids is not None or self.queues is not None
                    or self.older_than is not None or self.younger_than is not None)

    def __str__(self) -> str:
        return " ".join(self.words)


def _words(text: str) -> list[tuple[str, bool]]:
    """Split on spaces outside double quotes: (word, was_quoted_whole)."""
    words: list[tuple[str, bool]] = []
    current: list[str] = []
    quoted = in_quotes = False
    started = False
    for char in text:
        if char == '"':
            if not in_quotes and not current:
                quoted = True
            in_quotes = not in_quotes
            started = True
        elif char.isspace() and not in_quotes:
            if started:
                words.append(("".join(current), quoted))
            current, quoted, started = [], False, False
        else:
            current.append(char)
            started = True
    if in_quotes:
        raise QueryError('unclosed " in the query')
    if started:
        words.append(("".join(current), quoted))
    return words


def _shown(word: str) -> str:
    return f'"{word}"' if not word or any(c.isspace() for c in word) else word


def _age(value: str) -> tuple[str, float]:
    match = _AGE.match(value.strip().lower())
    if match is None:
        raise QueryError(f"age:{value} is not an age: write age:>1h or age:<30m (units s, m, h, d, w)")
    return match.group(1), float(match.group(2)) * AGE_UNITS[match.group(3)]


def _ids(value: str) -> frozenset[int]:
    ids: set[int] = set()
    for part in value.split(","):
        part = part.strip()
        if not part.isascii() or not part.isdigit() or len(part) > 18:
            raise QueryError(f"id:{value} is not a job id: write id:123 or id:1,2,3")
        ids.add(int(part))
    return frozenset(ids)


def _states(value: str) -> frozenset[JobState]:
    states: set[JobState] = set()
    for part in value.split(","):
        try:
            states.add(JobState(part.strip().lower()))
        except ValueError:
            known = ", ".join(state.value for state in JobState)
            raise QueryError(f"state:{value}: unknown state {part.strip()!r} (known: {known})") from None
    return frozenset(states)


def _queues(value: str) -> frozenset[str]:
    names = frozenset(part.strip() for part in value.split(","))
    if not all(names):
        raise QueryError(f"queue:{value} has an empty name: write queue:reports or queue:a,b")
    return names


def _globs(value: str) -> tuple[str, ...]:
    globs = tuple(part.strip() for part in value.split(","))
    if not all(globs):
        raise QueryError(f"intent:{value} has an empty pattern: write intent:reports.* or intent:a,b")
    return globs


def parse(text: str) -> JobQuery:
    """Read a query (see the module's docstring); raise :class:`QueryError` if it is not one."""
    if not isinstance(text, str):
        raise QueryError("a query is text")
    if len(text) > MAX_LENGTH:
        raise QueryError(f"the query is longer than {MAX_LENGTH} characters")
    if "\x00" in text:
        raise QueryError("the query holds a NUL character")
    words = _words(text)
    if len(words) > MAX_TERMS:
        raise QueryError(f"the query has more than {MAX_TERMS} words")
    free: list[str] = []
    states: frozenset[JobState] | None = None
    intents: list[tuple[str, ...]] = []
    older: float | None = None
    younger: float | None = None
    errors: list[str] = []
    ids: frozenset[int] | None = None
    queues: frozenset[str] | None = None
    nothing = False
    shown: list[str] = []
    for word, quoted in words:
        match = None if quoted else _KEY.match(word)
        if match is None:
            if word:
                free.append(word)
                shown.append(_shown(word))
            continue
        key, value = match.group(1).lower(), match.group(2)
        if key not in KEYS:
            raise QueryError(f"unknown filter {match.group(1)}: (known: {', '.join(k + ':' for k in KEYS)});"
                             f' quote the word ("{word}") to search for it as text')
        if not value.strip():
            raise QueryError(f"{key}: needs a value, e.g. " + {
                "state": "state:failed", "intent": "intent:reports.*", "queue": "queue:default",
                "age": "age:>1h", "err": "err:timeout", "id": "id:123"}[key])
        shown.append(f"{key}:{_shown(value)}")
        if key == "state":
            states = _states(value) if states is None else states & _states(value)
        elif key == "intent":
            intents.append(_globs(value))
        elif key == "queue":
            queues = _queues(value) if queues is None else queues & _queues(value)
        elif key == "age":
            op, seconds = _age(value)
            if op == ">":
                older = seconds if older is None else max(older, seconds)
            else:
                younger = seconds if younger is None else min(younger, seconds)
        elif key == "err":
            errors.append(value)
        else:
            ids = _ids(value) if ids is None else ids & _ids(value)
    if states is not None and not states or ids is not None and not ids or queues is not None and not queues:
        nothing = True
    if older is not None and younger is not None and older >= younger:
        nothing = True
    return JobQuery(text=tuple(free), states=states, intents=tuple(intents), older_than=older,
                    younger_than=younger, errors=tuple(errors), ids=ids, queues=queues, nothing=nothing,
                    words=tuple(shown))


class SortColumn(str, Enum):
    """What the jobs can be sorted by (the TUI's `o` cycles through them in this order)."""

    ID = "id"
    INTENT = "intent"
    STATE = "state"
    PROGRESS = "progress"
    AGE = "age"
    UPDATED = "updated"  # the job's last change of state: finished, else started, else created


#: Each column's first direction: descending for id, progress and updated (the newest, the furthest
#: along, the latest change first), ascending for the others (age ascending: youngest first).
NATURAL_DESCENDING = {SortColumn.ID: True, SortColumn.INTENT: False, SortColumn.STATE: False,
                      SortColumn.PROGRESS: True, SortColumn.AGE: False, SortColumn.UPDATED: True}


@dataclass(frozen=True)
class JobSort:
    """A sort of the jobs: a column and a direction; ties go by id, the same way."""

    column: SortColumn = SortColumn.ID
    descending: bool = True

    def __str__(self) -> str:
        return f"{self.column.value}{' ↓' if self.descending else ' ↑'}"

    @property
    def spec(self) -> str:
        """The text :func:`parse_sort` reads back into this sort."""
        return f"{self.column.value}:{'desc' if self.descending else 'asc'}"

    def next_column(self) -> "JobSort":
        """The next column in :class:`SortColumn` order, in its natural direction."""
        columns = list(SortColumn)
        column = columns[(columns.index(self.column) + 1) % len(columns)]
        return JobSort(column, NATURAL_DESCENDING[column])

    def flipped(self) -> "JobSort":
        """The same column the other way round."""
        return JobSort(self.column, not self.descending)


DEFAULT_SORT = JobSort()


def parse_sort(text: str) -> JobSort:
    """``column``, ``column:asc``, ``column:desc`` or ``-column`` (descending)."""
    if not isinstance(text, str):
        raise QueryError("a sort is text")
    spec = text.strip().lower()
    descending: bool | None = None
    if spec.startswith("-"):
        spec, descending = spec[1:], True
    name, _, direction = spec.partition(":")
    known = ", ".join(column.value for column in SortColumn)
    try:
        column = SortColumn(name.strip())
    except ValueError:
        raise QueryError(f"cannot sort by {text.strip()!r} (columns: {known}; add :asc or :desc)") from None
    if direction:
        if descending is not None or direction.strip() not in ("asc", "desc"):
            raise QueryError(f"sort {text.strip()!r}: the direction is :asc or :desc")
        descending = direction.strip() == "desc"
    return JobSort(column, NATURAL_DESCENDING[column] if descending is None else descending)
