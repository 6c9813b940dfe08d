"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, String
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from aispend.records import PollStatus


class UTCDateTime(TypeDecorator[datetime]):
    """Stores naive UTC, returns aware UTC.

    SQLite keeps no offset and PostgreSQL ``timestamptz`` would shift with the session time zone
    (a known pitfall in peers' spend queries); a naive UTC column compared with naive UTC
    parameters is unambiguous on both.
    """

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class PollStatusText(TypeDecorator[PollStatus]):
    """``PollStatus`` stored as its text (a plain ``VARCHAR``, no database enum type to migrate
    when a status is added), read back as the enum."""

    impl = String(20)
    cache_ok = True

    def process_bind_param(self, value: PollStatus | str | None, dialect: Dialect) -> str | None:
        return None if value is None else PollStatus(value).value

    def process_result_value(self, value: Any, dialect: Dialect) -> PollStatus | None:
        return None if value is None else PollStatus(value)
