"""Secrets in telemetry leave by no exit (issue 16, item 13): not the terminal, `--json`, `--html`, Slack
(the report's blocks, its fallback text, the uploaded Markdown, "Show evidence"), eval results, transcripts
or saved chats; and state files are private (0600 in 0700 directories)."""
import gzip
import json
import shutil
import stat

import pytest
from typer.testing import CliRunner

from agent.cli import app

runner = CliRunner()
SECRETS = ["N3wDbPassw0rd", "0ldDbPassw0rd", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "AKIAOLDSECRETKEY12",
           "hunter2hunter2"]


def rewrite(path, change):
    with gzip.open(path, "rt") as f:
        records = [json.loads(line) for line in f if line.strip()]
    with gzip.open(path, "wt") as f:
        f.writelines(json.dumps(change(r)) + "\n" for r in records)


@pytest.fixture
def secret_dir(tmp_path, demo_dir):
    """The demo incident whose config change carries a database URL and an AWS secret key in its diff, and whose
    failed scale-ups (the root cause, quoted in the report) carry a password."""
    d = tmp_path / "inc"
    shutil.copytree(demo_dir, d)

    def deploy(r):
        if r["service"] == "catalog":
            r["changes"]["env.DATABASE_URL"] = {"from": "postgres://app:0ldDbPassw0rd@db:5432/catalog",
                                                "to": "postgres://app:N3wDbPassw0rd@db:5432/catalog"}
            r["changes"]["env.AWS_SECRET_ACCESS_KEY"] = {"from": "AKIAOLDSECRETKEY12",
                                                         "to": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}
        return r

    def scaling(r):
        if r["status"] == "failed":
            r["message"] = "node pool login password=hunter2hunter2 rejected; " + r["message"]
        return r
    rewrite(d / "deployments.jsonl.gz", deploy)
    rewrite(d / "scaling.jsonl.gz", scaling)
    return d


def leaked(text: str) -> list[str]:
    return [s for s in SECRETS if s in text]


def test_the_report_holds_the_secrets_in_the_first_place(secret_dir):
    """The test would prove nothing if the report did not quote the diff and the message."""
    from agent.session import open_investigation
    with open_investigation(secret_dir, "heuristic") as inv:
        res = inv.run()
    raw = res.report.model_dump_json() + "".join(e.model_dump_json() for e in res.ledger.items)
    assert set(leaked(raw)) == set(SECRETS)


def test_no_secret_on_the_terminal_in_json_html_or_the_transcript(secret_dir, tmp_path):
    tr, page = tmp_path / "state" / "t" / "run.jsonl", tmp_path / "r.html"
    term = runner.invoke(app, ["investigate", str(secret_dir), "--transcript", str(tr), "--html", str(page)])
    assert term.exit_code == 0, term.output
    assert "Root cause" in term.output and "[REDACTED" in term.output
    js = runner.invoke(app, ["investigate", str(secret_dir), "--json", "--no-transcript"])
    doc = json.loads(js.stdout)
    assert doc["root_cause"]["service"] == "search"
    for out in (term.output, js.output, page.read_text(), tr.read_text()):
        assert leaked(out) == []
    assert "[REDACTED" in page.read_text() and "[REDACTED" in tr.read_text()
    assert stat.S_IMODE(tr.stat().st_mode) == 0o600 and stat.S_IMODE(tr.parent.stat().st_mode) == 0o700


def test_no_secret_reaches_slack(secret_dir):
    from agent.render import report_markdown
    from agent.session import open_investigation
    from agent.slack.blocks import evidence_text, mrkdwn_escape, report_blocks
    with open_investigation(secret_dir, "heuristic") as inv:
        res = inv.run()
    full = report_markdown(res.report, res.ledger)         # the uploaded .md, and the fallback text's source
    shown = [json.dumps(report_blocks(res.report, res.ledger, "k")), evidence_text(res.ledger, limit=200), full,
             mrkdwn_escape(res.report.model_dump_json())]
    for text in shown:
        assert leaked(text) == [], text[:2000]


def test_no_secret_in_eval_results(secret_dir, tmp_path):
    from agent.config import Budgets
    from evals.harness import run_eval
    out = tmp_path / "eval-out"
    results = run_eval([secret_dir], ["heuristic"], budgets=Budgets(), out_dir=out)
    assert leaked(json.dumps(results, default=str)) == []
    files = [p for p in out.rglob("*") if p.is_file()]
    assert files and all(leaked(p.read_text()) == [] for p in files)
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files)
    assert stat.S_IMODE((out / "cache").stat().st_mode) == 0o700


def test_state_files_are_private_and_an_old_state_dir_is_tightened(tmp_path, monkeypatch):
    from agent.state import open_private, private_dir, state_dir
    monkeypatch.setenv("FIVEWHYS_STATE_DIR", str(tmp_path / "state"))
    state_dir().mkdir(mode=0o755)
    (state_dir() / "transcripts").mkdir(mode=0o755)
    old = state_dir() / "transcripts" / "old.jsonl"
    old.write_text("{}\n")
    old.chmod(0o644)
    with open_private(old) as f:                  # appending (feedback on a report) makes it private too
        f.write("{}\n")
    assert stat.S_IMODE(old.stat().st_mode) == 0o600
    for d in (state_dir(), state_dir() / "transcripts"):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700
    mine = tmp_path / "mine"
    mine.mkdir(mode=0o755)
    private_dir(mine / "a" / "b")                 # a folder the user chose keeps its mode; what we made is private
    assert stat.S_IMODE(mine.stat().st_mode) == 0o755
    assert stat.S_IMODE((mine / "a").stat().st_mode) == 0o700


def test_values_under_a_credential_key_are_secrets_whatever_they_look_like():
    from tools.domain.redact import outgoing_value
    doc = {"changes": {"db.password": {"from": "a", "to": "bb"}, "DB_PASSWORD": 1234, "pool.size": {"from": 1, "to": 2},
                       "token": "timeout", "max_tokens": 5, "secret": "[REDACTED]"},
           "message": "ok \x1b[2J\x07done"}
    assert outgoing_value(doc) == {
        "changes": {"db.password": {"from": "[REDACTED:key_value_secret]", "to": "[REDACTED:key_value_secret]"},
                    "DB_PASSWORD": "[REDACTED:key_value_secret]", "pool.size": {"from": 1, "to": 2},
                    "token": "timeout", "max_tokens": 5, "secret": "[REDACTED]"},
        "message": "ok \x1b[2J\x07done"}              # JSON escapes it: data, not a command


def writes_of(source: str) -> list[str]:
    """The calls in `source` that create or write a file or directory by themselves (not through agent.state)."""
    import ast
    import re
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = ast.unparse(node.func)
        modes = [a.value for a in [*node.args, *(k.value for k in node.keywords if k.arg == "mode")]
                 if isinstance(a, ast.Constant) and isinstance(a.value, str) and re.fullmatch(r"[rwxabt+]+", a.value)]
        opened_to_write = name.split(".")[-1] == "open" and any(set(m) & set("wax+") for m in modes)
        path_writes = "." in name and name.split(".")[-1] in ("write_text", "write_bytes", "mkdir", "touch")
        if opened_to_write or path_writes or name in ("os.open", "os.makedirs", "os.mkdir"):
            found.append(f"line {node.lineno}: {name}")
    return found


def test_the_slack_bot_writes_files_only_through_agent_state():
    """Everything the bot keeps on disk (the journal, transcripts, votes) is state: written by agent/state.py's
    helpers, 0600 in 0700 directories. The check sees a plain write (the journal's, before it was fixed)."""
    from pathlib import Path
    assert writes_of('open(j, "a", encoding="utf-8")\ntmp.write_text(s)\np.parent.mkdir(parents=True)\n') == [
        "line 1: open", "line 2: tmp.write_text", "line 3: p.parent.mkdir"]
    assert writes_of('path.open("w")\ngzip.open(p, mode="at")\n') == ["line 1: path.open", "line 2: gzip.open"]
    assert writes_of('open(p, encoding="utf-8")\nopen(p, "rb")\npath.open()\n') == []
    slack = Path(__file__).resolve().parent.parent / "agent" / "slack"
    plain = {p.name: w for p in sorted(slack.glob("*.py")) if (w := writes_of(p.read_text()))}
    assert plain == {}
