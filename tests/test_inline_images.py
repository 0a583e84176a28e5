"""Inline images of mail (``cid:`` references) show on the console and portal ticket pages: each
reference points at the download URL of that article's attachment with the Content-ID, the image
answers as an image, and nothing else is reachable through a reference."""

from __future__ import annotations

import re

import pytest

from helpdesk.extensions import db
from helpdesk.models import Article, Direction, PortalRole, Role
from helpdesk.tickets.attachments import store_bytes
from helpdesk.tickets.services import NewAttachment, add_article, create_ticket

#: A real 1x1 PNG.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489"
    "0000000d4944415478da63f8cfc0f01f0005000201a0f6e0350000000049454e44ae426082"
)


@pytest.fixture
def world(app, factory):
    acme = factory.client("Acme d.o.o.")
    other = factory.client("Other Co")
    agent = factory.user(Role.AGENT, email="agent@vendor.test")
    portal = factory.user(Role.CLIENT, email="boss@acme.test", client=acme,
                          portal_role=PortalRole.ADMIN)
    digest = store_bytes(PNG)
    t = create_ticket(subject="Printer", client_id=acme.id, actor="test")
    html = ('<p>See the error:</p><img src="cid:shot-1@acme.test" alt="screenshot">'
            '<img src="CID:missing@acme.test" alt="not stored">')
    article = add_article(t, direction=Direction.IN, body_text="See the error", body_html=html,
                          from_addr="boss@acme.test", attachments=[NewAttachment(
                              filename="shot.png", content_type="image/png", size=len(PNG),
                              sha256=digest, content_id="<shot-1@acme.test>", inline=True)])
    # Another client's ticket with an image of the same Content-ID.
    t2 = create_ticket(subject="Theirs", client_id=other.id, actor="test")
    add_article(t2, direction=Direction.IN, body_text="x", body_html='<img src="cid:shot-1@acme.test">',
                attachments=[NewAttachment(filename="theirs.png", content_type="image/png",
                                           size=len(PNG), sha256=digest,
                                           content_id="<shot-1@acme.test>", inline=True)])
    db.session.commit()
    return {"ticket": t, "article": article, "agent": agent, "portal": portal, "t2": t2}


def _img_sources(html: str) -> list[str]:
    return re.findall(r'<img src="([^"]*)"', html)


def test_the_console_shows_the_inline_image_from_the_articles_own_attachment(world, client, auth):
    auth.login(world["agent"].email)
    html = client.get(f"/console/tickets/{world['ticket'].number}").get_data(as_text=True)
    own = world["article"].attachments[0]
    sources = [s for s in _img_sources(html) if "attachments" in s or s.lower().startswith("cid:")]
    assert sources == [f"/console/attachments/{own.id}?inline=1", "CID:missing@acme.test"]
    with client.get(sources[0].replace("&amp;", "&")) as image:
        assert image.status_code == 200 and image.mimetype == "image/png" and image.data == PNG


def test_the_portal_shows_it_too_and_never_another_clients_file(world, client, auth):
    auth.login(world["portal"].email)
    html = client.get(f"/portal/tickets/{world['ticket'].number}").get_data(as_text=True)
    own = world["article"].attachments[0]
    theirs = db.session.get(Article, world["t2"].articles[0].id).attachments[0]
    assert f'src="/portal/attachments/{own.id}"' in html
    assert f"/attachments/{theirs.id}" not in html
    with client.get(f"/portal/attachments/{own.id}") as image:
        assert image.status_code == 200 and image.data == PNG
    # The attacker guesses the other client's attachment id: not theirs to see.
    assert client.get(f"/portal/attachments/{theirs.id}").status_code == 404
