"""Console pages for what mail intake kept aside: automatic mail, and accepting an unverified
message held on a ticket."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ...auth.policy import get_ticket_by_number_or_404
from ...extensions import db
from ...mailbox.services import NotUnverified, accept_article, automatic_mail
from ...models import Article
from . import bp

#: Kinds the automatic-mail view filters on (mail_ingest.automatic.KINDS).
KINDS = ("bounce", "feedback", "vacation", "bulk", "auto")


@bp.route("/automatic-mail")
def automatic_mail_list():
    """Bounces, out-of-office replies, reports and list mail: kept, never a ticket."""
    kind = request.args.get("kind") or None
    if kind is not None and kind not in KINDS:
        abort(404)
    return render_template(
        "agent/automatic_mail.html", mails=automatic_mail(kind), kind=kind, kinds=KINDS
    )


@bp.post("/tickets/<int:number>/articles/<int:article_id>/accept")
def accept_unverified(number: int, article_id: int):
    """Accept an unverified message: it becomes a normal message (shown in the portal)."""
    ticket = get_ticket_by_number_or_404(current_user, number)
    article = db.session.get(Article, article_id)
    if article is None or article.ticket_id != ticket.id:
        abort(404)
    try:
        accept_article(article, user=current_user)
    except NotUnverified:
        flash(_("This message was already accepted."), "info")
    else:
        db.session.commit()
        flash(_("Message accepted."), "info")
    return redirect(url_for(".ticket", number=ticket.number, _anchor=f"a{article.id}"))
