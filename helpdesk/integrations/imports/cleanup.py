"""Uploaded files are not kept for ever: a file goes once its import is done or undone, and a
preview nobody imported is abandoned after ``IMPORT_KEEP_DAYS`` (the daily ``import_cleanup``
job). A file still queued, previewed or being imported is never touched, nor one another open
batch (the same content uploaded again) still needs."""

from __future__ import annotations

import logging
import os
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from ...extensions import db
from ..models import ImportBatch
from .batches import ABANDONED, OPEN, PREVIEW, claim

log = logging.getLogger(__name__)


def release_file(batch: ImportBatch) -> bool:
    """Delete the batch's stored upload unless an open batch still needs it; True if deleted."""
    path = batch.stored_path
    if not path:
        return False
    needed = db.session.scalar(select(ImportBatch.id).where(
        ImportBatch.stored_path == path, ImportBatch.id != batch.id,
        ImportBatch.status.in_(OPEN)).limit(1))
    batch.stored_path = None
    db.session.flush()
    if needed is not None:
        return False
    return _unlink(path)


def _unlink(path: str) -> bool:
    """Delete the file; False when it was already gone."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    return True


def discard_upload(path: str | None) -> bool:
    """Delete a stored upload no batch refers to (a dry run's or a rolled-back import's)."""
    if not path or db.session.scalar(select(ImportBatch.id).where(
            ImportBatch.stored_path == path).limit(1)) is not None:
        return False
    return _unlink(path)


def sweep(now: datetime) -> str:
    """The daily job: abandon old previews, delete the files nothing needs any more."""
    keep_days = int(current_app.config["IMPORT_KEEP_DAYS"])
    old = now - timedelta(days=keep_days)
    abandoned = 0
    for batch in db.session.scalars(select(ImportBatch).where(
            ImportBatch.status == PREVIEW, ImportBatch.created_at < old)).all():
        if claim(batch, (PREVIEW,), ABANDONED):
            abandoned += 1
    deleted = 0
    for batch in db.session.scalars(select(ImportBatch).where(
            ImportBatch.stored_path.is_not(None), ImportBatch.status.not_in(OPEN))).all():
        deleted += release_file(batch)
    db.session.commit()
    return f"{abandoned} previews abandoned, {deleted} files deleted"
