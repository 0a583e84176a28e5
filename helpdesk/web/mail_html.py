"""Mail HTML as pages show it: remote images blocked unless the reader asks for them.

A remote image in a mail (``<img src="https://…">``, ``background=``, ``srcset``) tells its
sender who read the mail, when and from where. Pages show stored mail HTML through the
``mail_html`` filter, which swaps remote image URLs for nothing and keeps the URL in a
``data-blocked-src`` attribute; the page links "show images" (``?images=<article id>``) for that
one message, so no script is needed. Inline ``cid:`` and ``data:`` images always show.
"""

from __future__ import annotations

import re

from flask import Flask, current_app, request
from markupsafe import Markup

#: URL attributes that load an image when the page renders.
_REMOTE_ATTR = re.compile(
    r"""(?i)(?P<name>\b(?:src|background|srcset|poster))\s*=\s*"""
    r"""(?P<value>"\s*(?:https?:)?//[^"]*"|'\s*(?:https?:)?//[^']*'|(?:https?:)?//[^\s"'>]+)"""
)
_REMOTE_CSS = re.compile(r"(?i)url\(\s*['\"]?\s*(?:https?:)?//[^)]*\)")


def has_remote_images(html: str | None) -> bool:
    """Whether the HTML would load anything from another server."""
    return bool(html) and bool(_REMOTE_ATTR.search(html) or _REMOTE_CSS.search(html))


def block_remote_images(html: str) -> str:
    """The HTML with every remote image URL moved into ``data-blocked-*`` (loads nothing)."""

    def swap(match: re.Match[str]) -> str:
        return f"data-blocked-{match.group('name').lower()}={match.group('value')}"

    return _REMOTE_CSS.sub("none", _REMOTE_ATTR.sub(swap, html))


def images_wanted(article_id: int) -> bool:
    """The reader asked to see this message's images (``?images=<id>``), or blocking is off
    (``MAIL_BLOCK_REMOTE_IMAGES``)."""
    if not current_app.config.get("MAIL_BLOCK_REMOTE_IMAGES", True):
        return True
    return request.args.get("images") in (str(article_id), "all")


def mail_html(html: str | None, article_id: int) -> Markup:
    """Stored (sanitized) mail HTML for display, remote images blocked unless wanted."""
    html = html or ""
    if not images_wanted(article_id):
        html = block_remote_images(html)
    return Markup(html)


def init_app(app: Flask) -> None:
    app.add_template_filter(mail_html, "mail_html")
    app.add_template_global(has_remote_images, "has_remote_images")
    app.add_template_global(images_wanted, "images_wanted")
