"""Who may see a project's figures (``visibility`` in README: Configure).

``public`` projects are visible to everyone in the workspace. ``owner`` projects show details only
to their owner (a user id compared for equality) and to ``admins``; when the owner is a user
group (``S…``) we cannot tell membership without extra scopes, so only admins see the details.
Everyone else gets a polite refusal that reveals no figures.
"""

from __future__ import annotations

from typing import Protocol

from aispend.config import Config


class Owned(Protocol):
    """Anything with an owner and a visibility: ``ProjectConfig`` and ``ProjectReport`` both are."""

    @property
    def owner(self) -> str | None: ...

    @property
    def visibility(self) -> str: ...


def can_view(config: Config, project: Owned, user_id: str) -> bool:
    if project.visibility != "owner":
        return True
    if config.is_admin(user_id):
        return True
    owner = project.owner
    if owner is None or owner.startswith("S"):
        return False
    return owner == user_id


def owns(config: Config, project: Owned, user_id: str) -> bool:
    """Projects listed on the viewer's App Home: their own, or every project for an admin."""
    return config.is_admin(user_id) or (project.owner is not None and project.owner == user_id)
