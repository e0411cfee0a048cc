"""Scoring one investigation against its truth.yaml: small evaluators, each `evaluate(ctx) -> dict`."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tools.domain.evidence import EvidenceLedger
from agent.report import Report


@dataclass
class Truth:
    service: str
    kind: str
    onset: str | None = None
    summary: str = ""
    acceptable: list[tuple[str, str]] = field(default_factory=list)
    key_evidence: list[dict] = field(default_factory=list)
    red_herrings: list[dict] = field(default_factory=list)
    difficulty: str = "unknown"

    @property
    def pairs(self) -> set[tuple[str, str]]:
        return {(self.service, self.kind), *self.acceptable}


class TruthError(ValueError):
    """A case's truth.yaml cannot be read: the suite is broken, not the model under test."""


def load_truth(case: Path) -> Truth:
    path = case / "truth.yaml"
    try:
        t = yaml.safe_load(path.read_text())
        rc = t["root_cause"]
        return Truth(service=rc["service"], kind=rc["kind"], onset=str(rc.get("onset")),
                     summary=rc.get("summary", ""),
                     acceptable=[(a["service"], a["kind"]) for a in t.get("acceptable") or []],
                     key_evidence=t.get("key_evidence") or [], red_herrings=t.get("red_herrings") or [],
                     difficulty=t.get("difficulty", "unknown"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError, KeyError, TypeError, AttributeError) as e:
        detail = " ".join(str(e).split())          # YAML errors span several lines
        raise TruthError(f"{path}: not a valid truth file ({type(e).__name__}: {detail})") from None


@dataclass
class ScoreContext:
    truth: Truth
    report: Report | None            # None when the run crashed
    ledger: EvidenceLedger


def ranked(report: Report) -> list[tuple[str, str]]:
    """The report's answers in rank order: the root cause, then hypotheses not ruled out."""
    out = [(report.root_cause.service, report.root_cause.kind)] if report.root_cause and not report.inconclusive else []
    out += [(h.service, h.kind) for h in report.hypotheses if h.status != "ruled_out"]
    return list(dict.fromkeys(out))


@dataclass
class Accuracy:
    """AC@1, AC@3, service and kind accuracy, abstention."""

    def evaluate(self, ctx: ScoreContext) -> dict[str, Any]:
        r, t = ctx.report, ctx.truth
        if r is None:
            return {"ac1": False, "ac3": False, "service_ok": False, "kind_ok": False, "abstained": False,
                    "predicted": None}
        top = ranked(r)
        first = top[0] if top and r.root_cause and not r.inconclusive else None
        return {"ac1": first in t.pairs if first else False,
                "ac3": any(p in t.pairs for p in top[:3]),
                "service_ok": bool(first) and first[0] in {s for s, _ in t.pairs},
                "kind_ok": bool(first) and first[1] == t.kind,
                "abstained": r.inconclusive,
                "predicted": {"service": first[0], "kind": first[1]} if first else None}


@dataclass
class Citations:
    """Citation validity (cited ids that exist) and key-evidence recall (truth selectors matched by cited items)."""

    def evaluate(self, ctx: ScoreContext) -> dict[str, Any]:
        r = ctx.report
        if r is None:
            return {"citation_validity": None, "key_evidence_recall": 0.0 if ctx.truth.key_evidence else None}
        cited = r.cited()
        valid = [e for e in cited if e in ctx.ledger]
        items = [ctx.ledger.get(e) for e in valid]
        keys = ctx.truth.key_evidence
        found = sum(any(i.matches(k["source"], k.get("where", {})) for i in items) for k in keys)
        return {"citation_validity": len(valid) / len(cited) if cited else None,
                "key_evidence_recall": found / len(keys) if keys else None}


@dataclass
class RedHerrings:
    """Blamed a red herring: the root cause or a confirmed hypothesis names its service. Citations are not blame:
    a report cites a herring to rule it out (a trailing "nothing else changed" link, a ruled-out hypothesis)."""

    def evaluate(self, ctx: ScoreContext) -> dict[str, Any]:
        r = ctx.report
        if r is None or r.inconclusive or r.root_cause is None or not ctx.truth.red_herrings:
            return {"red_herring_blamed": False}
        blamed = {r.root_cause.service} | {h.service for h in r.hypotheses if h.status == "confirmed"}
        herrings = {sel.get("where", {}).get("service") for sel in ctx.truth.red_herrings} - {None, ctx.truth.service}
        return {"red_herring_blamed": bool(blamed & herrings)}


SCORERS = [Accuracy(), Citations(), RedHerrings()]


def score(ctx: ScoreContext) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for s in SCORERS:
        out.update(s.evaluate(ctx))
    return out
