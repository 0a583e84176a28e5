"""Mail the corpus cannot hold as files: generated at test time (the 20 MB attachment)."""

from __future__ import annotations

import base64
import hashlib

BIG_ATTACHMENT_NAME = "backup-2025-03.zip"


def big_attachment_payload(size: int) -> bytes:
    """Deterministic, incompressible-looking bytes of the given size."""
    block = hashlib.sha256(b"helpdesk-corpus").digest() * 2048  # 64 KiB
    repeats, rest = divmod(size, len(block))
    return block * repeats + block[:rest]


def big_attachment_message(size: int = 20 * 1024 * 1024) -> bytes:
    """A customer mail with a ``size``-byte zip attachment, base64 wrapped at 76 columns."""
    payload = base64.encodebytes(big_attachment_payload(size)).replace(b"\n", b"\r\n")
    head = (
        "From: =?utf-8?Q?Bojan_Stankovi=C4=87?= <bojan@example.rs>\r\n"
        "To: podrska@helpdesk.example\r\n"
        "Subject: =?utf-8?Q?Velika_arhiva_=E2=80=93_backup?=\r\n"
        "Date: Mon, 3 Mar 2025 10:00:00 +0100\r\n"
        "Message-ID: <big-attachment@example.rs>\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="big"\r\n'
        "\r\n"
        "--big\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
        "Šaljem arhivu baze, molim proverite.\r\n"
        "--big\r\n"
        f'Content-Type: application/zip; name="{BIG_ATTACHMENT_NAME}"\r\n'
        f'Content-Disposition: attachment; filename="{BIG_ATTACHMENT_NAME}"\r\n'
        "Content-Transfer-Encoding: base64\r\n"
        "\r\n"
    ).encode()
    return head + payload + b"--big--\r\n"
