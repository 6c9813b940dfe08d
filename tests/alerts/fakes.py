"""A recording notifier (thread-safe) with scripted failures."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass, field

from aispend.alerts.state import Delivery, DeliveryError, Notice


@dataclass
class RecordingNotifier:
    sent: list[Notice] = field(default_factory=list)
    fail_next: list[DeliveryError] = field(default_factory=list)
    channel: str | None = "C0ALERTS"

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._ts = itertools.count(1)

    def send(self, notice: Notice) -> Delivery | None:
        with self._lock:
            if self.fail_next:
                raise self.fail_next.pop(0)
            self.sent.append(notice)
            if notice.kind == "post" and self.channel is not None:
                return Delivery(self.channel, f"1700000000.{next(self._ts):06d}")
            return None

    def kinds(self) -> list[tuple[str, str]]:
        with self._lock:
            return [(n.kind, str(n.alert.key)) for n in self.sent]

    def clear(self) -> None:
        with self._lock:
            self.sent.clear()
