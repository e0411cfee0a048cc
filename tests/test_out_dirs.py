"""Commands that write a snapshot directory never delete a user's files (issue 14, item 1): a non-empty
--out is refused unless --force, and --force replaces only the snapshot's own files."""
import json

from typer.testing import CliRunner

from agent.cli import app
from factory import build

runner = CliRunner()


def _users_folder(path):
    path.mkdir()
    (path / "notes.txt").write_text("mine")
    (path / "sub").mkdir()
    (path / "sub" / "more.txt").write_text("mine too")
    return path


def test_simulate_refuses_a_folder_of_someone_elses_files(tmp_path):
    d = _users_folder(tmp_path / "work")
    res = runner.invoke(app, ["simulate", "--kind", "disk_full", "--out", str(d)])
    assert res.exit_code == 2
    assert "not empty" in res.output and "--force" in res.output
    assert (d / "notes.txt").read_text() == "mine" and (d / "sub" / "more.txt").exists()
    assert not (d / "incident.yaml").exists()


def test_simulate_refuses_an_existing_snapshot_and_force_keeps_other_files(tmp_path):
    d = build(tmp_path / "mine")                           # the user's own snapshot
    (d / "README.txt").write_text("how I captured this")
    before = (d / "incident.yaml").read_text()
    res = runner.invoke(app, ["simulate", "--kind", "disk_full", "--out", str(d)])
    assert res.exit_code == 2 and (d / "incident.yaml").read_text() == before
    res = runner.invoke(app, ["simulate", "--kind", "disk_full", "--out", str(d), "--force"])
    assert res.exit_code == 0, res.output
    assert (d / "README.txt").read_text() == "how I captured this"      # not a snapshot file: kept
    assert "disk_full" in (d / "truth.yaml").read_text()
    assert not (d / "logs.jsonl").exists()                 # the old snapshot's files are replaced, not mixed


def test_simulate_writes_into_a_new_or_empty_folder_and_the_current_one(tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    for out in (tmp_path / "new", tmp_path / "empty"):
        res = runner.invoke(app, ["simulate", "--kind", "disk_full", "--out", str(out)])
        assert res.exit_code == 0 and (out / "incident.yaml").exists(), res.output
    monkeypatch.chdir(_users_folder(tmp_path / "cwd"))
    res = runner.invoke(app, ["simulate", "--kind", "disk_full", "--out", "."])
    assert res.exit_code == 2 and (tmp_path / "cwd" / "notes.txt").exists()


def test_simulate_out_is_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    res = runner.invoke(app, ["simulate", "--kind", "disk_full", "--out", str(tmp_path / "f")])
    assert res.exit_code == 2 and "not a directory" in res.output and (tmp_path / "f").read_text() == "x"


def test_snapshot_import_refuses_a_non_empty_out(tmp_path):
    log = tmp_path / "checkout.log"
    log.write_text("2026-03-06T17:00:00Z ERROR boom\n")
    d = _users_folder(tmp_path / "out")
    res = runner.invoke(app, ["snapshot", "import", "--logs", str(log), "--out", str(d)])
    assert res.exit_code == 2 and "not empty" in res.output and not (d / "logs.jsonl.gz").exists()
    res = runner.invoke(app, ["snapshot", "import", "--logs", str(log), "--out", str(d), "--force"])
    assert res.exit_code == 0 and (d / "logs.jsonl.gz").exists() and (d / "notes.txt").exists()


def test_snapshot_capture_refuses_a_non_empty_out_before_any_query(tmp_path):
    src = build(tmp_path / "src")
    cfg = tmp_path / "f.toml"
    cfg.write_text(f'[sources.logs]\nbackend = "snapshot"\npath = {json.dumps(str(src))}\n')
    d = _users_folder(tmp_path / "out")
    args = ["snapshot", "capture", "--config", str(cfg), "--window", "2026-03-06T10:00Z/2026-03-06T12:00Z",
            "--alert-service", "search", "--out", str(d)]
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and "not empty" in res.output and (d / "notes.txt").exists()
    res = runner.invoke(app, [*args, "--force"])
    assert res.exit_code == 0, res.output
    assert (d / "incident.yaml").exists() and (d / "notes.txt").exists()
