"""Realistic coordination events for demos, tests and the benchmark.

A small simulated team of agents works through work sessions: a task starts,
the lead agent talks to one or more others in conversations (``a2a.send`` /
``a2a.response``, turn by turn), sometimes delegates to a subagent
(``a2a.spawn`` / ``a2a.spawn_result``), reports progress, closes the
conversations (``a2a.complete``) and ends the task with an outcome. A few
events belong to no session (sync failures, heartbeats). Messages mix English
and Korean, as in the system this replaces, and carry the keywords the
built-in enrichment rules look for.

Everything is drawn from ``random.Random(seed)``: the same seed gives the
same events. Lines average about 350 bytes.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import orjson

from queuetop.engine.model.clock import Clock, SystemClock

AGENTS = ("eden", "seum", "yunseul", "haneul", "ruda", "dami", "bom", "gyeol")

TOPICS: dict[str, tuple[str, ...]] = {
    "engineering_build": (
        "Implement the retry budget for the {area} client and refactor the error mapping",
        "{area} 모듈 리팩토링: 중복 코드 정리하고 새 API로 구현 옮기기",
        "Fix the bug where {area} drops the last chunk when the range ends on a month boundary",
    ),
    "infra_ops": (
        "Deploy {area} to staging, then release to production after the smoke checks",
        "{area} 서버 장애 대응: 커넥션 풀 고갈, 롤백 여부 판단 필요",
        "Rollback plan for the {area} release if error rates climb after the deploy",
    ),
    "qa_validation": (
        "Run the regression suite on {area} and verify the fixture data still matches",
        "{area} 회귀 테스트 결과 검증 부탁해요, 플래키 케이스 두 개 있음",
        "Write tests for the {area} edge cases: empty input, unicode names, huge payloads",
    ),
    "planning_decision": (
        "Plan the {area} roadmap for next quarter and decide what to cut",
        "{area} 설계 검토: 우선순위 정하고 결정 사항 정리하기",
        "Design decision needed on {area}: one table per tenant or a shared table",
    ),
    "research_analysis": (
        "Investigate why {area} latency doubled since Tuesday; compare with last week",
        "{area} 원인 분석: 지표 조사해서 가설 세 개로 좁히기",
        "Analyze the {area} usage logs and summarise who calls what",
    ),
    "docs_knowledge": (
        "Update the {area} guide and the changelog for the new flags",
        "{area} 문서 정리: 가이드에 예시 추가하고 오래된 내용 삭제",
    ),
    "customer_community": (
        "Customer feedback on {area}: three reports of missing notifications this week",
        "{area} 관련 고객 문의 정리해서 커뮤니티 공지 초안 작성",
    ),
    "biz_strategy": (
        "Revenue impact of the {area} pricing change; draft the strategy note",
        "{area} KPI 정리하고 사업 전략 회의 자료 준비",
    ),
}
AREAS = ("billing", "attendance", "notifications", "search", "ad-sync", "reports", "auth",
         "scheduler", "exports", "onboarding")
REPLIES = (
    "On it. I will report back with numbers before the end of the day.",
    "Done: the change is in and the checks pass. One open question below.",
    "확인했어요. 지금 진행 중이고 중간 결과 공유할게요.",
    "I need the credentials for the staging account before I can continue.",
    "완료했습니다. 예외 케이스 하나는 별도 작업으로 분리했어요.",
    "Blocked on the upstream API; I opened a ticket and will retry in an hour.",
)
OUTCOMES = ("ok", "ok", "ok", "partial", "blocked", "error")
SYSTEM_TYPES = ("milestone.sync_failed", "system.heartbeat", "system.config_reloaded")


def _uid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _session_script(rng: random.Random) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """One work session's events as (type, agentId, data), in order."""
    ws = "ws_" + _uid(rng)
    task = "task_" + _uid(rng)[:8]
    lead, *others = rng.sample(AGENTS, rng.randint(2, 4))
    category = rng.choice(list(TOPICS))
    area = rng.choice(AREAS)
    goal = rng.choice(TOPICS[category]).format(area=area)
    base = {"workSessionId": ws, "taskId": task}
    yield "task.started", lead, {**base, "message": f"[Goal] {goal}", "label": f"{area}: {category}"}
    conversations = []
    for other in others:
        conversations.append(("conv_" + _uid(rng), other, rng.randint(2, 8)))
    for conv, other, turns in conversations:
        max_turns = turns + rng.randint(0, 12)
        for turn in range(1, turns + 1):
            message = rng.choice(TOPICS[category]).format(area=area) if turn == 1 else rng.choice(REPLIES)
            yield "a2a.send", lead, {**base, "conversationId": conv, "fromAgent": lead, "toAgent": other,
                                     "message": message, "turn": turn, "maxTurns": max_turns}
            reply = rng.choice(REPLIES)
            yield "a2a.response", other, {**base, "conversationId": conv, "fromAgent": other, "toAgent": lead,
                                          "replyPreview": reply[:80], "outcome": rng.choice(OUTCOMES),
                                          "turn": turn, "maxTurns": max_turns}
            if rng.random() < 0.15:
                run = "run_" + _uid(rng)[:12]
                yield "a2a.spawn", other, {**base, "fromAgent": other, "toAgent": f"{other}:sub",
                                           "runId": run, "message": f"subtask of {area}: {rng.choice(REPLIES)}"}
                yield "a2a.spawn_result", f"{other}:sub", {**base, "fromAgent": f"{other}:sub", "toAgent": other,
                                                          "runId": run, "outcome": rng.choice(OUTCOMES)}
            if rng.random() < 0.2:
                yield "task.progress", lead, {**base, "message": f"{area}: step {turn} of {turns} done",
                                              "progress": round(turn / turns, 2)}
        yield "a2a.complete", lead, {**base, "conversationId": conv, "fromAgent": lead, "toAgent": other,
                                     "outcome": "completed" if turns < max_turns else "max_turns",
                                     "turn": turns, "maxTurns": max_turns}
    outcome = rng.choice(("completed", "completed", "completed", "failed", "cancelled"))
    yield f"task.{outcome}", lead, {**base, "outcome": outcome, "message": f"{area} {category}: {outcome}"}


def demo_events(seed: int = 0, *, start_ms: int = 1_767_225_600_000, gap_ms: tuple[int, int] = (5, 2_000),
                now_ms: Callable[[], int] | None = None, concurrent: int = 6) -> Iterator[dict[str, Any]]:
    """An endless stream of event dicts (``type``, ``agentId``, ``ts``, ``data``).

    Times are simulated from ``start_ms`` with random gaps, unless ``now_ms``
    gives the time of each event (live writing). ``concurrent`` sessions run
    interleaved at any moment; a finished one is replaced by a new one.
    """
    rng = random.Random(seed)
    scripts = [_session_script(rng) for _ in range(concurrent)]
    ts = start_ms
    while True:
        if now_ms is not None:
            ts = max(now_ms(), ts)
        else:
            ts += rng.randint(*gap_ms)
        if rng.random() < 0.02:
            yield {"type": rng.choice(SYSTEM_TYPES), "agentId": rng.choice(AGENTS), "ts": ts,
                   "data": {"message": rng.choice(REPLIES), "attempt": rng.randint(1, 5)}}
            continue
        slot = rng.randrange(len(scripts))
        step = next(scripts[slot], None)
        if step is None:
            scripts[slot] = _session_script(rng)
            step = next(scripts[slot])
        event_type, agent, data = step
        yield {"type": event_type, "agentId": agent, "ts": ts, "data": data}


class _Stop(Protocol):
    def is_set(self) -> bool: ...

    def wait(self, timeout: float | None = None) -> bool: ...


def write_demo_events(path: str | Path, *, rate: float, count: int | None, seed: int,
                      clock: Clock | None = None, stop: _Stop | None = None) -> int:
    """Append demo events to ``path``, one line at a time, flushed; returns how many.

    ``rate`` is events per second (0 or less: as fast as possible); ``count``
    None means until ``stop`` (a ``threading.Event``) is set. Event times come
    from ``clock`` (the system clock by default). Blocking: run it in a thread
    from async code.
    """
    clock = clock or SystemClock()
    interval = 1.0 / rate if rate > 0 else 0.0
    stream = demo_events(seed, now_ms=lambda: int(clock.now() * 1000))
    written = 0
    next_at = time.monotonic()
    with open(path, "ab") as out:
        while count is None or written < count:
            if stop is not None and stop.is_set():
                break
            out.write(orjson.dumps(next(stream)) + b"\n")
            out.flush()
            written += 1
            if interval:
                next_at += interval
                delay = next_at - time.monotonic()
                if delay > 0:
                    if stop is not None:
                        stop.wait(delay)  # pacing only; wakes at once on stop
                    else:
                        time.sleep(delay)
    return written
