"""The access policy: every view asks here what the current user may see or do.

Client users are confined to their own company (and sub-agents to the tickets they opened); staff
see everything their role allows. Views never filter by client themselves: they call these.
"""

from __future__ import annotations

from functools import wraps
from typing import Any

from flask import abort
from flask_login import current_user
from sqlalchemy import Select, select

from ..extensions import db
from ..models import Client, PortalRole, Role, Ticket, User

AGENT_ROLES = (Role.ADMIN, Role.AGENT, Role.ACCOUNT_MANAGER)


def roles_required(*roles: str):
    """View decorator: 401 for anonymous users (login redirect), 403 for the wrong role."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any):
            if not current_user.is_authenticated:
                from ..extensions import login_manager

                return login_manager.unauthorized()
            if current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def require_roles(user: User | None, *roles: str) -> None:
    """For blueprint-wide checks in ``before_request``."""
    if user is None or not user.is_authenticated:
        abort(401)
    if user.role not in roles:
        abort(403)


def ticket_scope(user: User, stmt: Select | None = None) -> Select:
    """Tickets the user may see: all for staff; the company's for client users; own for sub-agents."""
    stmt = stmt if stmt is not None else select(Ticket)
    if user.role in AGENT_ROLES:
        return stmt
    if user.role == Role.CLIENT and user.client_id is not None:
        stmt = stmt.where(Ticket.client_id == user.client_id)
        if user.portal_role == PortalRole.SUBAGENT:
            stmt = stmt.where(Ticket.opened_by_id == user.id)
        return stmt
    return stmt.where(False)


def can_see_client(user: User, client_id: int) -> bool:
    if user.role in AGENT_ROLES:
        return True
    return user.role == Role.CLIENT and user.client_id == client_id


def can_see_client_reports(user: User, client: Client) -> bool:
    """Reports: admins any, account managers their own clients, client users their company."""
    if user.role == Role.ADMIN:
        return True
    if user.role == Role.ACCOUNT_MANAGER:
        return client.account_manager_id == user.id
    if user.role == Role.AGENT:
        return False
    return user.role == Role.CLIENT and user.client_id == client.id and (
        user.portal_role != PortalRole.SUBAGENT
    )


def get_ticket_or_404(user: User, ticket_id: int) -> Ticket:
    """The ticket if the user may see it; 404 otherwise, so ids of others are not confirmed."""
    ticket = db.session.scalar(ticket_scope(user).where(Ticket.id == ticket_id))
    if ticket is None:
        abort(404)
    return ticket


def get_ticket_by_number_or_404(user: User, number: int) -> Ticket:
    ticket = db.session.scalar(ticket_scope(user).where(Ticket.number == number))
    if ticket is None:
        abort(404)
    return ticket


def get_client_or_404(user: User, client_id: int) -> Client:
    client = db.session.get(Client, client_id)
    if client is None or not can_see_client(user, client_id):
        abort(404)
    return client


def can_edit_time_entry(user: User, entry, *, month_closed: bool | None = None) -> bool:
    """Agents edit their own entries of open months, admins any entry of an open month; an
    adjustment only an admin (deleting it). ``month_closed`` saves a query when known."""
    if month_closed is None:
        from ..models import ClosedMonth

        month_closed = db.session.scalar(
            select(ClosedMonth.id).where(ClosedMonth.period == entry.period)
        ) is not None
    if month_closed:
        return False
    if user.role == Role.ADMIN:
        return True
    return (
        not entry.is_adjustment
        and user.role in (Role.AGENT, Role.ACCOUNT_MANAGER)
        and entry.agent_id == user.id
    )
