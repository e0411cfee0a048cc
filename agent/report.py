"""The report a model submits: a root cause, the cited chain of whys, ranked hypotheses.

Pydantic validates the shape; `check_citations` validates it against the run's evidence
ledger and `check_chain` its logic (the last link is the root cause, exclusions are cited).
Every problem goes back to the model, word for word, to fix.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.json_schema import SkipJsonSchema

from tools.domain.errors import problems as validation_problems
from tools.domain.evidence import EvidenceLedger
from tools.domain.taxonomy import NAMES, TAXONOMY, Category

KINDS: dict[str, str] = {k.name: k.category for k in TAXONOMY}   # kind → category
Kind = Literal[NAMES]   # type: ignore[valid-type]  # built from the records; the JSON schema's enum lists them


class RootCause(BaseModel):
    # Field descriptions are what the model reads with every turn: the rules are in the system prompt, once.
    service: str                                           # where the fix belongs (the system prompt says so)
    kind: Kind
    category: SkipJsonSchema[Category | None] = None       # follows from kind: checked if given, never asked for
    onset: datetime | None = None
    summary: str
    confidence: float = Field(ge=0, le=1)

    @model_validator(mode="after")
    def _category_follows_kind(self):
        want = KINDS[self.kind]
        if self.category not in (None, want):
            raise ValueError(f"category of kind {self.kind} is {want}, not {self.category}")
        self.category = want
        return self


class Why(BaseModel):
    # One link of the causal chain, from the symptom (first) down to the root cause (last).
    # The schema the model sees requires service; the type does not, so reports saved before the rule still load
    # (check_chain holds a submission to it).
    model_config = ConfigDict(json_schema_extra=lambda schema, _: schema["required"].insert(1, "service"))
    claim: str = Field(description="what is true here, and why it causes the link above")
    service: str | None = None
    evidence: list[str]


class Hypothesis(BaseModel):
    service: str
    kind: Kind
    status: Literal["confirmed", "ruled_out", "open"]
    reason: str
    evidence: list[str] = Field(default_factory=list)


class Report(BaseModel):
    """The answer. Rather than guess, set inconclusive=true and leave root_cause out."""
    inconclusive: bool = False
    root_cause: RootCause | None = None
    chain: list[Why] = Field(default_factory=list, description="symptom first, root cause last")
    hypotheses: list[Hypothesis] = Field(default_factory=list, description="ranked")
    next_checks: list[str] = Field(default_factory=list)
    remediation: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _conclusive_needs_cause(self):
        if not self.inconclusive and (self.root_cause is None or not self.chain):
            raise ValueError("a conclusive report needs root_cause and a non-empty chain; "
                             "otherwise set inconclusive=true")
        return self

    def cited(self) -> list[str]:
        ids = [e for w in self.chain for e in w.evidence] + [e for h in self.hypotheses for e in h.evidence]
        return list(dict.fromkeys(ids))


def parse_report(arguments: Any, ledger: EvidenceLedger) -> tuple[Report | None, list[str]]:
    """Validate a submitted report. Returns (report, []) or (None, precise problems for the model)."""
    if not isinstance(arguments, dict):
        return None, ["the report must be a JSON object with the fields of submit_report"]
    try:
        report = Report.model_validate(arguments)
    except ValidationError as e:
        return None, validation_problems(e, root="report")
    problems = check_citations(report, ledger) + check_chain(report)
    return (None, problems) if problems else (report, [])


def check_chain(report: Report) -> list[str]:
    """Every link says which service it is about and the last one is the root cause, so exclusions do not pass
    for causes; a hypothesis ruled out says with which evidence."""
    problems = [f"chain[{i}] ({why.claim[:60]!r}) names no service: say which service this link is about"
                for i, why in enumerate(report.chain) if not why.service]
    rc, last = report.root_cause, report.chain[-1] if report.chain else None
    if rc and not report.inconclusive and last and last.service and last.service != rc.service:
        problems.append(f"chain[{len(report.chain) - 1}] is about {last.service}, but the last link must be the root "
                        f"cause: a link about {rc.service} (root_cause.service) with the evidence for it; rule "
                        f"{last.service} out in hypotheses (status ruled_out) instead")
    problems += [f"hypotheses[{i}] ({h.service} {h.kind}) is ruled out without evidence: cite what rules it out "
                 f"(a tool's empty result has an id too)"
                 for i, h in enumerate(report.hypotheses) if h.status == "ruled_out" and not h.evidence]
    return problems


def check_citations(report: Report, ledger: EvidenceLedger) -> list[str]:
    problems = []
    for i, why in enumerate(report.chain):
        if not why.evidence:
            problems.append(f"chain[{i}] ({why.claim[:60]!r}) cites no evidence: cite the ids that support it")
        for e in why.evidence:
            if e not in ledger:
                problems.append(f"chain[{i}] cites {e}, which does not exist (evidence so far: "
                                f"E1..E{len(ledger)})")
    for i, h in enumerate(report.hypotheses):
        for e in h.evidence:
            if e not in ledger:
                problems.append(f"hypotheses[{i}] cites {e}, which does not exist (evidence so far: E1..E{len(ledger)})")
    return problems


def inconclusive(reason: str, next_checks: list[str] | None = None) -> Report:
    return Report(inconclusive=True, next_checks=next_checks or [reason])
