"""Console dashboards: thin views over :mod:`helpdesk.dashboards.queries`, charts as SVG.

Every staff member sees the dashboards; an account manager's figures are those of their own
clients (a client id of another manager's client in the filter is refused like a missing one).
Filters by month, client and agent are plain GET parameters, so a view can be bookmarked.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from flask import abort, redirect, render_template, request, url_for
from flask_babel import format_date, format_decimal
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from ...dashboards import queries
from ...dashboards.svg import Series, bar_chart, column_chart
from ...extensions import db
from ...hardening.bounds import MONTH_PATTERN
from ...models import STAFF_ROLES, Client, Role, User
from ..filters import label
from . import bp

PERIOD_RE = re.compile(MONTH_PATTERN)  # years 1970-2999: the ledger's range
PAGES = ("sla", "backlog", "times", "hours")


def month_label(period: str) -> str:
    """"2026-03" as the viewer's language names the month, short ("mar 2026")."""
    year, month = (int(part) for part in period.split("-"))
    return format_date(date(year, month, 1), "LLL y")


@dataclass
class FilterForm:
    """The dashboards' filter bar: values, choices and the error to show next to a field."""

    month: str
    client_id: int | None
    agent_id: int | None
    clients: list[tuple[int, str]]
    agents: list[tuple[int, str]]
    errors: dict[str, str]


def _clients_for(user: User) -> list[tuple[int, str]]:
    stmt = select(Client.id, Client.name).order_by(Client.name)
    if user.role == Role.ACCOUNT_MANAGER:
        stmt = stmt.where(Client.account_manager_id == user.id)
    return [(id_, name) for id_, name in db.session.execute(stmt)]


def _filters() -> tuple[queries.Filters, FilterForm]:
    errors: dict[str, str] = {}
    month = request.args.get("month") or queries.today_month()
    if not PERIOD_RE.match(month):
        errors["month"] = _("Give the month as YYYY-MM.")
        month = queries.today_month()
    clients = _clients_for(current_user)
    client_id = request.args.get("client", type=int)
    if client_id is not None and client_id not in {id_ for id_, _name in clients}:
        abort(404)
    agents = [(u.id, u.name) for u in db.session.scalars(
        select(User).where(User.role.in_(list(STAFF_ROLES)), User.active.is_(True))
        .order_by(User.name))]
    agent_id = request.args.get("agent", type=int)
    if agent_id is not None and agent_id not in {id_ for id_, _name in agents}:
        errors["agent"] = _("Choose an agent from the list.")
        agent_id = None
    form = FilterForm(month, client_id, agent_id, clients, agents, errors)
    return queries.Filters(month, client_id, agent_id), form


def _pct(value: float) -> str:
    return format_decimal(round(value, 1)) + " %"


def _hours(minutes: float) -> str:
    sign = "-" if minutes < 0 else ""
    hours, rest = divmod(abs(round(minutes)), 60)
    return f"{sign}{hours}:{rest:02d}"


def _count(value: float) -> str:
    return format_decimal(round(value))


def _render(page: str, form: FilterForm, status: int = 200, **context):
    return render_template(f"agent/dashboards/{page}.html", page=page, pages=PAGES, form=form,
                           hours=_hours, pct=_pct, **context), (400 if form.errors else status)


@bp.route("/dashboards")
def dashboards():
    return redirect(url_for("agent.dashboard", page="sla", **request.args))


@bp.route("/dashboards/<page>")
def dashboard(page: str):
    if page not in PAGES:
        abort(404)
    filters, form = _filters()
    return VIEWS[page](filters, form)


def _sla(filters: queries.Filters, form: FilterForm):
    user = current_user
    months = queries.sla_by_month(user, filters)
    packages = queries.sla_by_package(user, filters)
    clients = queries.sla_by_client(user, filters)
    first, resolution = _("First response on time"), _("Resolution on time")

    def series(rows):
        return [Series(first, [r.first_pct for r in rows], 0),
                Series(resolution, [r.resolution_pct for r in rows], 1)]

    charts = {
        "months": column_chart(_("SLA compliance by month"),
                               [month_label(r.key) for r in months], series(months), _pct,
                               top=100),
        "packages": bar_chart(_("SLA compliance by package"),
                              [r.label or _("No contract") for r in packages], series(packages),
                              _pct, top=100),
        "clients": bar_chart(_("SLA compliance by client"), [r.label for r in clients],
                             series(clients), _pct, top=100),
    }
    return _render("sla", form, months=months, packages=packages, clients=clients,
                   charts=charts)


def _backlog(filters: queries.Filters, form: FilterForm):
    ageing = queries.backlog_ageing(current_user, filters)
    flow = queries.backlog_by_month(current_user, filters)
    age_labels = {"<1": _("under a day"), "1-3": _("1–3 days"), "3-7": _("3–7 days"),
                  "7-30": _("1–4 weeks"), ">30": _("over 30 days")}
    charts = {
        "ageing": column_chart(_("Open tickets by age"), [age_labels[k] for k, _n in ageing],
                               [Series(_("Open tickets"), [n for _k, n in ageing], 0)], _count),
        "flow": column_chart(_("Tickets opened and resolved"),
                             [month_label(p) for p, _o, _r in flow],
                             [Series(_("Opened"), [o for _p, o, _r in flow], 0),
                              Series(_("Resolved"), [r for _p, _o, r in flow], 1)], _count),
    }
    return _render("backlog", form, ageing=ageing, age_labels=age_labels, flow=flow,
                   charts=charts)


def _times(filters: queries.Filters, form: FilterForm):
    times = queries.response_times(current_user, filters)
    logged = queries.logged_time(current_user, filters)
    agents: list[str] = []
    kinds = sorted({kind for _a, _n, kind, _w, _b in logged})
    by_agent: dict[str, dict[str, int]] = {}
    for _agent_id, name, kind, worked, _billed in logged:
        who = name or _("No agent")
        if who not in by_agent:
            agents.append(who)
            by_agent[who] = {}
        by_agent[who][kind] = worked
    series = [Series(label(kind, "entry_kind"), [by_agent[a].get(kind) for a in agents],
                     i % 6) for i, kind in enumerate(kinds)]
    labels = [_("First response"), _("Resolution")]
    charts = {
        "times": bar_chart(_("Time to first response and resolution (elapsed)"), labels,
                           [Series(_("Median"), [times["first_response"].median,
                                                 times["resolution"].median], 0),
                            Series(_("90th percentile"), [times["first_response"].p90,
                                                          times["resolution"].p90], 1)],
                           _hours),
        "logged": bar_chart(_("Logged time per agent and kind"), agents, series, _hours),
    }
    return _render("times", form, times=times, logged=logged, charts=charts)


def _hours_page(filters: queries.Filters, form: FilterForm):
    rows = queries.client_hours(current_user, filters)
    charts = {"hours": bar_chart(
        _("Hours used and included, with the month-end forecast"), [r.name for r in rows],
        [Series(_("Used"), [r.used for r in rows], 0),
         Series(_("Included"), [r.included for r in rows], 1),
         Series(_("Forecast at month end"), [r.forecast for r in rows], 2)], _hours)}
    return _render("hours", form, rows=rows, charts=charts)


VIEWS = {"sla": _sla, "backlog": _backlog, "times": _times, "hours": _hours_page}
