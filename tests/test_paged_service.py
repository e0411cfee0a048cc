"""A page about a service with no telemetry, and a snapshot with no telemetry at all (issue 14, item 3, the
CLI's side): a warning naming the known services, closest first, before the investigation; no telemetry ends
at once, for every model."""
import json

import pytest
import yaml
from typer.testing import CliRunner

from agent.cli import app
from agent.session import open_investigation
from factory import build
from tools.domain.errors import TelemetryError

runner = CliRunner()


def _paged(d, service):
    doc = yaml.safe_load((d / "incident.yaml").read_text())
    doc["alert"]["service"] = service
    (d / "incident.yaml").write_text(yaml.safe_dump(doc))
    return d


def test_a_typo_in_the_paged_service_is_warned_about_before_the_investigation(tmp_path):
    d = _paged(build(tmp_path / "inc"), "serach")
    res = runner.invoke(app, ["investigate", str(d), "--no-transcript"])
    assert res.exit_code == 0, res.output
    warning = next(line for line in res.stderr.splitlines() if "serach" in line)
    assert "no telemetry" in warning and "closest first: search, " in warning
    assert res.stderr.index("serach") < res.stderr.index("→ describe_incident")


def test_the_warning_is_on_stderr_with_json_and_quiet(tmp_path):
    d = _paged(build(tmp_path / "inc"), "nosuchservice")
    res = runner.invoke(app, ["investigate", str(d), "--json", "--quiet", "--no-transcript"])
    assert res.exit_code == 0
    json.loads(res.stdout)                                  # stdout is the report alone
    assert "'nosuchservice' has no telemetry" in res.stderr
    for name in ("api", "index", "search", "token"):
        assert name in res.stderr


def test_a_typo_in_service_with_live_backends(tmp_path):
    src = build(tmp_path / "src")
    cfg = tmp_path / "fivewhys.toml"
    cfg.write_text("".join(f'[sources.{s}]\nbackend = "snapshot"\npath = {json.dumps(str(src))}\n'
                           for s in ("logs", "metrics", "spans")))
    res = runner.invoke(app, ["investigate", "--config", str(cfg), "--service", "serach",
                              "--at", "2026-03-06T11:30:00", "--quiet", "--no-transcript"])
    assert "'serach' has no telemetry" in res.stderr and "closest first: search" in res.stderr, res.output


def test_no_warning_when_the_paged_service_has_telemetry(tmp_path):
    res = runner.invoke(app, ["investigate", str(build(tmp_path / "inc")), "--quiet", "--no-transcript"])
    assert res.exit_code == 0 and "warning" not in res.stderr


def test_a_snapshot_with_no_telemetry_ends_at_once(tmp_path):
    d = tmp_path / "inc"
    build(d)
    for f in d.iterdir():
        if f.name != "incident.yaml":
            f.unlink()
    res = runner.invoke(app, ["investigate", str(d), "--json"])
    assert res.exit_code == 2 and res.stdout == ""
    assert "no telemetry to investigate" in res.stderr and "only the page" in res.stderr
    assert not list((tmp_path / "state").rglob("*.jsonl"))           # no run was opened, so no transcript


def test_no_telemetry_is_refused_for_every_model_before_it_loads(tmp_path):
    d = tmp_path / "inc"
    d.mkdir()
    (build(tmp_path / "src") / "incident.yaml").rename(d / "incident.yaml")
    for model in ("heuristic", "openai:gpt-5.1"):             # no key: loading it would fail first
        with pytest.raises(TelemetryError, match="no telemetry"):
            with open_investigation(d, model):
                pass


def test_telemetry_files_without_a_usable_record_are_no_telemetry(tmp_path):
    d = tmp_path / "inc"
    build(d)
    for f in d.iterdir():
        if f.name != "incident.yaml":
            f.write_text('{"broken": \n')
    res = runner.invoke(app, ["investigate", str(d), "--quiet"])
    assert res.exit_code == 2 and "no usable" in res.stderr and "snapshot validate" in res.stderr


def test_timeline_root_service_must_have_telemetry(tmp_path):
    d = build(tmp_path / "inc")
    res = runner.invoke(app, ["timeline", str(d), "--root-service", "serach", "--out", str(tmp_path / "t.png")])
    assert res.exit_code == 2 and "'serach'" in res.output and "closest first: search" in res.output
    assert not (tmp_path / "t.png").exists()
