"""Who may see which project's figures, and team-wide figures without the projects they may not.

A project with ``visibility: owner`` shows its figures only to its owner and to ``admins``
(README: Configure). When the owner is a user group (``S…``) membership cannot be checked
without extra Slack scopes, so only admins see that project.

Every team-wide answer (model mix, routes, the project list, unattributed spend, App Home, key
caps, and the digest and alerts posted to shared channels) is computed for an :class:`Audience`:

* ``Audience.user(id)`` — one person reading privately: an ephemeral reply, their App Home, a DM;
* ``Audience.channel(id)`` — everyone in a channel. Anyone may join a channel later, so a channel
  sees what its least-privileged member may see: public projects only, whoever pressed ``share``;
* :data:`OPERATOR` — whoever runs the CLI on the server, who can read the database anyway.

An audience's :class:`View` is the set of projects it may see. Spend is filtered *by attribution,
before aggregation* (:func:`model_mix`, :func:`route_costs` and :func:`movers` in
:mod:`aispend.spend.mix` take a ``view``; :func:`visible_team` and :func:`visible_runway` drop
whole projects and keys), so a hidden project's spend never enters a sum, a share, a column width
or an ordering. The result says that something was left out, never how much. Unattributed spend
belongs to no project and is visible to everyone: it is what the config must claim.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Final, Literal, Protocol

from aispend.records import Provider
from aispend.spend.attribution import Matcher
from aispend.spend.model import Runway, SpendLine, TeamReport, Units, UsageLine
from aispend.spend.units import model_units, team_models

__all__ = [
    "OPERATOR",
    "Audience",
    "AudienceKind",
    "Owned",
    "View",
    "may_see",
    "view_for",
    "visible_batch_tokens",
    "visible_runway",
    "visible_team",
    "visible_units",
]

AudienceKind = Literal["user", "channel", "operator"]


@dataclass(frozen=True, slots=True)
class Audience:
    """Who will read an answer (see the module docstring for the three kinds)."""

    kind: AudienceKind
    id: str | None = None  # Slack user id or channel id; None for the operator

    @classmethod
    def user(cls, user_id: str) -> Audience:
        """One Slack user reading privately (ephemeral reply, App Home, direct message)."""
        return cls("user", user_id)

    @classmethod
    def channel(cls, channel_id: str | None = None) -> Audience:
        """Every member of a channel, present and future: public projects only."""
        return cls("channel", channel_id)

    @property
    def shared(self) -> bool:
        """True when more than one person reads the answer (it must say what it leaves out)."""
        return self.kind == "channel"


OPERATOR: Final = Audience("operator")
"""The CLI's audience: everything (the operator can read the database directly)."""


class Owned(Protocol):
    """Anything with an owner and a visibility: ``ProjectConfig`` and ``ProjectReport`` both are."""

    @property
    def owner(self) -> str | None: ...

    @property
    def visibility(self) -> str: ...


class _Named(Owned, Protocol):
    @property
    def name(self) -> str: ...


def may_see(project: Owned, audience: Audience, admins: Collection[str]) -> bool:
    """Whether ``audience`` may see ``project``'s figures."""
    if project.visibility != "owner" or audience.kind == "operator":
        return True
    if audience.kind != "user" or audience.id is None:
        return False  # a channel: someone in it may be neither the owner nor an admin
    if audience.id in admins:
        return True
    owner = project.owner
    if owner is None or owner.startswith("S"):
        return False  # a user group: membership is unknown, so only admins
    return owner == audience.id


@dataclass(frozen=True, slots=True)
class View:
    """The projects one audience may see (``visible``) and may not (``hidden``, config order)."""

    audience: Audience
    visible: frozenset[str]
    hidden: tuple[str, ...] = ()

    @property
    def complete(self) -> bool:
        """Nothing is hidden from this audience."""
        return not self.hidden

    def admits(self, project: str | None) -> bool:
        """Whether spend attributed to ``project`` may be shown; ``None`` (unattributed) always.

        A whitelist, so a project the view was not built from (a config changed under a cached
        report) stays hidden rather than shown.
        """
        return project is None or project in self.visible


def view_for(projects: Iterable[_Named], audience: Audience, admins: Collection[str]) -> View:
    """The :class:`View` of ``audience`` over the configured ``projects``."""
    visible: set[str] = set()
    hidden: list[str] = []
    for project in projects:
        if may_see(project, audience, admins):
            visible.add(project.name)
        else:
            hidden.append(project.name)
    return View(audience=audience, visible=frozenset(visible), hidden=tuple(hidden))


def visible_team(report: TeamReport, view: View, *, units: tuple[Units, ...] = ()) -> TeamReport:
    """``report`` without the projects ``view`` hides.

    Provider totals become the visible projects plus unattributed spend (the invariant "totals
    equal projects plus unattributed" still holds for what is shown); ``hidden`` names the projects
    left out, so the answer can say so without a figure. The team's per-model ``units`` cannot be
    taken apart by project, so they are replaced by ``units`` (summed over the visible lines with
    :func:`visible_units`); without them, none are shown.
    """
    kept = tuple(p for p in report.projects if view.admits(p.project))
    if len(kept) == len(report.projects):
        return report
    # The same providers as the team's totals (those with data), summed over what is shown.
    unattributed = report.unattributed.by_provider
    totals: dict[Provider, Decimal] = {p: unattributed.get(p, Decimal(0)) for p in report.provider_totals}
    for project in kept:
        for provider in totals:
            totals[provider] += project.by_provider.get(provider, Decimal(0))
    hidden = tuple(p.project for p in report.projects if not view.admits(p.project))
    return replace(report, projects=kept, provider_totals=totals, hidden=hidden, units=units)


def visible_units(
    lines: Iterable[SpendLine], usage: Iterable[UsageLine], matcher: Matcher, view: View
) -> tuple[Units, ...]:
    """Per-model tokens and unit costs over the money and usage lines of the projects ``view``
    admits (and unattributed ones): the team's ``units`` as this audience may see them."""
    owner_of = matcher.project_for_ref
    money = [ln for ln in lines if view.admits(owner_of(ln.provider, ln.project_ref, ln.key_ref))]
    used = [ln for ln in usage if view.admits(owner_of(ln.provider, ln.project_ref, ln.key_ref))]
    return model_units(team_models(money), used)


def visible_runway(runway: Runway, matcher: Matcher, view: View) -> Runway:
    """The credit runway with key caps of hidden projects left out.

    Balance and burn are account-wide (one prepaid balance that every key draws on), so they stay.
    ``keys_hidden`` depends only on the config (a hidden project claims OpenRouter keys), not on
    whether one of its keys is near its cap, so the note itself reveals nothing about that key.
    """
    owner_of = matcher.project_for_ref
    kept = tuple(k for k in runway.low_keys if view.admits(owner_of("openrouter", None, k.key_hash)))
    claims = any(p.openrouter_keys for p in matcher.projects if not view.admits(p.name))
    if len(kept) == len(runway.low_keys) and not claims:
        return runway
    return replace(runway, low_keys=kept, keys_hidden=claims)


def visible_batch_tokens(
    rows: Iterable[tuple[str | None, str | None, int, int]], matcher: Matcher, view: View
) -> tuple[int, int]:
    """(Batch API tokens, all tokens) of OpenAI completions, summed over the rows — ``(project
    id, API key id, batch, all)`` — of the projects ``view`` admits (and unattributed ones)."""
    batch = grouped = 0
    for project_ref, key_ref, in_batch, tokens in rows:
        if view.admits(matcher.project_for_ref("openai", project_ref, key_ref)):
            batch += in_batch
            grouped += tokens
    return batch, grouped
