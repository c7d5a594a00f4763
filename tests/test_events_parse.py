"""One line into an event: validation, the identity hash, enrichment rules, the demo writer."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import orjson
import pytest

from queuetop.engine.model.clock import FrozenClock
from queuetop.engine.events.demo import demo_events, write_demo_events
from queuetop.engine.events.enrich import KEYWORD_SCAN_CHARS, EnrichRules
from queuetop.engine.events.parse import BadLine, BadReason, Event, event_hash, parse_line, thread_key
from queuetop.engine.model.exceptions import ConfigError

LINE = b'{"type": "a2a.send", "agentId": "eden", "ts": 1771330358110, "data": {"fromAgent": "eden", ' \
       b'"toAgent": "seum", "conversationId": "c-1", "workSessionId": "ws_1", "message": "\xeb\xb0\xb0\xed\x8f\xac ' \
       b'plan", "turn": 3, "maxTurns": 20}}\n'


def event(line: bytes | str, **kwargs) -> Event:
    parsed = parse_line(line, **kwargs)
    assert isinstance(parsed, Event), parsed
    return parsed


def test_a_line_becomes_an_event() -> None:
    e = event(LINE)
    assert (e.type, e.agent_id, e.ts_ms, e.session_id, e.thread_key) == ("a2a.send", "eden", 1771330358110, "ws_1",
                                                                         "conv:c-1")
    assert e.data["message"] == "배포 plan" and e.ts == 1771330358.11
    assert (e.role, e.category, e.confidence) == ("conversation.main", "infra_ops", 0.6)


def test_the_hash_ignores_key_order_and_spacing_but_nothing_else() -> None:
    base = event(LINE).hash
    reordered = orjson.dumps({"data": {"turn": 3, "maxTurns": 20, "message": "배포 plan", "workSessionId": "ws_1",
                                       "conversationId": "c-1", "toAgent": "seum", "fromAgent": "eden"},
                              "ts": 1771330358110, "agentId": "eden", "type": "a2a.send", "extra": "ignored"})
    assert event(reordered).hash == base
    original = orjson.loads(LINE)
    for key, value in (("type", "a2a.reply"), ("agentId", "seum"), ("ts", 1771330358111)):
        assert event(orjson.dumps({**original, key: value})).hash != base
    changed = {**original, "data": {**original["data"], "turn": 4}}
    assert event(orjson.dumps(changed)).hash != base
    canonical = orjson.dumps(original["data"], option=orjson.OPT_SORT_KEYS)
    assert event_hash("a2a.send", "eden", 1771330358110, canonical).hex() == base


def test_optional_fields() -> None:
    bare = event('{"type": "system.heartbeat", "ts": 5}')
    assert (bare.agent_id, bare.data, bare.session_id, bare.thread_key, bare.role) == (None, {}, None, None, "system")
    assert event('{"type": "system.heartbeat", "ts": 5, "data": null}').hash == bare.hash  # missing, null: one
    assert event('{"type": "x", "ts": 1.6}').ts_ms == 2
    assert event('{"type": "x", "ts": 5, "agentId": 7}').agent_id == "7"
    assert event('{"type": "x", "ts": 5, "data": [1, 2]}').data == [1, 2]
    assert event('{"type": "x", "ts": 5}\r\n').type == "x"


@pytest.mark.parametrize("line,reason", [
    (b"", BadReason.INVALID_JSON),
    (b"\xc3\x28", BadReason.INVALID_UTF8),
    (b'{"type": "x", "ts": 1, "data": {"m": "\xed\xa0\x80"}}', BadReason.INVALID_UTF8),  # an encoded surrogate
    (b'{"type": "x", "ts": 1', BadReason.INVALID_JSON),
    (b'{"type": "x", "ts": NaN}', BadReason.INVALID_JSON),
    (b"[]", BadReason.NOT_OBJECT),
    (b'{"ts": 1}', BadReason.MISSING_TYPE),
    (b'{"type": ["x"], "ts": 1}', BadReason.MISSING_TYPE),
    (b'{"type": "x"}', BadReason.MISSING_TS),
    (b'{"type": "x", "ts": null}', BadReason.MISSING_TS),
    (b'{"type": "x", "ts": 1e30}', BadReason.MISSING_TS),
    (b'{"type": "x", "ts": 18446744073709551615}', BadReason.MISSING_TS),
    (b'{"type": "x", "ts": 1e400}', BadReason.MISSING_TS),  # JSON, too big for a float: a bad timestamp
    (b'{"type": "x", "ts": Infinity}', BadReason.INVALID_JSON),
])
def test_bad_lines(line: bytes, reason: BadReason) -> None:
    parsed = parse_line(line)
    assert isinstance(parsed, BadLine) and parsed.reason is reason


def test_an_escaped_lone_surrogate_is_replaced_not_a_reason_to_drop_the_event() -> None:
    """orjson refuses `"\\udc80"`, which is JSON; the line was dropped as invalid_json, where a
    handler's lone surrogates are replaced and kept."""
    e = event(b'{"type": "t.sur", "agentId": "a\\ud800", "ts": 5, "data": {"m": "sur \\udc80 here",'
              b' "\\udfff": [1e400]}}')
    assert (e.type, e.agent_id, e.data) == ("t.sur", "a\ufffd", {"m": "sur \ufffd here", "\ufffd": [None]})
    assert e.hash == event(b'{"type": "t.sur", "agentId": "a\xef\xbf\xbd", "ts": 5, "data": {"m": "sur \xef\xbf\xbd here",'
                           b' "\xef\xbf\xbd": [null]}}').hash  # stored as the same event the cleaned text makes


def test_too_long_is_measured_in_bytes() -> None:
    line = orjson.dumps({"type": "x", "ts": 1, "data": {"m": "가" * 100}})
    assert isinstance(parse_line(line, max_line_bytes=len(line)), Event)
    assert parse_line(line, max_line_bytes=len(line) - 1) == BadLine(BadReason.TOO_LONG, 0)


def test_thread_keys() -> None:
    assert thread_key("c1", "a", "b", "a") == "conv:c1"
    assert thread_key(None, "b", "a", None) == thread_key(None, "a", "b", None) == "pair:a|b"
    assert thread_key(None, None, "b", "a") == "pair:a|b"  # the sender defaults to the agent
    assert thread_key(None, None, None, "a") == "agent:a"
    assert thread_key(None, None, None, None) == "none"


# -- enrichment rules -------------------------------------------------------------------------


def enrich(rules: EnrichRules, message: str, event_type: str = "a2a.send", **data) -> tuple:
    return rules.enrich(event_type, {"message": message, **data})


def test_keywords_start_words_in_any_case_and_script() -> None:
    rules = EnrichRules.default()
    assert enrich(rules, "Please DEPLOY it")[1] == "infra_ops"
    assert enrich(rules, "the deployment is done")[1] == "infra_ops"       # a keyword starts the word
    assert enrich(rules, "we redeploy tomorrow")[1] is None                # ... not inside one
    assert enrich(rules, "서버 장애가 났어요")[1] == "infra_ops"
    assert enrich(rules, "리팩토링을 합시다")[1] == "engineering_build"       # particles attached
    assert enrich(rules, "x" * KEYWORD_SCAN_CHARS + " deploy")[1] is None   # past the scanned start
    assert enrich(rules, "", event_type="task.started") == ("task.lifecycle", None, None)
    assert rules.enrich("a2a.send", "not an object") == ("conversation.main", None, None)


def test_the_highest_confidence_wins_and_ties_go_to_the_earlier_rule() -> None:
    rules = EnrichRules.from_config([
        {"match": "keyword", "keywords": ["ship"], "category": "first", "confidence": 0.5},
        {"match": "keyword", "keywords": ["ship it"], "category": "second", "confidence": 0.5},
        {"match": "keyword", "field": "replyPreview", "keywords": ["urgent"], "category": "urgent", "confidence": 0.9},
        {"match": "type", "pattern": "alert.*", "role": "system.alert", "category": "ops", "confidence": 0.7},
    ], defaults=False)
    assert enrich(rules, "ship it now") == ("system", "first", 0.5)
    assert enrich(rules, "ship it", replyPreview="URGENT please") == ("system", "urgent", 0.9)
    assert enrich(rules, "ship", event_type="alert.disk") == ("system.alert", "ops", 0.7)
    assert enrich(rules, "ship", event_type="alert.disk", replyPreview="urgent") == ("system.alert", "urgent", 0.9)


def test_an_event_that_names_its_own_role_and_category_keeps_them() -> None:
    rules = EnrichRules.default()
    assert rules.enrich("a2a.send", {"eventRole": "delegation.subagent", "collabCategory": "biz_strategy",
                                     "categoryConfidence": 0.4, "message": "deploy"}) == (
        "delegation.subagent", "biz_strategy", 0.4)
    assert rules.enrich("a2a.send", {"collabCategory": "biz_strategy", "categoryConfidence": 7})[2] == 1.0


@pytest.mark.parametrize("rules,message", [
    ({"match": "type"}, "not a list"),
    ([{"match": "regex", "pattern": "x"}], "match must be 'type' or 'keyword'"),
    (["a2a.send"], "must be a table"),
    ([{"match": "type", "pattern": "x", "role": "r", "colour": "red"}], "unknown key"),
    ([{"match": "type", "role": "r"}], "needs a pattern"),
    ([{"match": "type", "pattern": "x"}], "a role, a category or both"),
    ([{"match": "keyword", "category": "c"}], "keywords must be"),
    ([{"match": "keyword", "keywords": [], "category": "c"}], "keywords must be"),
    ([{"match": "keyword", "keywords": ["ok", 3], "category": "c"}], "keywords must be"),
    ([{"match": "keyword", "keywords": ["x"]}], "needs a category"),
    ([{"match": "keyword", "keywords": ["x"], "category": "c", "role": "r"}], "unknown key"),
    ([{"match": "keyword", "keywords": ["x"], "category": "c", "confidence": 0}], "confidence"),
    ([{"match": "keyword", "keywords": ["x"], "category": "c", "confidence": True}], "confidence"),
    ([{"match": "keyword", "keywords": ["x"], "category": "c", "field": ""}], "field"),
    ([{"match": "type", "pattern": "x", "role": ""}], "role must be"),
])
def test_bad_rules_are_one_line_config_errors(rules, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        EnrichRules.from_config(rules if message != "not a list" else rules)
    text = str(info.value)
    assert (message in text or message == "not a list") and "\n" not in text
    if isinstance(rules, list) and rules and isinstance(rules[0], dict):
        assert "entry 1" in text


# -- the demo writer --------------------------------------------------------------------------


def test_demo_events_are_deterministic_valid_and_varied() -> None:
    first = list(itertools.islice(demo_events(3), 500))
    assert first == list(itertools.islice(demo_events(3), 500))
    assert first != list(itertools.islice(demo_events(4), 500))
    parsed = [event(orjson.dumps(e)) for e in first]
    assert len({e.hash for e in parsed}) == 500
    types = {e.type for e in parsed}
    assert {"task.started", "a2a.send", "a2a.response", "a2a.complete"} <= types
    assert any(e.session_id is None for e in parsed) and len({e.session_id for e in parsed}) > 10
    assert len({e.category for e in parsed}) > 5
    ts = [e.ts_ms for e in parsed]
    assert ts == sorted(ts)


def test_write_demo_events_appends_flushed_lines(tmp_path: Path) -> None:
    path = tmp_path / "demo.ndjson"
    clock = FrozenClock()
    assert write_demo_events(path, rate=0, count=50, seed=1, clock=clock) == 50
    assert write_demo_events(path, rate=0, count=20, seed=2, clock=clock) == 20
    lines = path.read_bytes().splitlines()
    assert len(lines) == 70 and all(isinstance(parse_line(line), Event) for line in lines)
    assert {orjson.loads(line)["ts"] for line in lines[:50]} >= {1_767_225_600_000}


def test_write_demo_events_paces_and_stops(tmp_path: Path) -> None:
    path = tmp_path / "demo.ndjson"
    stop = threading.Event()
    started = time.monotonic()
    writer = threading.Thread(target=write_demo_events, args=(path,),
                              kwargs={"rate": 100, "count": None, "seed": 1, "stop": stop})
    writer.start()
    time.sleep(0.3)
    stop.set()
    writer.join(timeout=5)
    assert not writer.is_alive()
    written = len(path.read_bytes().splitlines())
    assert 10 <= written <= 0.5 * 100 + 5, written  # about 100 a second, and it stopped
    assert time.monotonic() - started < 2
