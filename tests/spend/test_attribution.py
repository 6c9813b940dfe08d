from __future__ import annotations

import random
from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from aispend.records import PROVIDERS
from aispend.spend.attribution import attribute, build_matcher, double_claims
from aispend.spend.model import Directory, SpendLine

from .factories import D, oa, orl, project

DAY = date(2026, 11, 3)


def test_api_key_beats_project_even_when_the_project_matcher_comes_first() -> None:
    matcher = build_matcher(
        [project("platform", openai_projects=("proj_a",)), project("search", openai_api_keys=("key_s",))]
    )
    assert matcher.project_for(oa(DAY, "1", project="proj_a", key="key_s")) == "search"
    assert matcher.project_for(oa(DAY, "1", project="proj_a", key="key_other")) == "platform"
    assert matcher.project_for(oa(DAY, "1", project="proj_a", key=None)) == "platform"


def test_first_project_in_config_order_wins_within_a_level() -> None:
    directory = Directory(openai_projects={"proj_a": "Search"})
    matcher = build_matcher(
        [project("one", openai_projects=("search",)), project("two", openai_projects=("Search",))],
        directory,
    )
    # exact name beats case-insensitive, whatever the order
    assert matcher.project_for(oa(DAY, "1", project="proj_a")) == "two"
    matcher = build_matcher(
        [project("one", openai_projects=("Search",)), project("two", openai_projects=("SEARCH",))],
        directory,
    )
    assert matcher.project_for(oa(DAY, "1", project="proj_a")) == "one"


def test_match_by_id_name_and_case_insensitive_name() -> None:
    directory = Directory(
        openai_projects={"proj_a": "Search Prod", "proj_b": "Chat"},
        openai_keys={"key_1": "batch-runner"},
        openrouter_keys={"hash_a": "search-prod", "hash_b": "Chat-Bot"},
    )
    matcher = build_matcher(
        [
            project("search", openai_projects=("search prod",), openrouter_keys=("search-prod",)),
            project("chat", openai_projects=("proj_b",), openrouter_keys=("chat-bot",)),
            project("batch", openai_api_keys=("Batch-Runner",), openrouter_keys=("hash_unknown",)),
        ],
        directory,
    )
    assert matcher.project_for(oa(DAY, "1", project="proj_a")) == "search"
    assert matcher.project_for(oa(DAY, "1", project="proj_b")) == "chat"
    assert matcher.project_for(oa(DAY, "1", project="proj_b", key="key_1")) == "batch"
    assert matcher.project_for(orl(DAY, "1", key="hash_a")) == "search"
    assert matcher.project_for(orl(DAY, "1", key="hash_b")) == "chat"
    # an id the directory does not know yet still matches literally
    assert matcher.project_for(orl(DAY, "1", key="hash_unknown")) == "batch"
    assert matcher.project_for(orl(DAY, "1", key="hash_zzz")) is None
    assert matcher.project_for(orl(DAY, "1", key=None)) is None


def test_ids_are_not_matched_case_insensitively() -> None:
    matcher = build_matcher([project("p", openai_projects=("proj_ABC",))])
    assert matcher.project_for(oa(DAY, "1", project="proj_abc")) is None


def test_unattributed_refs_by_kind_with_names() -> None:
    directory = Directory(openai_keys={"key_x": "stray"}, openrouter_keys={"hash_z": "old-key"})
    matcher = build_matcher([project("p", openai_projects=("proj_a",))], directory)
    lines = [
        oa(DAY, "1.5", project="proj_a"),
        oa(DAY, "2", project="proj_zz", key="key_x"),
        oa(DAY, "3", project="proj_zz"),
        oa(DAY, "0.25", project=None),
        oa(DAY, "0.25", project=None),
        orl(DAY, "4", key="hash_z"),
    ]
    result = attribute(lines, matcher)
    refs = {(r.kind, r.ref): (r.name, r.usd) for r in result.unattributed.refs}
    assert refs == {
        ("openai_api_key", "key_x"): ("stray", D(2)),
        ("openai_project", "proj_zz"): (None, D(3)),
        ("org", None): (None, D("0.50")),
        ("openrouter_key", "hash_z"): ("old-key", D(4)),
    }
    assert [r.usd for r in result.unattributed.refs] == [D(4), D(3), D(2), D("0.50")]
    assert result.unattributed.by_provider == {"openai": D("5.50"), "openrouter": D(4)}
    assert result.by_project["p"] == (lines[0],)
    assert result.provider_totals == {"openai": D(7), "openrouter": D(4)}


def test_every_project_present_even_without_lines() -> None:
    result = attribute([], build_matcher([project("a"), project("b")]))
    assert result.by_project == {"a": (), "b": ()}
    assert result.unattributed.total == 0


def test_project_lookup_is_case_insensitive() -> None:
    matcher = build_matcher([project("Search")])
    assert matcher.project(" search ") is not None
    assert matcher.project("nope") is None


# ------------------------------------------------------------------------------- properties

_REFS = ["proj_a", "proj_b", "proj_c", None]
_KEYS = ["key_1", "key_2", "key_3", None]
_HASHES = ["hash_a", "hash_b", "hash_c", None]
_amounts = st.decimals(min_value=-1000, max_value=100000, places=9, allow_nan=False, allow_infinity=False)


@st.composite
def spend_lines(draw: st.DrawFn) -> SpendLine:
    provider = draw(st.sampled_from(PROVIDERS))
    amount = draw(_amounts)
    day = date(2026, 11, draw(st.integers(1, 30)))
    if provider == "openai":
        return oa(day, amount, project=draw(st.sampled_from(_REFS)), key=draw(st.sampled_from(_KEYS)))
    return orl(day, amount, key=draw(st.sampled_from(_HASHES)))


_MATCHER = build_matcher(
    [
        project("a", openai_projects=("proj_a",), openrouter_keys=("hash_a",)),
        project("b", openai_api_keys=("key_2", "Key One"), openrouter_keys=("B-KEY",)),
        project("c", openai_projects=("proj b",)),
    ],
    Directory(
        openai_projects={"proj_b": "Proj B"},
        openai_keys={"key_1": "key one"},
        openrouter_keys={"hash_b": "b-key"},
    ),
)


@given(st.lists(spend_lines(), max_size=60))
def test_attribution_conserves_money_exactly(lines: list[SpendLine]) -> None:
    result = attribute(lines, _MATCHER)
    for provider in PROVIDERS:
        in_projects = sum(
            (ln.amount for found in result.by_project.values() for ln in found if ln.provider == provider),
            Decimal(0),
        )
        expected = sum((ln.amount for ln in lines if ln.provider == provider), Decimal(0))
        assert in_projects + result.unattributed.by_provider[provider] == expected
        assert result.provider_totals[provider] == expected
        refs = sum((r.usd for r in result.unattributed.refs if r.provider == provider), Decimal(0))
        assert refs == result.unattributed.by_provider[provider]
    assert sum(len(v) for v in result.by_project.values()) + len(result.unattributed_lines) == len(lines)


@given(st.lists(spend_lines(), max_size=60), st.randoms(use_true_random=False))
def test_attribution_is_order_independent(lines: list[SpendLine], rnd: random.Random) -> None:
    shuffled = list(lines)
    rnd.shuffle(shuffled)
    a, b = attribute(lines, _MATCHER), attribute(shuffled, _MATCHER)
    assert a.provider_totals == b.provider_totals
    assert a.unattributed == b.unattributed
    for name in a.by_project:
        assert sorted(map(repr, a.by_project[name])) == sorted(map(repr, b.by_project[name]))


# ------------------------------------------------------------------------------------ double claims


def test_an_id_in_one_project_and_its_name_in_another_is_a_double_claim() -> None:
    directory = Directory(openai_projects={"proj_a": "Search"}, openrouter_keys={"h1": "search-prod"})
    projects = [
        project("a", openai_projects=("Search",), openrouter_keys=("search-prod",)),
        project("b", openai_projects=("proj_a",), openrouter_keys=("h1",)),
    ]
    claims = double_claims(projects, directory)
    assert [(c.field, c.ident, c.name, c.first.entry, c.second.entry, c.winner) for c in claims] == [
        ("openai_projects", "proj_a", "Search", "Search", "proj_a", "b"),  # the id tier wins: b takes it all
        ("openrouter_keys", "h1", "search-prod", "search-prod", "h1", "b"),
    ]
    assert (claims[0].second.project_index, claims[0].second.position) == (1, 0)


def test_two_spellings_of_one_name_are_a_double_claim_and_the_exact_one_wins() -> None:
    directory = Directory(openai_keys={"key_1": "Batch"})
    claims = double_claims(
        [project("a", openai_api_keys=("batch",)), project("b", openai_api_keys=("Batch",))], directory
    )
    assert [(c.ident, c.first.project, c.second.project, c.winner) for c in claims] == [
        ("key_1", "a", "b", "b")
    ]


def test_claims_that_do_not_collide_are_not_reported() -> None:
    directory = Directory(openai_projects={"proj_a": "Search", "proj_b": "Batch"})
    assert not double_claims(
        [
            project("a", openai_projects=("Search", "proj_a")),  # one project naming it twice: harmless
            project("b", openai_projects=("Batch",), openai_api_keys=("Search",)),  # other level
            project("c", openai_projects=("unknown-name",)),
        ],
        directory,
    )
    # A literal repeat is the config loader's to report, not reported twice here.
    assert not double_claims(
        [project("a", openai_projects=("x",)), project("b", openai_projects=("x",))], directory
    )
