"""All tables of the helpdesk; import models from here."""

# Tables that live in their domain package (imported as modules: they import .types from here).
from ..capacity import models as _capacity_models  # noqa: F401
from ..mailbox.models import AutomaticMail, MailDuplicate  # noqa: F401  (mail intake)
from ..pricelist.models import AddonPrice, PackagePrice, SlaTarget  # noqa: F401  (issue 12: registers the table)
from ..settings.models import ClosingDay, Setting  # noqa: F401  (issue 12: registers the tables)
from .accounting import (
    ClosedMonth,
    EntryKind,
    EntrySource,
    RunningTimer,
    TimeEntry,
    Visit,
    VisitStatus,
)
from .clients import LANGUAGES, Client, ClientDomain, Contact, ContactEmail, ContactPhone
from .contracts import (
    Addon,
    ChangeKind,
    Contract,
    ContractAddon,
    ContractChange,
    ContractStatus,
    Package,
    SlaPolicy,
)
from .system import (
    AuditLog,
    AutoReply,
    IngestFailure,
    JobRun,
    MailboxState,
    SentNotification,
    StoredReport,
)
from .tickets import (
    OPEN_STATUSES,
    PRIORITY_RANK,
    Article,
    Attachment,
    Channel,
    Counter,
    Direction,
    Priority,
    SendStatus,
    Ticket,
    TicketFollower,
    TicketPause,
    TicketStatus,
)
from .types import UTCDateTime, utcnow
from .users import (
    STAFF_ROLES,
    ApiToken,
    LinkNonce,
    LinkPurpose,
    LoginAttempt,
    PortalRole,
    Role,
    User,
)

__all__ = [
    "LANGUAGES",
    "OPEN_STATUSES",
    "PRIORITY_RANK",
    "STAFF_ROLES",
    "Addon",
    "ApiToken",
    "Article",
    "Attachment",
    "AuditLog",
    "AutoReply",
    "ChangeKind",
    "Channel",
    "Client",
    "ClientDomain",
    "ClosedMonth",
    "Contact",
    "ContactEmail",
    "ContactPhone",
    "Contract",
    "ContractAddon",
    "ContractChange",
    "ContractStatus",
    "Counter",
    "Direction",
    "EntryKind",
    "EntrySource",
    "IngestFailure",
    "JobRun",
    "LinkNonce",
    "LinkPurpose",
    "LoginAttempt",
    "MailboxState",
    "Package",
    "PortalRole",
    "Priority",
    "Role",
    "RunningTimer",
    "SendStatus",
    "SentNotification",
    "SlaPolicy",
    "StoredReport",
    "Ticket",
    "TicketFollower",
    "TicketPause",
    "TicketStatus",
    "TimeEntry",
    "UTCDateTime",
    "User",
    "Visit",
    "VisitStatus",
    "utcnow",
]
from ..integrations import models as _integrations  # noqa: F401  (tables of issue 19)
from ..mailboxes import models as _mailbox_models  # noqa: F401  (the mailbox_polls table)

# The notifications package's tables (bell, preferences, presence, saved replies).
from ..notifications import models as _notification_models  # noqa: F401
