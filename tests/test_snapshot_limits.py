"""Hostile snapshots: duplicated keys, links out of the snapshot, bombs and giant fields. investigate and
validate read each the same way and say what they refused, in one line, never with a traceback."""
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
    assert "Traceback" not in res.output and (res.exception is None or isinstance(res.exception, SystemExit)), \
        res.output
    return res


INCIDENT = """id: mini
window:
  start: {start}
  end: {end}
alert:
  at: {at}
  service: api
window:
  start: {start}
  end: {at}
"""


def test_a_key_twice_in_incident_yaml_is_refused_with_its_line(tmp_path):
    d = build(tmp_path / "inc")
    (d / "incident.yaml").write_text(INCIDENT.format(start=ts(0), end=ts(120), at=ts(90)))
    res = run("investigate", d, "--no-transcript")
    assert res.exit_code == 2 and "incident.yaml:8: duplicate key 'window' (first on line 2)" in res.output
    rep = validate_snapshot(d)
    assert not rep.usable and any("duplicate key 'window'" in str(p) for p in rep.problems)


def test_duplicates_are_looked_for_in_nested_mappings_and_merges_are_not_duplicates(tmp_path):
    d = build(tmp_path / "inc")
    (d / "incident.yaml").write_text(f"id: mini\nwindow: {{start: {ts(0)}, end: {ts(120)}}}\n"
                                     f"alert: {{service: api, labels: {{team: a, team: b}}}}\n")
    res = run("investigate", d, "--no-transcript")
    assert res.exit_code == 2 and "incident.yaml:3: duplicate key 'team'" in res.output
    (d / "incident.yaml").write_text(f"defaults: &w {{start: {ts(0)}, end: {ts(60)}}}\nid: mini\n"
                                     f"window:\n  <<: *w\n  end: {ts(120)}\nalert: {{service: api, at: {ts(90)}}}\n")
    assert validate_snapshot(d).usable                  # an override after a merge key is what merges are for


def test_a_telemetry_file_linked_from_outside_the_snapshot_is_refused(tmp_path):
    d = build(tmp_path / "inc")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (d / "logs.jsonl").rename(outside / "secrets.jsonl")
    (d / "logs.jsonl").symlink_to(outside / "secrets.jsonl")
    res = run("investigate", d, "--no-transcript")
    assert res.exit_code == 2 and "logs.jsonl: a link to" in res.output and "outside the snapshot" in res.output
    rep = validate_snapshot(d)
    assert not rep.usable and any("outside the snapshot" in str(p) and p.fatal for p in rep.problems)
    (d / "logs.jsonl").unlink()                        # a link that stays inside the snapshot is fine
    (d / "data").mkdir()
    (outside / "secrets.jsonl").rename(d / "data" / "logs-0306.jsonl")
    (d / "logs.jsonl").symlink_to("data/logs-0306.jsonl")
    assert validate_snapshot(d).usable
    t = SnapshotTelemetry(d)
    assert t.coverage("logs").rows > 1000
    t.close()


def test_a_snapshot_reached_through_a_link_reads_its_own_files(tmp_path):
    d = build(tmp_path / "inc")
    (tmp_path / "latest").symlink_to(d)
    assert validate_snapshot(tmp_path / "latest").usable


def test_a_record_with_a_key_twice_is_read_the_same_way_by_investigate_and_validate(tmp_path):
    d = build(tmp_path / "inc")
    with open(d / "logs.jsonl", "a") as f:
        f.write(f'{{"time": "{ts(99)}", "service": "api", "message": "first", "time": "not a time"}}\n')
        f.write(f'{{"time": "{ts(100)}", "service": "api", "message": "first", "time": "not a time"}}\n')
        f.write(f'{{"time": "{ts(101)}", "service": null, "message": "x", "service": "api"}}\n')
        f.write(f'{{"time": "{ts(102)}", "service": "ghost", "message": "y", "service": "api", "level": "error"}}\n')
    t = SnapshotTelemetry(d)
    from tools.backends.base import Filter
    kept, ghosts = t.coverage("logs").rows, t.count("logs", Filter(services=("ghost",)))
    t.close()
    rep = validate_snapshot(d)
    assert rep.records["logs"] == kept and ghosts and ghosts[0]["n"] == 1     # the first value, in both
    msgs = "\n".join(map(str, rep.problems))
    n = sum(1 for _ in open(d / "logs.jsonl"))
    assert f"logs.jsonl:{n - 2}: warning: duplicate key 'time': the first value is read" in msgs
    assert f"logs.jsonl:{n - 1}: warning: missing required field 'service'" in msgs
