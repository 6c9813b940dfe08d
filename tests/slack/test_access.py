"""Visibility rules: public, owner-only, group-owned, admins."""

from __future__ import annotations

import pytest

from aispend.config import ProjectConfig, parse_config
from aispend.slack.access import can_view, owns
from tests.slack.conftest import ADMIN, ATLAS_OWNER, CONFIG_DATA, GROUP, OWNER, STRANGER

CONFIG = parse_config(CONFIG_DATA)


def _project(name: str) -> ProjectConfig:
    project = CONFIG.project(name)
    assert project is not None
    return project


@pytest.mark.parametrize(
    ("name", "user", "visible"),
    [
        ("search", STRANGER, True),  # public
        ("search", OWNER, True),
        ("atlas", ATLAS_OWNER, True),  # owner-only, the owner
        ("atlas", ADMIN, True),
        ("atlas", STRANGER, False),
        ("atlas", OWNER, False),  # owning another project does not help
        ("billing", GROUP, False),  # a group id is never a user id
        ("billing", STRANGER, False),  # group membership is unknown: only admins
        ("billing", ADMIN, True),
    ],
)
def test_can_view(name: str, user: str, visible: bool) -> None:
    assert can_view(CONFIG, _project(name), user) is visible


def test_owns_lists_own_projects_or_all_for_admins() -> None:
    assert [p.name for p in CONFIG.projects if owns(CONFIG, p, OWNER)] == ["search"]
    assert [p.name for p in CONFIG.projects if owns(CONFIG, p, ADMIN)] == [
        "search",
        "atlas",
        "billing",
        "labs",
    ]
    assert [p.name for p in CONFIG.projects if owns(CONFIG, p, STRANGER)] == []
