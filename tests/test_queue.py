"""The reserved-priority queue: order, views, keyset pages, capped counts, search, reserved flag."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, text

from helpdesk.extensions import db
from helpdesk.models import Article, Role, Ticket
from helpdesk.tickets import search
from helpdesk.tickets.queues import (
    BadCursor,
    QueueFilter,
    capped_count,
    encode_cursor,
    queue_page,
    refresh_reserved,
    refresh_reserved_all,
)
from helpdesk.tickets.services import add_article, create_ticket, set_status, update_fields

BELGRADE = ZoneInfo("Europe/Belgrade")


def bg(day: int, hour: int, minute: int = 0, month: int = 11) -> datetime:
    """A Belgrade wall-clock time in November 2026 (Mon 16th .. Fri 20th), as aware UTC."""
    return datetime(2026, month, day, hour, minute, tzinfo=BELGRADE).astimezone(UTC)


@pytest.fixture
def week(factory):
    """Clients on each package, one without contract, one expired; tickets of Mon/Tue 16-17 Nov."""
    agent = factory.user(Role.AGENT)
    clients = {
        "ext": factory.client("Extended Co"),
        "std": factory.client("Standard Co"),
        "basic": factory.client("Basic Co"),
        "none": factory.client("Nocontract Co"),
        "expired": factory.client("Expired Co"),
    }
    factory.contract(clients["ext"], "extended")
    factory.contract(clients["std"], "standard")
    factory.contract(clients["basic"], "basic")
    factory.contract(clients["expired"], "standard", status="expired")

    def ticket(name, who, created, priority="normal", **kw):
        t = create_ticket(subject=f"{name} subject", client_id=clients[who].id,
                          priority=priority, created_at=created, actor="test", **kw)
        return t

    tickets = {
        "T1": ticket("T1", "std", bg(17, 9)),  # first response due Tue 13:00
        "T2": ticket("T2", "ext", bg(17, 10)),  # due Tue 12:00
        "T3": ticket("T3", "std", bg(17, 11), "urgent"),  # 2 h: due Tue 13:00, urgent
        "T4": ticket("T4", "none", bg(16, 8, 30), "urgent"),
        "T5": ticket("T5", "expired", bg(16, 9)),
        "T6": ticket("T6", "none", bg(17, 8), "low"),
        "T7": ticket("T7", "basic", bg(16, 15), "low"),  # 16 h: due Wed 15:00
        "T8": ticket("T8", "std", bg(17, 9, 30), assignee_id=agent.id),
    }
    # T8 had its first reply: next due is the 16 h resolution, Thu 09:30.
    add_article(tickets["T8"], direction="out", body_text="On it", created_at=bg(17, 10))
    closed = ticket("closed", "ext", bg(16, 8))
    set_status(closed, "closed", at=bg(16, 9))
    db.session.commit()
    return {"agent": agent, "clients": clients, "tickets": tickets, "closed": closed}


def numbers(page) -> list[int]:
    return [row.ticket.number for row in page.rows]


def names(week, page) -> list[str]:
    by_number = {t.number: name for name, t in week["tickets"].items()}
    by_number[week["closed"].number] = "closed"
    return [by_number[n] for n in numbers(page)]


NOW = bg(17, 11, 30)
# Contract tickets of normal priority and above by due time (T8's is Thursday), then T4: urgent
# without a contract, waiting since Monday 08:30 (over the 4 business hours it may wait), then the
# low-priority contract ticket T7, then the free capacity by priority and age (T5, T6).
EXPECTED = ["T2", "T3", "T1", "T8", "T4", "T7", "T5", "T6"]


def test_queue_puts_contract_clients_first_by_due_time_then_priority(week):
    t = week["tickets"]
    assert t["T1"].first_response_due == bg(17, 13)
    assert t["T7"].sla_next_due == bg(18, 15)
    assert t["T8"].sla_next_due == bg(19, 9, 30)
    assert not t["T5"].reserved and t["T5"].sla_next_due is None
    page = queue_page(week["agent"], now=NOW)
    assert names(week, page) == EXPECTED
    assert page.order == "queue" and page.count == 8 and not page.count_capped


def test_rows_say_why_they_sit_there(week):
    page = queue_page(week["agent"], now=bg(17, 12, 20))
    rows = {row.ticket.subject.split()[0]: row for row in page.rows}
    assert rows["T2"].package_name == "Extended"
    assert (rows["T2"].due_state, rows["T2"].due_in_minutes) == ("overdue", -20)
    assert (rows["T3"].due_state, rows["T3"].due_in_minutes) == ("due", 40)
    assert rows["T4"].package_name is None and rows["T4"].due_state == "none"
    assert rows["T4"].age_minutes == 24 * 60 + 3 * 60 + 50
    set_status(week["tickets"]["T1"], "pending", at=bg(17, 12))
    page = queue_page(week["agent"], now=bg(17, 12, 20))
    assert {r.ticket.number: r.due_state for r in page.rows}[week["tickets"]["T1"].number] == (
        "paused")


@pytest.mark.parametrize("limit", [1, 3, 5, 8])
def test_keyset_pages_cover_the_queue_exactly_once(week, limit):
    seen, cursor = [], None
    while True:
        page = queue_page(week["agent"], cursor=cursor, limit=limit, now=NOW)
        seen += names(week, page)
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == EXPECTED


def test_newest_first_pages_for_closed_and_any_status(week):
    everything = QueueFilter(statuses=("new", "open", "pending", "resolved", "closed"))
    first = queue_page(week["agent"], everything, limit=4, now=NOW)
    second = queue_page(week["agent"], everything, cursor=first.next_cursor, limit=10, now=NOW)
    all_numbers = numbers(first) + numbers(second)
    assert all_numbers == sorted(all_numbers, reverse=True) and len(all_numbers) == 9
    closed = queue_page(week["agent"], QueueFilter(statuses=("closed",)), now=NOW)
    assert names(week, closed) == ["closed"] and closed.order == "newest"


def test_a_cursor_of_another_order_or_made_up_is_refused(week):
    page = queue_page(week["agent"], limit=2, now=NOW)
    with pytest.raises(BadCursor):
        queue_page(week["agent"], QueueFilter(statuses=("closed",)), cursor=page.next_cursor)
    for bad in ("not-base64!!", "W10", encode_cursor("newest", week["closed"])[:-3] + "xyz"):
        with pytest.raises(BadCursor):
            queue_page(week["agent"], cursor=bad)


def test_views_mine_unassigned_client_and_status(week):
    t, agent = week["tickets"], week["agent"]
    mine = queue_page(agent, QueueFilter(view="mine"), now=NOW)
    assert names(week, mine) == ["T8"]
    unassigned = queue_page(agent, QueueFilter(view="unassigned"), now=NOW)
    assert "T8" not in names(week, unassigned) and len(unassigned.rows) == 7
    std = queue_page(agent, QueueFilter(client_id=week["clients"]["std"].id), now=NOW)
    assert names(week, std) == ["T3", "T1", "T8"]
    set_status(t["T6"], "pending", at=bg(17, 11))
    pending = queue_page(agent, QueueFilter(statuses=("pending",)), now=NOW)
    assert names(week, pending) == ["T6"]
    assigned_to = queue_page(agent, QueueFilter(assignee_id=agent.id), now=NOW)
    assert names(week, assigned_to) == ["T8"]


def test_due_view_holds_breached_and_due_soon_but_not_paused(week):
    t, agent = week["tickets"], week["agent"]
    due = queue_page(agent, QueueFilter(view="due", due_soon_minutes=120), now=bg(17, 11, 30))
    # T2 due 12:00, T3 and T1 13:00: all within two hours; T7 (Wed) is not.
    assert names(week, due) == ["T2", "T3", "T1"]
    set_status(t["T3"], "pending", at=bg(17, 11, 30))
    due = queue_page(agent, QueueFilter(view="due", due_soon_minutes=30), now=bg(17, 12, 45))
    assert names(week, due) == ["T2", "T1"]
    assert [r.due_state for r in due.rows] == ["overdue", "due"]


def test_counts_stop_at_the_cap(week):
    stmt = select(Ticket)
    assert capped_count(stmt, cap=5) == (5, True)
    assert capped_count(stmt, cap=9) == (9, False)
    assert capped_count(stmt, cap=100) == (9, False)


def test_client_users_only_get_their_company(week, factory):
    std = week["clients"]["std"]
    client_user = factory.user(Role.CLIENT, client=std)
    page = queue_page(client_user, now=NOW)
    assert names(week, page) == ["T3", "T1", "T8"]


# -- the reserved flag ----------------------------------------------------------------------------


def test_reserved_follows_the_contract(week):
    t = week["tickets"]
    std = week["clients"]["std"]
    contract = std.contracts[0]
    contract.status = "expired"
    db.session.flush()
    assert refresh_reserved(std.id) == 3
    db.session.refresh(t["T1"])
    assert not t["T1"].reserved
    page = queue_page(week["agent"], now=NOW)
    # The standard client's tickets leave the reserved bands: T2 stays first, then the long-waiting
    # urgent T4 and the low-priority contract ticket T7.
    assert names(week, page)[:3] == ["T2", "T4", "T7"]
    contract.status = "active"
    db.session.flush()
    assert refresh_reserved_all() == 3
    assert refresh_reserved_all() == 0
    db.session.refresh(t["T1"])
    assert t["T1"].reserved
    assert names(week, queue_page(week["agent"], now=NOW)) == EXPECTED


def test_contract_running_out_is_noticed_by_the_daily_refresh(week):
    ext = week["clients"]["ext"]
    ext.contracts[0].end_date = datetime(2026, 11, 30).date()
    db.session.flush()
    assert refresh_reserved_all(datetime(2026, 11, 30).date()) == 0
    assert refresh_reserved_all(datetime(2026, 12, 1).date()) == 1
    db.session.refresh(week["tickets"]["T2"])
    assert not week["tickets"]["T2"].reserved
    # Closed tickets are history: never touched.
    db.session.refresh(week["closed"])
    assert week["closed"].reserved


# -- search ---------------------------------------------------------------------------------------


@pytest.fixture
def corpus(factory):
    agent = factory.user(Role.AGENT)
    jugo = factory.client("Jugodrvo d.o.o.")
    anadolu = factory.client("Anadolu Tekstil A.Ş.", country="TR", timezone="Europe/Istanbul")
    t1 = create_ticket(subject="Printer does not print invoices", client_id=jugo.id, actor="t")
    add_article(t1, direction="in", body_text="The laser printer shows error E-42 since Monday.")
    t2 = create_ticket(subject="Backup failed", client_id=anadolu.id, actor="t")
    add_article(t2, direction="in", body_text="Nightly backup to the NAS stopped.")
    add_article(t2, direction="out", body_text="Please restart the printer spooler as well.")
    t3 = create_ticket(subject="Štampač ne radi", client_id=jugo.id, actor="t")
    add_article(t3, direction="in", body_text="Računar ne vidi štampač posle ažuriranja.")
    t4 = create_ticket(subject="Question about VAT", client_id=None, actor="t")
    db.session.commit()
    return {"agent": agent, "t1": t1, "t2": t2, "t3": t3, "t4": t4}


def found(corpus, q: str) -> set[str]:
    page = queue_page(corpus["agent"], QueueFilter(statuses=("new", "open", "pending", "resolved",
                                                             "closed"), q=q))
    by_number = {corpus[k].number: k for k in ("t1", "t2", "t3", "t4")}
    return {by_number[n] for n in numbers(page)}


def test_search_finds_subjects_bodies_clients_and_numbers(corpus):
    assert found(corpus, "printer") == {"t1", "t2"}  # subject + body of t1, a reply on t2
    assert found(corpus, "prin*") == {"t1", "t2"}  # word beginnings, asked for with *
    assert found(corpus, "prin") == set()  # whole words otherwise
    assert found(corpus, "print") == {"t1"}  # "does not print invoices"
    assert found(corpus, "NAS") == {"t2"}
    assert found(corpus, "anadolu") == {"t2"}
    assert found(corpus, "jugodrvo") == {"t1", "t3"}
    assert found(corpus, f"#{corpus['t4'].number}") == {"t4"}
    assert found(corpus, str(corpus["t1"].number)) == {"t1"}
    assert found(corpus, "VAT") == {"t4"}
    assert found(corpus, "nothing-like-this") == set()


def test_every_term_must_match_somewhere_in_the_ticket(corpus):
    assert found(corpus, "jugodrvo printer") == {"t1"}  # client name + subject
    assert found(corpus, "backup spooler") == {"t2"}  # first message + reply
    assert found(corpus, "backup invoices") == set()
    assert found(corpus, '"laser printer"') == {"t1"}
    assert found(corpus, '"printer laser"') == set()


def test_search_results_are_newest_first(corpus):
    page = queue_page(corpus["agent"], QueueFilter(q="printer"))
    assert numbers(page) == [corpus["t2"].number, corpus["t1"].number]
    assert page.order == "newest"


def test_search_folds_case_and_accents_on_every_database(corpus):
    assert found(corpus, "stampac") == {"t3"}
    assert found(corpus, "ŠTAMPAČ") == {"t3"}
    assert found(corpus, "štamp*") == {"t3"}
    assert found(corpus, "racunar") == {"t3"}
    assert found(corpus, "tekstil as") == {"t2"}


def test_client_names_match_without_accents_on_every_database(corpus):
    assert found(corpus, "Tekstil A.Ş.") == {"t2"}
    assert found(corpus, "anadolu tekstil") == {"t2"}
    assert found(corpus, "anad*") == {"t2"} and found(corpus, "anad") == set()


def test_the_index_follows_edits_and_deletes(corpus):
    t1, t3 = corpus["t1"], corpus["t3"]
    update_fields(t1, subject="Scanner jam", actor="t")
    db.session.commit()
    assert found(corpus, "scanner") == {"t1"}
    assert found(corpus, "invoices") == set()
    article = db.session.scalar(select(Article).where(Article.ticket_id == t3.id))
    article.body_text = "Sada radi, hvala."
    db.session.commit()
    assert found(corpus, "hvala") == {"t3"}
    assert found(corpus, "računar") == set()
    db.session.delete(article)
    db.session.commit()
    assert found(corpus, "hvala") == set()
    if db.engine.dialect.name == "sqlite":
        check = db.session.execute(
            text("INSERT INTO articles_fts(articles_fts, rank) VALUES ('integrity-check', 1)"))
        assert check is not None  # raises when the index disagrees with the articles


def test_query_parsing():
    terms = search.parse_query('  #123 "laser printer" a* Štampač -- štamp* "lase pri"* e-mail')
    assert [t.tokens for t in terms] == [("123",), ("laser", "printer"), ("a",), ("Štampač",),
                                         ("štamp",), ("lase", "pri"), ("e", "mail")]
    assert terms[0].number == 123 and terms[1].phrase and not terms[1].prefix
    assert not terms[2].prefix  # one letter: whole word
    assert not terms[3].prefix and terms[4].prefix and terms[5].prefix and terms[5].phrase
    assert terms[6].phrase and not terms[6].prefix
    assert search.parse_query("") == [] and search.parse_query('"" --') == []


def test_alembic_skips_the_search_objects():
    assert not search.include_name("tickets_fts", "table", {})
    assert not search.include_name("articles_fts_data", "table", {})
    assert not search.include_name("search_article_vectors_gin", "index", {})
    assert not search.include_name("search_article_vectors", "table", {})
    assert search.include_name("tickets", "table", {})
    assert search.include_name("ix_tickets_worklist", "index", {})


def test_search_objects_exist_after_create_all(app):
    if db.engine.dialect.name == "sqlite":
        rows = db.session.execute(text(
            "SELECT name FROM sqlite_master WHERE name LIKE '%fts' OR name LIKE 'search_%'"
        )).scalars().all()
        assert {"tickets_fts", "articles_fts", "search_tickets_ai", "search_articles_au",
                "search_article_docs"} <= set(rows)
    else:
        rows = db.session.execute(text(
            "SELECT indexname FROM pg_indexes WHERE indexname LIKE 'search_%'")).scalars().all()
        assert {"search_ticket_vectors_gin", "search_article_vectors_gin",
                "search_article_vectors_ticket_id"} <= set(rows)


def test_search_query_uses_the_index(corpus):
    """No full scan of the articles: the plan goes through FTS5 or the GIN index."""
    match = search.ticket_match("printer")
    stmt = select(Ticket.id).where(match)
    sql = str(stmt.compile(db.engine, compile_kwargs={"literal_binds": True}))
    if db.engine.dialect.name == "sqlite":
        plan = db.session.execute(text("EXPLAIN QUERY PLAN " + sql)).all()
        details = " | ".join(row[-1] for row in plan)
        assert "articles_fts VIRTUAL TABLE INDEX" in details, details
        # The message's key names its ticket: the articles table is not read at all.
        assert not re.search(r"\barticles\b(?!_fts)", details), details
        assert not re.search(r"SCAN tickets( |$)", details), details
    else:
        db.session.execute(text("SET enable_seqscan = off"))
        plan = db.session.execute(text("EXPLAIN " + sql)).scalars().all()
        assert any("search_article_vectors_gin" in line for line in plan), plan


def test_merged_messages_are_found_on_the_ticket_they_moved_to(corpus):
    from helpdesk.tickets.merge import merge_tickets

    t1, t3 = corpus["t1"], corpus["t3"]
    merge_tickets(t3, t1, actor="t")
    db.session.commit()
    assert found(corpus, "posle ažuriranja") == {"t1"}
    assert found(corpus, "laser") == {"t1"}
    if db.engine.dialect.name == "sqlite":
        db.session.execute(text(
            "INSERT INTO articles_fts(articles_fts, rank) VALUES ('integrity-check', 1)"))


def test_empty_search_lists_everything(corpus):
    assert found(corpus, "   ") == {"t1", "t2", "t3", "t4"}


@pytest.mark.parametrize("first,largest,frequent", [
    (1, 1, True), (1, 3, False), (2, 5, True), (64, 8192, None)])
def test_paged_search_agrees_with_the_whole_set(factory, monkeypatch, first, largest, frequent):
    """Reading the index a page at a time (tiny pages here) finds exactly what sets find.

    ``frequent`` makes PostgreSQL page every word (True) or read every word at once (False)
    whatever its statistics say, so both of its strategies are checked.
    """
    monkeypatch.setattr(search.paging, "_FIRST_BATCH", first)
    monkeypatch.setattr(search.paging, "_SEEK_BATCH", first)
    monkeypatch.setattr(search.paging, "_MAX_BATCH", largest)
    if frequent is not None:
        monkeypatch.setattr(search.query, "is_common_on_pg", lambda term, table: frequent)
    clients = [factory.client("Alpha Trade"), factory.client("Beta Soft")]
    for i in range(60):
        words = ["alpha" if i % 2 else "beta", "gamma" if i % 3 == 0 else "delta",
                 "omega" if i % 7 == 0 else "sigma"]
        t = create_ticket(subject=f"Case {words[0]}", client_id=clients[i % 2].id, actor="t")
        for j, word in enumerate(words[1:]):
            add_article(t, direction="in", body_text=f"{word} message {j} of {i}")
    db.session.commit()
    top = db.session.scalar(select(db.func.max(Ticket.id)))
    for q in ("alpha", "gamma", "alpha gamma", "beta omega", "trade delta", "soft sigma",
              "gamma omega beta", "nothing", f"#{1000 + 7}", "message", "gam*", "tra* delta",
              "me* si*", "alpha trade", "trade soft", "alpha soft beta", "alp* tra*",
              "case alpha trade omega"):
        expected = db.session.scalars(
            select(Ticket.id).where(search.ticket_match(q)).order_by(Ticket.id.desc())).all()
        assert list(search.iter_matching_ids(q)) == expected, q
        below = top - 13
        assert list(search.iter_matching_ids(q, below=below)) == [
            i for i in expected if i < below], q


def test_searching_a_thousand_tickets_stays_cheap(factory):
    """Bulk-loaded rows are searchable (triggers), and a page costs a bounded number of queries."""
    agent = factory.user(Role.AGENT)
    c = factory.client("Bulk Co")
    for i in range(300):
        t = create_ticket(subject=f"Item {i} {'alpha' if i % 3 == 0 else 'beta'}",
                          client_id=c.id, actor="t", created_at=bg(16, 8) + timedelta(minutes=i))
        add_article(t, direction="in", body_text=f"body {i} {'gamma' if i % 5 == 0 else 'delta'}")
    db.session.commit()
    page = queue_page(agent, QueueFilter(q="alpha gamma", statuses=("new", "open")), limit=200)
    assert page.count == 20 and len(page.rows) == 20


def test_serbian_and_turkish_letters_fold_both_ways(factory):
    """Typed with or without diacritics, on either side: "đorđe" ~ "Dorde", "yazıcı" ~ "YAZICI",
    and text written without them is found by a query that has them."""
    agent = factory.user(Role.AGENT)
    turkish = create_ticket(subject="Yazıcı çalışmıyor", client_id=None, actor="t")
    serbian = create_ticket(subject="Skener", client_id=None, actor="t")
    add_article(serbian, direction="in", body_text="Đorđe javlja: stampac bez kvacica, ŠIFRA 12.")
    plain = create_ticket(subject="Yazici calismiyor mu", client_id=None, actor="t")
    other = create_ticket(subject="Dorde", client_id=None, actor="t")
    db.session.commit()
    corpus = {"agent": agent, "t1": turkish, "t2": serbian, "t3": plain, "t4": other}
    assert found(corpus, "yazici calismiyor") == {"t1", "t3"}
    assert found(corpus, "YAZICI") == {"t1", "t3"}
    assert found(corpus, "çalış*") == {"t1", "t3"}
    assert found(corpus, "dorde") == {"t2", "t4"}
    assert found(corpus, "ĐORĐE") == {"t2", "t4"}
    assert found(corpus, "štampač") == {"t2"}
    assert found(corpus, "sifra") == {"t2"}


def test_the_fold_without_unaccent_covers_serbian_and_turkish_letters(app):
    """Where the unaccent extension cannot be had, PostgreSQL folds with translate(): the same
    letters as the Python fold."""
    from helpdesk.tickets.search import index

    source, target = index._latin_folds()
    letters = "šđčćžŠĐČĆŽıİğĞşŞçÇöÖüÜéàñ"
    expected = "sdcczsdcczii" + "ggssccoouu" + "ean"
    assert letters.translate(str.maketrans(source, target)).lower() == expected
    assert all(search.fold(ch) == plain for ch, plain in zip(letters, expected, strict=True)
               if ch not in "đĐı")  # no decomposition: the fold table names them
    if db.engine.dialect.name == "postgresql":
        folded = db.session.execute(text("SELECT lower(translate(:s, :f, :t))"),
                                    {"s": letters, "f": source, "t": target}).scalar()
        assert folded == expected


def _without_unaccent_on_postgresql(factory, monkeypatch):
    """Where the unaccent extension cannot be created, the index folds with translate() and
    finds the same tickets."""
    from sqlalchemy.engine import Connection
    from sqlalchemy.exc import ProgrammingError

    from helpdesk.tickets.search import index

    run = Connection.exec_driver_sql

    def no_extensions(self, statement, *args, **kwargs):
        if statement.startswith("CREATE EXTENSION"):
            raise ProgrammingError(statement, {}, Exception("permission denied to create"))
        return run(self, statement, *args, **kwargs)

    agent = factory.user(Role.AGENT)
    turkish = create_ticket(subject="Yazıcı çalışmıyor", client_id=None, actor="t")
    serbian = create_ticket(subject="Đorđe: štampač", client_id=None, actor="t")
    db.session.commit()
    monkeypatch.setattr(Connection, "exec_driver_sql", no_extensions)
    try:
        index.rebuild(db.session.connection())
        db.session.commit()
        body = db.session.execute(text(
            "SELECT prosrc FROM pg_proc WHERE proname = 'search_fold'")).scalar()
        assert "translate" in body and "unaccent" not in body
        corpus = {"agent": agent, "t1": turkish, "t2": serbian, "t3": turkish, "t4": turkish}
        assert found(corpus, "YAZICI calismiyor") == {"t4"}  # t1, t3, t4 are the same ticket
        assert found(corpus, "dorde stampac") == {"t2"}
    finally:
        monkeypatch.undo()
        index.rebuild(db.session.connection())  # unaccent again for the tests after this one
        db.session.commit()


if (os.environ.get("HELPDESK_TEST_DATABASE_URL") or "").startswith("postgresql"):
    test_without_unaccent_postgresql_folds_with_translate = _without_unaccent_on_postgresql
