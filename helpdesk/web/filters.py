"""Template filters: times in the viewer's zone, minutes as hours, money per locale."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from flask import Flask
from flask_babel import format_currency, format_datetime


def init_app(app: Flask) -> None:
    @app.template_filter("dt")
    def _dt(value: datetime | None, fmt: str = "short") -> str:
        return format_datetime(value, fmt) if value else ""

    @app.template_filter("hm")
    def _hm(minutes: int | None) -> str:
        """Minutes as H:MM (negative for minutes taken back)."""
        if minutes is None:
            return ""
        sign = "-" if minutes < 0 else ""
        m = abs(int(minutes))
        return f"{sign}{m // 60}:{m % 60:02d}"

    @app.template_filter("money")
    def _money(amount: Decimal | str | None, currency: str | None = None) -> str:
        if amount is None:
            return ""
        return format_currency(Decimal(amount), currency or app.config["CURRENCY"])
