"""Imports as people and the scheduler run them: a stored file, a preview, fixes, the import,
the history and its undo. The rows go through :mod:`helpdesk.accounting.imports` (the code the
``flask import`` commands call too), so every path bills, de-duplicates and audits alike.

Parts: :mod:`.batches` (a file's states, preview, import, undo), :mod:`.worker` (the background
thread pool and the resume job), :mod:`.cleanup` (stored uploads deleted), :mod:`.mappings`
(saved column mappings) and :mod:`.suggestions` (one-click tickets). Functions take the acting
user and flush; the caller (view, job, command, worker) commits.
"""

from __future__ import annotations

from ...accounting.imports import LogmeinColumns
from .batches import (
    ABANDONED,
    FAILED,
    IMPORT_QUEUED,
    IMPORTED,
    OPEN,
    PREVIEW,
    PREVIEWING,
    QUEUED,
    REJECTED,
    RUNNING,
    SOURCES,
    UNDONE,
    WORKING,
    ImportRefused,
    ImportSuperseded,
    claim,
    execute_import,
    fail,
    file_hash,
    new_batch,
    preview,
    progress_of,
    request_import,
    run_import,
    set_fix,
    undo,
)
from .cleanup import discard_upload, release_file, sweep
from .mappings import default_mapping, mapping_by_name, mapping_columns, save_mapping
from .suggestions import confirm_suggestion, dismiss_suggestion
from .worker import process, resume_stalled, submit

__all__ = [
    "ABANDONED",
    "FAILED",
    "IMPORTED",
    "IMPORT_QUEUED",
    "OPEN",
    "PREVIEW",
    "PREVIEWING",
    "QUEUED",
    "REJECTED",
    "RUNNING",
    "SOURCES",
    "UNDONE",
    "WORKING",
    "ImportRefused",
    "ImportSuperseded",
    "LogmeinColumns",
    "claim",
    "confirm_suggestion",
    "default_mapping",
    "discard_upload",
    "dismiss_suggestion",
    "execute_import",
    "fail",
    "file_hash",
    "mapping_by_name",
    "mapping_columns",
    "new_batch",
    "preview",
    "process",
    "progress_of",
    "release_file",
    "request_import",
    "resume_stalled",
    "run_import",
    "save_mapping",
    "set_fix",
    "submit",
    "sweep",
    "undo",
]
