"""Enrichment: a role and a collaboration category for each event, from rules.

Rules are data (``[[events.rules]]`` in queuetop.toml, or the built-in
defaults below), never code. Two kinds:

``{ match = "type", pattern = "a2a.send", role = "conversation.main" }``
    The event's ``type`` matches a glob ``pattern`` (``task.*`` works). A
    type rule may give a ``role``, a ``category`` (with a ``confidence``,
    default 1.0), or both.

``{ match = "keyword", field = "message", keywords = ["deploy", "release"], category = "release", confidence = 0.8 }``
    One of the ``keywords`` starts a word in the string ``data[field]``
    (default field ``message``), case-insensitively. Keyword rules give a
    category only (default confidence 0.6): a role classifies event types.

Order: the role is the one of the first type rule that matches, configured
rules before the built-in ones, and ``system`` when none does. The category
is the matching rule with the highest confidence, the earlier rule on a tie.
An event that names its own ``data.eventRole`` or ``data.collabCategory``
(with ``data.categoryConfidence``) keeps them: the producer knows best.

Everything here is pure and cheap per event: type rules are resolved once per
distinct type, and each field's keywords are one compiled regex.
"""

from __future__ import annotations

import fnmatch
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from queuetop.engine.model.exceptions import ConfigError

FALLBACK_ROLE = "system"
DEFAULT_TYPE_CONFIDENCE = 1.0
DEFAULT_KEYWORD_CONFIDENCE = 0.6
KEYWORD_SCAN_CHARS = 1024  # keywords are looked for in the first this-many characters of a field

_RULE_KEYS = {
    "type": {"match", "pattern", "role", "category", "confidence", "name"},
    "keyword": {"match", "field", "keywords", "category", "confidence", "name"},
}


@dataclass(frozen=True)
class Rule:
    """One enrichment rule, validated."""

    match: str                       # 'type' or 'keyword'
    pattern: str | None = None       # type rules: a glob over the event type
    field: str | None = None         # keyword rules: the data field searched
    keywords: tuple[str, ...] = ()   # keyword rules
    role: str | None = None
    category: str | None = None
    confidence: float = DEFAULT_TYPE_CONFIDENCE
    name: str | None = None

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any], where: str = "[[events.rules]]") -> "Rule":
        """Validate one config entry; :class:`ConfigError` (one line) when it is wrong."""
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where}: a rule must be a table, got {type(entry).__name__}")
        match = entry.get("match")
        if match not in _RULE_KEYS:
            raise ConfigError(f"{where}: match must be 'type' or 'keyword', got {match!r}")
        unknown = set(entry) - _RULE_KEYS[match]
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) for a {match} rule: {', '.join(sorted(unknown))}")
        role = _optional_text(entry, "role", where)
        category = _optional_text(entry, "category", where)
        name = _optional_text(entry, "name", where)
        default_confidence = DEFAULT_TYPE_CONFIDENCE if match == "type" else DEFAULT_KEYWORD_CONFIDENCE
        confidence = entry.get("confidence", default_confidence)
        if (isinstance(confidence, bool) or not isinstance(confidence, (int, float))
                or not math.isfinite(confidence) or not 0 < confidence <= 1):
            raise ConfigError(f"{where}: confidence must be a number in (0, 1], got {confidence!r}")
        if match == "type":
            pattern = entry.get("pattern")
            if not isinstance(pattern, str) or not pattern:
                raise ConfigError(f"{where}: a type rule needs a pattern (a glob over the event type)")
            if role is None and category is None:
                raise ConfigError(f"{where}: a type rule must set a role, a category or both")
            return cls("type", pattern=pattern, role=role, category=category,
                       confidence=float(confidence), name=name)
        field = entry.get("field", "message")
        if not isinstance(field, str) or not field:
            raise ConfigError(f"{where}: field must be a non-empty string, got {field!r}")
        keywords = entry.get("keywords")
        if (not isinstance(keywords, list) or not keywords
                or not all(isinstance(k, str) and k.strip() for k in keywords)):
            raise ConfigError(f"{where}: keywords must be a non-empty list of non-empty strings")
        if category is None:
            raise ConfigError(f"{where}: a keyword rule needs a category")
        return cls("keyword", field=field, keywords=tuple(k.strip() for k in keywords),
                   category=category, confidence=float(confidence), name=name)


def _optional_text(entry: Mapping[str, Any], key: str, where: str) -> str | None:
    value = entry.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: {key} must be a non-empty string, got {value!r}")
    return value.strip()


# The built-in rules. Roles after the coordination-event contract the
# replaced monitor used (seed 002); categories are its ten collaboration
# categories with English and Korean keywords. Configured rules come first,
# so any of these can be overridden.
DEFAULT_RULES: tuple[dict[str, Any], ...] = (
    {"match": "type", "pattern": "a2a.send", "role": "conversation.main"},
    {"match": "type", "pattern": "a2a.response", "role": "conversation.reply"},
    {"match": "type", "pattern": "a2a.reply", "role": "conversation.reply"},
    {"match": "type", "pattern": "a2a.complete", "role": "conversation.main"},
    {"match": "type", "pattern": "a2a.spawn*", "role": "delegation.subagent"},
    {"match": "type", "pattern": "a2a.*", "role": "conversation.main"},
    {"match": "type", "pattern": "task.*", "role": "task.lifecycle"},
    {"match": "type", "pattern": "continuation.*", "role": "task.lifecycle"},
    {"match": "type", "pattern": "plan.*", "role": "task.lifecycle"},
    {"match": "type", "pattern": "unblock.*", "role": "task.lifecycle"},
    {"match": "type", "pattern": "zombie.*", "role": "task.lifecycle"},
    {"match": "keyword", "field": "message", "category": "engineering_build", "keywords": [
        "implement", "refactor", "build", "code", "feature", "bug", "fix", "pull request", "merge",
        "구현", "개발", "리팩토링", "코드", "버그"]},
    {"match": "keyword", "field": "message", "category": "infra_ops", "keywords": [
        "deploy", "release", "rollback", "outage", "incident", "server", "docker", "kubernetes",
        "infra", "배포", "장애", "서버", "인프라"]},
    {"match": "keyword", "field": "message", "category": "qa_validation", "keywords": [
        "test", "qa", "regression", "verify", "validat", "테스트", "검증", "회귀"]},
    {"match": "keyword", "field": "message", "category": "planning_decision", "keywords": [
        "plan", "roadmap", "priorit", "decide", "decision", "design", "spec",
        "기획", "설계", "우선순위", "결정"]},
    {"match": "keyword", "field": "message", "category": "research_analysis", "keywords": [
        "research", "analy", "investigat", "compare", "root cause", "조사", "분석", "원인"]},
    {"match": "keyword", "field": "message", "category": "docs_knowledge", "keywords": [
        "document", "docs", "guide", "readme", "changelog", "wiki", "문서", "가이드"]},
    {"match": "keyword", "field": "message", "category": "growth_marketing", "keywords": [
        "campaign", "marketing", "growth", "experiment", "funnel", "마케팅", "캠페인"]},
    {"match": "keyword", "field": "message", "category": "customer_community", "keywords": [
        "customer", "support ticket", "feedback", "community", "고객", "문의", "커뮤니티"]},
    {"match": "keyword", "field": "message", "category": "legal_compliance", "keywords": [
        "legal", "compliance", "license", "privacy", "gdpr", "법무", "규정", "컴플라이언스"]},
    {"match": "keyword", "field": "message", "category": "biz_strategy", "keywords": [
        "kpi", "revenue", "strategy", "pricing", "business", "매출", "전략", "사업"]},
)


class EnrichRules:
    """A compiled rule set: ``enrich(type, data) -> (role, category, confidence)``."""

    def __init__(self, rules: Sequence[Rule], *, defaults: bool = True) -> None:
        builtin = [Rule.from_dict(d, "built-in rule") for d in DEFAULT_RULES] if defaults else []
        self.rules: tuple[Rule, ...] = tuple(rules) + tuple(builtin)
        self._type_rules = [(re.compile(fnmatch.translate(r.pattern)), r)
                            for r in self.rules if r.match == "type" and r.pattern is not None]
        # Per field: one regex matching any keyword, and keyword -> (rule
        # order, category, confidence) of the rules that list it. One search
        # per field instead of one per keyword.
        fields: dict[str, dict[str, list[tuple[int, str, float]]]] = {}
        for order, rule in enumerate(self.rules):
            # validated: a keyword rule always names its field and category
            if rule.match != "keyword" or rule.field is None or rule.category is None:
                continue
            by_keyword = fields.setdefault(rule.field, {})
            for keyword in rule.keywords:
                by_keyword.setdefault(keyword.lower(), []).append((order, rule.category, rule.confidence))
        for by_keyword in fields.values():
            # The regex reports the longest keyword at a position; the rules
            # of every shorter keyword that also starts there match too.
            for keyword, entries in by_keyword.items():
                for other, more in by_keyword.items():
                    if other != keyword and keyword.startswith(other):
                        entries.extend(e for e in more if e not in entries)
        self._fields = [(field, re.compile(r"\b" + _trie_pattern(by_keyword)), by_keyword)
                        for field, by_keyword in fields.items()]
        self._by_type: dict[str, tuple[str, str | None, float | None, int]] = {}

    @classmethod
    def from_config(cls, entries: Iterable[Mapping[str, Any]] | None, *, defaults: bool = True) -> "EnrichRules":
        """Rules from ``[[events.rules]]`` entries, before the built-in defaults.

        Raises :class:`ConfigError` with a one-line message naming the bad entry.
        """
        if entries is None:
            entries = []
        if isinstance(entries, (str, bytes, Mapping)) or not isinstance(entries, Iterable):
            raise ConfigError("[[events.rules]] must be an array of tables")
        rules = [Rule.from_dict(entry, f"[[events.rules]] entry {n}") for n, entry in enumerate(entries, 1)]
        return cls(rules, defaults=defaults)

    @classmethod
    def default(cls) -> "EnrichRules":
        """The built-in rules only."""
        return cls([])

    def _for_type(self, event_type: str) -> tuple[str, str | None, float | None, int]:
        """(role, category, confidence, rule order) from the type rules; cached per type."""
        found = self._by_type.get(event_type)
        if found is not None:
            return found
        role = None
        best: tuple[float, int, str] | None = None
        for order, (regex, rule) in enumerate(self._type_rules):
            if not regex.match(event_type):
                continue
            if role is None and rule.role is not None:
                role = rule.role
            if rule.category is not None and (best is None or rule.confidence > best[0]):
                best = (rule.confidence, self.rules.index(rule), rule.category)
        if best is None:
            found = (role or FALLBACK_ROLE, None, None, -1)
        else:
            found = (role or FALLBACK_ROLE, best[2], best[0], best[1])
        if len(self._by_type) < 10_000:  # types are few; a flood of distinct ones must not grow memory
            self._by_type[event_type] = found
        return found

    def enrich(self, event_type: str, data: Any) -> tuple[str, str | None, float | None]:
        """(role, category, confidence) of one event; ``data`` is its data object."""
        found = self._by_type.get(event_type)
        role, category, confidence, order = found if found is not None else self._for_type(event_type)
        if type(data) is not dict:
            return role, category, confidence
        own_role = data.get("eventRole")
        if type(own_role) is str and own_role:
            role = own_role
        own = data.get("collabCategory")
        if type(own) is str and own:
            conf = data.get("categoryConfidence")
            if isinstance(conf, bool) or not isinstance(conf, (int, float)) or not 0 < conf <= 1:
                conf = 1.0
            return role, own, float(conf)
        for field, regex, by_keyword in self._fields:
            text = data.get(field)
            if type(text) is not str or not text:
                continue
            # The start of a message says what it is about; a cap keeps a
            # long one from costing more than its first lines.
            for keyword in regex.findall(text[:KEYWORD_SCAN_CHARS].lower()):
                for rule_order, rule_category, rule_confidence in by_keyword[keyword]:
                    if (confidence is None or rule_confidence > confidence
                            or (rule_confidence == confidence and rule_order < order)):
                        category, confidence, order = rule_category, rule_confidence, rule_order
        return role, category, confidence


def _trie_pattern(words: Iterable[str]) -> str:
    """A regex matching any of ``words`` (longest first), factored as a trie.

    ``deploy|deployment|design`` becomes ``d(?:e(?:ploy(?:ment)?|sign))``:
    the regex engine then tries one branch per character instead of every
    keyword at every position, which is what makes keyword rules cheap
    enough to run on every event. Matching runs on lower-cased text; the
    caller puts ``\\b`` in front so that a keyword starts a word.
    """
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}  # a word ends here

    def build(node: dict[str, Any]) -> str:
        ends = "" in node
        branches = [re.escape(char) + build(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        if ends:  # greedy: the longer keyword is tried first
            return ("(?:" + body + ")?") if len(branches) == 1 else body + "?"
        return body

    return "(?:" + build(trie) + ")"
