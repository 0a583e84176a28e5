"""`flask report monthly`: one PDF per client into a folder, and each report mailed once.

Mail goes to a real SMTP server (aiosmtpd from tests/servers.py) through Flask-Mail.
"""

from __future__ import annotations

import hashlib
import time
from datetime import date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from helpdesk.accounting.closing import close_month
from helpdesk.accounting.ledger import log_entry
from helpdesk.extensions import db
from helpdesk.models import Client, EntrySource, Role, SentNotification, StoredReport
from reports.batch import BatchError, mail_key, monthly
from reports.i18n import formatter
from reports.service import report_pdf
from tests.test_reports_data import BELGRADE, ensure_catalogs, pdf_text
from tests.worked_example import approve_flagged, build_worked_example

PERIOD = "2026-03"


@pytest.fixture
def app_config(smtp_server):
    return {
        "MAIL_SERVER": smtp_server.host,
        "MAIL_PORT": smtp_server.port,
        "MAIL_USERNAME": smtp_server.user,
        "MAIL_PASSWORD": smtp_server.password,
        "MAIL_SUPPRESS_SEND": False,
        "MAIL_DEFAULT_SENDER": "reports@vendor.test",
        "VENDOR_NAME": "Softverska kuća Čačak d.o.o.",
    }


@pytest.fixture(autouse=True)
def _catalogs() -> None:
    ensure_catalogs()


@pytest.fixture
def month(app, factory):
    """March 2026, closed: the worked example, two more clients and two without a report."""
    worked, _, expected = build_worked_example(factory)
    factory.contact(worked, email="racunovodstvo@worked.test")
    manager = factory.user(Role.ACCOUNT_MANAGER, email="ayse@vendor.test", name="Ayşe Yılmaz")
    turkish = factory.client("Anadolu Tekstil A.Ş.", language="tr", timezone="Europe/Istanbul",
                             country="TR", manager=manager)  # fmt: skip
    factory.contract(turkish, "extended", start=date(2025, 9, 1))
    factory.contact(turkish, email="sukru@anadolu.test", name="Şükrü")
    other = factory.contact(turkish, email="muhasebe@anadolu.test", name="Muhasebe")
    other.is_primary = False
    english = factory.client("Acme Ltd", language="en")
    log_entry(client=english, kind="email", started_at=datetime(2026, 3, 2, 10, tzinfo=BELGRADE),
              minutes=30, source=EntrySource.MANUAL)  # fmt: skip
    only_secondary = factory.contact(english, email="it@acme.test", name="IT desk")
    only_secondary.is_primary = False
    factory.client("Never Anything d.o.o.")  # no contract, no time: no report
    later = factory.client("Later Start d.o.o.")
    factory.contract(later, "basic", start=date(2026, 4, 1))  # starts after the month
    approve_flagged(PERIOD, factory.user(Role.ADMIN))
    close_month(PERIOD)
    db.session.commit()
    return {"worked": worked, "turkish": turkish, "english": english, "expected": expected}


def run(app, *args: str):
    return app.test_cli_runner().invoke(args=["report", "monthly", "--month", PERIOD, *args])


def test_command_writes_one_pdf_per_client_and_stores_them(app, month, tmp_path):
    out = tmp_path / "reports"
    result = run(app, "--out", str(out))
    assert result.exit_code == 0, result.output
    names = sorted(path.name for path in out.iterdir())
    assert names == ["2026-03_acme-ltd.pdf", "2026-03_anadolu-tekstil-a-s.pdf",
                     "2026-03_worked-example-d-o-o.pdf"]  # fmt: skip
    assert "3 report(s)" in result.output
    for key, name in (("worked", names[2]), ("turkish", names[1]), ("english", names[0])):
        content = (out / name).read_bytes()
        stored = db.session.scalar(
            select(StoredReport).where(StoredReport.client_id == month[key].id)
        )
        assert stored.content == content and stored.sha256 == hashlib.sha256(content).hexdigest()
        assert report_pdf(month[key], PERIOD) == content  # what the console serves
    page = pdf_text((out / names[2]).read_bytes(), tmp_path)[0]
    assert "327,81 €" in page and "PRELIMINARNO" not in page  # the hand-worked total, in Serbian


def test_second_run_writes_the_stored_bytes_again(app, month, tmp_path):
    assert run(app, "--out", str(tmp_path / "one")).exit_code == 0
    month["worked"].name = "Worked Example d.o.o."  # unchanged name, changed nothing else
    db.session.commit()
    second = run(app, "--out", str(tmp_path / "two"))
    assert second.exit_code == 0 and "(0 rendered now)" in second.output
    for path in (tmp_path / "one").iterdir():
        assert (tmp_path / "two" / path.name).read_bytes() == path.read_bytes()


def test_one_client_only(app, month, tmp_path):
    result = run(app, "--client", str(month["turkish"].id), "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert [p.name for p in tmp_path.iterdir()] == ["2026-03_anadolu-tekstil-a-s.pdf"]
    text = "\n".join(pdf_text((tmp_path / "2026-03_anadolu-tekstil-a-s.pdf").read_bytes(),
                              tmp_path))  # fmt: skip
    assert "Mart 2026" in text and "Aylık kullanım raporu" in text


def test_client_without_a_report_that_month_is_an_error(app, month, tmp_path):
    never = db.session.scalar(select(Client).where(Client.name == "Never Anything d.o.o."))
    for client_id in (never.id, 999_999):
        result = run(app, "--client", str(client_id), "--out", str(tmp_path))
        assert result.exit_code == 1 and "no report for 2026-03" in result.output
    assert list(tmp_path.iterdir()) == []


def test_email_sends_each_report_once(app, month, tmp_path, smtp_server):
    out = tmp_path / "out"
    result = run(app, "--out", str(out), "--email")
    assert result.exit_code == 0, result.output
    assert "3 mailed" in result.output
    mails = {m.message()["Subject"]: m for m in smtp_server.wait_for(3)}
    files = {p.name: p.read_bytes() for p in out.iterdir()}

    worked = mails["Mesečni izveštaj o korišćenju za mart 2026 – Worked Example d.o.o."]
    message = worked.message()
    assert message["To"] == "racunovodstvo@worked.test"
    assert message["Cc"] == month["worked"].account_manager.email
    assert sorted(worked.rcpt_tos) == sorted([message["To"], message["Cc"]])
    assert message["Auto-Submitted"] == "auto-generated"
    assert "Poštovani," in message.get_body(("plain",)).get_content()
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_filename() == "2026-03_worked-example-d-o-o.pdf"
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content() == files["2026-03_worked-example-d-o-o.pdf"]

    turkish = mails["Aylık kullanım raporu Mart 2026 – Anadolu Tekstil A.Ş."].message()
    assert turkish["To"] == "sukru@anadolu.test"  # the primary contact, not the other one
    assert turkish["Cc"] == "ayse@vendor.test"
    assert "Ayşe Yılmaz" in turkish.get_body(("plain",)).get_content()

    acme = mails["Monthly usage report March 2026 – Acme Ltd"].message()
    assert acme["To"] == "it@acme.test" and acme["Cc"] is None  # no primary contact, no manager

    keys = set(db.session.scalars(select(SentNotification.key)))
    assert keys == {mail_key(month[k].id, PERIOD) for k in ("worked", "turkish", "english")}

    again = run(app, "--out", str(tmp_path / "again"), "--email")
    assert again.exit_code == 0 and "0 mailed" in again.output
    time.sleep(0.5)
    assert len(smtp_server.messages) == 3


def test_failed_send_leaves_the_report_to_the_next_run(app, month, tmp_path, smtp_server,
                                                       unused_port):  # fmt: skip
    mail_state = app.extensions["mail"]
    mail_state.port = unused_port
    result = monthly(PERIOD, month["english"].id, tmp_path, email=True)
    assert result.mailed == 0
    assert db.session.scalar(select(SentNotification)) is None
    mail_state.port = smtp_server.port
    assert monthly(PERIOD, month["english"].id, tmp_path, email=True).mailed == 1
    assert len(smtp_server.wait_for(1)) == 1


def test_open_month_is_written_preliminary_and_never_mailed(app, month, tmp_path, smtp_server):
    with pytest.raises(BatchError, match="not closed"):
        monthly("2026-04", out_dir=tmp_path, email=True)
    april = app.test_cli_runner().invoke(
        args=["report", "monthly", "--month", "2026-04", "--out", str(tmp_path / "april")]
    )
    assert april.exit_code == 0, april.output
    names = sorted(p.name for p in (tmp_path / "april").iterdir())
    assert "2026-04_later-start-d-o-o.pdf" in names
    marks = {formatter(language).gettext("PRELIMINARY") for language in ("en", "sr", "tr")}
    for name in names:
        for page in pdf_text((tmp_path / "april" / name).read_bytes(), tmp_path):
            assert any(mark in page for mark in marks), name
    assert db.session.scalar(select(StoredReport).where(StoredReport.period == "2026-04")) is None


def test_bad_month_is_refused_by_the_command(app, tmp_path):
    result = app.test_cli_runner().invoke(
        args=["report", "monthly", "--month", "2026-3", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2 and "YYYY-MM" in result.output


def test_progress_counts_every_report_and_names_that_slug_alike_stay_apart(
    app, factory, tmp_path
):
    for name in ("Işık Yazılım", "Isik Yazilim", "Ișik yazılım!"):
        client = factory.client(name, language="tr", country="TR", timezone="Europe/Istanbul")
        factory.contract(client, "basic", start=date(2026, 1, 1))
    close_month(PERIOD)
    db.session.commit()
    calls: list[tuple[int, int]] = []
    result = monthly(PERIOD, out_dir=tmp_path, progress=lambda *a: calls.append(a), processes=2)
    assert calls[-1] == (3, 3) and [done for done, _ in calls] == sorted(d for d, _ in calls)
    assert len({path.name for path in result.paths}) == 3
    assert all(path.read_bytes().startswith(b"%PDF-") for path in result.paths)
    assert sum(1 for p in result.paths if p.name == "2026-03_isik-yazilim.pdf") == 1
    assert isinstance(result.out_dir, Path)
