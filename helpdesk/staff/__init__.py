"""Staff accounts (agents, account managers, admins): create, edit, deactivate, reset links."""
