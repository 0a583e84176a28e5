"""Parsing LogMeIn Rescue session reports and Asterisk CDR files (no database)."""

from __future__ import annotations

import codecs
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from helpdesk.accounting.importers import ImportFileError, ParseError, decoded_lines
from helpdesk.accounting.importers.cdr import (
    CdrCall,
    channel_peer,
    iter_calls,
    normalize_phone,
    parse_calls,
    support_calls,
)
from helpdesk.accounting.importers.logmein import iter_sessions, parse_sessions
from helpdesk.accounting.periods import period_of

DATA = Path(__file__).parent / "data"
BELGRADE = "Europe/Belgrade"

HEADER = (
    "Start Time|End Time|Last Action Time|Technician Name|Technician ID|Session ID|Session Type|"
    "Status|Name|Custom field 1|Custom field 2|Custom field 3|Custom field 4|Custom field 5|"
    "Tracking ID|Customer IP|Device ID|Incident Tools Used|Resolved Unresolved|Channel ID|"
    "Channel Name|Calling Card|Connecting Time|Waiting Time|Total Time|Active Time|Work Time|"
    "Hold Time|Time in Transfer|Rebooting Time|Reconnecting Time|Platform|Technician Email|"
    "Browser Type"
)


def text_row(**values: str) -> str:
    """A TEXT report row with the standard columns; unnamed ones are empty."""
    defaults = {
        "Start Time": "2025-03-03 09:00:00",
        "End Time": "2025-03-03 09:30:00",
        "Technician Name": "Ana",
        "Technician ID": "1001",
        "Session ID": "42",
        "Name": "Acme",
        "Work Time": "00:25:00",
        "Total Time": "00:30:00",
    }
    defaults.update(values)
    return "|".join(defaults.get(name, "") for name in HEADER.split("|"))


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# -- shared reading ---------------------------------------------------------------------------


def test_lines_decode_utf8_bom_cp1252_and_utf16():
    assert list(decoded_lines(b"\xef\xbb\xbfOK\r\nA|B\r\n")) == ["OK\r\n", "A|B\r\n"]
    assert list(decoded_lines("Šabac|č\n".encode("cp1250"), encoding="cp1250")) == ["Šabac|č\n"]
    assert list(decoded_lines(b"caf\xe9\nna\xefve\n")) == ["café\n", "naïve\n"]
    utf16 = codecs.BOM_UTF16_LE + "OK\r\nŠ|Ž\r\nend".encode("utf-16-le")
    assert list(decoded_lines(utf16)) == ["OK\r\n", "Š|Ž\r\n", "end"]
    assert list(decoded_lines(b"")) == []


# -- LogMeIn TEXT -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def text_report():
    return parse_sessions(
        DATA / "logmein" / "session_list_all.txt", BELGRADE, customer_column="Company"
    )


def test_text_report_sessions(text_report):
    first = text_report.sessions[0]
    assert first.line_no == 3
    assert first.session_id == "500001"
    assert first.start == utc(2025, 3, 3, 8, 15, 2)  # 9:15:02 AM CET
    assert first.end == utc(2025, 3, 3, 8, 52, 40)
    assert first.technician_name == "Ana Petrović"
    assert first.technician_email == "ana@vendor.example"
    assert first.customer == "Acme d.o.o."
    assert first.billable_seconds == 31 * 60 + 10  # Work Time, not Total Time
    assert first.raw["Your name"] == "Marko Marković"
    assert first.raw["Total Time"] == "00:37:38"
    assert [s.session_id for s in text_report.sessions] == [
        "500001",
        "500002",
        "500003",
        "500006",
        "500007",
    ]


def test_text_report_session_across_midnight_belongs_to_its_starting_month(text_report):
    session = next(s for s in text_report.sessions if s.session_id == "500002")
    assert session.start == utc(2025, 3, 31, 21, 40)  # 11:40 PM CEST on 31 March
    assert session.end == utc(2025, 3, 31, 22, 25)  # 12:25 AM on 1 April
    assert period_of(session.start, BELGRADE) == "2025-03"


def test_text_report_pipe_in_a_value_between_typed_columns_is_placed(text_report):
    session = next(s for s in text_report.sessions if s.session_id == "500003")
    assert session.line_no == 5
    assert session.technician_name == "Ivan | Support"
    assert session.raw["Technician ID"] == "1002"
    assert session.customer == "Acme d.o.o."
    assert session.billable_seconds == 28 * 60


def test_text_report_ambiguous_pipe_and_bad_duration_are_reported_by_line(text_report):
    assert [e.line_no for e in text_report.errors] == [6, 7]
    ambiguous, bad_duration = text_report.errors
    assert "ambiguous" in ambiguous.message and "Company" in ambiguous.message
    assert "Work Time '0:31:7'" in bad_duration.message
    assert str(bad_duration).startswith("line 7: ")


def test_text_report_open_session_has_no_end(text_report):
    session = next(s for s in text_report.sessions if s.session_id == "500006")
    assert session.end is None
    assert session.billable_seconds == 600


def test_text_report_end_in_the_repeated_dst_hour_follows_the_start(text_report):
    # 26 October 2025: 2:50 AM (CEST) to 2:10 AM (the second 2 o'clock, CET) is 20 minutes.
    session = next(s for s in text_report.sessions if s.session_id == "500007")
    assert session.start == utc(2025, 10, 26, 0, 50)
    assert session.end == utc(2025, 10, 26, 1, 10)


def test_strict_mode_stops_at_the_first_bad_row():
    sessions = iter_sessions(
        DATA / "logmein" / "session_list_all.txt", BELGRADE, customer_column="Company"
    )
    assert [s.session_id for s in islice(sessions, 3)] == ["500001", "500002", "500003"]
    with pytest.raises(ImportFileError) as info:
        next(sessions)
    assert info.value.error.line_no == 6
    assert "line 6" in str(info.value)


def test_collect_mode_yields_errors_in_file_order():
    items = list(
        iter_sessions(
            DATA / "logmein" / "session_list_all.txt",
            BELGRADE,
            customer_column="Company",
            collect_errors=True,
        )
    )
    assert [item.line_no for item in items] == [3, 4, 5, 6, 7, 8, 9]
    assert [type(item).__name__ for item in items].count("ParseError") == 2


def test_duration_column_is_chosen_by_the_caller(text_report):
    report = parse_sessions(
        DATA / "logmein" / "session_list_all.txt",
        BELGRADE,
        customer_column="Your name",
        duration_column="Total Time",
    )
    first = report.sessions[0]
    assert first.billable_seconds == 37 * 60 + 38
    assert first.customer == "Marko Marković"
    # Line 7's bad Work Time no longer matters; Total Time there is fine.
    assert [e.line_no for e in report.errors] == [6]


def test_text_without_ok_line_or_trailing_separator_and_with_another_delimiter():
    body = "\n".join([HEADER, text_row(), text_row(**{"Session ID": "43"})]).replace("|", ";")
    report = parse_sessions(body.encode(), BELGRADE, delimiter=";", fmt="text")
    assert [s.session_id for s in report.sessions] == ["42", "43"]
    assert [s.line_no for s in report.sessions] == [2, 3]
    assert report.sessions[0].start == utc(2025, 3, 3, 8, 0)


def test_text_row_with_too_few_fields_and_bad_dates():
    rows = [
        "OK",
        HEADER,
        "3/3/2025 9:00:00 AM|only two",
        text_row(**{"Start Time": "yesterday"}),
        text_row(**{"End Time": "2025-03-03 08:00:00"}),
        text_row(**{"Session ID": ""}),
        "",
        text_row(**{"Session ID": "99"}),
    ]
    report = parse_sessions("\n".join(rows).encode(), BELGRADE)
    assert [(e.line_no, e.message.split(" ")[0]) for e in report.errors] == [
        (3, "2"),
        (4, "Start"),
        (5, "the"),
        (6, "Session"),
    ]
    assert [(s.line_no, s.session_id) for s in report.sessions] == [(8, "99")]


def test_day_first_dates():
    body = "\n".join([HEADER, text_row(**{"Start Time": "01/02/2025 10:00", "End Time": ""})])
    us = parse_sessions(body.encode(), BELGRADE).sessions[0]
    eu = parse_sessions(body.encode(), BELGRADE, day_first=True).sessions[0]
    assert us.start == utc(2025, 1, 2, 9, 0)
    assert eu.start == utc(2025, 2, 1, 9, 0)


@pytest.mark.parametrize(
    ("text", "local"),
    [
        ("2/14/2025 12:05:09 AM", (2025, 2, 14, 0, 5, 9)),
        ("2/14/2025 12:05 PM", (2025, 2, 14, 12, 5, 0)),
        ("2/14/2025 1:05:00 pm", (2025, 2, 14, 13, 5, 0)),
        ("2/14/2025 17:05:00", (2025, 2, 14, 17, 5, 0)),
        ("2025-02-14 17:05:00", (2025, 2, 14, 17, 5, 0)),
        ("2025-02-14T17:05", (2025, 2, 14, 17, 5, 0)),
        ("14.2.2025. 17:05:00", (2025, 2, 14, 17, 5, 0)),
        ("14.02.2025 17:05", (2025, 2, 14, 17, 5, 0)),
        ("13:00 2/14/2025", None),
        ("2/14/2025 13:05:00 PM", None),
        ("2/30/2025 10:00:00 AM", None),
        ("14/2/2025 10:00:00", None),  # month 14 without day_first
    ],
)
def test_report_date_forms(text, local):
    body = "\n".join([HEADER, text_row(**{"Start Time": text, "End Time": ""})])
    report = parse_sessions(body.encode(), BELGRADE)
    if local is None:
        assert [e.line_no for e in report.errors] == [2]
    else:
        expected = datetime(*local, tzinfo=ZoneInfo(BELGRADE)).astimezone(UTC)
        assert [s.start for s in report.sessions] == [expected]


def test_missing_customer_column_is_reported_at_the_header():
    path = DATA / "logmein" / "session_list_all.txt"
    report = parse_sessions(path, BELGRADE, customer_column="Company name")
    assert report.sessions == []
    assert len(report.errors) == 1
    assert report.errors[0].line_no == 2
    assert "'Company name'" in report.errors[0].message
    with pytest.raises(ImportFileError):
        list(iter_sessions(path, BELGRADE, customer_column="Company name"))


def test_column_names_match_regardless_of_case_and_spacing():
    report = parse_sessions(
        DATA / "logmein" / "session_list_all.txt",
        BELGRADE,
        customer_column="company",
        duration_column="active  time",
    )
    assert report.sessions[0].customer == "Acme d.o.o."


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty"),
        (b"\r\n\r\n", "empty"),
        (b"NOTLOGGEDIN\r\n", "NOTLOGGEDIN"),
        (b"OK\r\n", "no header"),
    ],
)
def test_files_that_are_not_reports(content, message):
    report = parse_sessions(content, BELGRADE)
    assert report.sessions == []
    assert len(report.errors) == 1 and message in report.errors[0].message


def test_windows_1252_text_report():
    report = parse_sessions(
        DATA / "logmein" / "session_list_all_cp1252.txt", BELGRADE, customer_column="Company"
    )
    assert report.errors == []
    (session,) = report.sessions
    assert session.technician_name == "Žarko Šušnjar"
    assert session.customer == "Šabac Šped"
    assert session.raw["Your name"] == "Šime"


def test_utf16_text_report():
    body = "\r\n".join(["OK", HEADER, text_row(Name="Đorđe Ćirić")])
    report = parse_sessions(codecs.BOM_UTF16_LE + body.encode("utf-16-le"), BELGRADE)
    assert [s.customer for s in report.sessions] == ["Đorđe Ćirić"]


def test_sessions_are_streamed():
    def endless():
        yield b"OK\n"
        yield (HEADER + "\n").encode()
        n = 0
        while True:
            n += 1
            yield (text_row(**{"Session ID": str(n)}) + "\n").encode()

    first = list(islice(iter_sessions(endless(), BELGRADE), 3))
    assert [s.session_id for s in first] == ["1", "2", "3"]
    assert [s.line_no for s in first] == [3, 4, 5]


# -- LogMeIn CSV --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def csv_report():
    return parse_sessions(
        DATA / "logmein" / "session_list_all.csv", BELGRADE, customer_column="Company"
    )


def test_csv_report_with_bom_quotes_and_a_value_over_two_lines(csv_report):
    assert [(s.line_no, s.session_id) for s in csv_report.sessions] == [
        (2, "500101"),
        (3, "500102"),
        (6, "500104"),
    ]
    first, second, third = csv_report.sessions
    assert first.raw["Start Time"] == "3/10/2025 9:00:00 AM"  # the BOM is not in the header
    assert first.customer == "Acme, Inc."
    assert first.billable_seconds == 35 * 60
    assert second.raw["Incident Tools Used"] == "File Manager\nReboot"
    assert second.billable_seconds == 9 * 60 + 59
    assert third.technician_name == 'Ivan "Ivke" Ilić'
    # The bad row starts on physical line 5: the record before it spans lines 3 and 4.
    assert [(e.line_no, "3/32/2025" in e.message) for e in csv_report.errors] == [(5, True)]


def test_csv_semicolon_export_and_wrong_field_count():
    header = HEADER.replace("|", ";")
    rows = [header, text_row().replace("|", ";"), "3/3/2025;only;three"]
    report = parse_sessions("\n".join(rows).encode("cp1252"), BELGRADE, fmt="csv")
    assert [s.session_id for s in report.sessions] == ["42"]
    assert [(e.line_no, e.message) for e in report.errors] == [
        (3, "3 fields where the header has 34")
    ]


def test_fmt_is_validated():
    with pytest.raises(ValueError, match="fmt"):
        list(iter_sessions(b"", BELGRADE, fmt="xml"))


# -- Asterisk Master.csv -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def master():
    return parse_calls(DATA / "cdr" / "Master.csv", BELGRADE)


def test_master_csv_calls(master):
    assert [c.line_no for c in master.calls] == [1, 2, 3, 4, 5, 7]
    first = master.calls[0]
    assert first == CdrCall(
        line_no=1,
        uniqueid="1741000500.1",
        src="0641234567",
        dst="201",
        start=utc(2025, 3, 3, 8, 15),
        answer=utc(2025, 3, 3, 8, 15, 8),
        end=utc(2025, 3, 3, 8, 27, 30),
        duration=750,
        billsec=742,
        disposition="ANSWERED",
        dcontext="from-internal",
        clid='"Marko Markovic" <0641234567>',
        channel="PJSIP/trunk-00000001",
        dstchannel="PJSIP/201-00000002",
        lastapp="Dial",
        lastdata="PJSIP/201,30",
        amaflags="DOCUMENTATION",
    )
    assert master.calls[2].userfield == "ticket 1234"


def test_master_csv_unanswered_call_has_no_answer_time(master):
    unanswered = master.calls[3]
    assert unanswered.disposition == "NO ANSWER"
    assert unanswered.answer is None
    assert unanswered.billsec == 0


def test_master_csv_end_in_the_repeated_dst_hour(master):
    call = master.calls[-1]
    assert call.start == utc(2025, 10, 26, 0, 50)  # 02:50 CEST
    assert call.end == utc(2025, 10, 26, 1, 10, 10)  # 02:10:10 CET, the second 2 o'clock
    assert (call.end - call.start).total_seconds() == call.duration + 10


def test_master_csv_bad_row_is_reported_by_line(master):
    assert master.errors == [ParseError(6, "duration 'abc' is not a whole number of seconds")]
    calls = iter_calls(DATA / "cdr" / "Master.csv", BELGRADE)
    assert len(list(islice(calls, 5))) == 5
    with pytest.raises(ImportFileError) as info:
        next(calls)
    assert info.value.error.line_no == 6


def test_master_csv_with_new_cdr_columns():
    report = parse_calls(DATA / "cdr" / "Master-newcdrcolumns.csv", BELGRADE)
    assert report.errors == []
    first, second = report.calls
    assert (first.uniqueid, first.peeraccount, first.linkedid, first.sequence) == (
        "",
        "",
        "1741075200.16",
        1,
    )
    assert (second.uniqueid, second.linkedid, second.sequence) == (
        "1741078800.18",
        "1741078800.18",
        3,
    )


def test_master_csv_base_columns_and_a_lone_user_field():
    base = (
        '"acc","0641234567","201","ctx","","SIP/trunk-1","SIP/201-2","Dial","",'
        '"2025-03-03 09:00:00","2025-03-03 09:00:05","2025-03-03 09:01:05",65,60,"ANSWERED",'
        '"BILLING"'
    )
    content = "\n".join([base, base + ',"callback"', base + ',"1741000000.5"']).encode()
    report = parse_calls(content, "UTC")
    assert [(c.uniqueid, c.userfield, c.accountcode) for c in report.calls] == [
        ("", "", "acc"),
        ("", "callback", "acc"),
        ("1741000000.5", "", "acc"),
    ]
    assert report.calls[0].start == utc(2025, 3, 3, 9, 0)  # usegmtime=yes: pass "UTC"
    forced = parse_calls(content, "UTC", extra_columns=("userfield",))
    assert [e.line_no for e in forced.errors] == [1]
    assert [c.userfield for c in forced.calls] == ["callback", "1741000000.5"]
    with pytest.raises(ValueError, match="unknown CDR columns"):
        parse_calls(content, "UTC", extra_columns=("nonsense",))


def test_master_csv_rows_of_the_wrong_width_and_bad_dates():
    good = (
        '"","1","2","c","","","","","","2025-03-03 09:00:00","","2025-03-03 09:00:30",30,0,'
        '"NO ANSWER","DOCUMENTATION"'
    )
    content = "\n".join(
        [
            '"just","three","fields"',
            good.replace("2025-03-03 09:00:00", "03/03/2025"),
            good.replace("2025-03-03 09:00:30", "2025-03-03 08:00:00"),
            good,
        ]
    ).encode()
    report = parse_calls(content, BELGRADE)
    assert [e.line_no for e in report.errors] == [1, 2, 3]
    assert "3 fields" in report.errors[0].message
    assert "not a date" in report.errors[1].message
    assert "ends before" in report.errors[2].message
    assert [c.line_no for c in report.calls] == [4]


def test_cdr_is_streamed():
    row = (
        b'"","0641234567","201","c","","","","","","2025-03-03 09:00:00","2025-03-03 09:00:01",'
        b'"2025-03-03 09:01:01",61,60,"ANSWERED","DOCUMENTATION"\n'
    )

    def endless():
        while True:
            yield row

    assert [c.line_no for c in islice(iter_calls(endless(), BELGRADE), 4)] == [1, 2, 3, 4]


# -- FreePBX export -------------------------------------------------------------------------------


def test_freepbx_export_with_header():
    report = parse_calls(DATA / "cdr" / "freepbx-export.csv", BELGRADE)
    answered, unanswered = report.calls
    assert answered.line_no == 2
    assert answered.start == utc(2025, 3, 5, 8, 0)
    assert answered.end == utc(2025, 3, 5, 8, 10, 20)  # calldate + 620 s
    assert answered.answer == utc(2025, 3, 5, 8, 0, 20)  # end - 600 s of talk
    assert (answered.did, answered.uniqueid, answered.sequence) == (
        "0119876543",
        "1741161600.32",
        5,
    )
    assert answered.clid == '"Acme" <0112345678>'
    assert unanswered.answer is None
    assert report.errors == [ParseError(4, "duration 'xx' is not a whole number of seconds")]


def test_freepbx_header_missing_columns():
    report = parse_calls(b"calldate,src,dst\n2025-03-05 09:00:00,1,2\n", BELGRADE)
    assert report.calls == []
    assert [e.line_no for e in report.errors] == [1]
    assert "billsec" in report.errors[0].message


# -- support calls and phone numbers --------------------------------------------------------------


def test_support_calls_direction_and_external_number(master):
    found = list(support_calls(master.calls, ["200", "201", "202"]))
    assert [(s.call.line_no, s.direction, s.extension, s.external_number) for s in found] == [
        (1, "in", "201", "381641234567"),
        (2, "in", "202", "381112345678"),  # a queue call, answered by 202 (dstchannel)
        (3, "out", "200", "381641112222"),
        (7, "in", "201", ""),  # a withheld number
    ]
    # Left out: the unanswered call (line 4) and the internal call 201 -> 202 (line 5).
    assert found[0].raw_number == "0641234567"
    assert found[0].billable_seconds == 742


def test_support_calls_with_an_outside_line_prefix_and_caller_id_fallback():
    def call(**kw) -> CdrCall:
        base = {
            "line_no": 1,
            "uniqueid": "",
            "src": "",
            "dst": "",
            "start": utc(2025, 3, 3, 9),
            "answer": utc(2025, 3, 3, 9),
            "end": utc(2025, 3, 3, 9, 5),
            "duration": 300,
            "billsec": 300,
            "disposition": "ANSWERED",
        }
        return CdrCall(**(base | kw))

    calls = [
        call(src="Ana", dst="90641234567", channel="PJSIP/201-00000001"),
        call(src="", clid='"X" <+38111222333>', dst="201"),
        call(src="0641234567", dst="700", dstchannel="Local/203@from-queue-0000001;2"),
    ]
    found = list(support_calls(calls, ["201", "203"], outside_line_prefix="9"))
    assert [(s.direction, s.extension, s.external_number, s.raw_number) for s in found] == [
        ("out", "201", "381641234567", "90641234567"),
        ("in", "201", "38111222333", "+38111222333"),
        ("in", "203", "381641234567", "0641234567"),
    ]


@pytest.mark.parametrize(
    ("number", "expected"),
    [
        ("+381 64 123-4567", "381641234567"),
        ("00381641234567", "381641234567"),
        ("064/123-4567", "381641234567"),
        ("+381 (0)64 1234567", "381641234567"),
        ("(011) 222-333", "38111222333"),
        ("381641234567", "381641234567"),
        ("sip:0641234567@pbx.example", "381641234567"),
        ("tel:+90-212-555-0101", "902125550101"),
        ("201", "201"),
        ("anonymous", ""),
        ("", ""),
    ],
)
def test_normalize_phone(number, expected):
    assert normalize_phone(number) == expected


def test_normalize_phone_other_country():
    assert normalize_phone("0212 555 01 01", default_country_code="90") == "902125550101"
    with pytest.raises(ValueError):
        normalize_phone("0641234567", default_country_code="+381")


@pytest.mark.parametrize(
    ("channel", "peer"),
    [
        ("PJSIP/201-0000002a", "201"),
        ("SIP/my-trunk-00000001", "my-trunk"),
        ("Local/201@from-queue-00000012;2", "201"),
        ("IAX2/202", "202"),
        ("", ""),
    ],
)
def test_channel_peer(channel, peer):
    assert channel_peer(channel) == peer


def test_belgrade_zone_is_available():
    # The tests above depend on real zone data (DST dates of Europe/Belgrade).
    assert ZoneInfo(BELGRADE).utcoffset(datetime(2025, 7, 1)).total_seconds() == 7200
