"""Backups and restores of the database and the attachment files."""
