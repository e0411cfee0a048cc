"""Where a log line was written: the source location in its message, a Java Class#line (TrainTicket's
`t.s.TravelServiceImpl#457`) or a file:line. log_patterns keys a statement's lines by it and call_changes counts it
as a step of the span that wrote it, so both read it with one pattern: DuckDB's RE2 has no look-behind, so the
location is group 1, after the start or a character that cannot precede it; Python compiles it with re.ASCII,
as RE2 reads \\w."""
from __future__ import annotations

SOURCE_LOCATION = (r"(?:^|[^\w.$(])((?:[a-z_$][\w$]*\.)+[A-Z][\w$]*#\d+"
                   r"|[\w-]+\.(?:go|py|rb|js|ts|java|kt|cs|rs|php|c|cc|cpp):\d+)\b")
