"""Calendar feeds read by calendar programs: no login, a secret address per agent."""

from __future__ import annotations

from flask import Blueprint, Response, abort

from ..extensions import csrf, db
from ..visits.feeds import agent_for_token
from ..visits.ics import agent_feed

bp = Blueprint("feeds", __name__)


@bp.route("/calendar/visits/<token>.ics")
@csrf.exempt
def visits_feed(token: str):
    agent = agent_for_token(token)
    if agent is None:
        abort(404)
    body = agent_feed(agent.id, agent.name)
    db.session.commit()  # last_used_at
    return Response(body, mimetype="text/calendar", headers={
        "Content-Disposition": 'inline; filename="visits.ics"',
        "Cache-Control": "private, max-age=300",
        "X-Robots-Tag": "noindex",
    })
