"""Imports of LogMeIn Rescue session reports and Asterisk call records into the time ledger.

The parsers (:mod:`.importers.logmein`, :mod:`.importers.cdr`) read files into facts; this module
matches them to clients and agents and writes entries through the ledger, so billing and audit are
the same as for time logged by hand.

* Idempotent: an entry is keyed by ``(source, external_ref)`` (the LogMeIn session ID, the CDR
  ``uniqueid``); re-importing a file adds nothing, even with two imports running at once.
* All or nothing: a file with a bad row imports nothing and names the row's line (strict mode
  reads the whole file before writing). With ``skip_bad`` every good row is imported and the bad
  ones are listed. The caller commits (one transaction) or rolls back (dry run).
* Rows that are fine but cannot be billed are listed, not imported: customers matching no client,
  sessions still open, sessions or calls of zero work time, and rows of a closed month.
* Tied to tickets: a ticket named in the notes or the ticket column (``#1234``, ``[#1234]``) gets
  the entry; otherwise the client's open ticket of that day is *suggested* (``outcomes``).
  Calls go to the agent whose ``User.extension`` took them.
* Every row's outcome is in ``ImportResult.outcomes`` (the console's preview); ``fixes`` chosen
  there (line -> client or ticket) are applied by the same code when importing. The console, the
  drop folder and the command line all call :func:`import_logmein` / :func:`import_cdr`.

The parts: :mod:`.results` (row outcomes and totals), :mod:`.columns` (saved mappings),
:mod:`.matching` (customers, agents and tickets looked up once), :mod:`.sessions` (LogMeIn) and
:mod:`.calls` (CDR).
"""

from __future__ import annotations

from .calls import import_cdr
from .columns import CdrColumns, LogmeinColumns
from .results import Fix, ImportResult, ReportedRow, RowOutcome, ticket_numbers
from .sessions import import_logmein

__all__ = [
    "CdrColumns", "Fix", "ImportResult", "LogmeinColumns", "ReportedRow", "RowOutcome", "import_cdr",
    "import_logmein", "ticket_numbers",
]
