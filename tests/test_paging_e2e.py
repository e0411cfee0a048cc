"""The real paging path: a Prometheus alerting rule → a real Alertmanager → `fivewhys serve --snapshot` (its own
process) → a stand-in Slack, all on loopback and started here. Prometheus and Alertmanager are Debian's
packages (`prometheus`, `prometheus-alertmanager`); without them the test skips, or fails when
FIVEWHYS_REQUIRE_SERVERS=1 (CI)."""
import json
import os
import re
import sys
import time
from pathlib import Path

import httpx
import pytest

from conftest import DEMO, REPO, free_ports, need_binary, server_process

TOKEN = "am-e2e-token"
DEADLINE_S = 120           # per step; a busy 2-core machine is slow, a broken path never gets there

RULES = """groups:
  - name: paging
    rules:
      - alert: SearchConnectionErrors
        expr: {expr}
        for: 0s
        labels: {{service: search, severity: page}}
        annotations: {{summary: "search cannot connect to token"}}
"""
FIRING, QUIET = "vector(1) > 0", "vector(1) < 0"      # the same rule, true then never true: a resolve

# group_wait/group_interval of 1 s: the page and the resolve go out within seconds, not Alertmanager's minutes
ALERTMANAGER = """route:
  receiver: fivewhys
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: fivewhys
    webhook_configs:
      - url: {url}/webhooks/alertmanager
        send_resolved: true
        http_config:
          authorization: {{type: Bearer, credentials: {token}}}
"""


def wait_until(what: str, cond, logs: Path) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not cond():
        if time.monotonic() > deadline:
            tails = {p.name: p.read_text()[-1500:] for p in sorted(logs.glob("*.log"))}
            pytest.fail(f"{what}: not within {DEADLINE_S} s\n" + "\n".join(f"--- {k}\n{v}" for k, v in tails.items()))
        time.sleep(0.25)


def webhook_notifications(am_url: str) -> tuple[int, int]:
    """(sent, failed) webhook notifications, from Alertmanager's own metrics: proof that it did send."""
    text = httpx.get(f"{am_url}/metrics", timeout=5).text
    sent = failed = 0
    for line in text.splitlines():
        m = re.match(r'alertmanager_notifications(_failed)?_total\{[^}]*integration="webhook"[^}]*\} (\S+)', line)
        if m:
            if m.group(1):
                failed += int(float(m.group(2)))
            else:
                sent += int(float(m.group(2)))
    return sent, failed


def test_a_real_alert_pages_once_survives_an_alertmanager_restart_and_resolves_in_its_thread(slack, tmp_path):
    prometheus, alertmanager = need_binary("prometheus"), need_binary("prometheus-alertmanager")
    serve_port, am_port, prom_port = free_ports(3)
    serve_url, am_url, prom_url = (f"http://127.0.0.1:{p}" for p in (serve_port, am_port, prom_port))
    (tmp_path / "fivewhys.toml").write_text('[slack.routes]\nsearch = "C-SEARCH"\n')
    (tmp_path / "rules.yml").write_text(RULES.format(expr=FIRING))
    (tmp_path / "prometheus.yml").write_text(
        "global: {evaluation_interval: 1s, scrape_interval: 1h}\nrule_files: [rules.yml]\n"
        f"alerting:\n  alertmanagers:\n    - static_configs: [{{targets: ['127.0.0.1:{am_port}']}}]\n")
    (tmp_path / "alertmanager.yml").write_text(ALERTMANAGER.format(url=serve_url, token=TOKEN))
    env = {**os.environ, "SLACK_BOT_TOKEN": "xoxb-e2e", "SLACK_API_URL": slack.url,
           "FIVEWHYS_ALERTMANAGER_TOKEN": TOKEN, "PYTHONPATH": str(REPO)}

    def start_alertmanager(run: int):
        # --cluster.listen-address= (empty) turns off gossip: no port 9094, no peers to wait for. A fresh
        # storage path on each run: no notification log survives, so the restart re-sends what it had sent.
        return server_process([alertmanager, f"--config.file={tmp_path / 'alertmanager.yml'}",
                               f"--storage.path={tmp_path / f'am-data-{run}'}", "--cluster.listen-address=",
                               f"--web.listen-address=127.0.0.1:{am_port}"],
                              f"{am_url}/-/ready", tmp_path / f"alertmanager-{run}.log")

    def top_level():
        return [p for p in slack.of("chat.postMessage") if not p.get("thread_ts")]

    def in_thread(ts):
        return [p for p in slack.of("chat.postMessage") if p.get("thread_ts") == ts]

    fivewhys = server_process([sys.executable, "-m", "agent.cli", "serve", "--host", "127.0.0.1", "--port",
                               str(serve_port), "--snapshot", str(DEMO), "--config", str(tmp_path / "fivewhys.toml"),
                               "--model", "heuristic"], f"{serve_url}/healthz", tmp_path / "serve.log", env=env)
    # --rules.alert.resend-delay=1s: Prometheus re-sends firing alerts each second, so a restarted
    # Alertmanager hears of the alert at once (the default is a minute); --web.enable-lifecycle: /-/reload
    prom = server_process([prometheus, f"--config.file={tmp_path / 'prometheus.yml'}",
                           f"--storage.tsdb.path={tmp_path / 'prom-data'}",
                           f"--web.listen-address=127.0.0.1:{prom_port}",
                           "--rules.alert.resend-delay=1s", "--web.enable-lifecycle"],
                          f"{prom_url}/-/ready", tmp_path / "prometheus.log")
    with fivewhys, prom:
        with start_alertmanager(1):
            wait_until("a report in the incident's thread",
                       lambda: top_level() and any(p.get("blocks") for p in in_thread(top_level()[0]["ts"])), tmp_path)
        [top] = top_level()
        assert top["channel"] == "C-SEARCH" and "search cannot connect to token" in top["text"]
        [report] = [p for p in in_thread(top["ts"]) if p.get("blocks")]
        blocks = json.loads(report["blocks"]) if isinstance(report["blocks"], str) else report["blocks"]
        assert "Root cause: search — failed_scale_up" in blocks[0]["text"]["text"]

        with start_alertmanager(2):
            wait_until("the restarted Alertmanager re-sending the firing alert",
                       lambda: webhook_notifications(am_url)[0] >= 1, tmp_path)
            assert webhook_notifications(am_url)[1] == 0          # and serve took it (202)
            assert [p["ts"] for p in top_level()] == [top["ts"]]  # still one thread, one investigation
            assert len([p for p in in_thread(top["ts"]) if p.get("blocks")]) == 1

            (tmp_path / "rules.yml").write_text(RULES.format(expr=QUIET))
            assert httpx.post(f"{prom_url}/-/reload", timeout=30).status_code == 200
            wait_until("the resolve noted in the thread",
                       lambda: any(":white_check_mark:" in p.get("text", "") for p in in_thread(top["ts"])), tmp_path)
            wait_until("Alertmanager's resolved notification answered", lambda: webhook_notifications(am_url)[0] >= 2,
                       tmp_path)
    posts = slack.of("chat.postMessage")
    assert [p["thread_ts"] for p in posts if ":white_check_mark:" in p.get("text", "")] == [top["ts"]]
    assert len(top_level()) == 1 and len([p for p in posts if p.get("blocks")]) == 1
    began = [u for u in slack.of("chat.update") if u["ts"] == top["ts"] and u["text"].endswith(" — investigating…")]
    assert len(began) == 1                                                      # none began later
    assert [m for m, _ in slack.calls][0] == "auth.test"                        # serve checked its token first
