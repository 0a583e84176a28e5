"""Stored mail HTML shown on a page: ``cid:`` references pointed at the attachment URLs."""

from __future__ import annotations

import html as html_lib
import re
from collections.abc import Callable, Iterable

from helpdesk.models import Attachment

_CID_REF = re.compile(
    r"""(?i)(\b(?:src|href|background)\s*=\s*)(?:"cid:([^"]*)"|'cid:([^']*)'|cid:([^\s"'>]+))"""
)


def inline_images(
    body_html: str, attachments: Iterable[Attachment], url_for_attachment: Callable[[int], str]
) -> str:
    """Point ``cid:`` references of stored HTML at the attachment download URLs, for display.

    The stored HTML keeps ``cid:`` (URLs change, the mail does not); a page calls this when it
    renders an article. References to parts that were not stored are left as they are.
    """
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
