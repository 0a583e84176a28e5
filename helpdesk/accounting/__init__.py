"""Hour accounting: the pure rules (``rules``), the ledger of time entries (``ledger``) and the
monthly usage every screen, API, report and reminder reads (``usage``)."""
