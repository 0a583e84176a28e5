# Copy to instance/config.py and edit. Environment variables HELPDESK_<NAME> override these.
# SECRET_KEY = "a long random string"
# ENV = "production"
# SQLALCHEMY_DATABASE_URI = "postgresql://helpdesk@127.0.0.1/helpdesk"
# VENDOR_NAME = "Your Software d.o.o."
# MAIL_SERVER = "smtp.example.com"
# MAIL_PORT = 587
# MAIL_USE_TLS = True
# IMAP_HOST = "imap.example.com"
# IMAP_USER = "support@example.com"
# IMAP_PASSWORD = "..."
