"""Reading the audit log: filters by object, person and date, newest first, a page at a time.

Writing stays in :mod:`helpdesk.audit_log.record` (``record``); this package only answers "who changed what".
"""
