"""Who may see a project's figures, as the Slack app asks it (``visibility`` in README: Configure).

The rule itself is pure and lives in :mod:`aispend.spend.visibility`; this module only turns a
Slack request into an :class:`~aispend.spend.visibility.Audience`. A private reply is read by the
person who asked; anything posted in a channel (``share``) by every member, present and future,
so it is computed for the least-privileged of them, whoever pressed ``share``.
"""

from __future__ import annotations

from aispend.config import Config
from aispend.spend.visibility import Audience, Owned, may_see

__all__ = ["Owned", "audience_for", "can_view", "owns"]


def audience_for(user_id: str, *, share: bool, channel_id: str | None = None) -> Audience:
    """The audience of one answer: the channel when it is shared, else the user who asked."""
    return Audience.channel(channel_id) if share else Audience.user(user_id)


def can_view(config: Config, project: Owned, user_id: str) -> bool:
    """Whether ``user_id`` may see ``project``'s figures in a private reply."""
    return may_see(project, Audience.user(user_id), config.admins)


def owns(config: Config, project: Owned, user_id: str) -> bool:
    """Projects listed on the viewer's App Home: their own, or every project for an admin."""
    return config.is_admin(user_id) or (project.owner is not None and project.owner == user_id)
