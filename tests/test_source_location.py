"""One source-location pattern for log_patterns (Python's re) and call_changes' log steps (DuckDB's RE2): both
must find the same statement in the same line, or a stopped line and a stopped step would name different things."""
from __future__ import annotations

import duckdb

from tools.domain.statements import SOURCE_LOCATION
from tools.logs import SOURCE_LOCATION as PY

LINES = [
    "18:11:17.684 INFO  t.s.TravelServiceImpl#457 TraceID: 25 SpanID: 8d [getTickets][Calculate distance]",
    "ERROR o.a.c.c.C.[.[.[.[dispatcherServlet]#175 Servlet.service() threw exception",
    "com.example.Foo#12",
    "(x.y.Foo#3) inside parentheses is a reference, not the writer",
    "level=error caller=main.go:42 msg=\"dial tcp: refused\"",
    "handler.py:7: KeyError 'id'",
    "$foo.py:12 after a dollar",
    "a.b.C#12x has no word boundary",
    "pkg.Ünïcode#5 and then svc.Real#9",
    "nothing to see here",
    "",
]


def test_python_and_duckdb_read_the_same_location_from_every_line():
    con = duckdb.connect()
    sql = [con.execute("SELECT regexp_extract(?, ?, 1)", [line, SOURCE_LOCATION]).fetchone()[0] for line in LINES]
    py = [(m.group(1) if (m := PY.search(line)) else "") for line in LINES]
    assert py == sql
    assert py[:3] == ["t.s.TravelServiceImpl#457", "", "com.example.Foo#12"]
    assert py[4:6] == ["main.go:42", "handler.py:7"] and py[3] == "" and py[-2:] == ["", ""]
