"""Entry point for ``flask`` and gunicorn (``gunicorn 'app:app'``)."""

from helpdesk import create_app

app = create_app()
