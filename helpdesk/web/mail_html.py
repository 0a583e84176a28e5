"""Mail HTML as pages show it: remote images blocked unless the reader asks for them.

A remote image in a mail (``<img src="https://…">``, ``background=``, ``srcset``) tells its
sender who read the mail, when and from where. Pages show stored mail HTML through the
``mail_html`` filter, which swaps remote image URLs for nothing and keeps the URL in a
``data-blocked-src`` attribute; the page links "show images" (``?images=<article id>``) for that
one message, so no script is needed. Inline ``cid:`` and ``data:`` images always show: the stored
HTML keeps ``cid:`` (URLs change, the mail does not), and the filter points each reference at the
download URL of the attachment with that Content-ID, on the page's own side (console or portal).
"""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable, Iterable

from flask import Flask, current_app, request, url_for
from markupsafe import Markup

from ..models import Attachment

_CID_REF = re.compile(
    r"""(?i)(\b(?:src|href|background)\s*=\s*)(?:"cid:([^"]*)"|'cid:([^']*)'|cid:([^\s"'>]+))"""
)

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


def inline_images(
    body_html: str, attachments: Iterable[Attachment], url_for_attachment: Callable[[int], str]
) -> str:
    """Point ``cid:`` references of stored HTML at the attachment download URLs. References to
    parts that were not stored (too large, dropped) are left as they are."""
    by_cid = {}
    for att in attachments:
        if att.content_id and att.sha256:
            by_cid[att.content_id.strip().strip("<>").lower()] = att.id

    def replace(match: re.Match[str]) -> str:
        value = next(group for group in match.groups()[1:] if group is not None)
        cid = html_lib.unescape(value).strip().strip("<>").lower()
        attachment_id = by_cid.get(cid)
        if attachment_id is None:
            return match.group(0)
        url = html_lib.escape(url_for_attachment(attachment_id), quote=True)
        return f'{match.group(1)}"{url}"'

    return _CID_REF.sub(replace, body_html)


def _attachment_url(attachment_id: int) -> str:
    if request.blueprint == "portal":
        return url_for("portal.attachment", attachment_id=attachment_id)
    return url_for("agent.attachment", attachment_id=attachment_id, inline=1)


def mail_html(html: str | None, article_id: int,
              attachments: Iterable[Attachment] = ()) -> Markup:
    """Stored (sanitized) mail HTML for display: inline ``cid:`` images pointed at the article's
    attachments, remote images blocked unless wanted."""
    html = html or ""
    if attachments and "cid:" in html.lower():
        html = inline_images(html, attachments, _attachment_url)
    if not images_wanted(article_id):
        html = block_remote_images(html)
    return Markup(html)


def init_app(app: Flask) -> None:
    app.add_template_filter(mail_html, "mail_html")
    app.add_template_global(has_remote_images, "has_remote_images")
    app.add_template_global(images_wanted, "images_wanted")
