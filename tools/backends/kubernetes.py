"""Deployments, scaling, registry and certificates from the Kubernetes API server.

- deployments: ReplicaSets (one per rollout revision: creation time, image, env changes vs. the previous);
- scaling: Events about HorizontalPodAutoscalers and scheduling (SuccessfulRescale, FailedScheduling, …);
- registry: EndpointSlices (ready / not ready endpoints, with zone);
- certificates: cert-manager Certificates (status.notAfter);
- infra_changes: NetworkPolicies (created or whose spec was last written), node cordon/uncordon and drain
  events (NodeNotSchedulable, NodeSchedulable, the cluster autoscaler's ScaleDown), HPA min/max as last written.
Lists are paginated with `limit`/`continue`; shapes follow the Kubernetes API reference."""
from __future__ import annotations

import json

from datetime import datetime
from typing import Any, Iterator, Literal

import httpx
from pydantic import Field

from .http import request
from .base import Coverage, Filter, HTTPBackendConfig, Incident, TelemetryError, TimeWindow

SOURCES = ("deployments", "scaling", "registry", "certificates", "infra_changes")
NODE_REASONS = {"NodeNotSchedulable": ("node_cordon", "cordoned"), "NodeSchedulable": ("node_cordon", "uncordoned"),
                "ScaleDown": ("node_drain", "drained for scale-down"), "NodeDrain": ("node_drain", "drained"),
                "DrainNode": ("node_drain", "drained")}


SCALING_EVENTS = ("involvedObject.kind=HorizontalPodAutoscaler", "reason=FailedScheduling", "reason=FailedCreate")

class KubernetesConfig(HTTPBackendConfig):
    """`backend = "kubernetes"`: deployments, scaling, registry and certificates of one namespace."""
    backend: Literal["kubernetes"]
    namespace: str = Field("default", description="The namespace to read.")

    def open(self, incident: Incident) -> KubernetesTelemetry:
        return KubernetesTelemetry(self.url, self.namespace, self.token(), self.timeout_s)


def _t(s: str | None) -> datetime | None:
    return datetime.fromisoformat(s.replace("Z", "+00:00")) if s else None


class KubernetesTelemetry:
    def __init__(self, url: str, namespace: str = "default", token: str | None = None, timeout: float = 15.0,
                 client: httpx.Client | None = None, service_label: str = "app.kubernetes.io/name", page: int = 500):
        self.url, self.ns, self.label, self.page = url.rstrip("/"), namespace, service_label, page
        self.http = client or httpx.Client(timeout=timeout, headers={"Authorization": f"Bearer {token}"} if token else {})

    def _list(self, path: str, **selectors: str) -> Iterator[dict]:
        cont = None
        while True:
            params: dict[str, Any] = {"limit": self.page, **selectors}
            if cont:
                params["continue"] = cont
            r = request(self.http, "GET", f"{self.url}{path}", f"kubernetes at {self.url}", params=params)
            if r.status_code == 404:
                return                                   # the resource (e.g. cert-manager) is not installed
            if r.status_code != 200:
                try:
                    msg = r.json().get("message", r.text[:200])
                except ValueError:
                    msg = r.text[:200]
                raise TelemetryError(f"kubernetes at {self.url}: HTTP {r.status_code}: {msg}")
            body = r.json()
            yield from body.get("items", [])
            cont = body.get("metadata", {}).get("continue")
            if not cont:
                return

    def _service(self, meta: dict) -> str:
        labels = meta.get("labels") or {}
        return labels.get(self.label) or labels.get("app") or meta.get("name", "")

    def coverage(self, source: str) -> Coverage:
        return Coverage(present=source in SOURCES, files=[self.url])

    def events(self, source: str, where: Filter, limit: int = 200) -> list[dict]:
        rows = {"deployments": self._deployments, "scaling": self._scaling, "registry": self._registry,
                "certificates": self._certificates, "infra_changes": self._infra_changes}[source]()
        if where.services:
            rows = [r for r in rows if r["service"] in where.services]
        if source != "certificates":
            rows = [r for r in rows if r["time"] and (where.start is None or r["time"] >= where.start)
                    and (where.end is None or r["time"] < where.end)]
        return sorted(rows, key=lambda r: r.get("time") or r.get("not_after"))[:limit]

    def services(self, window: TimeWindow) -> set[str]:
        w = Filter(start=window.start, end=window.end)
        return {r["service"] for s in SOURCES if s != "infra_changes"           # names services, is not theirs
                for r in self.events(s, w, limit=1_000_000) if r["service"]}

    def _deployments(self) -> list[dict]:
        by_owner: dict[str, list[dict]] = {}
        for rs in self._list(f"/apis/apps/v1/namespaces/{self.ns}/replicasets"):
            owner = next((o["name"] for o in rs["metadata"].get("ownerReferences", [])), rs["metadata"]["name"])
            by_owner.setdefault(owner, []).append(rs)
        out = []
        for owner, sets in by_owner.items():
            sets.sort(key=lambda rs: int(rs["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision", 0)))
            prev = None
            for rs in sets:
                c = rs["spec"]["template"]["spec"]["containers"][0]
                env = {e["name"]: e.get("value") for e in c.get("env", []) if "value" in e}
                changes = {}
                if prev:
                    pc = prev["spec"]["template"]["spec"]["containers"][0]
                    penv = {e["name"]: e.get("value") for e in pc.get("env", []) if "value" in e}
                    if pc.get("image") != c.get("image"):
                        changes["image"] = {"from": pc.get("image"), "to": c.get("image")}
                    for k in sorted(set(env) | set(penv)):
                        if env.get(k) != penv.get(k):
                            changes[f"env.{k}"] = {"from": penv.get(k), "to": env.get(k)}
                out.append({"time": _t(rs["metadata"]["creationTimestamp"]), "service": self._service(rs["metadata"]) or owner,
                            "version": c.get("image", "").rsplit(":", 1)[-1],
                            "previous_version": (prev["spec"]["template"]["spec"]["containers"][0].get("image", "")
                                                 .rsplit(":", 1)[-1] if prev else None),
                            "kind": "config" if changes and "image" not in changes else "deploy",
                            "status": "succeeded" if rs.get("status", {}).get("readyReplicas") == rs["spec"].get("replicas")
                            else "in_progress", "changes": changes or None,
                            "description": f"ReplicaSet {rs['metadata']['name']}"})
                prev = rs
        return [r for r in out if r["previous_version"] is not None]     # the first revision is not a change

    def _scaling(self) -> list[dict]:
        out, seen = [], set()
        # The API server filters: only HPA events and failed pod scheduling/creation come back, not every
        # event of the namespace (a field selector takes one value per field, so one list per value).
        events = (e for sel in SCALING_EVENTS for e in self._list(f"/api/v1/namespaces/{self.ns}/events", fieldSelector=sel))
        for e in events:
            obj, reason = e.get("involvedObject", {}), e.get("reason", "")
            key = (e.get("metadata") or {}).get("uid") or json.dumps(e, sort_keys=True)
            if key in seen:                          # an HPA's FailedCreate comes back from two lists
                continue
            seen.add(key)
            if obj.get("kind") != "HorizontalPodAutoscaler" and reason not in ("FailedScheduling", "FailedCreate"):
                continue
            name = obj.get("name", "")
            out.append({"time": _t(e.get("lastTimestamp") or e.get("eventTime") or e.get("firstTimestamp")),
                        "service": name.rsplit("-", 2)[0] if obj.get("kind") == "Pod" else name,
                        "action": "scale_up", "status": "failed" if e.get("type") == "Warning" else "succeeded",
                        "message": f"{reason}: {e.get('message', '')}"})
        return out + self._hpa_status()

    def _hpa_status(self) -> list[dict]:
        """HPAs that want more replicas than they have, or whose conditions say they cannot scale."""
        out = []
        for h in self._list(f"/apis/autoscaling/v2/namespaces/{self.ns}/horizontalpodautoscalers"):
            st = h.get("status") or {}
            cur, want = st.get("currentReplicas"), st.get("desiredReplicas")
            bad = [c for c in st.get("conditions", []) if c.get("status") == "False"
                   and c.get("type") in ("AbleToScale", "ScalingActive")]
            limited = [c for c in st.get("conditions", []) if c.get("type") == "ScalingLimited" and c.get("status") == "True"]
            if bad or limited or (cur is not None and want is not None and want > cur):
                c = (bad or limited or [{}])[0]
                t = _t(c.get("lastTransitionTime") or st.get("lastScaleTime"))
                out.append({"time": t, "service": (h["spec"].get("scaleTargetRef") or {}).get("name", h["metadata"]["name"]),
                            "action": "scale_up", "from_count": cur, "desired_count": want, "actual_count": cur,
                            "status": "failed" if bad or limited else "in_progress",
                            "message": f"HPA {c.get('type', 'status')}: {c.get('reason', '')} {c.get('message', '')}".strip()})
        return out

    def _registry(self) -> list[dict]:
        out = []
        for s in self._list(f"/apis/discovery.k8s.io/v1/namespaces/{self.ns}/endpointslices"):
            svc = (s["metadata"].get("labels") or {}).get("kubernetes.io/service-name", s["metadata"]["name"])
            port = (s.get("ports") or [{}])[0].get("port")
            t = _t(s["metadata"].get("creationTimestamp"))
            for ep in s.get("endpoints") or []:
                ready = (ep.get("conditions") or {}).get("ready", True)
                out.append({"time": t, "service": svc, "instance": (ep.get("targetRef") or {}).get("name")
                            or ep["addresses"][0], "event": "healthy" if ready else "unhealthy",
                            "address": f"{ep['addresses'][0]}:{port}", "zone": ep.get("zone")})
        return out

    def _certificates(self) -> list[dict]:
        out = self._tls_secrets()
        for c in self._list(f"/apis/cert-manager.io/v1/namespaces/{self.ns}/certificates"):
            na = _t((c.get("status") or {}).get("notAfter"))
            if na:
                out.append({"service": self._service(c["metadata"]), "name": c["metadata"]["name"],
                            "not_after": na, "not_before": _t((c.get("status") or {}).get("notBefore")),
                            "subject": (c.get("spec") or {}).get("commonName"), "purpose": "server",
                            "issuer": ((c.get("spec") or {}).get("issuerRef") or {}).get("name")})
        return out

    def _tls_secrets(self) -> list[dict]:
        """kubernetes.io/tls Secrets: the certificate in tls.crt, read with cryptography (keys are never read)."""
        import base64
        from cryptography import x509
        out = []
        for sec in self._list(f"/api/v1/namespaces/{self.ns}/secrets?fieldSelector=type%3Dkubernetes.io%2Ftls"):
            crt = (sec.get("data") or {}).get("tls.crt")
            if sec.get("type") != "kubernetes.io/tls" or not crt:
                continue
            try:
                cert = x509.load_pem_x509_certificate(base64.b64decode(crt))
            except ValueError:
                continue
            out.append({"service": self._service(sec["metadata"]), "name": sec["metadata"]["name"],
                        "not_after": cert.not_valid_after_utc, "not_before": cert.not_valid_before_utc,
                        "subject": cert.subject.rfc4514_string(), "issuer": cert.issuer.rfc4514_string(),
                        "purpose": "server"})
        return out

    def _infra_changes(self) -> list[dict]:
        return self._network_policies() + self._node_events() + self._hpa_policies()

    def _network_policies(self) -> list[dict]:
        """A NetworkPolicy as of its last spec write (managedFields), or its creation: what it now allows."""
        out = []
        for np in self._list(f"/apis/networking.k8s.io/v1/namespaces/{self.ns}/networkpolicies"):
            meta, spec = np["metadata"], np.get("spec") or {}
            selector = (spec.get("podSelector") or {}).get("matchLabels") or {}
            service = selector.get(self.label) or selector.get("app")
            types = spec.get("policyTypes") or ["Ingress"]
            rules = ", ".join(f"{len(spec.get(t.lower()) or [])} {t.lower()} rules" for t in types)
            created = _t(meta.get("creationTimestamp"))
            written = _spec_written(meta) or created
            out.append({"time": written, "kind": "network_policy", "service": service,
                        "target": f"NetworkPolicy {meta['name']}", "status": "succeeded",
                        "actor": _manager(meta),
                        "description": f"{'created' if written == created else 'updated'}: {'/'.join(types)} for "
                                       f"{'pods of ' + service if service else 'every pod'}; {rules}"
                                       + (" (denies all)" if all(not spec.get(t.lower()) for t in types) else "")})
        return out

    def _node_events(self) -> list[dict]:
        out = []
        for e in self._list(f"/api/v1/namespaces/{self.ns}/events"):
            obj, reason = e.get("involvedObject", {}), e.get("reason", "")
            if obj.get("kind") != "Node" or reason not in NODE_REASONS:
                continue
            kind, what = NODE_REASONS[reason]
            out.append({"time": _t(e.get("lastTimestamp") or e.get("eventTime") or e.get("firstTimestamp")),
                        "kind": kind, "service": None, "target": f"node {obj.get('name', '')}",
                        "status": "succeeded", "actor": (e.get("source") or {}).get("component"),
                        "description": f"{what}: {e.get('message', '')}".strip()})
        return out

    def _hpa_policies(self) -> list[dict]:
        """An HPA whose spec was written after it was created: its min/max as they are now (the API keeps no
        earlier values)."""
        out = []
        for h in self._list(f"/apis/autoscaling/v2/namespaces/{self.ns}/horizontalpodautoscalers"):
            meta, spec = h["metadata"], h.get("spec") or {}
            written, created = _spec_written(meta), _t(meta.get("creationTimestamp"))
            if not written or (created and written <= created):
                continue
            target = (spec.get("scaleTargetRef") or {}).get("name", meta["name"])
            out.append({"time": written, "kind": "autoscaling_policy", "service": target,
                        "target": f"HorizontalPodAutoscaler {meta['name']}", "status": "succeeded",
                        "actor": _manager(meta),
                        "changes": {"minReplicas": {"from": None, "to": spec.get("minReplicas", 1)},
                                    "maxReplicas": {"from": None, "to": spec.get("maxReplicas")}},
                        "description": f"spec updated: minReplicas {spec.get('minReplicas', 1)}, maxReplicas "
                                       f"{spec.get('maxReplicas')} (earlier values are not kept by the API)"})
        return out

    def close(self) -> None:
        self.http.close()


def _spec_writes(meta: dict) -> list[dict]:
    """managedFields entries that wrote the object itself, not its status subresource."""
    return [m for m in meta.get("managedFields") or [] if not m.get("subresource") and m.get("time")]


def _spec_written(meta: dict) -> datetime | None:
    times = [_t(m["time"]) for m in _spec_writes(meta)]
    return max(times) if times else None


def _manager(meta: dict) -> str | None:
    writes = sorted(_spec_writes(meta), key=lambda m: m["time"])
    return writes[-1].get("manager") if writes else None
