"""How each support mailbox is doing: its last poll, last error and the mail it took today.

Ingest (``mail_ingest``) reports every pass with :func:`.status.record_poll`; the admin
"Mailboxes" page reads :func:`.status.poll_states`. Which mailboxes exist is configuration, read by
``mail_ingest.config``; ``helpdesk`` never imports ``mail_ingest`` at module level.
"""
