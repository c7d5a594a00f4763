"""Named SQL: written once, with only the lines that truly differ tagged per dialect."""

from __future__ import annotations

from importlib import resources

import pytest

from queuetop.engine.store import queries

CONCERNS = sorted(entry.name[:-4] for entry in (resources.files("queuetop.engine.store") / "sql").iterdir()
                  if entry.name.endswith(".sql"))


def test_tagged_lines_go_to_their_dialect_only() -> None:
    text = "SELECT a\nFROM t  -- sqlite\nFROM u  -- postgres\n-- a comment for both\nWHERE x"
    assert queries.for_dialect(text, "sqlite") == "SELECT a\nFROM t\n-- a comment for both\nWHERE x"
    assert queries.for_dialect(text, "postgres") == "SELECT a\nFROM u\n-- a comment for both\nWHERE x"


@pytest.mark.parametrize("concern", CONCERNS)
def test_no_loaded_query_keeps_a_tag_or_the_other_dialects_text(concern: str) -> None:
    for name, query in queries.load(concern).items():
        assert "-- sqlite" not in query and "-- postgres" not in query, name
        assert query.postgres and "-- sqlite" not in query.postgres and "-- postgres" not in query.postgres, name
        assert "json_each" not in query.postgres, f"{concern}.{name}: SQLite's json_each sent to PostgreSQL"
        assert "jsonb" not in query, f"{concern}.{name}: PostgreSQL's jsonb sent to SQLite"


@pytest.mark.parametrize(("target", "expected"), [
    ("postgresql://queue:s3cret@db.internal:5432/q", "postgresql://queue:***@db.internal:5432/q"),
    ("postgresql://queue:p%40ss@db/q?sslmode=require", "postgresql://queue:***@db/q?sslmode=require"),
    ("postgresql://queue@db/q", "postgresql://queue@db/q"),
    ("postgres://:pw@db/q", "postgres://:***@db/q"),
    ("/home/me/queuetop.db", "/home/me/queuetop.db"),
])
def test_a_url_password_is_never_shown(target: str, expected: str) -> None:
    from queuetop.engine.config import display_db

    assert display_db(target) == expected


def test_a_held_queues_claim_is_the_claim_with_its_queue_line_swapped() -> None:
    """One claim text serves the ordinary claim and the held queues' claims, in both dialects."""
    from queuetop.engine.services import claims, queues as held

    claim = claims.SQL["claim"]
    for variant, line in ((held.CLAIM_IN_QUEUE, "queue = :queue AND queue <> 'default'"),
                          (held.CLAIM_IN_DEFAULT, "queue = 'default'")):
        assert line in variant and queries.to_psycopg(line) in (variant.postgres or "")
        assert "NOT IN (SELECT name FROM held_queues)" not in variant + (variant.postgres or "")
        # everything else is the claim's own text
        assert variant.replace(line, "") == claim.replace(
            "/* queues */ (NOT EXISTS (SELECT 1 FROM held_queues) OR chunks.queue NOT IN (SELECT name FROM held_queues))",
            "")
    with pytest.raises(RuntimeError, match="not one"):
        queries.with_line(claim, "no such marker", "1 = 1")
