"""Injected faults: throttling, outages, slowness, lost responses and business errors."""

from __future__ import annotations

import re
import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

LostResponse = Literal["drop", "504"]


@dataclass
class Fault:
    """Applies to the next `times` requests whose method and path match.

    `path` is a regular expression searched in the URL path (e.g. "A_SalesOrder$").
    Exactly what happens, in order: sleep `delay` seconds; with `expire_csrf`, every CSRF
    token becomes invalid first; with `status`, answer that status (429/503 get a
    Retry-After of `retry_after` seconds) with a Gateway error of `code`/`message`; with
    `lost_response`, process the request normally (a POST really creates the order) and
    then either cut the connection mid-answer ("drop") or answer 504 with no body ("504").
    """

    method: str = "*"
    path: str = ".*"
    times: int = 1
    status: int | None = None
    retry_after: int | None = None
    delay: float = 0.0
    lost_response: LostResponse | None = None
    code: str | None = None
    message: str | None = None
    expire_csrf: bool = False
    _pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.method = self.method.upper()
        self._pattern = re.compile(self.path)
        if self.lost_response not in (None, "drop", "504"):
            raise ValueError("lost_response must be 'drop' or '504'")
        if self.times < 1:
            raise ValueError("times must be at least 1")

    def matches(self, method: str, path: str) -> bool:
        return self.method in ("*", method.upper()) and self._pattern.search(path) is not None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("_pattern", None)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__ and k[0] != "_"}
        unknown = set(data) - set(known)
        if unknown:
            raise ValueError(f"unknown fault fields: {sorted(unknown)}")
        return cls(**known)


class FaultQueue:
    """Faults in injection order; the first match is consumed (thread-safe)."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.times -= 1
                    if fault.times == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.to_json() for f in self._faults]
