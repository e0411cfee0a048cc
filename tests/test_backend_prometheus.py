"""The Prometheus backend against a real Prometheus (Debian package), loaded with the demo's metrics
through `promtool tsdb create-blocks-from openmetrics`, started and stopped here on a loopback port."""
import gzip
import json
import subprocess
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest
import respx

from tools.domain.evidence import EvidenceLedger
from agent.loop import Investigation
from agent.models.heuristic import HeuristicModel
from conftest import DEMO, free_ports, need_binary, server_process
from tools import ToolContext
from tools.backends.base import Filter, TelemetryError
from tools.backends.config import open_telemetry
from tools.backends.prometheus import PrometheusMetrics
from tools.backends.snapshot import SnapshotTelemetry


def openmetrics(metrics_file: Path, out: Path) -> None:
    """Snapshot metrics → OpenMetrics text: one family per name, samples in time order, then # EOF."""
    series: dict = {}
    for line in gzip.open(metrics_file, "rt"):
        r = json.loads(line)
        labels = ",".join(f'{k}="{r[k]}"' for k in ("service", "instance", "zone") if r.get(k))
        t = datetime.fromisoformat(r["time"].replace("Z", "+00:00")).timestamp()
        series.setdefault(r["name"], {}).setdefault(labels, []).append((t, r["value"]))
    with open(out, "w") as f:
        for name in sorted(series):
            f.write(f"# TYPE {name} gauge\n")
            for labels, pts in sorted(series[name].items()):
                for t, v in sorted(pts):
                    f.write(f"{name}{{{labels}}} {v} {t:.3f}\n")
        f.write("# EOF\n")


@pytest.fixture(scope="module")         # stopped when this module's tests are done, not at the end of the run
def prometheus(tmp_path_factory):
    prom, promtool = need_binary("prometheus"), need_binary("promtool")
    d = tmp_path_factory.mktemp("prom")
    openmetrics(DEMO / "metrics.jsonl.gz", d / "demo.om")
    subprocess.run([promtool, "tsdb", "create-blocks-from", "openmetrics", str(d / "demo.om"), str(d / "data")],
                   check=True, capture_output=True, timeout=120)
    (d / "prometheus.yml").write_text("global:\n  scrape_interval: 1h\n")
    [port] = free_ports()
    with server_process([prom, f"--config.file={d / 'prometheus.yml'}", f"--storage.tsdb.path={d / 'data'}",
                         f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=20y"],
                        f"http://127.0.0.1:{port}/-/ready", d / "prometheus.log"):
        yield f"http://127.0.0.1:{port}"


def test_series_match_the_snapshot(prometheus):
    prom = PrometheusMetrics(prometheus)
    snap = SnapshotTelemetry(DEMO)
    w = snap.incident.window
    f = Filter(start=w.start, end=w.end, name="cpu_utilization", services=("search",))
    got = {r["bucket"]: r["value"] for r in prom.metric_series(f, step_s=60)}
    want = {r["bucket"]: r["value"] for r in snap.metric_series(f, step_s=60)}
    common = set(got) & set(want)
    assert len(common) > 150
    assert max(abs(got[t] - want[t]) for t in common) < 1e-6
    by_inst = prom.metric_series(f, by=("instance",), step_s=600, agg="max")
    assert len({r["instance"] for r in by_inst}) == 4
    names = {r["name"] for r in prom.metric_names(Filter(start=w.start, end=w.end, services=("search",)))}
    assert {"cpu_utilization", "instance_count", "error_rate"} <= names
    assert "search" in prom.services(w)


def test_investigation_with_metrics_from_prometheus_reaches_the_same_cause(prometheus, tmp_path):
    cfg = tmp_path / "fivewhys.toml"
    cfg.write_text(f'[sources.metrics]\nbackend = "prometheus"\nurl = "{prometheus}"\n')
    tel = open_telemetry(DEMO, cfg)
    assert type(tel.routes["metrics"]).__name__ == "PrometheusMetrics"
    res = Investigation(HeuristicModel(), ToolContext(tel, EvidenceLedger())).run()
    rc = res.report.root_cause
    assert (rc.service, rc.kind) == ("search", "failed_scale_up")
    cited = [res.ledger.get(e) for link in res.report.chain for e in link.evidence]
    assert any(i.matches("metrics", {"service": "search", "name": "cpu_utilization"}) for i in cited)


def test_prometheus_errors_are_clear(prometheus):
    prom = PrometheusMetrics(prometheus)
    t = datetime(2026, 3, 6, 16, tzinfo=timezone.utc)
    with pytest.raises(TelemetryError, match="not a Prometheus metric name"):
        prom.metric_series(Filter(start=t, end=t.replace(hour=17), name="cpu{} or vector(1)"))
    with pytest.raises(TelemetryError, match="ConnectError"):
        PrometheusMetrics("http://127.0.0.1:9").metric_series(
            Filter(start=t, end=t.replace(hour=17), name="cpu_utilization"))


@respx.mock
def test_prometheus_api_error_body():
    # shape from the Prometheus HTTP API docs: {"status": "error", "errorType": ..., "error": ...}
    respx.get("http://prom.test/api/v1/query_range").mock(return_value=httpx.Response(
        400, json={"status": "error", "errorType": "bad_data", "error": "exceeded maximum resolution"}))
    t = datetime(2026, 3, 6, 16, tzinfo=timezone.utc)
    with pytest.raises(TelemetryError, match="bad_data: exceeded maximum resolution"):
        PrometheusMetrics("http://prom.test").metric_series(Filter(start=t, end=t.replace(hour=17), name="up"))


def test_capture_from_prometheus_gives_a_valid_snapshot(prometheus, tmp_path):
    from typer.testing import CliRunner
    from agent.cli import app
    cfg = tmp_path / "fivewhys.toml"
    cfg.write_text(f'[sources.metrics]\nbackend = "prometheus"\nurl = "{prometheus}"\n\n'
                   f'[sources.scaling]\nbackend = "snapshot"\npath = "{DEMO}"\n')
    out = tmp_path / "captured"
    r = CliRunner().invoke(app, ["snapshot", "capture", "--config", str(cfg), "--window",
                                 "2026-03-06T15:00:00Z/2026-03-06T18:00:00Z", "--alert-service", "search",
                                 "--at", "2026-03-06T17:05:00Z", "--out", str(out)])
    assert r.exit_code == 0, r.output
    v = CliRunner().invoke(app, ["snapshot", "validate", str(out)])
    assert v.exit_code == 0 and "usable" in v.output, v.output
    tel = SnapshotTelemetry(out)
    assert tel.incident.alert.at == datetime(2026, 3, 6, 17, 5, tzinfo=timezone.utc)
    assert (tel.incident.window.start.hour, tel.incident.window.end.hour) == (15, 18)
    assert tel.coverage("metrics").rows > 10_000 and tel.coverage("scaling").rows == 6
    f = Filter(name="cpu_utilization", services=("search",))
    assert max(r["value"] for r in tel.metric_series(f, step_s=600)) > 0.9
