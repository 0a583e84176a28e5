"""Console imports in the background: the upload is queued and a worker previews and imports it
with its progress in the database; a batch runs once however often it is submitted; a worker that
dies mid-import is taken over by the import_resume job without billing twice; stored uploads are
deleted once done or abandoned, never while a batch still needs them. Row reasons in sr/tr/en."""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta

import pytest
from flask_babel import force_locale
from sqlalchemy import func, select

from helpdesk.accounting.imports.matching import BATCH
from helpdesk.accounting.imports.reasons import row_reason
from helpdesk.extensions import db, mail
from helpdesk.integrations import imports as service
from helpdesk.integrations.imports import worker
from helpdesk.integrations.models import ImportBatch
from helpdesk.models import TimeEntry, utcnow
from helpdesk.scheduler.runner import run_job_now
from tests.test_integrations_imports import _mapping, _sample, logmein_csv, world  # noqa: F401


def big_csv(day: date, rows: int, first_id: int = 50000) -> bytes:
    """``rows`` two-minute sessions of Jugodrvo (by a contact's address), one ID each."""
    lines = []
    for i in range(rows):
        start = datetime.combine(day, datetime.min.time()) + timedelta(hours=9, minutes=i % 420)
        lines.append((str(first_id + i), "dragan@jugodrvo.rs", "ana.rescue@vendor.test",
                      f"{start:%H:%M}", f"{start + timedelta(minutes=2):%H:%M}", "remote"))
    return logmein_csv(day, lines)


def _queued(world, content: bytes, **kw) -> ImportBatch:  # noqa: F811
    mapping = service.mapping_by_name("logmein", "Renamed") or _mapping(world)
    batch = service.new_batch(content, "big.csv", "logmein", user=world["manager"],
                              mapping=mapping, **kw)
    db.session.commit()
    return batch


def test_upload_is_queued_and_the_worker_records_progress(world):  # noqa: F811
    rows = 2 * BATCH + 7
    batch = _queued(world, big_csv(world["day"], rows))
    assert batch.status == "queued" and service.progress_of(batch)["working"]
    seen = []

    def checkpoint():
        db.session.commit()
        fresh = db.session.execute(select(ImportBatch.progress_done, ImportBatch.progress_total)
                                   .where(ImportBatch.id == batch.id)).one()
        seen.append(tuple(fresh))

    assert service.claim(batch, (service.QUEUED,), service.PREVIEWING)
    service.preview(batch, world["manager"], checkpoint=checkpoint)
    db.session.commit()
    # One committed step per batch of rows, rising, out of the file's lines (header + rows).
    assert len(seen) == 3
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)
    assert all(total == rows + 1 for _, total in seen)
    assert seen[-1][0] == rows + 1
    status = service.progress_of(batch)
    assert (status["status"], status["working"], status["percent"]) == ("preview", False, 100)
    assert batch.report["rows"] and batch.rows == rows
    assert db.session.scalar(select(func.count(TimeEntry.id))) == 0


def test_status_endpoint_and_page_follow_the_worker(world, client, auth):  # noqa: F811
    auth.login(world["manager"].email)
    batch = _queued(world, big_csv(world["day"], 30))
    page = client.get(f"/integrations/imports/{batch.id}")
    assert b'class="card import-progress"' in page.data and b"<script>" not in page.data
    assert client.get(f"/integrations/imports/{batch.id}/status").get_json()["working"] is True
    assert worker.process(batch.id) == "preview"
    status = client.get(f"/integrations/imports/{batch.id}/status").get_json()
    assert (status["status"], status["working"], status["line"]) == ("preview", False, 31)
    page = client.get(f"/integrations/imports/{batch.id}")
    assert b"import-progress" not in page.data and b'id="import-button"' in page.data


def test_double_submit_imports_once(world):  # noqa: F811
    batch = _queued(world, _sample(world), skip_bad=True)
    worker.process(batch.id)
    service.request_import(batch)
    db.session.commit()
    with pytest.raises(service.ImportRefused):  # the second tab's click
        service.request_import(batch)
    db.session.rollback()
    assert worker.process(batch.id) == "imported"
    assert worker.process(batch.id) == "taken"  # submitted twice: the claim is gone
    with pytest.raises(service.ImportRefused):
        service.run_import(batch, world["manager"])
    db.session.rollback()
    assert db.session.scalar(select(func.count(TimeEntry.id))) == batch.created == 2


class Killed(BaseException):
    """The worker's process dies (not an error the worker could record)."""


def test_a_worker_that_dies_mid_import_is_resumed_by_the_job(world, app):  # noqa: F811
    rows = BATCH + 40
    batch = _queued(world, big_csv(world["day"], rows))
    worker.process(batch.id)
    service.request_import(batch)
    db.session.commit()
    assert service.claim(batch, (service.IMPORT_QUEUED,), service.RUNNING)
    db.session.commit()

    def die_after_first_batch():
        db.session.commit()
        raise Killed

    with pytest.raises(Killed):
        service.execute_import(batch, world["manager"], checkpoint=die_after_first_batch)
    db.session.rollback()
    db.session.expire_all()
    half = db.session.get(ImportBatch, batch.id)
    assert half.status == "running" and len(half.entry_ids) == BATCH
    assert db.session.scalar(select(func.count(TimeEntry.id))) == BATCH

    # Still fresh: a live worker may be slow, the job leaves it alone.
    assert "nothing stalled" in worker.resume_stalled(utcnow())
    stale = utcnow() + timedelta(minutes=app.config["IMPORT_STALE_MINUTES"] + 1)
    assert worker.resume_stalled(stale) == f"{batch.id}: imported"
    db.session.expire_all()
    done = db.session.get(ImportBatch, batch.id)
    assert (done.status, done.created, done.duplicates) == ("imported", rows, 0)
    assert len(done.entry_ids) == rows
    assert db.session.scalar(select(func.count(TimeEntry.id))) == rows
    assert done.stored_path is None  # done: the upload is deleted


def test_import_resume_job_runs_through_the_scheduler(world, app):  # noqa: F811
    batch = _queued(world, _sample(world), skip_bad=True)
    db.session.execute(ImportBatch.__table__.update().values(
        heartbeat_at=utcnow() - timedelta(hours=1)))
    db.session.commit()
    [run] = run_job_now("import_resume")
    assert run.outcome == "ok", run.error
    db.session.expire_all()
    assert db.session.get(ImportBatch, batch.id).status == "preview"


def test_a_missing_file_fails_the_batch_with_its_reason(world):  # noqa: F811
    batch = _queued(world, _sample(world))
    os.unlink(batch.stored_path)
    assert worker.process(batch.id) == "failed"
    db.session.expire_all()
    failed = db.session.get(ImportBatch, batch.id)
    assert failed.status == "failed" and "gone" in failed.error


def test_uploads_are_deleted_when_done_or_abandoned_not_while_needed(world, app):  # noqa: F811
    imported = _queued(world, _sample(world), skip_bad=True)
    worker.process(imported.id)
    service.request_import(imported)
    db.session.commit()
    path = imported.stored_path
    assert worker.process(imported.id) == "imported"
    db.session.expire_all()
    assert db.session.get(ImportBatch, imported.id).stored_path is None
    assert not os.path.exists(path)

    keep = app.config["IMPORT_KEEP_DAYS"]
    old_preview = _queued(world, big_csv(world["day"], 3, first_id=1))
    worker.process(old_preview.id)
    young_preview = _queued(world, big_csv(world["day"], 4, first_id=10))
    worker.process(young_preview.id)
    old_running = _queued(world, big_csv(world["day"], 5, first_id=20))
    assert service.claim(old_running, (service.QUEUED,), service.RUNNING)
    # The same content twice: one batch abandoned, the other still queued needs the file.
    shared_a = _queued(world, big_csv(world["day"], 6, first_id=30))
    worker.process(shared_a.id)
    shared_b = _queued(world, big_csv(world["day"], 6, first_id=30))
    assert shared_a.stored_path == shared_b.stored_path
    long_ago = utcnow() - timedelta(days=keep + 1)
    db.session.execute(ImportBatch.__table__.update().where(ImportBatch.id.in_(
        [old_preview.id, old_running.id, shared_a.id, shared_b.id])).values(created_at=long_ago))
    db.session.commit()
    paths = {b.id: b.stored_path for b in (old_preview, young_preview, old_running, shared_a)}

    assert service.sweep(utcnow()) == "2 previews abandoned, 1 files deleted"
    db.session.expire_all()
    state = {b.id: db.session.get(ImportBatch, b.id).status
             for b in (old_preview, young_preview, old_running, shared_a, shared_b)}
    assert state == {old_preview.id: "abandoned", young_preview.id: "preview",
                     old_running.id: "running", shared_a.id: "abandoned",
                     shared_b.id: "queued"}
    assert not os.path.exists(paths[old_preview.id])
    assert os.path.exists(paths[young_preview.id]) and os.path.exists(paths[old_running.id])
    assert os.path.exists(paths[shared_a.id])  # shared_b still needs it
    [run] = run_job_now("import_cleanup")
    assert run.outcome == "ok", run.error


@pytest.mark.parametrize("language, unmatched, closed", [
    ("en", "no client for 'Unknown Shop'", "is closed: add an adjustment instead"),
    ("sr_Latn", "nema klijenta za 'Unknown Shop'", "je zatvoren: umesto toga dodajte korekciju"),
    ("tr", "'Unknown Shop' için müşteri yok", "kapalı: bunun yerine bir düzeltme ekleyin"),
])
def test_row_reasons_are_shown_in_the_readers_language(world, language, unmatched, closed):  # noqa: F811
    batch = _queued(world, _sample(world))
    service.preview(batch, world["manager"])
    db.session.commit()
    row = next(r for r in batch.report["rows"] if r["state"] == "unmatched")
    assert (row["code"], row["params"]) == ("no_client", {"customer": "Unknown Shop"})
    month = {"line_no": 9, "ref": "x", "code": "month_closed", "params": {"period": "2026-11"},
             "message": "2026-11 is closed: add an adjustment instead"}
    with force_locale(language):
        assert row_reason(row) == unmatched
        assert row_reason(month) == f"2026-11 {closed}"
    # A report stored before reasons had codes keeps its English text.
    assert row_reason({"message": "old text"}) == "old text"


def test_preview_page_shows_reasons_in_the_viewers_language(world, client, auth):  # noqa: F811
    world["manager"].language = "tr"
    db.session.commit()
    auth.login(world["manager"].email)
    batch = _queued(world, _sample(world))
    worker.process(batch.id)
    page = client.get(f"/integrations/imports/{batch.id}").get_data(as_text=True)
    assert "&#39;Unknown Shop&#39; için müşteri yok" in page
    assert "no client for" not in page


def test_cli_prints_reasons_in_the_configured_language(world, app, tmp_path):  # noqa: F811
    _mapping(world)
    path = tmp_path / "s.csv"
    path.write_bytes(_sample(world))
    app.config["DEFAULT_LANGUAGE"] = "sr_Latn"
    out = app.test_cli_runner().invoke(args=["import", "logmein", str(path), "--mapping",
                                             "Renamed", "--dry-run"])
    assert out.exit_code == 0, out.output
    assert "unmatched: line 3 (9002): nema klijenta za 'Unknown Shop'" in out.output
    app.config["DEFAULT_LANGUAGE"] = "en"
    out = app.test_cli_runner().invoke(args=["import", "logmein", str(path), "--mapping",
                                             "Renamed", "--dry-run"])
    assert "unmatched: line 3 (9002): no client for 'Unknown Shop'" in out.output


def test_drop_folder_report_gives_reasons_in_the_managers_language(app, world, tmp_path):  # noqa: F811
    _mapping(world)
    world["manager"].language = "sr_Latn"
    db.session.commit()
    drop = tmp_path / "logmein"
    drop.mkdir()
    app.config["IMPORT_DROP_LOGMEIN"] = str(drop)
    content = _sample(world).replace(b"ana.rescue@vendor.test,Tech,0:30:00",
                                     b"nobody@vendor.test,Tech,0:30:00")
    assert content != _sample(world)
    (drop / "monday.csv").write_bytes(content)
    with mail.record_messages() as sent:
        [run] = run_job_now("import_drop")
    assert run.outcome == "ok", run.error
    body = next(m for m in sent if m.recipients == [world["manager"].email]).body
    assert "nema klijenta za 'Unknown Shop'" in body
    assert "tehničar nobody@vendor.test nije korisnik: uvezeno bez agenta" in body
    done = db.session.scalar(select(ImportBatch).where(ImportBatch.origin == "drop"))
    assert done.status == "imported" and done.stored_path is None  # the upload copy is gone


def test_the_preview_predicts_what_the_import_does(world):  # noqa: F811
    named = world["named"].number
    content = logmein_csv(world["day"], [
        ("9101", "dragan@jugodrvo.rs", "ana.rescue@vendor.test", "10:00", "10:30",
         f"driver [#{named}]"),
        ("9102", "Mlin Doo", "ana.rescue@vendor.test", "21:00", "22:10", "evening"),
        ("9103", "Unknown Shop", "ana.rescue@vendor.test", "11:00", "11:20", ""),
        ("9101", "dragan@jugodrvo.rs", "ana.rescue@vendor.test", "10:00", "10:30", "twice"),
        ("9104", "Mlin Doo", "nobody@vendor.test", "12:00", "12:00", "no time"),
        ("9105", "Jugodrvo", "ana.rescue@vendor.test", "13:00", "13:05", "#999999"),
    ])
    batch = _queued(world, content, skip_bad=True)
    predicted = service.preview(batch, world["manager"])
    db.session.commit()
    imported = service.run_import(batch, world["manager"])
    db.session.commit()
    keys = ("line_no", "ref", "state", "code", "params", "client_id", "ticket_id",
            "suggested_ticket_id", "minutes", "agent_id")

    def view(result):
        return [{k: o.as_dict()[k] for k in keys} for o in result.outcomes]

    assert view(predicted) == view(imported)
    assert [w.as_dict() for w in predicted.warnings] == [w.as_dict() for w in imported.warnings]
    assert (predicted.created, predicted.created_minutes) == (
        imported.created, imported.created_minutes)
    assert {o.code for o in imported.outcomes} >= {"out_of_hours", "no_client", "duplicate",
                                                   "no_work_time"}


def test_a_worker_taken_over_stops_without_writing_its_outcome(world, app):  # noqa: F811
    batch = _queued(world, big_csv(world["day"], BATCH + 10))
    worker.process(batch.id)
    service.request_import(batch)
    db.session.commit()
    assert service.claim(batch, (service.IMPORT_QUEUED,), service.RUNNING)
    db.session.commit()
    batch_id = batch.id

    def taken_over_meanwhile():
        db.session.commit()
        # import_resume thought this worker dead and gave the batch to another one.
        later = utcnow() + timedelta(minutes=app.config["IMPORT_STALE_MINUTES"] + 1)
        assert worker.resume_stalled(later) == f"{batch_id}: imported"

    with pytest.raises(service.ImportSuperseded):
        service.execute_import(db.session.get(ImportBatch, batch_id), world["manager"],
                               checkpoint=taken_over_meanwhile)
    db.session.rollback()
    db.session.expire_all()
    done = db.session.get(ImportBatch, batch_id)
    assert (done.status, done.created, len(done.entry_ids)) == ("imported", BATCH + 10,
                                                                BATCH + 10)
    assert db.session.scalar(select(func.count(TimeEntry.id))) == BATCH + 10


def test_the_command_runs_the_batch_path_synchronously_and_keeps_no_copy(world, app,  # noqa: F811
                                                                         tmp_path):
    _mapping(world)
    path = tmp_path / "s.csv"
    path.write_bytes(_sample(world))
    store = app.config["IMPORT_DIR"]

    def stored_files():
        return sorted(os.listdir(store)) if os.path.isdir(store) else []

    before = stored_files()
    runner = app.test_cli_runner()
    dry = runner.invoke(args=["import", "logmein", str(path), "--mapping", "Renamed",
                              "--skip-bad", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert db.session.scalar(select(func.count(ImportBatch.id))) == 0 and \
        stored_files() == before
    real = runner.invoke(args=["import", "logmein", str(path), "--mapping", "Renamed",
                               "--skip-bad", "--user", world["manager"].email])
    assert real.exit_code == 0, real.output
    db.session.expire_all()
    batch = db.session.scalar(select(ImportBatch))
    assert (batch.origin, batch.status, batch.user_id) == ("cli", "imported",
                                                           world["manager"].id)
    assert batch.progress_done == batch.progress_total and batch.stored_path is None
    assert stored_files() == before
    assert db.session.scalar(select(func.count(TimeEntry.id))) == batch.created == 2
