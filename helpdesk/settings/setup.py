"""The first run: vendor settings, the seed price list and the first admin, in one step."""

from __future__ import annotations

import os
from pathlib import Path

from flask import current_app
from flask_babel import lazy_gettext as _l

from ..clients.validate import FieldError
from ..extensions import db
from . import SettingsError, save_settings, setup_needed

LOGO_MAX_BYTES = 1024 * 1024
_LOGO_TYPES = {b"\x89PNG\r\n\x1a\n": "png", b"\xff\xd8\xff": "jpg", b"GIF87a": "gif",
               b"GIF89a": "gif"}


def logo_dir() -> Path:
    return Path(current_app.config.get("BRANDING_DIR")
                or Path(current_app.instance_path) / "branding")


def store_logo(data: bytes) -> str:
    """Keep an uploaded logo (PNG, JPEG or GIF up to 1 MB); returns its file name."""
    if len(data) > LOGO_MAX_BYTES:
        raise FieldError("vendor_logo", str(_l("The logo may be at most 1 MB.")))
    kind = next((ext for magic, ext in _LOGO_TYPES.items() if data.startswith(magic)), None)
    if kind is None:
        raise FieldError("vendor_logo", str(_l("The logo must be a PNG, JPEG or GIF image.")))
    folder = logo_dir()
    folder.mkdir(parents=True, exist_ok=True)
    name = f"logo-{os.urandom(6).hex()}.{kind}"
    tmp = folder / (name + ".part")
    tmp.write_bytes(data)
    tmp.replace(folder / name)
    return str(folder / name)  # an absolute path, as the reports read VENDOR_LOGO


def run_setup(*, settings: dict[str, str | None], admin_email: str, admin_name: str | None,
              password: str, logo: bytes | None = None):
    """Validate everything, then store settings, seed the price list and create the admin.

    Raises :class:`FieldError` (nothing saved) or RuntimeError when the helpdesk is set up.
    """
    from ..pricelist.seed import seed_price_list
    from ..staff.services import check_password, create_staff

    if not setup_needed():
        raise FieldError("admin_email", str(_l("The helpdesk is set up already: sign in.")))
    check_password(password)
    try:
        from . import validate_setting

        for key, value in settings.items():
            validate_setting(key, value)
    except SettingsError as exc:
        raise FieldError(exc.field, exc.message) from None
    with db.session.begin_nested():
        admin = create_staff(None, email=admin_email, role="admin", name=admin_name,
                             password=password)
        if logo:
            settings = dict(settings, VENDOR_LOGO=store_logo(logo))
        try:
            save_settings(settings, user=admin)
        except SettingsError as exc:
            raise FieldError(exc.field, exc.message) from None
        seed_price_list(db.session.connection())
    return admin
