"""Which team project a provider spend line belongs to (README: Configure, *Attribution*).

Rule: a line belongs to the first project (config order) whose *most specific* matcher matches.
Specificity, most specific first:

1. OpenAI API key (``openai_api_keys``) — finer than the project the key lives in;
2. OpenAI project (``openai_projects``);
3. OpenRouter key (``openrouter_keys``) — the only OpenRouter grouping there is.

A config entry may be a provider id (key id, project id, key hash) or a name from the
:class:`~aispend.spend.model.Directory`. Within one level an id match beats an exact name match,
which beats a case-insensitive name match; within one tier the earlier project wins. Ids are always
matched literally, even when the directory does not know them yet (names are fetched hourly, a new
key's spend may arrive first).

Matchers are resolved once, by :func:`build_matcher`, into plain ``dict`` lookups keyed by the ids
that appear on spend lines, so attributing a line costs one or two dict lookups (a team report is a
few thousand lines and must stay in the low milliseconds).

Anything unmatched is kept in an explicit unattributed bucket per provider, with the references
that fell through, so a config gap is visible and fixable; nothing is ever dropped. The invariant is
``sum(projects) + unattributed == provider total`` exactly, per provider.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from operator import attrgetter
from typing import Literal

from aispend.records import PROVIDERS, Provider
from aispend.spend.model import Directory, SpendLine, TeamProject, Unattributed, UnattributedRef

__all__ = ["Attribution", "Claim", "DoubleClaim", "Matcher", "attribute", "build_matcher", "double_claims"]

_Kind = Literal["openai_project", "openai_api_key", "openrouter_key", "org"]
_amount = attrgetter("amount")
_RefKind = tuple[Provider, _Kind, str | None]  # (provider, UnattributedRef.kind, ref)


def _resolve(entries: Sequence[tuple[str, str]], names: Mapping[str, str]) -> dict[str, str]:
    """Map provider ids to project names for one matcher level.

    ``entries`` is ``(config entry, project name)`` in config order; ``names`` is id -> name from
    the directory. Tiers are filled from most to least specific with ``setdefault``, so the first
    project in the most specific tier keeps an id.
    """
    resolved: dict[str, str] = {}
    # Tier 1: the entry is an id (literal, directory or not).
    for entry, project in entries:
        resolved.setdefault(entry, project)
    if not names:
        return resolved
    exact: dict[str, str] = {}
    folded: dict[str, str] = {}
    for entry, project in entries:
        exact.setdefault(entry, project)
        folded.setdefault(entry.casefold(), project)
    # Tier 2: exact name; tier 3: case-insensitive name.
    for ident, name in names.items():
        if name in exact:
            resolved.setdefault(ident, exact[name])
    for ident, name in names.items():
        folded_project = folded.get(name.casefold())
        if folded_project is not None:
            resolved.setdefault(ident, folded_project)
    return resolved


@dataclass(frozen=True, slots=True)
class Matcher:
    """Project matchers resolved into id lookups; build once per config + directory."""

    projects: tuple[TeamProject, ...]
    directory: Directory
    openai_keys: Mapping[str, str]  # api key id -> project name
    openai_projects: Mapping[str, str]  # project id -> project name
    openrouter_keys: Mapping[str, str]  # key hash -> project name
    _by_name: Mapping[str, TeamProject] = field(default_factory=dict)

    def project_for(self, line: SpendLine) -> str | None:
        """The project name a line belongs to, or None when it is unattributed."""
        return self.project_for_ref(line.provider, line.project_ref, line.key_ref)

    def project_for_ref(self, provider: Provider, project_ref: str | None, key_ref: str | None) -> str | None:
        """The same decision from the references alone (for rollups that carry no other field)."""
        if provider == "openai":
            if key_ref is not None:
                found = self.openai_keys.get(key_ref)
                if found is not None:
                    return found
            if project_ref is not None:
                return self.openai_projects.get(project_ref)
            return None
        if key_ref is not None:
            return self.openrouter_keys.get(key_ref)
        return None

    def project(self, name: str) -> TeamProject | None:
        """A configured project by name (case-insensitive, as typed in ``/aispend project``)."""
        return self._by_name.get(name.strip().casefold())


def build_matcher(projects: Sequence[TeamProject], directory: Directory | None = None) -> Matcher:
    """Resolve every project's matchers against the directory into dict lookups."""
    directory = directory if directory is not None else Directory()
    keys = [(entry, p.name) for p in projects for entry in p.openai_api_keys]
    oa_projects = [(entry, p.name) for p in projects for entry in p.openai_projects]
    or_keys = [(entry, p.name) for p in projects for entry in p.openrouter_keys]
    by_name: dict[str, TeamProject] = {}
    for project in projects:
        by_name.setdefault(project.name.casefold(), project)
    return Matcher(
        projects=tuple(projects),
        directory=directory,
        openai_keys=_resolve(keys, directory.openai_keys),
        openai_projects=_resolve(oa_projects, directory.openai_projects),
        openrouter_keys=_resolve(or_keys, directory.openrouter_keys),
        _by_name=by_name,
    )


@dataclass(frozen=True, slots=True)
class Attribution:
    """Lines split by project, plus the explicit unattributed bucket.

    ``by_project`` has every configured project (config order), even those without lines.
    """

    by_project: dict[str, tuple[SpendLine, ...]]
    unattributed_lines: tuple[SpendLine, ...]
    unattributed: Unattributed
    provider_totals: dict[Provider, Decimal]

    def lines_for(self, project: str) -> tuple[SpendLine, ...]:
        return self.by_project.get(project, ())


def _ref_of(line: SpendLine) -> _RefKind:
    """The most specific reference a line carries: what to add to the config to claim it."""
    if line.provider == "openrouter":
        return ("openrouter", "openrouter_key", line.key_ref)
    if line.key_ref is not None:
        return ("openai", "openai_api_key", line.key_ref)
    if line.project_ref is not None:
        return ("openai", "openai_project", line.project_ref)
    return ("openai", "org", None)


def _name_of(directory: Directory, kind: _Kind, ref: str | None) -> str | None:
    if ref is None:
        return None
    if kind == "openai_api_key":
        return directory.openai_keys.get(ref)
    if kind == "openai_project":
        return directory.openai_projects.get(ref)
    if kind == "openrouter_key":
        return directory.openrouter_keys.get(ref)
    return None


def attribute(lines: Iterable[SpendLine], matcher: Matcher) -> Attribution:
    """Split lines by project; sums are exact, so projects + unattributed == provider totals.

    The loop is the hot path of every report, so it inlines :meth:`Matcher.project_for` with
    local ``dict.get`` bindings (project names are never empty, so ``or`` chains the levels).
    """
    buckets: dict[str, list[SpendLine]] = {p.name: [] for p in matcher.projects}
    loose: list[SpendLine] = []
    loose_append = loose.append
    key_get = matcher.openai_keys.get
    project_get = matcher.openai_projects.get
    router_get = matcher.openrouter_keys.get
    openai_lines: list[SpendLine] = []
    router_lines: list[SpendLine] = []
    openai_append = openai_lines.append
    router_append = router_lines.append
    for line in lines:
        if line.provider == "openai":
            openai_append(line)
            name = key_get(line.key_ref) or project_get(line.project_ref)  # type: ignore[arg-type]
        else:
            router_append(line)
            name = router_get(line.key_ref)  # type: ignore[arg-type]
        if name is None:
            loose_append(line)
        else:
            buckets[name].append(line)
    # C-level sums are several times faster than adding inside the loop above.
    openai_total = sum(map(_amount, openai_lines), Decimal(0))
    router_total = sum(map(_amount, router_lines), Decimal(0))

    refs: dict[_RefKind, Decimal] = {}
    loose_totals: dict[Provider, Decimal] = dict.fromkeys(PROVIDERS, Decimal(0))
    for line in loose:
        key = _ref_of(line)
        refs[key] = refs.get(key, Decimal(0)) + line.amount
        loose_totals[line.provider] += line.amount
    ref_list = [
        UnattributedRef(
            provider=provider,
            kind=kind,
            ref=ref,
            name=_name_of(matcher.directory, kind, ref),
            usd=usd,
            workspace=matcher.directory.openrouter_workspaces.get(ref)
            if kind == "openrouter_key" and ref
            else None,
        )
        for (provider, kind, ref), usd in refs.items()
    ]
    ref_list.sort(key=lambda r: (-r.usd, r.provider, r.kind, r.ref or ""))
    return Attribution(
        by_project={name: tuple(found) for name, found in buckets.items()},
        unattributed_lines=tuple(loose),
        unattributed=Unattributed(by_provider=loose_totals, refs=tuple(ref_list)),
        provider_totals={"openai": openai_total, "openrouter": router_total},
    )


# ------------------------------------------------------------------------------------ double claims

ClaimField = Literal["openai_api_keys", "openai_projects", "openrouter_keys"]


@dataclass(frozen=True, slots=True)
class Claim:
    """One config entry: ``projects[project_index].<field>[position] == entry``."""

    project_index: int
    project: str
    position: int
    entry: str


@dataclass(frozen=True, slots=True)
class DoubleClaim:
    """One provider id that entries of two different projects both resolve to.

    Literal repeats (the same text twice) are the config loader's to report; these are the claims
    only the directory reveals: an id in one project and its name in another, or two spellings of
    one name. Attribution would silently give all of the id's spend to ``winner``.
    """

    field: ClaimField
    ident: str
    name: str | None
    first: Claim
    second: Claim
    winner: str


def double_claims(projects: Sequence[TeamProject], directory: Directory) -> tuple[DoubleClaim, ...]:
    """Every provider id claimed by more than one project once names are resolved to ids.

    An entry claims the id it spells literally and every id whose directory name equals it (exactly
    or case-insensitively), the same rules :func:`build_matcher` applies. Each later claim is
    reported once, against the first project's claim.
    """
    matcher = build_matcher(projects, directory)
    levels: tuple[tuple[ClaimField, Mapping[str, str], Mapping[str, str]], ...] = (
        ("openai_api_keys", directory.openai_keys, matcher.openai_keys),
        ("openai_projects", directory.openai_projects, matcher.openai_projects),
        ("openrouter_keys", directory.openrouter_keys, matcher.openrouter_keys),
    )
    found: list[DoubleClaim] = []
    for field_name, names, resolved in levels:
        ids_named: dict[str, list[str]] = {}
        for ident, name in names.items():
            ids_named.setdefault(name.casefold(), []).append(ident)
        claims: dict[str, list[Claim]] = {}
        for index, project in enumerate(projects):
            for position, entry in enumerate(getattr(project, field_name)):
                claim = Claim(index, project.name, position, entry)
                for ident in dict.fromkeys([entry, *ids_named.get(entry.casefold(), ())]):
                    claims.setdefault(ident, []).append(claim)
        for ident, on_it in claims.items():
            first = on_it[0]
            for later in on_it[1:]:
                if later.project.casefold() == first.project.casefold() or later.entry == first.entry:
                    continue  # harmless within one project; literal repeats are the loader's to report
                winner = resolved.get(ident, first.project)
                found.append(DoubleClaim(field_name, ident, names.get(ident), first, later, winner))
    return tuple(found)
