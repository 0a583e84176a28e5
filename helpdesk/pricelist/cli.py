"""``flask package`` and ``flask addon``: the price list from the shell, over the same functions as
the admin price-list page and the API."""

from __future__ import annotations

import click
from flask.cli import AppGroup
from sqlalchemy import select

from ..clients.cli import _day  # the same YYYY-MM-DD option parsing as `flask client`
from ..clients.validate import FieldError
from ..extensions import db
from ..models import Addon, Package, Priority
from .dated import today

package_cli = AppGroup("package", help="Support packages: prices and SLA targets per priority.")
addon_cli = AppGroup("addon", help="Add-ons of the price list and their dated fees.")


def _fail(exc: FieldError) -> None:
    db.session.rollback()
    raise click.ClickException(f"{exc.field}: {exc.message}")


def _package(code: str) -> Package:
    package = db.session.scalar(select(Package).where(Package.code == code.lower()))
    if package is None:
        raise click.ClickException(f"no package {code!r} (see `flask package list`)")
    return package


def _addon(code: str) -> Addon:
    addon = db.session.scalar(select(Addon).where(Addon.code == code.lower()))
    if addon is None:
        raise click.ClickException(f"no add-on {code!r} (see `flask addon list`)")
    return addon


@package_cli.command("list")
@click.option("--on", "on_text", metavar="YYYY-MM-DD", help="The price list on this day (today).")
def package_list(on_text: str | None) -> None:
    """Each package's prices and SLA targets (first response / resolution, minutes) in force."""
    from . import services, sla_targets

    day = _day(on_text, "--on") or today()
    for p in db.session.scalars(select(Package).order_by(Package.rank)):
        t = services.price_on(p, day)
        sla = " ".join(
            f"{x.priority}={x.targets.first_response_minutes}/{x.targets.resolution_minutes}"
            f"{'' if x.own else '*'}" for x in sla_targets.table(p, day))
        click.echo(f"{p.code}\t{p.name}\t{t.included_minutes} min\t{t.monthly_fee}\t"
                   f"{t.overage_rate}/h\t{t.visits_per_year} visits\t{sla}")
    click.echo("(* derived from the normal priority)")


@package_cli.command("price")
@click.argument("code")
@click.option("--from", "from_text", required=True, metavar="YYYY-MM-01",
              help="First day of the month the prices apply from (not a closed month).")
@click.option("--minutes", type=int, help="Included minutes a month (default: unchanged).")
@click.option("--fee", help="Monthly fee (default: unchanged).")
@click.option("--overage", help="Overage rate an hour (default: unchanged).")
@click.option("--visits", type=int, help="Visits a year (default: unchanged).")
def package_price(code, from_text, minutes, fee, overage, visits) -> None:
    """New prices of package CODE from a month on; earlier months keep theirs. Prints the id."""
    from .services import change_price, price_on

    package = _package(code)
    on = _day(from_text, "--from")
    now = price_on(package, on)
    try:
        row = change_price(
            None, package, effective_from=on,
            included_minutes=now.included_minutes if minutes is None else minutes,
            monthly_fee=now.monthly_fee if fee is None else fee,
            overage_rate=now.overage_rate if overage is None else overage,
            visits_per_year=now.visits_per_year if visits is None else visits)
    except FieldError as exc:
        _fail(exc)
    db.session.commit()
    click.echo(row.id)


@package_cli.command("sla")
@click.argument("code")
@click.argument("priority", type=click.Choice(Priority.values()))
@click.option("--first-response", "first", required=True, type=int, metavar="MINUTES",
              help="Business minutes until the first response.")
@click.option("--resolution", "resolve", required=True, type=int, metavar="MINUTES",
              help="Business minutes until resolution (not shorter than the first response).")
@click.option("--from", "from_text", metavar="YYYY-MM-DD",
              help="For tickets opened from this day on (today or later; default today).")
def package_sla(code, priority, first, resolve, from_text) -> None:
    """Own SLA targets of package CODE for PRIORITY (instead of derived); prints the id.

    Tickets already opened keep their due times; without own targets a priority derives from
    the normal one (urgent halves, low doubles, high keeps them).
    """
    from .sla_targets import set_targets

    package = _package(code)
    try:
        row = set_targets(None, package, priority=priority,
                          effective_from=_day(from_text, "--from") or today(),
                          first_response_minutes=first, resolution_minutes=resolve)
    except FieldError as exc:
        _fail(exc)
    db.session.commit()
    click.echo(row.id)


@addon_cli.command("list")
@click.option("--on", "on_text", metavar="YYYY-MM-DD", help="The fees on this day (today).")
def addon_list(on_text: str | None) -> None:
    """Each add-on with its monthly fee in force."""
    from .services import addon_price_on

    day = _day(on_text, "--on") or today()
    for a in db.session.scalars(select(Addon).order_by(Addon.code)):
        sold = "" if a.active else "\t(not sold)"
        click.echo(f"{a.code}\t{a.name}\t{addon_price_on(a, day)}{sold}")


@addon_cli.command("price")
@click.argument("code")
@click.argument("fee")
@click.option("--from", "from_text", required=True, metavar="YYYY-MM-01",
              help="First day of the month the fee applies from (not a closed month).")
def addon_price(code, fee, from_text) -> None:
    """A new monthly FEE of add-on CODE from a month on; earlier months keep theirs. Prints the id."""
    from .services import change_addon_price

    addon = _addon(code)
    try:
        row = change_addon_price(None, addon, effective_from=_day(from_text, "--from"),
                                 monthly_fee=fee)
    except FieldError as exc:
        _fail(exc)
    db.session.commit()
    click.echo(row.id)


COMMANDS = [package_cli, addon_cli]
