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
