"""``service.stored_directory``: the names ``aispend check`` resolves config entries with."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from aispend.clock import utcnow
from aispend.records import OpenAIApiKey, OpenAIProject
from aispend.service import stored_directory
from aispend.store.engine import make_engine, session_scope
from aispend.store.writes import upsert_openai_keys, upsert_openai_projects


def test_stored_names_are_read_on_each_backend(engine: Engine, db_url: str) -> None:
    with session_scope(engine) as session:
        upsert_openai_projects(session, [OpenAIProject("proj_a", "Search", "active")], utcnow())
        upsert_openai_keys(session, [OpenAIApiKey("key_1", "proj_a", "batch")], utcnow())
    directory = stored_directory(db_url)
    assert directory is not None
    assert (directory.openai_projects, directory.openai_keys) == ({"proj_a": "Search"}, {"key_1": "batch"})


def test_no_store_yet_means_no_names_and_no_file_created(tmp_path: Path) -> None:
    missing = tmp_path / "never.db"
    assert stored_directory(f"sqlite:///{missing}") is None
    assert not missing.exists()


def test_an_unmigrated_store_means_no_names(db_url: str) -> None:
    make_engine(db_url).dispose()
    if db_url.startswith("sqlite"):
        Path(db_url.removeprefix("sqlite:///")).touch()
    assert stored_directory(db_url) is None
