"""Who can be @mentioned in an internal note, and the handle that names them.

The note's text is read by :func:`helpdesk.notifications.events.mentioned_users`, which knows a
person by @email, @local-part or @first-name; the autocomplete offers active staff and inserts
the shortest of those that names only them (the local part, else the whole address).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from ..extensions import db
from ..models import STAFF_ROLES, User
from .events import _MENTION_RE


@dataclass(frozen=True)
class Candidate:
    id: int
    name: str
    email: str
    #: What to type after "@" so the note names this person and nobody else.
    handle: str


def _active_staff() -> list[User]:
    return list(db.session.scalars(
        select(User).where(User.role.in_([r.value for r in STAFF_ROLES]),
                           User.active.is_(True)).order_by(User.name, User.id)))


def _names(user: User) -> set[str]:
    """Every token :func:`mentioned_users` takes for this person (the same rules)."""
    name = (user.name or "").lower()
    email = user.email.lower()
    return {email, email.partition("@")[0], name.split(" ")[0], name.replace(" ", ".")}


def _parsed(handle: str) -> str | None:
    """The token the note parser reads from "@handle" (None: it reads something else)."""
    match = _MENTION_RE.search("@" + handle)
    return match.group(1).rstrip(".").lower() if match else None


def handle_for(user: User, staff: list[User]) -> str:
    """The local part when it names only ``user``, else the whole address."""
    local = user.email.partition("@")[0]
    token = _parsed(local)
    if token == local.lower() and not any(
            other.id != user.id and token in _names(other) for other in staff):
        return local
    return user.email


def _matches(user: User, query: str) -> bool:
    words = [w for w in (user.name or "").casefold().replace(".", " ").split() if w]
    return (user.email.casefold().startswith(query)
            or any(w.startswith(query) for w in words)
            or (user.name or "").casefold().startswith(query))


def candidates(query: str, limit: int = 8) -> list[Candidate]:
    """Active staff whose name (any word) or address starts with ``query`` (letters typed
    after "@"); an empty query lists the first ``limit``."""
    query = (query or "").strip().lstrip("@").casefold()[:100]
    staff = _active_staff()
    found = [u for u in staff if not query or _matches(u, query)][:limit]
    return [Candidate(u.id, u.name or u.email, u.email, handle_for(u, staff)) for u in found]
