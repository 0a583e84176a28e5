"""Package changes from the console: an upgrade at once (prorated), a downgrade from next month."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from flask import (
    abort,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from ...auth.policy import (
    get_client_or_404,
)
from ...contracts import active_contract
from ...contracts.changes import ContractChangeError, change_package, package_id_on
from ...extensions import db
from ...models import (
    Client,
    Package,
    utcnow,
)
from . import bp
from .time_forms import (
    ContractChangeForm,
)
from .time_panel import (
    _can_manage_client,
)

# -- package changes -------------------------------------------------------------------------


def _client_today(client: Client) -> date:
    return utcnow().astimezone(ZoneInfo(client.timezone)).date()


@bp.route("/clients/<int:client_id>/contract/change", methods=["GET", "POST"])
def change_contract(client_id: int):
    """Upgrade (at once, prorated) or downgrade (from next month) the client's package."""
    client = get_client_or_404(current_user, client_id)
    if not _can_manage_client(current_user, client):
        abort(403)
    today = _client_today(client)
    contract = active_contract(client.id, today)
    packages = list(db.session.scalars(
        select(Package).where(Package.active.is_(True)).order_by(Package.rank)
    ))
    form = ContractChangeForm(prefix="change")
    form.package.choices = [(p.code, p.name) for p in packages]
    form.direction.choices = [
        ("upgrade", _("Upgrade: from the date below, prorated")),
        ("downgrade", _("Downgrade: from the first day of the next month")),
    ]
    current = (db.session.get(Package, package_id_on(contract, today))
               if contract is not None else None)
    status = 200
    if contract is not None and form.validate_on_submit():
        package = next(p for p in packages if p.code == form.package.data)
        try:
            change = change_package(contract, package, upgrade=form.direction.data == "upgrade",
                                    requested_on=form.on.data or today, user=current_user)
        except ContractChangeError as exc:
            db.session.rollback()
            form.package.errors.append(str(exc))
            status = 409
        else:
            db.session.commit()
            flash(_("%(p)s from %(d)s.", p=package.name, d=change.effective_date.isoformat()),
                  "info")
            return redirect(url_for("agent.client", client_id=client.id))
    elif request.method == "POST":
        status = 400
    return render_template("agent/time_contract.html", client=client, contract=contract,
                           current=current, form=form, today=today), status
