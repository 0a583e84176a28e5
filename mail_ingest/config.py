"""Mailbox configurations from the settings: which IMAP folders feed which queue, and who we are.

One mailbox comes from the plain ``IMAP_*`` keys. Several come from ``IMAP_MAILBOXES``, a list of
objects with the same keys in lower case (``host``, ``port``, ``user``, ``password``,
``security``, ``folder``, ``processed_folder``, ``failed_folder``, ``queue``, ``batch_size``, and
optionally ``name`` and ``address``, the address replies on that queue are sent from); a key an
entry leaves out is taken from the ``IMAP_*`` setting. When ``IMAP_MAILBOXES`` is not empty it is
the whole list; otherwise ``IMAP_HOST`` and ``IMAP_USER`` make the one mailbox, or there is none.
An empty ``processed_folder`` means "leave processed mail in place, marked \\Seen"; an empty
``failed_folder`` means "leave failed mail in place, marked \\Flagged".
"""

from __future__ import annotations

from collections.abc import Mapping
from email.utils import getaddresses
from typing import Any

from mail_ingest.imap import ImapConfigError, MailboxConfig

#: Keys of an ``IMAP_MAILBOXES`` entry that take their default from ``IMAP_<KEY>``.
INHERITED_KEYS = (
    "host",
    "port",
    "user",
    "password",
    "security",
    "folder",
    "processed_folder",
    "failed_folder",
    "queue",
    "batch_size",
)
_ENTRY_KEYS = frozenset((*INHERITED_KEYS, "name", "address", "timeout", "cafile"))
#: ``MailboxState.name`` is at most this long.
MAX_NAME_LENGTH = 100


def _blank_to_none(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        return None
    return value


def _entry(settings: Mapping[str, Any], given: Mapping[str, Any], index: int) -> MailboxConfig:
    """One MailboxConfig from an entry, filling what it leaves out from ``IMAP_*``."""
    unknown = set(given) - _ENTRY_KEYS
    if unknown:
        raise ImapConfigError(f"IMAP_MAILBOXES[{index}]: unknown keys {sorted(unknown)}")
    values = {key: given.get(key, settings.get(f"IMAP_{key.upper()}")) for key in INHERITED_KEYS}
    if (
        "port" not in given
        and "security" in given
        and given["security"] != settings.get("IMAP_SECURITY")
    ):
        values["port"] = None  # the shared port belongs to the shared security mode
    for key in ("host", "user"):
        if not values.get(key):
            raise ImapConfigError(f"IMAP_MAILBOXES[{index}]: {key} is missing")
    folder = values["folder"] or "INBOX"
    name = given.get("name") or f"{values['user']}@{values['host']}/{folder}"
    if len(name) > MAX_NAME_LENGTH:
        raise ImapConfigError(f"mailbox name {name!r} is longer than {MAX_NAME_LENGTH}")
    extra = {key: given[key] for key in ("timeout", "cafile") if key in given}
    return MailboxConfig(
        name=name,
        host=str(values["host"]),
        port=int(values["port"]) if values["port"] else None,
        user=str(values["user"]),
        password=str(values["password"] or ""),
        security=str(values["security"] or "ssl").lower(),  # type: ignore[arg-type]
        folder=folder,
        processed_folder=_blank_to_none(values["processed_folder"]),
        failed_folder=_blank_to_none(values["failed_folder"]),
        queue=_blank_to_none(values["queue"]) or "support",
        batch_size=int(values["batch_size"] or 100),
        **extra,
    )


def mailbox_configs(settings: Mapping[str, Any]) -> list[MailboxConfig]:
    """Every configured mailbox (see the module docstring); raises ImapConfigError when wrong."""
    entries = settings.get("IMAP_MAILBOXES") or []
    if isinstance(entries, Mapping):
        entries = [entries]
    if not entries:
        if not (settings.get("IMAP_HOST") and settings.get("IMAP_USER")):
            return []
        entries = [{}]
    configs = []
    for index, given in enumerate(entries):
        if not isinstance(given, Mapping):
            raise ImapConfigError(f"IMAP_MAILBOXES[{index}] must be an object")
        configs.append(_entry(settings, given, index))
    names = [config.name for config in configs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ImapConfigError(f"two mailboxes share the name {duplicates[0]!r}: give them names")
    return configs


def queue_addresses(settings: Mapping[str, Any]) -> dict[str, str]:
    """Queue -> the address mail about its tickets is sent from (entries with ``address``)."""
    found: dict[str, str] = {}
    for given in settings.get("IMAP_MAILBOXES") or []:
        if isinstance(given, Mapping) and given.get("address"):
            queue = given.get("queue") or settings.get("IMAP_QUEUE") or "support"
            found.setdefault(str(queue), str(given["address"]))
    return found


def own_addresses(settings: Mapping[str, Any]) -> frozenset[str]:
    """Addresses that are us: never a customer, never acknowledged (a loop would follow)."""
    found: set[str] = set()
    for key in ("VENDOR_EMAIL", "MAIL_DEFAULT_SENDER", "MAIL_USERNAME"):
        value = settings.get(key)
        if isinstance(value, (tuple, list)) and len(value) == 2:
            value = value[1]  # Flask-Mail accepts (name, address)
        if isinstance(value, str):
            found.update(addr for _, addr in getaddresses([value]))
    found.update(queue_addresses(settings).values())
    try:
        found.update(config.user for config in mailbox_configs(settings))
    except ImapConfigError:
        pass  # a broken mailbox setting is reported where mailboxes are opened
    return frozenset(addr.strip().lower() for addr in found if "@" in addr)
