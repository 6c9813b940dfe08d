"""The App Home tab: the viewer's projects, the credit runway and open alerts.

``home_view`` is pure; ``publish_home`` reads the store and publishes one view;
``republish_homes`` is called after each poll so open Home tabs stay current.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from aispend.alerts.model import AlertView
from aispend.config import Config
from aispend.money import fmt_usd
from aispend.reader import SpendReader
from aispend.slack import messages as msg
from aispend.slack.access import owns
from aispend.slack.alert_blocks import home_alert_blocks
from aispend.slack.blocks import (
    MAX_HOME_BLOCKS,
    Block,
    button,
    context,
    data_notes,
    divider,
    fmt_moment,
    header,
    limit_blocks,
    project_summary,
    provider_parts,
    runway_lines,
    section,
)
from aispend.slack.mrkdwn import escape
from aispend.spend.model import Runway, TeamReport, shown_providers
from aispend.spend.visibility import Audience

logger = logging.getLogger(__name__)

REFRESH_ACTION = "aispend_home_refresh"

AlertLister = Callable[[], Sequence[AlertView]]
"""Lists the open alerts (``aispend.alerts.state.open_alerts`` bound to an engine)."""


class HomeAudience(Protocol):
    """Who has opened the Home tab, so the post-poll job can republish their Homes.

    Two methods, in the shape of Bolt's ``AssistantThreadContextStore``: :class:`MemoryHomeAudience`
    is the default (one process: tests, the demo); ``aispend serve`` passes the database's
    (``aispend.store.audience``), so whichever replica leads republishes every Home.
    """

    def add(self, user_id: str) -> None:
        """Remember that ``user_id`` opened the Home tab. May raise ``StoreUnavailable``."""
        ...

    def users(self) -> tuple[str, ...]:
        """Everyone to republish for, sorted."""
        ...


class MemoryHomeAudience:
    """Users who opened the Home tab since this process started (thread-safe); lost on restart
    and not shared between replicas."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users: set[str] = set()

    def add(self, user_id: str) -> None:
        with self._lock:
            self._users.add(user_id)

    def users(self) -> tuple[str, ...]:
        with self._lock:
            return tuple(sorted(self._users))

    def __len__(self) -> int:
        with self._lock:
            return len(self._users)


def home_view(
    *,
    config: Config,
    month: TeamReport,
    runway: Runway,
    user_id: str,
    last_poll_at: datetime | None,
    alerts: Sequence[AlertView] = (),
) -> dict[str, Any]:
    """The Home of ``user_id``; ``month`` is already filtered for that user
    (``spend.visibility.visible_team``), so the headline total is what they may see."""
    tz = config.tz
    admin = config.is_admin(user_id)
    mine = [p for p in month.projects if owns(config, p, user_id)]
    blocks: list[Block] = [header(msg.home_title(f"{month.month:%B %Y}"))]
    if not shown_providers(month.data):
        blocks.append(section(msg.NO_PROVIDER))
    else:
        amount = fmt_usd(month.total) if month.known else msg.UNKNOWN
        blocks.append(section(msg.home_total(amount, provider_parts(month.provider_totals, month.data))))
        if month.missing:
            blocks.append(context(*data_notes(month.data, tz)))
    blocks.append(
        {"type": "actions", "elements": [button(msg.HOME_REFRESH, REFRESH_ACTION)]},
    )
    notes = [msg.hidden_spend(shared=False)] if month.hidden else []
    blocks.append(context(*notes, msg.home_updated(fmt_moment(last_poll_at, tz))))
    blocks.append(divider())
    blocks.append(section(msg.HOME_ALL_PROJECTS if admin else msg.HOME_YOUR_PROJECTS))
    if not mine:
        blocks.append(section(msg.HOME_NO_PROJECTS))
    for report in sorted(mine, key=lambda r: (-r.total, r.project.lower())):
        blocks.append(section(f"*{escape(report.project)}*\n{project_summary(report, tz)}"))
    tail: list[Block] = [
        divider(),
        section(msg.HOME_CREDITS + "\n" + "\n".join(runway_lines(runway, tz))),
        divider(),
        *home_alert_blocks(alerts, config, user_id, tz),
    ]
    # The credit runway and alerts must survive truncation, so the project list gives way.
    body = limit_blocks(blocks, MAX_HOME_BLOCKS - len(tail))
    return {"type": "home", "blocks": [*body, *tail]}


@dataclass(frozen=True, slots=True)
class _HomeData:
    """What every Home shares (read once per refresh), and each user's month, filtered for them.

    The month comes from the reader per user: ``SpendService`` builds it once per poll and only
    filters it per audience, so republishing many Homes does not read the store again.
    """

    reader: SpendReader
    now: datetime
    runway: Runway
    last_poll_at: datetime | None
    alerts: tuple[AlertView, ...] = ()

    @classmethod
    def read(cls, reader: SpendReader, now: datetime, alerts: AlertLister | None = None) -> _HomeData:
        open_alerts = tuple(alerts()) if alerts is not None else ()
        # The Home shows balance, burn and runway but no key caps, which is the same for everyone.
        runway = reader.runway(now, audience=Audience.channel())
        return cls(reader, now, runway, reader.last_poll_at(), open_alerts)

    def view(self, user_id: str) -> dict[str, Any]:
        return home_view(
            config=self.reader.config,
            month=self.reader.team_report(self.now, audience=Audience.user(user_id)),
            runway=self.runway,
            user_id=user_id,
            last_poll_at=self.last_poll_at,
            alerts=self.alerts,
        )


def publish_home(
    client: WebClient, reader: SpendReader, user_id: str, now: datetime, alerts: AlertLister | None = None
) -> None:
    """Publish one user's Home; Slack API errors propagate to the caller."""
    client.views_publish(user_id=user_id, view=_HomeData.read(reader, now, alerts).view(user_id))


def republish_homes(
    client: WebClient,
    reader: SpendReader,
    user_ids: Iterable[str],
    now: datetime,
    alerts: AlertLister | None = None,
) -> int:
    """Publish fresh Homes after a poll, reading the store once. Returns how many were published.

    A failure for one user (left the workspace, rate limited past retries) is logged and skipped.
    """
    users = list(user_ids)
    if not users:
        return 0
    data = _HomeData.read(reader, now, alerts)
    published = 0
    for user_id in users:
        try:
            client.views_publish(user_id=user_id, view=data.view(user_id))
        except SlackApiError as exc:
            logger.warning("views.publish failed for %s: %s", user_id, exc.response.get("error"))
            continue
        published += 1
    return published
