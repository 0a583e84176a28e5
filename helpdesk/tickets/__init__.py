"""Tickets: creating them, adding articles, status changes. Services flush; callers commit."""
