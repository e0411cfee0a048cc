"""`snapshot validate` lists every problem of incident.yaml, each with its line (issue 14, item 8); a snapshot
with no telemetry is not usable, as investigate refuses it."""
from typer.testing import CliRunner

from agent.cli import app
from factory import build
from tools.backends.validate import validate_snapshot

runner = CliRunner()


def _with_incident(tmp_path, text: str):
    d = build(tmp_path / "inc")
    (d / "incident.yaml").write_text(text)
    return d


def test_every_field_problem_with_its_line(tmp_path):
    d = _with_incident(tmp_path, "id: x\ntitle: t\nwindow:\n  start: 2026-03-06T10:00:00Z\n  end: nope\n"
                                 "alert:\n  at: later\n  service: search\n  summary: [3]\n")
    found = {(p.line, p.message.split(":")[0]) for p in validate_snapshot(d).problems if p.fatal}
    assert found == {(5, "window.end"), (7, "alert.at"), (9, "alert.summary")}
    res = runner.invoke(app, ["snapshot", "validate", str(d)])
    assert res.exit_code == 1 and "incident.yaml:5: error: window.end" in res.output
    assert "incident.yaml:7: error: alert.at" in res.output


def test_a_yaml_error_has_its_line(tmp_path):
    d = _with_incident(tmp_path, "id: x\ntitle: t\nwindow: [\n")
    (p,) = [p for p in validate_snapshot(d).problems if p.fatal]
    assert p.line == 4 and "not valid YAML" in p.message and not p.message.startswith(str(d))


def test_missing_fields_and_a_backwards_window(tmp_path):
    d = _with_incident(tmp_path, "title: t\n")
    assert {p.message for p in validate_snapshot(d).problems} == {"id: Field required", "window: Field required"}
    d = _with_incident(tmp_path / "b", "id: x\nwindow:\n  start: 2026-03-06T12:00:00Z\n  end: 2026-03-06T10:00:00Z\n")
    (p,) = [p for p in validate_snapshot(d).problems if p.fatal]
    assert (p.line, p.message) == (3, "window.start must be before window.end")


def test_the_page_outside_the_window_has_its_line(tmp_path):
    d = _with_incident(tmp_path, "id: x\nwindow:\n  start: 2026-03-06T10:00:00Z\n  end: 2026-03-06T12:00:00Z\n"
                                 "alert:\n  at: 2026-03-07T10:00:00Z\n  service: api\n")
    rep = validate_snapshot(d)
    assert rep.usable and [p.line for p in rep.problems if "alert.at is outside" in p.message] == [6]


def test_no_telemetry_is_not_usable(tmp_path):
    d = build(tmp_path / "inc")
    for f in d.iterdir():
        if f.name != "incident.yaml":
            f.unlink()
    rep = validate_snapshot(d)
    assert not rep.usable and any("no telemetry" in p.message for p in rep.problems)
