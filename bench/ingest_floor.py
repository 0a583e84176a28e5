"""The raw floor of mail ingest: what fetching, parsing and inserting a mailbox costs with nothing
else (no threading, no contacts, no SLA, no attachments on disk, no acknowledgements).

IMAP fetch of every message (batches of ``--batch`` over one connection, as ingest fetches) +
``email.policy.default`` parse (subject, sender, Message-ID, the text body) + one batched INSERT
and one COMMIT per batch into a table of its own (``floor_messages``) in the given database.
bench/ingest.py runs it against the same mailbox as the product and compares the two rates.

Usage: python bench/ingest_floor.py --host H --port P --user U --password W --db URL [--batch N]
The last line printed is one JSON object: ``{"messages": N, "seconds": ..., "messages_per_s": ...}``.
"""

from __future__ import annotations

import argparse
import json
import time
from email import policy
from email.parser import BytesParser

from imapclient import IMAPClient
from sqlalchemy import Column, Integer, MetaData, String, Table, Text, create_engine, insert

METADATA = MetaData()
FLOOR = Table(
    "floor_messages",
    METADATA,
    Column("id", Integer, primary_key=True),
    Column("uid", Integer),
    Column("message_id", String(998)),
    Column("sender", String(500)),
    Column("subject", String(1000)),
    Column("body", Text),
)


def run_floor(
    host: str, port: int, user: str, password: str, db_url: str, batch: int = 100
) -> dict[str, float]:
    """Fetch, parse and insert the whole INBOX; returns messages and seconds."""
    engine = create_engine(db_url)
    METADATA.drop_all(engine)
    METADATA.create_all(engine)
    parser = BytesParser(policy=policy.default)
    began = time.perf_counter()
    count = 0
    client = IMAPClient(host, port=port, ssl=False, use_uid=True)
    try:
        client.login(user, password)
        client.select_folder("INBOX", readonly=True)
        uids = sorted(client.search(["ALL"]))
        with engine.connect() as conn:
            for start in range(0, len(uids), batch):
                fetched = client.fetch(uids[start : start + batch], [b"BODY.PEEK[]"])
                rows = []
                for uid, data in fetched.items():
                    msg = parser.parsebytes(data[b"BODY[]"])
                    body = msg.get_body(preferencelist=("plain", "html"))
                    try:
                        text = body.get_content() if body is not None else ""
                    except (LookupError, ValueError):
                        text = ""
                    rows.append(
                        {
                            "uid": uid,
                            "message_id": str(msg.get("message-id", ""))[:998],
                            "sender": str(msg.get("from", ""))[:500],
                            "subject": str(msg.get("subject", ""))[:1000],
                            "body": text,
                        }
                    )
                conn.execute(insert(FLOOR), rows)
                conn.commit()
                count += len(rows)
    finally:
        client.logout()
    seconds = time.perf_counter() - began
    with engine.begin() as conn:
        FLOOR.drop(conn)
    engine.dispose()
    return {"messages": count, "seconds": seconds, "messages_per_s": count / seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--user", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--db", required=True, help="SQLAlchemy URL of the database")
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args()
    result = run_floor(args.host, args.port, args.user, args.password, args.db, args.batch)
    print(json.dumps({k: round(v, 3) for k, v in result.items()}))


if __name__ == "__main__":
    main()
