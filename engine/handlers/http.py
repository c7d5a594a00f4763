"""The built-in ``http`` handler: each chunk is one request to a configured endpoint.

Endpoints are configured per intent in ``queuetop.toml`` (``[http]`` and
``[http.intents."KEY"]``: url, method, timeout, headers and the host's
breaker settings, as the README's "HTTP endpoints" shows); the intent keys
become handler keys: job data only ever names a key, never a URL.

``${NAME}`` in a header value is read from the environment when the engine
starts (:func:`register_http_intents`); an unset variable is a
:class:`~queuetop.engine.model.exceptions.ConfigError` then, not at the first call.
Header values are secret: they are shown as ``[redacted]``, and the
environment values and the values of credential-like headers are scrubbed
from every text this handler lets out (errors, logs, results;
:mod:`queuetop.engine.handlers.redact`).

Every attempt of one chunk carries the same ``Idempotency-Key`` header (job
id, chunk index, the job's random nonce;
:mod:`queuetop.engine.handlers.idempotency`): ``idempotency_header`` in
``[http]`` or an intent renames it, ``""`` turns it off, and an intent's own
header of that name is sent instead.

The request body is JSON (``intent``, ``job_id``, ``chunk_index``, ``attempt``,
``params``, ``job_params``); the answer decides the chunk:

- 2xx: completed; a summary (status, elapsed time, first bytes of the body)
  is the chunk's result.
- 408, 425, 429 and 5xx, timeouts and network errors: transient, retried
  with back-off. ``Retry-After`` (seconds or an HTTP date) on 429 and 503
  names the next run time instead.
- Any other 4xx (and 3xx: redirects are not followed): permanent, the chunk
  fails at once with the status and the start of the body.

Transient failures count toward the host's circuit breaker
(:mod:`queuetop.engine.handlers.circuits`); while it is open, chunks for the host are
deferred without sending anything and without spending an attempt. The
outage is the host's, not the chunk's: a failed half-open probe and a request
failing on a circuit already open go back to pending unspent too, and a
failed probe's chunk waits past the next half-open time, so probes rotate.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import os
import re
import time
import weakref
from collections.abc import Awaitable, Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import timezone
from enum import Enum
from typing import Any, Protocol

import httpx

from queuetop.engine.config import Config
from queuetop.engine.handlers.circuits import Admission, Breaker, BreakerSettings
from queuetop.engine.handlers.context import ChunkContext
from queuetop.engine.handlers.idempotency import (
    DEFAULT_HEADER, HEADER_NAME, Nonces, header_setting, unless_configured,
)
from queuetop.engine.handlers.redact import REDACTED, Redactor
from queuetop.engine.handlers.registry import Registry
from queuetop.engine.model.changes import ChangeBus
from queuetop.engine.model.clock import Clock
from queuetop.engine.model.display import timestamp
from queuetop.engine.model.exceptions import ConfigError, Deferred, PermanentError, RetryAt
from queuetop.engine.store.protocol import Backend


class HttpHost(Protocol):
    """What the http handler needs from the engine it registers with.

    A protocol, not the engine's class: handlers sit below the services that
    run them and import nothing from that layer.
    """

    db: Backend
    clock: Clock
    changes: ChangeBus
    config: Config
    registry: Registry

    def on_close(self, hook: Callable[[], Awaitable[None]]) -> None: ...

log = logging.getLogger("queuetop.engine")

DEFAULT_TIMEOUT = 30.0
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
TRANSIENT_STATUSES = frozenset({408, 425, 429})  # and every 5xx
RETRY_AFTER_STATUSES = frozenset({429, 503})
# A server may ask for any delay; beyond an hour the attempt is spent anyway
# and the next answer can ask again, rather than a typo parking chunks for days.
RETRY_AFTER_CAP = 3600.0
# A probe may take its timeout plus this before another attempt takes it over.
PROBE_GRACE = 5.0
# A failed probe's chunk runs this much after the circuit next half-opens, so
# the chunks held until then are claimed first and one of them probes.
PROBE_ROTATION = 1.0
HEAD_BYTES = 1024        # read at most this much of a body: a summary, never a dump
RESULT_BODY_CHARS = 300  # of it, kept in a success's result
ERROR_BODY_CHARS = 200   # of it, kept in an error

_TOP_KEYS = frozenset({"intents", "max_connections", "max_keepalive_connections", "trust_env", "idempotency_header"})
_INTENT_KEYS = frozenset({"url", "method", "timeout", "headers", "failure_threshold", "cooldown", "max_cooldown",
                          "idempotency_header"})
_ENV_REF = re.compile(r"\$\{([^}]*)\}")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Headers whose whole value is a credential even when written literally.
_CREDENTIAL_HEADER = re.compile(r"auth|token|key|secret|passw|cookie|session|signature|credential", re.IGNORECASE)


# -- configuration ------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoint:
    """One ``[http.intents."key"]`` table, environment variables resolved."""

    intent: str
    url: str
    method: str
    timeout: float
    host: str       # the circuit breaker's key: host, or host:port off the default port
    path: str       # for messages: never the query string, which may carry keys
    breaker: BreakerSettings
    # Resolved values, secrets included: kept out of repr and never shown.
    headers: tuple[tuple[str, str], ...] = field(default=(), repr=False, compare=False)
    idempotency_header: str | None = None  # None: no key sent (off, or set in headers)

    @property
    def where(self) -> str:
        """Host and path, as messages name the endpoint."""
        return f"{self.host}{self.path}"

    def as_dict(self) -> dict[str, Any]:
        """For display: every header value redacted."""
        return {
            "intent": self.intent, "url": self.url, "method": self.method, "timeout": self.timeout,
            "host": self.host, "headers": {name: REDACTED for name, _ in self.headers},
            "failure_threshold": self.breaker.failure_threshold, "cooldown": self.breaker.cooldown,
            "max_cooldown": self.breaker.max_cooldown, "idempotency_header": self.idempotency_header,
        }


@dataclass(frozen=True)
class HttpSettings:
    """The whole ``[http]`` table."""

    endpoints: Mapping[str, Endpoint] = field(default_factory=dict)
    max_connections: int = 20
    max_keepalive_connections: int = 10
    trust_env: bool = True
    secrets: tuple[str, ...] = field(default=(), repr=False, compare=False)

    def intents_by_host(self) -> dict[str, tuple[str, ...]]:
        """The intent keys that call each host: a circuit holds all of their chunks."""
        hosts: dict[str, list[str]] = {}
        for endpoint in self.endpoints.values():
            hosts.setdefault(endpoint.host, []).append(endpoint.intent)
        return {host: tuple(sorted(keys)) for host, keys in hosts.items()}


def parse_http_config(raw: Mapping[str, Any], environ: Mapping[str, str], where: str = "config") -> HttpSettings:
    """Check ``[http]`` and resolve its ``${NAME}`` references in ``environ``.

    Raises :class:`ConfigError` for anything wrong, an unset variable
    included. Messages name variables and headers, never their values.
    """
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown [http] key(s): {', '.join(sorted(unknown))}")
    intents = raw.get("intents", {})
    if not isinstance(intents, dict):
        raise ConfigError(f"{where}: [http.intents] must be a table of intent tables")
    max_connections = _whole(raw.get("max_connections", 20), f"{where}: [http] max_connections", minimum=1)
    keepalive = _whole(raw.get("max_keepalive_connections", 10), f"{where}: [http] max_keepalive_connections",
                       minimum=0)
    trust_env = raw.get("trust_env", True)
    if not isinstance(trust_env, bool):
        raise ConfigError(f"{where}: [http] trust_env must be true or false")
    idempotency = raw.get("idempotency_header", DEFAULT_HEADER)
    header_setting(idempotency, f"{where}: [http] idempotency_header")

    endpoints: dict[str, Endpoint] = {}
    secrets: list[str] = []
    for key, table in intents.items():
        what = f'{where}: [http.intents."{key}"]'
        endpoint, found = _endpoint(key, table, environ, what, idempotency)
        endpoints[key] = endpoint
        secrets.extend(found)

    # A circuit belongs to a host, not to an intent: intents sharing a host
    # must agree on when it opens, or its behaviour would depend on which
    # intent happened to fail last.
    by_host: dict[str, Endpoint] = {}
    for endpoint in endpoints.values():
        first = by_host.setdefault(endpoint.host, endpoint)
        if first.breaker != endpoint.breaker:
            raise ConfigError(
                f"{where}: intents {first.intent!r} and {endpoint.intent!r} call the same host {endpoint.host} "
                f"with different failure_threshold/cooldown/max_cooldown; a host has one circuit breaker, "
                f"give them the same values")
    return HttpSettings(endpoints, max_connections, keepalive, trust_env, tuple(secrets))


def _endpoint(key: str, table: Any, environ: Mapping[str, str], what: str,
              idempotency: str) -> tuple[Endpoint, list[str]]:
    if not isinstance(table, dict):
        raise ConfigError(f"{what} must be a table")
    bad = set(table) - _INTENT_KEYS
    if bad:
        raise ConfigError(f"{what}: unknown key(s): {', '.join(sorted(bad))}")
    url = table.get("url")
    if not isinstance(url, str) or not url:
        raise ConfigError(f"{what} needs a url")
    if "${" in url:
        raise ConfigError(f"{what}: environment variables are read in header values only; "
                          f"put credentials in a header, not in the url")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ConfigError(f"{what}: invalid url: {exc}") from None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigError(f"{what}: url must be http:// or https:// with a host")
    if parsed.userinfo:
        raise ConfigError(f"{what}: url must not carry a user or password; use a header such as Authorization")
    method = table.get("method", "POST")
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise ConfigError(f"{what}: method must be one of {', '.join(METHODS)}")
    timeout = table.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise ConfigError(f"{what}: timeout must be a positive number of seconds")
    try:
        breaker = BreakerSettings(**{name: table[name] for name in ("failure_threshold", "cooldown", "max_cooldown")
                                     if name in table})
    except ConfigError as exc:
        raise ConfigError(f"{what}: {exc}") from None

    raw_headers = table.get("headers", {})
    if not isinstance(raw_headers, dict):
        raise ConfigError(f"{what}: headers must be a table of name = value")
    headers: list[tuple[str, str]] = []
    secrets: list[str] = []
    for name, value in raw_headers.items():
        if not HEADER_NAME.match(name):
            raise ConfigError(f"{what}: {name!r} is not a valid header name")
        if not isinstance(value, str):
            raise ConfigError(f"{what}: header {name!r} must be a string")
        resolved, from_env = _expand(value, environ, f"{what} header {name!r}")
        # Both said without the value: it may be the secret itself.
        if any(c in resolved for c in "\r\n\0"):
            raise ConfigError(f"{what}: header {name!r} contains a line break or NUL once its variables are read")
        if not resolved.isascii():
            raise ConfigError(f"{what}: header {name!r} contains non-ASCII characters once its variables are read")
        headers.append((name, resolved))
        secrets.extend(from_env)
        if _CREDENTIAL_HEADER.search(name):
            secrets.append(resolved)
            # "Bearer abc" is often echoed back as just "abc".
            secrets.extend(part for part in resolved.split() if len(part) >= 8)

    # The intent's own header of that name wins.
    idempotency_header = unless_configured(
        header_setting(table.get("idempotency_header", idempotency), f"{what} idempotency_header"), tuple(headers))
    host = parsed.host if ":" not in parsed.host else f"[{parsed.host}]"
    if parsed.port is not None:
        host = f"{host}:{parsed.port}"
    endpoint = Endpoint(intent=key, url=url, method=method.upper(), timeout=float(timeout), host=host.lower(),
                        path=parsed.path or "/", breaker=breaker, headers=tuple(headers),
                        idempotency_header=idempotency_header)
    return endpoint, secrets


def _expand(value: str, environ: Mapping[str, str], what: str) -> tuple[str, list[str]]:
    """``value`` with each ``${NAME}`` replaced from ``environ``, and the values used."""
    if "${" in _ENV_REF.sub("", value):
        raise ConfigError(f"{what}: unterminated ${{ (write ${{NAME}})")
    used: list[str] = []

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if not _ENV_NAME.match(name):
            raise ConfigError(f"{what}: ${{{name}}} is not a valid environment variable name")
        if name not in environ:
            raise ConfigError(f"{what} uses ${{{name}}}, but the environment variable {name} is not set")
        if environ[name] == "":
            raise ConfigError(f"{what} uses ${{{name}}}, but the environment variable {name} is empty")
        used.append(environ[name])
        return environ[name]

    return _ENV_REF.sub(substitute, value), used


def _whole(value: Any, what: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{what} must be a whole number >= {minimum}, got {value!r}")
    return value


# -- running requests ---------------------------------------------------------------------


class Verdict(str, Enum):
    SUCCESS = "success"
    TRANSIENT = "transient"
    PERMANENT = "permanent"


class HostSignal(str, Enum):
    """What an attempt says about the host's health, for its circuit."""

    ANSWERED = "answered"  # it answered (any 2xx, 3xx, 4xx but 408/425/429): closes a probe
    FAILED = "failed"      # 5xx, 408/425/429, timeout, network error: counts toward opening
    UNKNOWN = "unknown"    # our side failed (pool full, bad header): says nothing about the host


@dataclass(frozen=True)
class Reply:
    """How one request ended, classified."""

    verdict: Verdict
    signal: HostSignal
    message: str                    # redacted, one line
    status: int | None = None
    retry_at: float | None = None   # from Retry-After
    summary: dict[str, Any] | None = None


class TransientHttpError(Exception):
    """A request that may succeed later: 5xx, 408/425/429, timeout, network error."""


class PermanentHttpError(PermanentError):
    """A request that would fail the same way again: 4xx, 3xx."""


def classify(status: int) -> Verdict:
    """The verdict on an HTTP status (see the module docstring)."""
    if 200 <= status < 300:
        return Verdict.SUCCESS
    if status in TRANSIENT_STATUSES or status >= 500:
        return Verdict.TRANSIENT
    return Verdict.PERMANENT


def parse_retry_after(value: str | None, now: float) -> float | None:
    """The time a ``Retry-After`` value names (delay-seconds or HTTP-date), or None.

    Clamped to ``[now, now + RETRY_AFTER_CAP]``; an unreadable value is
    ignored (normal back-off applies).
    """
    if not value:
        return None
    value = value.strip()
    if re.fullmatch(r"\d+(\.\d+)?", value):
        seconds = float(value)
    else:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # "-0000": HTTP dates are GMT
            when = when.replace(tzinfo=timezone.utc)
        seconds = when.timestamp() - now
    return now + min(max(0.0, seconds), RETRY_AFTER_CAP)


class HttpService:
    """The ``http`` handler of one engine process: endpoints, client, breakers.

    One per :class:`~queuetop.engine.api.Queue` (an engine process has
    one); made by :func:`register_http_intents`.
    """

    def __init__(self, queue: "HttpHost", settings: HttpSettings) -> None:
        self.queue = queue
        self.settings = settings
        self.redact = Redactor(settings.secrets)
        self.breaker = Breaker(queue.db, queue.clock, queue.changes, opened_hooks=getattr(queue, "circuit_opened_hooks", ()))
        self._hosts = settings.intents_by_host()
        self._nonces = Nonces(queue.db)
        self._client: httpx.AsyncClient | None = None

    @property
    def client(self) -> httpx.AsyncClient:
        """The process's one client, made on first use inside the running loop.

        Every intent and host share its connection pool, so the limits bound
        what this process can open against all endpoints together.
        """
        if self._client is None or self._client.is_closed:
            self._client = httpx.AsyncClient(
                limits=httpx.Limits(max_connections=self.settings.max_connections,
                                    max_keepalive_connections=self.settings.max_keepalive_connections),
                trust_env=self.settings.trust_env,
                follow_redirects=False,
                headers={"User-Agent": "queuetop"},
            )
        return self._client

    async def aclose(self) -> None:
        """Close the client (engine shutdown); a later request makes a new one."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def handle(self, ctx: ChunkContext) -> dict[str, Any]:
        """Send ``ctx``'s chunk to its intent's endpoint; the registered handler."""
        endpoint = self.settings.endpoints[ctx.intent]
        # Raises Deferred while the host's circuit is open: nothing is sent.
        admission = await self.breaker.admit(endpoint.host, probe_window=endpoint.timeout + PROBE_GRACE)
        try:
            reply = await self._send(endpoint, ctx)
        except BaseException:
            # Cancelled (operator, shutdown, the chunk's own timeout): a probe
            # held by this attempt must not block the host until its deadline.
            await self._abandon(admission)
            raise
        return await self._conclude(endpoint, ctx, admission, reply)

    async def _send(self, endpoint: Endpoint, ctx: ChunkContext) -> Reply:
        body = {"intent": ctx.intent, "job_id": ctx.job_id, "chunk_index": ctx.chunk_index,
                "attempt": ctx.attempt, "params": ctx.chunk_params, "job_params": ctx.job_params}
        headers = endpoint.headers
        if endpoint.idempotency_header is not None:
            key = await self._nonces.key(ctx.job_id, ctx.chunk_index)
            headers = (*headers, (endpoint.idempotency_header, key))
        where = endpoint.where
        started = time.monotonic()
        try:
            # httpx's timeout bounds each phase (connect, each read, ...); this
            # bounds the whole request, so a server trickling bytes can't hold
            # a chunk past it.
            async with asyncio.timeout(endpoint.timeout):
                async with self.client.stream(endpoint.method, endpoint.url, json=body, headers=headers,
                                              timeout=httpx.Timeout(endpoint.timeout)) as response:
                    head, complete = await _read_head(response, HEAD_BYTES)
        except TimeoutError:
            return self._failure(f"timeout: no complete answer from {where} within {endpoint.timeout:g}s")
        except httpx.PoolTimeout:
            # Every connection of this process is busy (maybe with other
            # hosts): our limit, not this host's health.
            return self._failure(f"no free connection for {where} within {endpoint.timeout:g}s "
                                 f"(max_connections {self.settings.max_connections})", HostSignal.UNKNOWN)
        except httpx.TimeoutException as exc:
            phase = {httpx.ConnectTimeout: "connect", httpx.ReadTimeout: "read",
                     httpx.WriteTimeout: "write"}.get(type(exc), "")
            return self._failure(f"{phase} timeout after {endpoint.timeout:g}s from {where}".lstrip())
        except (httpx.LocalProtocolError, httpx.UnsupportedProtocol) as exc:
            # Our request is malformed: sending it again changes nothing.
            return Reply(Verdict.PERMANENT, HostSignal.UNKNOWN,
                         self.redact(f"cannot send to {where}: {type(exc).__name__}: {exc}"))
        except httpx.ConnectError as exc:
            return self._failure(f"cannot connect to {where}: {exc or type(exc).__name__}")
        except httpx.RequestError as exc:  # read/write/protocol/decoding errors
            return self._failure(f"{type(exc).__name__} from {where}: {exc}")
        except Exception as exc:
            # Not expected; but its text might quote a header, and nothing
            # leaves this handler unredacted. Our fault, not the host's.
            return self._failure(f"{type(exc).__name__} calling {where}: {exc}", HostSignal.UNKNOWN)
        elapsed = time.monotonic() - started
        return self._classify(endpoint, response, head, complete, elapsed)

    def _failure(self, message: str, signal: HostSignal = HostSignal.FAILED) -> Reply:
        return Reply(Verdict.TRANSIENT, signal, self.redact(message))

    def _classify(self, endpoint: Endpoint, response: httpx.Response, head: bytes, complete: bool,
                  elapsed: float) -> Reply:
        status = response.status_code
        verdict = classify(status)
        text = self.redact(head.decode(response.encoding or "utf-8", errors="replace"), cut=not complete)
        if verdict is Verdict.SUCCESS:
            size = len(head) if complete else response.headers.get("Content-Length")
            summary = {
                "status": status, "elapsed_ms": round(elapsed * 1000, 1),
                "content_type": response.headers.get("Content-Type"),
                "bytes": int(size) if size is not None and str(size).isdigit() else None,
                "body": _clip(text, RESULT_BODY_CHARS),
            }
            message = (f"{endpoint.method} {endpoint.where} -> {status} {response.reason_phrase} "
                       f"in {elapsed * 1000:.0f} ms")
            return Reply(verdict, HostSignal.ANSWERED, self.redact(message), status, summary=summary)
        message = f"HTTP {status} {response.reason_phrase} from {endpoint.where}"
        excerpt = _clip(" ".join(text.split()), ERROR_BODY_CHARS)
        if excerpt:
            message += f": {excerpt}"
        if verdict is Verdict.TRANSIENT:
            retry_at = None
            if status in RETRY_AFTER_STATUSES:
                retry_at = parse_retry_after(response.headers.get("Retry-After"), self.queue.clock.now())
            return Reply(verdict, HostSignal.FAILED, self.redact(message), status, retry_at)
        if 300 <= status < 400:
            message += " (redirects are not followed: point the url at the final address)"
        return Reply(verdict, HostSignal.ANSWERED, self.redact(message), status)

    async def _conclude(self, endpoint: Endpoint, ctx: ChunkContext, admission: Admission,
                        reply: Reply) -> dict[str, Any]:
        """Tell the breaker, log, and end the attempt as the reply says."""
        open_until = None
        outage = False  # the circuit was already open, or this was its probe
        if reply.signal is HostSignal.FAILED:
            recorded = await self.breaker.record_failure(admission, endpoint.breaker, reply.message,
                                                         intents=self._hosts[endpoint.host],
                                                         not_before=reply.retry_at)
            open_until = recorded.open_until
            outage = admission.is_probe or (open_until is not None and not recorded.opened_now)
        elif reply.signal is HostSignal.ANSWERED:
            if await self.breaker.succeeded(admission, endpoint.breaker):
                ctx.log.info(f"circuit for {endpoint.host} closed: the probe got an answer")
        else:
            await self._abandon(admission)

        if reply.verdict is Verdict.SUCCESS:
            ctx.log.info(reply.message)
            return reply.summary or {}
        ctx.log.warning(reply.message)
        if reply.verdict is Verdict.PERMANENT:
            raise PermanentHttpError(reply.message)
        if open_until is not None:
            ctx.log.warning(f"circuit for {endpoint.host} is open: no requests until {timestamp(open_until)}")
        if outage:
            # The host is down, not this chunk: back to pending, attempt refunded.
            until = max((t for t in (reply.retry_at, open_until) if t is not None),
                        default=self.queue.clock.now() + endpoint.breaker.cooldown)
            if admission.is_probe:
                until += PROBE_ROTATION
            raise Deferred(f"{reply.message} (circuit for {endpoint.host} not closed; attempt not spent)", until)
        retry_at = max((t for t in (reply.retry_at, open_until) if t is not None), default=None)
        if retry_at is not None:
            raise RetryAt(reply.message, retry_at)
        raise TransientHttpError(reply.message)

    async def _abandon(self, admission: Admission) -> None:
        try:
            await self.breaker.abandon(admission)
        except Exception as exc:  # its deadline frees the probe anyway
            log.warning("circuit for %s: cannot release the probe: %s", admission.host, exc)


async def _read_head(response: httpx.Response, limit: int) -> tuple[bytes, bool]:
    """Up to ``limit`` bytes of the body, and whether that was all of it."""
    head = bytearray()
    async with aclosing(response.aiter_bytes()) as parts:
        async for part in parts:
            head += part
            if len(head) > limit:
                return bytes(head[:limit]), False
    return bytes(head), True


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "…"


# -- registration ---------------------------------------------------------------------


_SERVICES: "weakref.WeakKeyDictionary[HttpHost, HttpService]" = weakref.WeakKeyDictionary()


def register_http_intents(queue: "HttpHost", *, environ: Mapping[str, str] | None = None) -> HttpService | None:
    """Register every ``[http.intents]`` key of ``queue``'s config as an http handler.

    Call it when an engine starts (:class:`~queuetop.engine.services.runner.Runner`
    does): it reads the environment variables the headers name, so a missing
    one is a :class:`ConfigError` at start-up. The queue closes the shared
    client when it closes. Calling it again for the same queue returns the
    same service. Returns None when no intent is configured.
    """
    existing = _SERVICES.get(queue)
    if existing is not None:
        return existing
    where = str(queue.config.path) if queue.config.path else "config"
    settings = parse_http_config(queue.config.http, os.environ if environ is None else environ, where)
    if not settings.endpoints:
        return None
    taken = [key for key in settings.endpoints if key in queue.registry]
    if taken:
        raise ConfigError(f"{where}: intent(s) {', '.join(map(repr, taken))} are configured in [http.intents] "
                          f"and also registered as other handlers ([handlers] or built in); pick one")
    service = HttpService(queue, settings)
    for key in settings.endpoints:
        queue.registry.add(key, service.handle)
    queue.on_close(service.aclose)
    _SERVICES[queue] = service
    log.info("http intents: %s", ", ".join(f"{e.intent} -> {e.method} {e.where}" for e in settings.endpoints.values()))
    return service
