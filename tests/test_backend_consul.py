"""Consul registry at the HTTP layer, with bodies shaped like Consul's catalog and health API."""
from datetime import datetime, timezone

import httpx
import pytest
import respx

from tools.domain.evidence import EvidenceLedger
from tools import TOOLS, ToolContext
from tools.backends.base import Alert, Filter, Incident, TelemetryError, TimeWindow
from tools.backends.composite import CompositeTelemetry
from tools.backends.consul import ConsulRegistry

URL = "http://consul.test:8500"


def entry(svc, sid, addr, status, dc="dc1-a"):
    return {"Node": {"ID": "n1", "Node": "node-1", "Address": "10.0.0.1", "Datacenter": dc},
            "Service": {"ID": sid, "Service": svc, "Tags": [], "Address": addr, "Port": 8443, "Meta": {}},
            "Checks": [{"Node": "node-1", "CheckID": "serfHealth", "Status": "passing"},
                       {"Node": "node-1", "CheckID": f"service:{sid}", "Status": status}]}


@respx.mock
def test_registry_state_from_consul_feeds_registry_changes():
    respx.get(f"{URL}/v1/catalog/services").mock(return_value=httpx.Response(200, json={"token": ["v2"], "consul": []}))
    respx.get(f"{URL}/v1/health/service/token").mock(return_value=httpx.Response(200, json=[
        entry("token", "token-1", "10.0.2.5", "passing"), entry("token", "token-2", "10.99.0.9", "critical")]))
    respx.get(f"{URL}/v1/health/service/consul").mock(return_value=httpx.Response(200, json=[]))
    now = datetime.now(timezone.utc)
    inc = Incident(id="live", window=TimeWindow(start=now.replace(year=now.year - 1), end=now.replace(year=now.year + 1)),
                   alert=Alert(at=now, service="search"))
    rows = ConsulRegistry(URL).events("registry", Filter(end=inc.window.end))
    assert [(r["instance"], r["event"], r["address"]) for r in rows] == [
        ("token-1", "healthy", "10.0.2.5:8443"), ("token-2", "unhealthy", "10.99.0.9:8443")]
    assert ConsulRegistry(URL).services(inc.window) == {"token", "consul"}
    tel = CompositeTelemetry(inc, {"registry": ConsulRegistry(URL)})
    res = TOOLS["registry_changes"](ToolContext(tel, EvidenceLedger()), {})
    assert {(g.service, g.event) for g in res.data.groups} >= {("token", "unhealthy")}


@respx.mock
def test_consul_errors_are_clear():
    respx.get(f"{URL}/v1/catalog/services").mock(return_value=httpx.Response(403, text="Permission denied"))
    with pytest.raises(TelemetryError, match="HTTP 403: Permission denied"):
        ConsulRegistry(URL).events("registry", Filter())
