"""Bad input: a clear one-line message (and a non-zero exit where unusable), never a traceback."""
import gzip
import json

import pytest
from typer.testing import CliRunner

from agent.cli import app
from factory import build, ts
from tools.backends.snapshot import SnapshotTelemetry
from tools.backends.validate import validate_snapshot

runner = CliRunner()


def run(*args):
    res = runner.invoke(app, list(map(str, args)))
    assert "Traceback" not in res.output and res.exception is None or isinstance(res.exception, SystemExit), \
        res.output
    return res


def test_missing_directory(tmp_path):
    res = run("investigate", tmp_path / "nope", "--no-transcript")
    assert res.exit_code == 2 and "no such incident snapshot directory" in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_missing_and_broken_incident_yaml(tmp_path):
    d = tmp_path / "inc"
    d.mkdir()
    res = run("investigate", d, "--no-transcript")
    assert res.exit_code == 2 and "incident.yaml: missing" in res.output
    (d / "incident.yaml").write_text("id: [unclosed\n")
    res = run("investigate", d, "--no-transcript")
    assert res.exit_code == 2 and "not valid YAML" in res.output
    (d / "incident.yaml").write_text("id: x\nwindow: {start: yesterday, end: 2026-01-01T00:00:00Z}\n")
    res = run("snapshot", "validate", d)
    assert res.exit_code == 1 and "window.start" in res.output


def test_empty_and_truncated_files_degrade_to_no_data(tmp_path):
    d = build(tmp_path / "inc")
    (d / "registry.jsonl").write_text("")
    raw = (d / "scaling.jsonl").read_bytes()
    (d / "scaling.jsonl").write_bytes(raw[: len(raw) // 2])            # cut mid-record
    t = SnapshotTelemetry(d)
    assert t.coverage("registry").rows == 0
    assert t.coverage("scaling").rows == 1 and t.coverage("scaling").skipped_lines == 1
    t.close()
    rep = validate_snapshot(d)
    msgs = [str(p) for p in rep.problems]
    assert any("scaling.jsonl:2" in m and "truncated" in m for m in msgs)
    assert any("registry.jsonl" in m and "empty: no registry records" in m for m in msgs)
    assert rep.usable                                  # an empty file is a capture that found nothing
    res = run("investigate", d, "--no-transcript", "--json", "--quiet")
    assert res.exit_code == 0 and json.loads(res.stdout)["root_cause"]["service"] == "search"


def test_truncated_gzip_keeps_what_was_recorded(tmp_path):
    d = build(tmp_path / "inc", gz=True)
    raw = (d / "logs.jsonl.gz").read_bytes()
    (d / "logs.jsonl.gz").write_bytes(raw[: len(raw) - 200])
    rep = validate_snapshot(d)
    assert any("cannot be read to the end" in str(p) for p in rep.problems)
    assert rep.records["logs"] > 1000
    t = SnapshotTelemetry(d)                           # investigate agrees with validate: usable, and says so
    assert t.coverage("logs").rows > 1000 and t.coverage("logs").cut_short == ["logs.jsonl.gz"]
    t.close()
    res = run("investigate", d, "--no-transcript", "--json")
    assert res.exit_code == 0 and "logs.jsonl.gz ends early" in res.stderr
    assert json.loads(res.stdout)["root_cause"]["service"] == "search"


def test_wrong_types_unknown_levels_and_bad_times_are_reported_with_lines(tmp_path):
    d = build(tmp_path / "inc")
    with open(d / "logs.jsonl", "a") as f:
        f.write(json.dumps({"time": "not a time", "service": "api", "message": "x"}) + "\n")
        f.write(json.dumps({"time": ts(5), "service": 42, "message": ["a"], "level": "loud"}) + "\n")
        f.write(json.dumps(["not", "an", "object"]) + "\n")
        f.write(json.dumps({"time": ts(5), "message": "no service"}) + "\n")
    with open(d / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"time": ts(5), "name": "cpu_utilization", "value": "high", "service": "api"}) + "\n")
    n = sum(1 for _ in open(d / "logs.jsonl"))
    msgs = "\n".join(map(str, validate_snapshot(d).problems))
    assert f"logs.jsonl:{n - 3}: warning: time 'not a time' is not an RFC 3339 time" in msgs
    assert f"logs.jsonl:{n - 2}" in msgs and "unknown level 'loud'" in msgs and "service should be a string" in msgs
    assert f"logs.jsonl:{n - 1}: warning: expected a JSON object" in msgs
    assert f"logs.jsonl:{n}: warning: missing required field 'service'" in msgs
    assert "value should be a number" in msgs
    t = SnapshotTelemetry(d)                      # the loader keeps going, dropping what it cannot use
    assert t.coverage("logs").skipped_lines == 3
    assert t.coverage("metrics").skipped_lines == 1
    t.close()


def test_huge_lines_and_non_utf8_are_read_not_lost(tmp_path):
    d = build(tmp_path / "inc")
    with open(d / "logs.jsonl", "ab") as f:
        f.write(json.dumps({"time": ts(100), "service": "api", "level": "error",
                            "message": "stack " + "x" * 5_000_000}).encode() + b"\n")
        f.write(b'{"time": "' + ts(101).encode() + b'", "service": "api", "level": "error", '
                b'"message": "bad bytes \xff\xfe here"}\n')
    t = SnapshotTelemetry(d)
    from tools.backends.base import Filter
    assert t.count("logs", Filter(text="bad bytes"))[0]["n"] == 1
    assert t.count("logs", Filter(text="stack xxx"))[0]["n"] == 1
    t.close()
    msgs = "\n".join(map(str, validate_snapshot(d).problems))
    assert "not valid UTF-8 (byte 0xff" in msgs
    res = run("investigate", d, "--no-transcript", "--quiet")
    assert res.exit_code == 0


def test_huge_log_line_is_bounded_in_tool_output(tmp_path):
    from tools.domain.evidence import EvidenceLedger
    from tools import TOOLS, ToolContext
    d = build(tmp_path / "inc")
    with open(d / "logs.jsonl", "a") as f:
        f.write(json.dumps({"time": ts(100), "service": "api", "level": "fatal", "message": "y" * 3_000_000}) + "\n")
    ctx = ToolContext(SnapshotTelemetry(d), EvidenceLedger())
    res = TOOLS["search_logs"](ctx, {"level": "fatal"})
    assert len(res.text) < 2000 and "yyy…" in res.text


def test_no_spans_snapshot_investigates_with_no_data_notes(tmp_path):
    d = build(tmp_path / "inc", spans=False)
    res = run("investigate", d, "--no-transcript", "--json", "--quiet")
    assert res.exit_code == 0
    out = json.loads(res.stdout)
    assert out["root_cause"]["service"] == "search"


def test_corrupt_parquet_is_a_clear_error(tmp_path):
    d = build(tmp_path / "inc")
    (d / "spans.jsonl").unlink()
    (d / "spans.parquet").write_bytes(b"PAR1 this is not parquet")
    res = run("investigate", d, "--no-transcript")
    assert res.exit_code == 2 and "spans.parquet: cannot be read" in res.output
    res = run("snapshot", "validate", d)
    assert res.exit_code == 1 and "not a readable Parquet file" in res.output


def test_incident_dir_is_a_file(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    res = run("snapshot", "validate", f)
    assert res.exit_code == 1 and "not a directory" in res.output


def _answer(d):
    res = run("investigate", d, "--no-transcript", "--json", "--quiet")
    assert res.exit_code == 0, res.output
    rc = json.loads(res.stdout)["root_cause"]
    return rc and (rc["service"], rc["kind"])


def test_times_without_a_zone_are_utc(tmp_path):
    import yaml
    d = build(tmp_path / "inc")
    inc = yaml.safe_load((d / "incident.yaml").read_text())
    inc["window"] = {"start": ts(0).rstrip("Z"), "end": ts(120)}          # one naive, one aware
    inc["alert"]["at"] = ts(90).rstrip("Z")
    (d / "incident.yaml").write_text(yaml.safe_dump(inc))
    assert validate_snapshot(d).usable
    assert _answer(d) == ("search", "failed_scale_up")
    assert run("timeline", d, "--out", tmp_path / "t.png").exit_code == 0


@pytest.mark.parametrize("body, says", [
    ("id: x\nwindow: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
    ("a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b]\n"
     "d: &d [*c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d]\n"
     "id: x\nwindow: {start: 2026-03-06T11:00:00Z, end: 2026-03-06T13:00:00Z}\nalert: {labels: {boom: *e}}\n",
     "a label value is a string"),
])
def test_hostile_incident_yaml_is_refused_quickly(tmp_path, body, says):
    d = build(tmp_path / "inc")
    (d / "incident.yaml").write_text(body)
    res = run("investigate", d, "--no-transcript")
    assert res.exit_code == 2 and says in res.output


def test_incident_yaml_that_is_not_a_file(tmp_path):
    import os
    d = build(tmp_path / "inc")
    (d / "incident.yaml").unlink()
    os.mkfifo(d / "incident.yaml")                                     # reading a pipe would hang forever
    res = run("investigate", d, "--no-transcript")
    assert res.exit_code == 2 and "not a regular file" in res.output


def test_two_files_or_a_directory_for_one_source_are_errors_not_silence(tmp_path):
    d = build(tmp_path / "inc")
    (d / "logs.jsonl.gz").write_bytes(gzip.compress((d / "logs.jsonl").read_bytes()))
    res = run("investigate", d, "--no-transcript")
    assert res.exit_code == 2 and "counted twice" in res.output
    assert not validate_snapshot(d).usable
    (d / "logs.jsonl.gz").unlink()
    (d / "logs.jsonl").unlink()
    (d / "logs.jsonl").mkdir()
    res = run("investigate", d, "--no-transcript")
    assert res.exit_code == 2 and "not a readable regular file" in res.output


def test_status_values_in_any_case_and_absurd_metric_values(tmp_path):
    d = build(tmp_path / "inc")
    for name, old, new in (("scaling.jsonl", '"failed"', '"Failed"'), ("spans.jsonl", '"error"', '"ERROR"'),
                           ("spans.jsonl", '"client"', '"CLIENT"')):
        (d / name).write_text((d / name).read_text().replace(old, new))
    with open(d / "metrics.jsonl", "a") as f:
        for _ in range(2):
            f.write(json.dumps({"time": ts(10), "service": "search", "name": "error_rate", "value": 1e308}) + "\n")
        f.write('{"time": "%s", "service": "search", "name": "error_rate", "value": NaN}\n' % ts(11))
    assert _answer(d) == ("search", "failed_scale_up")
    t = SnapshotTelemetry(d)
    assert t.coverage("metrics").skipped_lines >= 2
    t.close()


def test_validate_survives_deep_nesting_and_endless_lines(tmp_path, monkeypatch):
    import tools.backends.validate as validate
    monkeypatch.setattr(validate, "MAX_RECORD_BYTES", 10_000)
    d = build(tmp_path / "inc")
    with open(d / "logs.jsonl", "a") as f:
        f.write("[" * 4000 + "]" * 4000 + "\n")
        f.write(json.dumps({"time": ts(5), "service": "api", "message": "x" * 50_000}) + "\n")
    msgs = [str(p) for p in validate.validate_snapshot(d).problems]
    assert any("nested too deeply" in m for m in msgs) and any("record over" in m for m in msgs)


# Telemetry is untrusted: what it says is shown, never obeyed (by the terminal, Markdown or HTML).
HOSTILE = ("\x1b[2J\x1b]0;pwned\x07\x1b]8;;http://evil.example/osc\x1b\\click\x1b]8;;\x1b\\ "
           "[mdlink](http://evil.example/phish) **x** <b>html</b> :x: [/x]")
LITERAL = "[mdlink](http://evil.example/phish) **x** <b>html</b> :x: [/x]"


def hostile(root):
    import yaml
    from factory import _rewrite, incident_yaml
    d = build(root)
    _rewrite(d / "scaling.jsonl", lambda r: {**r, "message": HOSTILE + " " + r["message"]})
    _rewrite(d / "spans.jsonl", lambda s: {**s, "attributes": {**s["attributes"], "exception.message": HOSTILE}}
             if (s.get("attributes") or {}).get("exception.message") else s)
    inc = incident_yaml()
    inc["alert"]["summary"] = HOSTILE + " api 5xx above 2%"
    (d / "incident.yaml").write_text(yaml.safe_dump(inc))
    return d


def test_escape_codes_and_markdown_in_telemetry_are_shown_as_text(tmp_path):
    d = hostile(tmp_path / "inc")
    res = runner.invoke(app, ["investigate", str(d), "--no-transcript", "--html", str(tmp_path / "r.html")],
                        env={"COLUMNS": "400"})
    assert res.exit_code == 0, res.output
    assert not any(c in res.stdout for c in "\x1b\x07") and "evil.example/osc" not in res.stdout
    assert "click " + LITERAL in res.stdout and "❌" not in res.stdout     # the link, bold and tag as written
    page = (tmp_path / "r.html").read_text()
    assert "<a " not in page and "<b>html" not in page and "\x1b" not in page
    assert "[mdlink](http://evil.example/phish) **x** &lt;b&gt;html&lt;/b&gt;" in page
    res = runner.invoke(app, ["investigate", str(d), "--no-transcript", "--json", "--quiet"])
    out = json.loads(res.stdout)                                           # --json keeps the data as it was
    assert HOSTILE in out["evidence"][0]["summary"] and any(HOSTILE in e["summary"] for e in out["evidence"][1:])


def test_escape_codes_and_markup_in_progress_lines_are_shown_as_text():
    import io
    from types import SimpleNamespace
    from rich.console import Console
    from agent.loop import ModelText, ReportRejected, RunFinished, StopReason, ToolFinished, ToolStarted
    from agent.progress import LiveProgress
    buf = io.StringIO()
    progress = LiveProgress(Console(file=buf, force_terminal=True, highlight=False, width=300))
    call = SimpleNamespace(name="scaling_events", arguments={"service": "search"})
    progress(ToolStarted(call))
    progress(ToolFinished(call, HOSTILE, ["E1"], False, 0.01))
    progress(ModelText(HOSTILE))
    progress(ReportRejected([HOSTILE], 1))
    progress(RunFinished(StopReason.REPORT_REJECTED, None))
    out = buf.getvalue()
    assert "\x1b[2J" not in out and "\x1b]" not in out and "\x07" not in out and "❌" not in out
    assert out.count(":x: [/x]") == 3


def test_escape_codes_in_file_names_are_shown_as_text(tmp_path):
    d = build(tmp_path / "inc")
    (d / "notes\x1b]0;pwned\x07:x:[bold].txt").write_text("")
    res = run("snapshot", "validate", d)
    assert res.exit_code == 0 and "notes:x:[bold].txt: warning: not part of the snapshot format" in res.output
    assert "\x1b" not in res.output and "\x07" not in res.output


def test_markup_in_a_path_is_printed_not_parsed(tmp_path):
    res = run("timeline", tmp_path / "nodir[bold][/x]")
    assert res.exit_code == 2 and "nodir[bold][/x]: no such incident snapshot directory" in res.output


def test_an_unexpected_error_is_one_line_whatever_its_message(capsys, monkeypatch):
    import agent.cli

    def boom():
        raise RuntimeError("bad [/x] :x: \x1b[2J")
    monkeypatch.setattr(agent.cli, "app", boom)
    with pytest.raises(SystemExit) as e:
        agent.cli.main()
    err = capsys.readouterr().err
    assert e.value.code == 1 and "error: RuntimeError: bad [/x] :x:" in err and "\x1b" not in err


def test_config_and_import_mistakes_name_the_file_and_the_key(tmp_path, monkeypatch):
    bad = tmp_path / "live.toml"
    bad.write_text('[sources.logs]\nurl = "http://loki:3100"\n')
    res = run("investigate", "--config", bad, "--service", "api", "--at", "2026-03-06T11:30:00")
    assert res.exit_code == 2 and "sources.logs.backend: Field required" in res.output
    monkeypatch.setenv("FIVEWHYS_CONFIG", str(tmp_path / "typo.toml"))
    res = run("investigate", build(tmp_path / "inc"), "-m", "heuristic", "--no-transcript")
    assert res.exit_code == 2 and "FIVEWHYS_CONFIG" in res.output and "no such file" in res.output
    monkeypatch.delenv("FIVEWHYS_CONFIG")
    (tmp_path / "otlp.json").write_text("[1, 2]")
    res = run("snapshot", "import", "--otlp", tmp_path / "otlp.json", "--out", tmp_path / "snap")
    assert res.exit_code == 2 and "otlp.json: not an OTLP JSON trace export" in res.output
    (tmp_path / "a-file").write_text("")
    res = run("simulate", "--kind", "disk_full", "--out", tmp_path / "a-file")
    assert res.exit_code == 2 and "is not a directory" in res.output


def test_validate_warns_when_the_page_is_outside_the_window(tmp_path):
    import yaml
    d = build(tmp_path / "inc")
    inc = yaml.safe_load((d / "incident.yaml").read_text())
    inc["alert"]["at"] = ts(60 * 24)
    (d / "incident.yaml").write_text(yaml.safe_dump(inc))
    rep = validate_snapshot(d)
    assert rep.usable and any("alert.at is outside the window" in str(p) for p in rep.problems)


def test_bidi_overrides_and_zero_width_characters_do_not_reach_the_terminal():
    from agent.termtext import plain
    shown = plain("deploy ok\u202e reggubed\u2066 x\u200by\ufeff")
    assert shown == "deploy ok reggubed xy"
    assert plain("naïve café — 東京 ✓\tok\n") == "naïve café — 東京 ✓\tok\n"


def corrupt_at(path, offset):
    b = bytearray(path.read_bytes())
    b[offset] ^= 0x55
    path.write_bytes(bytes(b))


@pytest.mark.parametrize("offset,usable", [(40, False), (2000, True)])
def test_a_corrupt_gzip_stream_is_judged_alike_by_validate_and_investigate(tmp_path, offset, usable):
    """Corrupt from the start (zlib error: nothing readable) or in the middle (garbage, then a CRC error at the
    end): validate and investigate agree (issue 16, also seen: CRC errors passed validate and made investigate
    exit 2; a deflate error was a catch-all "error: error: Error -3")."""
    d = build(tmp_path / "inc", gz=True)
    corrupt_at(d / "logs.jsonl.gz", offset)
    val = run("snapshot", "validate", d)
    inv = run("investigate", d, "--quiet", "--no-transcript")
    assert val.exit_code == (0 if usable else 1), val.output
    if usable:
        assert inv.exit_code == 0 and "ends early" in run("investigate", d, "--no-transcript").stderr
    else:
        assert inv.exit_code == 2 and "no usable logs record" in inv.stderr and "error: error" not in inv.stderr


def test_a_source_with_no_usable_record_is_refused_by_both(tmp_path):
    """validate calls it NOT usable; investigate read it as a source where nothing happened, and answered."""
    d = build(tmp_path / "inc")
    (d / "spans.jsonl").write_text('{"time": "yesterday", "service": 7}\n{"broken\n')
    assert run("snapshot", "validate", d).exit_code == 1
    res = run("investigate", d, "--quiet", "--no-transcript")
    assert res.exit_code == 2 and "spans.jsonl: no usable spans record (2 malformed" in res.stderr


def test_an_empty_parquet_file_is_no_data_for_both(tmp_path):
    import duckdb
    d = build(tmp_path / "inc")
    (d / "registry.jsonl").unlink(missing_ok=True)
    duckdb.sql(f"COPY (SELECT TIMESTAMPTZ '2026-03-06 16:00:00+00' AS time, 'a' AS service, 'a-1' AS instance, "
               f"'register' AS event WHERE false) TO '{d / 'registry.parquet'}' (FORMAT parquet)")
    val = run("snapshot", "validate", d)
    assert val.exit_code == 0 and "empty: no registry records" in val.output
    assert run("investigate", d, "--quiet", "--no-transcript").exit_code == 0


def test_a_byte_order_mark_is_read_past_by_both(tmp_path):
    """DuckDB reads past a BOM; validate's json.loads refused the first record, and called a one-record source
    NOT usable that investigate answered from (found by benchmarks/fuzz_snapshots.py)."""
    d = build(tmp_path / "inc")
    f = d / "deployments.jsonl"
    f.write_bytes(b"\xef\xbb\xbf" + f.read_bytes())
    val = run("snapshot", "validate", d)
    assert val.exit_code == 0 and "deployments.jsonl:1" not in val.output


def test_a_gzip_stream_cut_short_keeps_the_same_records_in_both(tmp_path):
    """The loader's streamed copy read 64 KiB at a time and lost the whole piece a break fell in; validate kept
    the lines before it: one reader now (tools/backends/caps.open_decompressed)."""
    from tools.backends.base import Filter
    d = build(tmp_path / "inc", gz=True)
    raw = (d / "logs.jsonl.gz").read_bytes()
    (d / "logs.jsonl.gz").write_bytes(raw[:len(raw) - 30])
    rep = validate_snapshot(d)
    t = SnapshotTelemetry(d)
    try:
        assert rep.records["logs"] == t.coverage("logs").rows > 1000
        assert t.count("logs", Filter())[0]["n"] == rep.records["logs"]
    finally:
        t.close()


def test_an_empty_gzip_stream_with_a_broken_trailer_is_refused_by_both(tmp_path):
    """20 bytes: gzip of nothing, its length check spoiled. DuckDB does not check a trailer, so investigate read
    it as an empty source while validate called the snapshot NOT usable (found by the fuzz campaign)."""
    d = build(tmp_path / "inc")
    (d / "scaling.jsonl").unlink()
    raw = bytearray(gzip.compress(b""))
    raw[-1] ^= 0xFF
    (d / "scaling.jsonl.gz").write_bytes(bytes(raw))
    assert run("snapshot", "validate", d).exit_code == 1
    res = run("investigate", d, "--quiet", "--no-transcript")
    assert res.exit_code == 2 and "no usable scaling record" in res.stderr


def test_validate_does_not_wait_on_an_incident_yaml_that_is_a_pipe(tmp_path):
    """The reader refused it, then validate read it again to find the lines of its problems, and waited for a
    writer for ever (found by the fuzz campaign: a hang, mutation 105 of seed 1)."""
    import os
    import subprocess
    import sys
    d = build(tmp_path / "inc")
    (d / "incident.yaml").unlink()
    os.mkfifo(d / "incident.yaml")
    res = subprocess.run([sys.executable, "-m", "agent", "snapshot", "validate", str(d)], capture_output=True,
                         text=True, timeout=300)
    assert res.returncode == 1 and "not a regular file" in res.stdout + res.stderr


def test_a_spoilt_gzip_trailer_and_a_lone_byte_order_mark_are_judged_alike(tmp_path):
    """A small .gz whose CRC is wrong: the piece zlib failed in held the last records, so validate kept none while
    investigate (DuckDB checks no trailer) read them all; a file holding only a BOM was a bad record to validate and
    an empty file to investigate (both found by the fuzz campaign, mutations 347 and 367 of seed 1)."""
    d = build(tmp_path / "inc")
    (d / "deployments.jsonl").unlink()
    raw = bytearray(gzip.compress(b'{"time": "2026-03-06T10:05:00Z", "service": "index", "kind": "deploy"}\n' * 2))
    raw[-6] ^= 0xFF                                                  # the CRC
    (d / "deployments.jsonl.gz").write_bytes(bytes(raw))
    (d / "scaling.jsonl").write_bytes(b"\xef\xbb\xbf")
    rep = validate_snapshot(d)
    assert rep.usable and rep.records["deployments"] == 2, [str(p) for p in rep.problems]
    assert run("investigate", d, "--quiet", "--no-transcript").exit_code == 0


def test_a_date_without_a_time_is_read_alike(tmp_path):
    """DuckDB reads "2026-03-06" as midnight; validate called it no time, and a certificates file of such dates
    NOT usable while investigate answered (found by the fuzz campaign, mutation 450 of seed 1)."""
    d = build(tmp_path / "inc")
    f = d / "certificates.jsonl"
    f.write_text("".join(json.dumps({**json.loads(line), "not_after": "2026-03-06"}) + "\n"
                         for line in f.read_text().splitlines() if line.strip()))
    rep = validate_snapshot(d)
    t = SnapshotTelemetry(d)
    try:
        assert rep.usable and rep.records["certificates"] == t.coverage("certificates").rows > 0
    finally:
        t.close()


@pytest.mark.parametrize("start", ["0001-01-01T00:00:00Z", "1900-01-01T00:00:00Z"])
def test_a_window_from_year_one_is_refused_by_both_not_a_crash(tmp_path, start):
    """A window starting in year 1 made the heuristic's date arithmetic overflow: a traceback (found by the
    fuzz campaign, mutation 674 of seed 1)."""
    import yaml
    d = build(tmp_path / "inc")
    doc = yaml.safe_load((d / "incident.yaml").read_text())
    doc["window"]["start"] = start
    (d / "incident.yaml").write_text(yaml.safe_dump(doc))
    val = run("snapshot", "validate", d)
    assert val.exit_code == 1 and "not a plausible incident time" in val.output
    res = run("investigate", d, "--quiet", "--no-transcript")
    assert res.exit_code == 2 and "not a plausible incident time" in res.stderr


def test_an_empty_required_field_is_missing_for_both(tmp_path):
    """validate skipped a record whose service is "", DuckDB kept it: a source NOT usable to one was read by the
    other (found by the fuzz campaign, mutation 705 of seed 1)."""
    d = build(tmp_path / "inc")
    f = d / "deployments.jsonl"
    f.write_text("".join(json.dumps({**json.loads(line), "service": ""}) + "\n"
                         for line in f.read_text().splitlines() if line.strip()))
    assert run("snapshot", "validate", d).exit_code == 1
    res = run("investigate", d, "--quiet", "--no-transcript")
    assert res.exit_code == 2 and "no usable deployments record" in res.stderr
