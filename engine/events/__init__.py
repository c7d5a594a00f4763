"""NDJSON event files: parsing, following, ingesting, enrichment and work sessions."""
