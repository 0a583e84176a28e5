"""The one check for every ``next`` target: a path on this site, or nothing."""

from __future__ import annotations

from urllib.parse import urlsplit

_FORBIDDEN = {"\\"}


def safe_next(target: str | None) -> str | None:
    """``target`` when it is a local path ("/..."), else None.

    Refused: any control character (TAB, CR, LF... browsers strip some of them, so "/\\t/evil"
    becomes "//evil"), backslashes, a scheme or a host, and protocol-relative "//host".
    """
    if not target or not isinstance(target, str) or len(target) > 2000:
        return None
    if any(ord(ch) < 32 or ord(ch) == 127 or ch in _FORBIDDEN for ch in target):
        return None
    if not target.startswith("/") or target.startswith("//"):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target
