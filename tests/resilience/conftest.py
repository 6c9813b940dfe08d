"""Fixtures for the resilience suite: PostgreSQL (a schema of its own on the shared server, or a
throwaway cluster where a test restarts the server), the hostile provider and a fake Slack.

Under ``CI=true`` nothing here skips: PostgreSQL must answer (``tests.conftest.pg_url``).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.fake_slack import FakeSlack
from tests.hostile.server import HostileProvider
from tests.pg import pg_schema


@pytest.fixture
def pg_store(pg_url: str) -> Iterator[str]:
    """A database URL for an empty schema on the shared PostgreSQL server."""
    with pg_schema(pg_url, prefix="aispend_r") as url:
        yield url


@pytest.fixture
def provider() -> Iterator[HostileProvider]:
    with HostileProvider() as running:
        yield running


@pytest.fixture
def fake_slack() -> Iterator[FakeSlack]:
    slack = FakeSlack().start()
    yield slack
    slack.stop()
