"""Saved column mappings: which column of a file holds each field."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class LogmeinColumns:
    """Which column of a LogMeIn report holds each field (accounts rename them)."""

    customer: tuple[str, ...] = ("Name",)
    technician: str = "Technician Email"
    technician_name: str = "Technician Name"
    start: str = "Start Time"
    end: str = "End Time"
    work_time: str = "Work Time"
    session_id: str = "Session ID"
    notes: tuple[str, ...] = ()
    ticket: str = ""

    FIELDS = ("customer", "technician", "technician_name", "start", "end", "work_time",
              "session_id", "notes", "ticket")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> LogmeinColumns:
        data = data or {}
        values: dict[str, Any] = {}
        for name in cls.FIELDS:
            value = data.get(name)
            if value in (None, "", []):
                continue
            if name in ("customer", "notes"):
                if isinstance(value, str):
                    value = [v for v in (p.strip() for p in value.split(",")) if v]
                values[name] = tuple(value)
            else:
                values[name] = str(value).strip()
        return cls(**values)

    def as_dict(self) -> dict[str, Any]:
        return {name: list(v) if isinstance(v := getattr(self, name), tuple) else v
                for name in self.FIELDS}

    def parser_columns(self) -> dict[str, str]:
        return {"start": self.start, "end": self.end, "session_id": self.session_id,
                "technician_name": self.technician_name, "technician_email": self.technician}



@dataclass(frozen=True)
class CdrColumns:
    """Which header of a CSV call export holds each field; all empty: Asterisk's ``Master.csv``
    (no header) or FreePBX's export (its own header), recognised as before."""

    src: str = ""
    dst: str = ""
    start: str = ""
    answer: str = ""
    end: str = ""
    duration: str = ""
    billsec: str = ""
    uniqueid: str = ""
    disposition: str = ""
    notes: str = ""
    ticket: str = ""

    FIELDS = ("src", "dst", "start", "answer", "end", "duration", "billsec", "uniqueid",
              "disposition", "notes", "ticket")

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> CdrColumns:
        data = data or {}
        return cls(**{name: str(data.get(name) or "").strip() for name in cls.FIELDS})

    def as_dict(self) -> dict[str, str]:
        return {name: getattr(self, name) for name in self.FIELDS}

    def parser_columns(self) -> dict[str, str] | None:
        """Field -> header for the parser; None when nothing is mapped."""
        mapped = {name: value for name, value in self.as_dict().items() if value}
        return mapped or None
