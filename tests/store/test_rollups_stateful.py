"""Any sequence of window writes, re-writes, late corrections and deletions leaves the raw daily
rows equal to what the providers last said, and the rollups (``spend_day``, ``spend_month``)
equal to the sums of those raw rows, on SQLite and PostgreSQL.

A hypothesis state machine drives the store's real write functions; a plain Python model keeps
what each provider answer said (an answer replaces its whole window: days for OpenAI costs, days
of one key for OpenRouter activity). After every step the stored raw rows must equal the model,
and the rollups must equal sums computed here in Python from the model, not by the store's SQL.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import Engine, delete, select

from aispend.clock import month_start
from aispend.money import to_nanos
from aispend.records import OpenAICost, OpenRouterActivity
from aispend.store import writes
from aispend.store.engine import session_scope
from aispend.store.models import OpenAICostDaily, OpenRouterActivityDaily, SpendDay, SpendMonth, table_of
from aispend.store.writes import model_from_line_item

FIRST = date(2026, 10, 26)  # the days cross a month boundary and a 7-day write chunk
DAYS = 14
KEYS = ("hash_a", "hash_b")

days = st.integers(0, DAYS - 1).map(lambda n: FIRST + timedelta(days=n))
amounts = st.decimals(min_value=Decimal("-5"), max_value=Decimal("500"), places=9, allow_nan=False)
openai_costs = st.builds(
    OpenAICost,
    day=days,
    project_id=st.sampled_from(["proj_a", "proj_b", None]),
    api_key_id=st.sampled_from(["key_1", "key_2", None]),
    line_item=st.sampled_from(
        ["gpt-4o-2024-08-06, input", "gpt-4o-2024-08-06, output", "evals | o3, input", None]
    ),
    amount=amounts,
)
activity = st.builds(
    OpenRouterActivity,
    day=days,
    key_hash=st.sampled_from(KEYS),  # replaced by the key of the write
    model=st.sampled_from(["openai/gpt-4o", "anthropic/claude-sonnet-4"]),
    provider_name=st.sampled_from(["OpenAI", "Azure", "Anthropic"]),
    usage=amounts,
    byok_usage=st.just(Decimal(0)),
    requests=st.integers(0, 50),
    prompt_tokens=st.integers(0, 10_000),
    completion_tokens=st.integers(0, 10_000),
    reasoning_tokens=st.integers(0, 100),
)

OpenAIKey = tuple[date, str, str, str]  # day, project, api key, line item ('' for none)
RouterKey = tuple[date, str, str, str]  # day, key hash, model, provider name
RouterValue = tuple[int, int, int, int]  # nanos, requests, prompt tokens, completion tokens


def _window(start_offset: int, length: int) -> tuple[date, date]:
    start = FIRST + timedelta(days=start_offset)
    return start, start + timedelta(days=length)


def _openai_key(row: OpenAICost) -> OpenAIKey:
    return (row.day, row.project_id or "", row.api_key_id or "", row.line_item or "")


def _stored(engine: Engine, model: Any, columns: Iterable[str]) -> list[tuple[Any, ...]]:
    table = table_of(model)
    with session_scope(engine) as session:
        return [tuple(row) for row in session.execute(select(*(table.c[name] for name in columns)))]


def make_machine(engine: Engine) -> type[RuleBasedStateMachine]:
    class StoreMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            with session_scope(engine) as session:
                for model in (OpenAICostDaily, OpenRouterActivityDaily, SpendDay, SpendMonth):
                    session.execute(delete(table_of(model)))
            self.openai: dict[OpenAIKey, int] = {}
            self.router: dict[RouterKey, RouterValue] = {}
            self.last_write: Callable[[], writes.WriteCount] | None = None

        # ---------------------------------------------------------------------- the model

        def _say_openai(self, start: date, end: date, rows: list[OpenAICost]) -> None:
            for key in [k for k in self.openai if start <= k[0] < end]:
                del self.openai[key]
            for row in rows:
                if start <= row.day < end:
                    key = _openai_key(row)
                    self.openai[key] = self.openai.get(key, 0) + to_nanos(row.amount)

        def _say_router(self, key_hash: str, start: date, end: date, rows: list[OpenRouterActivity]) -> None:
            for key in [k for k in self.router if k[1] == key_hash and start <= k[0] < end]:
                del self.router[key]
            for row in rows:
                if start <= row.day < end:
                    key = (row.day, key_hash, row.model, row.provider_name)
                    old = self.router.get(key, (0, 0, 0, 0))
                    add = (to_nanos(row.usage), row.requests, row.prompt_tokens, row.completion_tokens)
                    self.router[key] = (old[0] + add[0], old[1] + add[1], old[2] + add[2], old[3] + add[3])

        # ---------------------------------------------------------------------- writes

        def _write_openai(self, start: date, end: date, rows: list[OpenAICost]) -> None:
            def write() -> writes.WriteCount:
                with session_scope(engine) as session:
                    return writes.replace_openai_costs(session, start, end, rows)

            write()
            self._say_openai(start, end, rows)
            self.last_write = write

        def _write_router(
            self, key_hash: str, start: date, end: date, rows: list[OpenRouterActivity]
        ) -> None:
            def write() -> writes.WriteCount:
                with session_scope(engine) as session:
                    return writes.replace_openrouter_activity(session, key_hash, start, end, rows)

            write()
            self._say_router(key_hash, start, end, rows)
            self.last_write = write

        @rule(
            start=st.integers(0, DAYS - 1),
            length=st.integers(1, 10),
            rows=st.lists(openai_costs, max_size=12),
        )
        def openai_window(self, start: int, length: int, rows: list[OpenAICost]) -> None:
            self._write_openai(*_window(start, length), rows)

        @rule(
            key_hash=st.sampled_from(KEYS),
            start=st.integers(0, DAYS - 1),
            length=st.integers(1, 10),
            rows=st.lists(activity, max_size=12),
        )
        def activity_window(
            self, key_hash: str, start: int, length: int, rows: list[OpenRouterActivity]
        ) -> None:
            self._write_router(key_hash, *_window(start, length), rows)

        @precondition(lambda self: self.last_write is not None)
        @rule()
        def rewrite_the_same_answer(self) -> None:
            """Re-polling an unchanged window changes nothing."""
            assert self.last_write is not None
            count = self.last_write()
            assert (count.inserted, count.updated, count.deleted) == (0, 0, 0)

        @precondition(lambda self: bool(self.openai))
        @rule(data=st.data(), amount=amounts)
        def late_openai_correction(self, data: st.DataObject, amount: Decimal) -> None:
            """The provider re-states one day: one amount changes, the rest of the day is repeated."""
            day, project, key, item = data.draw(st.sampled_from(sorted(self.openai)))
            same_day = [
                OpenAICost(d, p or None, k or None, i or None, Decimal(nanos) / 10**9)
                for (d, p, k, i), nanos in self.openai.items()
                if d == day and (p, k, i) != (project, key, item)
            ]
            corrected = OpenAICost(day, project or None, key or None, item or None, amount)
            self._write_openai(day, day + timedelta(days=1), [*same_day, corrected])

        @precondition(lambda self: bool(self.openai) or bool(self.router))
        @rule(data=st.data())
        def provider_drops_a_day(self, data: st.DataObject) -> None:
            """A window answered without a day that had rows: its rows (and sums) go."""
            keys = sorted(
                [("openai", k[0], "") for k in self.openai] + [("or", k[0], k[1]) for k in self.router]
            )
            provider, day, key_hash = data.draw(st.sampled_from(keys))
            if provider == "openai":
                self._write_openai(day, day + timedelta(days=1), [])
            else:
                self._write_router(key_hash, day, day + timedelta(days=1), [])

        @rule()
        def rebuild_the_rollups(self) -> None:
            """Repairing from the raw rows must find nothing to repair."""
            with session_scope(engine) as session:
                writes.rebuild_rollups(session)

        # ---------------------------------------------------------------------- invariants

        @invariant()
        def raw_rows_are_what_the_providers_last_said(self) -> None:
            openai = _stored(
                engine, OpenAICostDaily, ("day", "project_id", "api_key_id", "line_item", "amount_nanos")
            )
            assert {row[:4]: row[4] for row in openai} == self.openai and len(openai) == len(self.openai)
            router = _stored(
                engine,
                OpenRouterActivityDaily,
                ("day", "key_hash", "model", "provider_name", "usage_nanos", "requests", "prompt_tokens",
                 "completion_tokens"),
            )  # fmt: skip
            assert {row[:4]: row[4:] for row in router} == self.router and len(router) == len(self.router)

        @invariant()
        def spend_day_sums_the_raw_rows(self) -> None:
            expected: dict[tuple[str, date, str, str], int] = defaultdict(int)
            for (day, project, key, _item), nanos in self.openai.items():
                expected[("openai", day, project, key)] += nanos
            for (day, key_hash, _model, _route), (nanos, *_counts) in self.router.items():
                expected[("openrouter", day, "", key_hash)] += nanos
            stored = _stored(engine, SpendDay, ("provider", "day", "project_ref", "key_ref", "amount_nanos"))
            assert {row[:4]: row[4] for row in stored} == expected and len(stored) == len(expected)

        @invariant()
        def spend_month_sums_the_raw_rows(self) -> None:
            expected: dict[tuple[Any, ...], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
            for (day, project, key, item), nanos in self.openai.items():
                slot = ("openai", month_start(day), project, key, model_from_line_item(item or None), item)
                expected[slot][0] += nanos
            for (day, key_hash, model, route), values in self.router.items():
                slot = ("openrouter", month_start(day), "", key_hash, model, route)
                for n, value in enumerate(values):
                    expected[slot][n] += value
            stored = _stored(
                engine,
                SpendMonth,
                ("provider", "month", "project_ref", "key_ref", "model", "detail", "amount_nanos", "requests",
                 "input_tokens", "output_tokens"),
            )  # fmt: skip
            assert {row[:6]: list(row[6:]) for row in stored} == dict(expected)
            assert len(stored) == len(expected)

    return StoreMachine


def test_rollups_always_equal_the_sums_of_the_raw_rows(engine: Engine) -> None:
    run_state_machine_as_test(
        make_machine(engine),
        settings=settings(
            max_examples=25,
            stateful_step_count=12,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        ),
    )
