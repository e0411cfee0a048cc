"""The Kubernetes backend at the HTTP layer (respx), bodies shaped like the Kubernetes API reference,
including `continue` pagination, a missing CRD (404) and an error."""
from datetime import datetime, timezone

import httpx
import pytest
import respx

from tools.backends.base import Filter, TelemetryError, TimeWindow
from tools.backends.kubernetes import KubernetesTelemetry

API = "https://k8s.test:6443"
W = Filter(start=datetime(2026, 3, 6, 15, tzinfo=timezone.utc), end=datetime(2026, 3, 6, 18, tzinfo=timezone.utc))


def rs(rev, image, created, timeout="2000"):
    return {"metadata": {"name": f"search-{rev}abc", "creationTimestamp": created, "labels": {"app": "search"},
                         "annotations": {"deployment.kubernetes.io/revision": str(rev)},
                         "ownerReferences": [{"kind": "Deployment", "name": "search"}]},
            "spec": {"replicas": 4, "template": {"spec": {"containers": [
                {"name": "search", "image": image, "env": [{"name": "TOKEN_TIMEOUT_MS", "value": timeout}]}]}}},
            "status": {"replicas": 4, "readyReplicas": 4}}


@respx.mock
def test_replicasets_become_deployments_with_diffs_across_pages():
    route = respx.get(f"{API}/apis/apps/v1/namespaces/default/replicasets").mock(side_effect=[
        httpx.Response(200, json={"kind": "ReplicaSetList", "apiVersion": "apps/v1",
                                  "metadata": {"continue": "tok1"}, "items": [rs(1, "search:v1", "2026-03-01T10:00:00Z")]}),
        httpx.Response(200, json={"kind": "ReplicaSetList", "apiVersion": "apps/v1", "metadata": {},
                                  "items": [rs(2, "search:v1", "2026-03-06T16:55:00Z", timeout="200")]})])
    rows = KubernetesTelemetry(API).events("deployments", W)
    assert route.calls[1].request.url.params["continue"] == "tok1"
    assert len(rows) == 1 and rows[0]["kind"] == "config" and rows[0]["service"] == "search"
    assert rows[0]["changes"] == {"env.TOKEN_TIMEOUT_MS": {"from": "2000", "to": "200"}}


@respx.mock
def test_hpa_and_scheduling_events_endpoints_and_missing_cert_manager():
    events = respx.get(f"{API}/api/v1/namespaces/default/events").mock(side_effect=_field_selected([
            {"type": "Warning", "reason": "FailedScheduling", "message": "0/12 nodes are available: 12 Insufficient cpu.",
             "lastTimestamp": "2026-03-06T16:56:00Z", "involvedObject": {"kind": "Pod", "name": "search-7f9c4d8b6c-x2x9z"}},
            {"type": "Normal", "reason": "SuccessfulRescale", "message": "New size: 8; reason: cpu resource utilization above target",
             "lastTimestamp": "2026-03-06T16:55:00Z", "involvedObject": {"kind": "HorizontalPodAutoscaler", "name": "search"}},
            {"type": "Normal", "reason": "Pulled", "message": "image pulled", "lastTimestamp": "2026-03-06T16:00:00Z",
             "involvedObject": {"kind": "Pod", "name": "web-1"}}]))
    respx.get(f"{API}/apis/discovery.k8s.io/v1/namespaces/default/endpointslices").mock(return_value=httpx.Response(
        200, json={"kind": "EndpointSliceList", "metadata": {}, "items": [{
            "metadata": {"name": "token-abc", "creationTimestamp": "2026-03-06T16:50:00Z",
                         "labels": {"kubernetes.io/service-name": "token"}},
            "addressType": "IPv4", "ports": [{"port": 8443}],
            "endpoints": [{"addresses": ["10.0.2.5"], "conditions": {"ready": True}, "zone": "us-east-1a",
                           "targetRef": {"kind": "Pod", "name": "token-1"}},
                          {"addresses": ["10.0.2.6"], "conditions": {"ready": False}, "zone": "us-east-1b",
                           "targetRef": {"kind": "Pod", "name": "token-2"}}]}]}))
    respx.get(f"{API}/apis/cert-manager.io/v1/namespaces/default/certificates").mock(
        return_value=httpx.Response(404, json={"kind": "Status", "status": "Failure", "reason": "NotFound", "code": 404}))
    respx.get(f"{API}/api/v1/namespaces/default/secrets").mock(return_value=httpx.Response(200, json={
        "kind": "SecretList", "metadata": {}, "items": [{"type": "kubernetes.io/tls", "metadata": {
            "name": "token-tls", "labels": {"app": "token"}}, "data": {"tls.crt": _cert_b64(), "tls.key": "c2VjcmV0"}}]}))
    respx.get(f"{API}/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers").mock(return_value=httpx.Response(
        200, json={"kind": "HorizontalPodAutoscalerList", "metadata": {}, "items": [{
            "metadata": {"name": "search"}, "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "search"},
                                                     "maxReplicas": 8},
            "status": {"currentReplicas": 4, "desiredReplicas": 8, "conditions": [
                {"type": "AbleToScale", "status": "False", "reason": "FailedUpdateScale",
                 "message": "the HPA controller was unable to update the target scale",
                 "lastTransitionTime": "2026-03-06T16:57:00Z"}]}}]}))
    k = KubernetesTelemetry(API)
    scaling = k.events("scaling", W)
    assert [(r["service"], r["status"]) for r in scaling] == [("search", "succeeded"), ("search", "failed"),
                                                               ("search", "failed")]
    assert scaling[2]["desired_count"] == 8 and "FailedUpdateScale" in scaling[2]["message"]
    assert all("fieldSelector" in c.request.url.params for c in events.calls)     # filtered by the API server
    reg = k.events("registry", W)
    assert [(r["instance"], r["event"], r["address"]) for r in reg] == [("token-1", "healthy", "10.0.2.5:8443"),
                                                                        ("token-2", "unhealthy", "10.0.2.6:8443")]
    certs = k.events("certificates", Filter())
    assert [(c["service"], c["name"]) for c in certs] == [("token", "token-tls")]
    assert certs[0]["not_after"] == datetime(2026, 3, 6, 16, 58, tzinfo=timezone.utc)
    respx.get(f"{API}/apis/apps/v1/namespaces/default/replicasets").mock(return_value=httpx.Response(
        200, json={"kind": "ReplicaSetList", "metadata": {}, "items": []}))
    assert k.services(TimeWindow(start=W.start, end=W.end)) == {"search", "token"}


def _cert_b64():
    import base64
    import datetime as dt
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "token.internal")])
    end = dt.datetime(2026, 3, 6, 16, 58, tzinfo=dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(end - dt.timedelta(days=90)).not_valid_after(end).sign(key, hashes.SHA256()))
    return base64.b64encode(cert.public_bytes(serialization.Encoding.PEM)).decode()


@respx.mock
def test_api_errors_are_clear():
    respx.get(f"{API}/apis/apps/v1/namespaces/default/replicasets").mock(return_value=httpx.Response(403, json={
        "kind": "Status", "status": "Failure", "reason": "Forbidden", "code": 403,
        "message": 'replicasets.apps is forbidden: User "system:serviceaccount:default:fivewhys" cannot list'}))
    with pytest.raises(TelemetryError, match="HTTP 403: replicasets.apps is forbidden"):
        KubernetesTelemetry(API).events("deployments", W)


@respx.mock
def test_infra_changes_from_network_policies_node_events_and_hpa_spec_writes():
    respx.get(f"{API}/apis/networking.k8s.io/v1/namespaces/default/networkpolicies").mock(return_value=httpx.Response(
        200, json={"kind": "NetworkPolicyList", "apiVersion": "networking.k8s.io/v1", "metadata": {}, "items": [{
            "metadata": {"name": "token-lockdown", "creationTimestamp": "2026-01-10T09:00:00Z", "managedFields": [
                {"manager": "kubectl-client-side-apply", "operation": "Update", "time": "2026-01-10T09:00:00Z"},
                {"manager": "argocd-controller", "operation": "Apply", "time": "2026-03-06T16:51:00Z"}]},
            "spec": {"podSelector": {"matchLabels": {"app": "token"}}, "policyTypes": ["Ingress"], "ingress": []}}]}))
    respx.get(f"{API}/api/v1/namespaces/default/events").mock(return_value=httpx.Response(200, json={
        "kind": "EventList", "metadata": {}, "items": [
            {"type": "Normal", "reason": "NodeNotSchedulable", "message": "Node ip-10-0-3-7 status is now: "
             "NodeNotSchedulable", "lastTimestamp": "2026-03-06T16:40:00Z", "source": {"component": "kubelet"},
             "involvedObject": {"kind": "Node", "name": "ip-10-0-3-7"}},
            {"type": "Normal", "reason": "Pulled", "message": "image pulled", "lastTimestamp": "2026-03-06T16:41:00Z",
             "involvedObject": {"kind": "Pod", "name": "web-1"}}]}))
    respx.get(f"{API}/apis/autoscaling/v2/namespaces/default/horizontalpodautoscalers").mock(return_value=httpx.Response(
        200, json={"kind": "HorizontalPodAutoscalerList", "metadata": {}, "items": [
            {"metadata": {"name": "search", "creationTimestamp": "2026-02-01T00:00:00Z", "managedFields": [
                {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status",
                 "time": "2026-03-06T17:00:00Z"},
                {"manager": "terraform", "operation": "Update", "time": "2026-03-06T16:30:00Z"}]},
             "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "search"}, "minReplicas": 2, "maxReplicas": 4}},
            {"metadata": {"name": "web", "creationTimestamp": "2026-03-06T15:10:00Z", "managedFields": [
                {"manager": "kubectl", "operation": "Update", "time": "2026-03-06T15:10:00Z"}]},
             "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 6}}]}))
    rows = KubernetesTelemetry(API).events("infra_changes", W)
    assert [(r["kind"], r["service"], r["target"]) for r in rows] == [
        ("autoscaling_policy", "search", "HorizontalPodAutoscaler search"),      # the status write is not a change
        ("node_cordon", None, "node ip-10-0-3-7"),
        ("network_policy", "token", "NetworkPolicy token-lockdown")]             # web's HPA was only created
    hpa, node, policy = rows
    assert hpa["changes"]["maxReplicas"]["to"] == 4 and hpa["actor"] == "terraform"
    assert node["description"].startswith("cordoned") and node["actor"] == "kubelet"
    assert "updated" in policy["description"] and "denies all" in policy["description"]
    assert policy["actor"] == "argocd-controller"


def _field_selected(items: list[dict]):
    """An events endpoint that applies `fieldSelector=a.b=value` as the API server does."""
    def answer(request: httpx.Request) -> httpx.Response:
        sel = request.url.params.get("fieldSelector")
        keep = items
        if sel:
            path, value = sel.split("=", 1)
            keep = [e for e in items if _at(e, path) == value]
        return httpx.Response(200, json={"kind": "EventList", "metadata": {}, "items": keep})
    return answer


def _at(obj: dict, path: str):
    for part in path.split("."):
        obj = obj.get(part, {}) if isinstance(obj, dict) else {}
    return obj
