"""Integrations: imports from the console and drop folders, ticket matching, webhooks."""
