"""What the Slack app and the CLI read: one narrow interface over the stored data.

``SpendService`` (``aispend.service``) implements it on the database; tests may pass any object
with these methods. Every method answers from the store only, never from a provider, so a slash
command is answered inside Slack's 3-second acknowledgement.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol, runtime_checkable

from aispend.config import Config
from aispend.records import PollStatus, Provider
from aispend.spend.model import MixReport, Mover, ProjectReport, RoutesReport, Runway, TeamReport
from aispend.spend.visibility import Audience


class StoreUnavailable(Exception):
    """The store did not answer in time or refused the connection; the question can be asked
    again later (any ``SpendReader`` method may raise it)."""


@runtime_checkable
class BoundedReads(Protocol):
    """A reader whose store calls have deadlines (``aispend.store.guard.GuardedReader``)."""

    def budget(self, seconds: float) -> AbstractContextManager[None]:
        """Every read this thread makes inside the block ends by ``seconds`` from now."""
        ...


@dataclass(frozen=True, slots=True)
class EndpointHealth:
    provider: Provider
    endpoint: str
    last_status: PollStatus
    last_attempt_at: datetime | None
    last_success_at: datetime | None
    error: str | None  # already free of secrets


@dataclass(frozen=True, slots=True)
class Health:
    database_ok: bool
    last_poll_at: datetime | None
    endpoints: tuple[EndpointHealth, ...]
    key_level_costs: bool | None  # False when OpenAI refused grouping costs by api_key_id


class SpendReader(Protocol):
    """Team-wide questions take the ``audience`` that will read the answer (``spend.visibility``):
    the spend of projects it may not see is left out before anything is summed. It is required
    here, so nothing that posts to people can forget it; the CLI passes ``OPERATOR``."""

    @property
    def config(self) -> Config: ...

    def project_report(self, name: str, now: datetime, month: date | None = None) -> ProjectReport | None:
        """None when no configured project has that name (case-insensitive). Check
        ``spend.visibility.may_see`` before showing it."""
        ...

    def team_report(self, now: datetime, month: date | None = None, *, audience: Audience) -> TeamReport: ...

    def runway(self, now: datetime, *, audience: Audience) -> Runway: ...

    def mix(self, now: datetime, project: str | None = None, *, audience: Audience) -> MixReport: ...

    def routes(self, now: datetime, *, audience: Audience) -> RoutesReport: ...

    def movers(self, now: datetime, *, audience: Audience) -> tuple[Mover, ...]: ...

    def last_poll_at(self) -> datetime | None:
        """When the newest poll started (cheap: the answers' "as of" line)."""
        ...

    def health(self, now: datetime) -> Health: ...
