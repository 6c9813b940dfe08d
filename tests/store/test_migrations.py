"""Migrations on SQLite and PostgreSQL: one head, and data migrations that keep what was stored."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlmodel import SQLModel

from aispend.store.engine import alembic_config, make_engine, migrate


def test_there_is_exactly_one_head_and_a_migrated_store_is_at_it(engine: Engine) -> None:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1
    migrate(engine)  # a second run is a no-op
    with engine.connect() as conn:
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    assert version == heads[0]


def test_every_revision_file_is_on_the_one_line_of_history() -> None:
    """Two files with the same revision id do not make two heads: Alembic silently keeps one of
    them and the other never runs. Every file must be walked from the head."""
    scripts = ScriptDirectory.from_config(alembic_config())
    files = sorted(Path(scripts.versions).glob("[0-9]*.py"))
    walked = {script.path for script in scripts.walk_revisions()}
    assert {str(f) for f in files} == {str(Path(p)) for p in walked}
    assert len(files) == len(walked)


def test_the_key_level_flag_is_backfilled_from_the_runs_stored_before_it(db_url: str) -> None:
    store = make_engine(db_url)
    cfg = alembic_config()
    try:
        with store.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0002")
            conn.execute(
                text(
                    "INSERT INTO poll_run (provider, endpoint, started_at, status, detail, "
                    "rows_inserted, rows_updated, rows_deleted) VALUES "
                    "('openai', 'costs', '2026-11-01 10:00:00', 'ok', "
                    "'2026-09-01..2026-11-02 by project, line item and API key', 0, 0, 0), "
                    "('openai', 'costs', '2026-11-01 11:00:00', 'ok', '2026-09-01..2026-11-02 by project "
                    "and line item; key-level money attribution unavailable', 0, 0, 0), "
                    "('openai', 'costs', '2026-11-01 12:00:00', 'error', NULL, 0, 0, 0), "
                    "('openrouter', 'keys', '2026-11-01 12:00:00', 'ok', NULL, 0, 0, 0)"
                )
            )
        with store.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "0003")
            flags = conn.execute(
                text("SELECT provider, endpoint, status, key_level_costs FROM poll_run ORDER BY id")
            ).all()
    finally:
        store.dispose()
    assert [tuple(row) for row in flags] == [
        ("openai", "costs", "ok", True),
        ("openai", "costs", "ok", False),
        ("openai", "costs", "error", None),
        ("openrouter", "keys", "ok", None),
    ]


def test_the_migrations_build_exactly_the_tables_the_models_declare(engine: Engine) -> None:
    with engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), SQLModel.metadata) == []
