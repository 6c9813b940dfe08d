"""The App Home audience in the database (``aispend.slack.home.HomeAudience``).

Any replica that receives ``app_home_opened`` records the user here, and the leader's post-poll
job republishes every recorded Home, whichever replica the user reached. A user who has not opened
the tab for :data:`FORGET_AFTER` is no longer republished (their next visit adds them again), so
people who left long ago do not cost a ``views.publish`` per poll forever.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from aispend.clock import utcnow
from aispend.store.guard import CallGuard
from aispend.store.models import SlackHomeAudience, table_of

FORGET_AFTER = timedelta(days=90)
_TABLE = table_of(SlackHomeAudience)


def record_visit(engine: Engine, user_id: str, now: datetime) -> None:
    """Insert the user, or move their ``seen_at`` to ``now`` (concurrent visits on several
    replicas agree: it is one upsert on the primary key)."""
    insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
    statement = insert(_TABLE).values(user_id=user_id, seen_at=now)
    statement = statement.on_conflict_do_update(
        index_elements=["user_id"], set_={"seen_at": statement.excluded.seen_at}
    )
    with engine.begin() as connection:
        connection.execute(statement)


def audience(engine: Engine, since: datetime) -> tuple[str, ...]:
    """Users who opened the Home tab at or after ``since``, sorted."""
    query = select(_TABLE.c.user_id).where(_TABLE.c.seen_at >= since).order_by(_TABLE.c.user_id)
    with engine.connect() as connection:
        return tuple(connection.scalars(query))


class StoreHomeAudience:
    """``HomeAudience`` on the database. :meth:`add` runs in a Slack request, so it goes through
    ``guard``'s deadline (a hung database makes the Home say "store unavailable", never hang);
    :meth:`users` runs in the poll job and reads directly."""

    def __init__(self, engine: Engine, guard: CallGuard, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._engine = engine
        self._guard = guard
        self._clock = clock

    def add(self, user_id: str) -> None:
        now = self._clock()
        self._guard.call(lambda: record_visit(self._engine, user_id, now))

    def users(self) -> tuple[str, ...]:
        return audience(self._engine, self._clock() - FORGET_AFTER)
