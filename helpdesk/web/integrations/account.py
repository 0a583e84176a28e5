"""API tokens (each person's own, under the user menu) and webhook subscriptions (staff)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from ...audit_log.record import record
from ...auth.policy import AGENT_ROLES, require_roles
from ...extensions import db
from ...integrations import webhooks
from ...integrations.models import WebhookDelivery, WebhookSubscription
from ...models import ApiToken, Client, Role, utcnow
from . import bp
from .forms import ActionForm, TokenForm, WebhookForm


def _client_choices(form: TokenForm) -> None:
    if current_user.is_client_user:
        form.client_id.choices = [(0, "—")]
        return
    form.client_id.choices = [(0, _("All clients"))] + [
        (c.id, c.name) for c in db.session.scalars(select(Client).order_by(Client.name))]


@bp.route("/tokens", methods=["GET", "POST"])
def tokens():
    form = TokenForm()
    _client_choices(form)
    plain = None
    if form.validate_on_submit():
        token, plain = ApiToken.issue(current_user, form.name.data.strip())
        token.scopes = "read,write" if form.write.data else "read"
        token.client_id = (current_user.client_id if current_user.is_client_user
                           else (form.client_id.data or None))
        db.session.add(token)
        db.session.flush()
        record(token, "create", user=current_user,
               after={"name": token.name, "scopes": token.scopes, "client_id": token.client_id})
        db.session.commit()
        form = TokenForm(formdata=None)
        _client_choices(form)
    mine = db.session.scalars(select(ApiToken).where(ApiToken.user_id == current_user.id)
                              .order_by(ApiToken.id.desc())).all()
    names = {c.id: c.name for c in db.session.scalars(select(Client))} if mine else {}
    return render_template("integrations/tokens.html", form=form, tokens=mine, plain=plain,
                           action=ActionForm(), names=names)


@bp.post("/tokens/<int:token_id>/revoke")
def revoke_token(token_id: int):
    token = db.session.get(ApiToken, token_id)
    if token is None or token.user_id != current_user.id:
        abort(404)
    if not ActionForm().validate_on_submit():
        abort(400)
    if not token.revoked:
        token.revoked = True
        token.revoked_at = utcnow()
        record(token, "revoke", user=current_user, after={"name": token.name})
        db.session.commit()
    flash(_("Token %(name)s revoked.", name=token.name), "success")
    return redirect(url_for(".tokens"))


# -- webhooks ---------------------------------------------------------------------------------


def _staff() -> None:
    require_roles(current_user, *AGENT_ROLES)


def _subscription_or_404(sub_id: int) -> WebhookSubscription:
    _staff()
    sub = db.session.get(WebhookSubscription, sub_id)
    if sub is None or (sub.owner_id != current_user.id and current_user.role != Role.ADMIN):
        abort(404)
    return sub


@bp.route("/webhooks", methods=["GET", "POST"])
def webhooks_page():
    _staff()
    form = WebhookForm()
    if form.validate_on_submit():
        try:
            sub = webhooks.create_subscription(current_user, form.url.data, form.events.data)
        except webhooks.WebhookError as exc:
            db.session.rollback()
            form.url.errors.append(str(exc))
        else:
            db.session.commit()
            flash(_("Subscription saved. Its signing secret: %(secret)s", secret=sub.secret),
                  "success")
            return redirect(url_for(".webhook_detail", sub_id=sub.id))
    stmt = select(WebhookSubscription).order_by(WebhookSubscription.id)
    if current_user.role != Role.ADMIN:
        stmt = stmt.where(WebhookSubscription.owner_id == current_user.id)
    return render_template("integrations/webhooks.html", form=form,
                           subscriptions=db.session.scalars(stmt).all())


@bp.get("/webhooks/<int:sub_id>")
def webhook_detail(sub_id: int):
    sub = _subscription_or_404(sub_id)
    deliveries = db.session.scalars(select(WebhookDelivery).where(
        WebhookDelivery.subscription_id == sub.id).order_by(WebhookDelivery.id.desc())
        .limit(100)).all()
    return render_template("integrations/webhook_detail.html", sub=sub, deliveries=deliveries,
                           action=ActionForm())


@bp.post("/webhooks/<int:sub_id>/<op>")
def webhook_action(sub_id: int, op: str):
    sub = _subscription_or_404(sub_id)
    if op not in ("enable", "disable", "delete") or not ActionForm().validate_on_submit():
        abort(404 if op not in ("enable", "disable", "delete") else 400)
    if op == "delete":
        webhooks.delete_subscription(sub, current_user)
        db.session.commit()
        flash(_("Subscription deleted."), "success")
        return redirect(url_for(".webhooks_page"))
    webhooks.set_active(sub, op == "enable", current_user)
    db.session.commit()
    return redirect(url_for(".webhook_detail", sub_id=sub.id))


@bp.post("/webhooks/deliveries/<int:delivery_id>/replay")
def webhook_replay(delivery_id: int):
    delivery = db.session.get(WebhookDelivery, delivery_id)
    if delivery is None:
        abort(404)
    sub = _subscription_or_404(delivery.subscription_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    webhooks.replay(delivery, current_user)
    db.session.commit()
    flash(_("The event is queued again."), "success")
    return redirect(url_for(".webhook_detail", sub_id=sub.id))
