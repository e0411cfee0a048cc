"""A lead from a service's own new errors when nothing stands out (issue 12, TrainTicket wrong-return faults): the
service whose logs gained a new kind of error line, well ahead of any other, is listed open, never confirmed;
a load balancer with no instance to call is not the caller's code."""
from __future__ import annotations

import importlib
from datetime import datetime, timedelta, timezone

from agent.heuristic.conclude import CONCLUDE_AT, conclude, ranked
from agent.heuristic.facts import Facts
from agent.heuristic.own_errors import OTHERS_STRENGTH, own_new_errors
from agent.heuristic.signatures import families
from agent.models.base import Message
from tools.domain.incident import Incident
from tools.results import Edge, LogTemplate, Overview, SourceCoverage

T0 = datetime(2026, 3, 6, 15, 0, tzinfo=timezone.utc)
NO_INSTANCE = ("ERROR o.a.c.c.C.[.[.[.[dispatcherServlet]#175 Servlet.service() threw exception [Request processing "
               "failed; nested exception is java.lang.IllegalStateException: No instances available for ts-basic-service]")


def at(minute: int) -> datetime:
    return T0 + timedelta(minutes=minute)


def facts(new_errors: dict[str, tuple[int, str]], before: dict[str, int] | None = None, logs_from: int = 0) -> Facts:
    """gateway calls every service; nothing fails in spans; each service's error-level log_patterns split at the
    baseline's end (minute 4), with `n` lines of one template `text` after it (new unless `before` gives its
    count before); the logs run from minute `logs_from` to the window's end."""
    before = before or {}
    inc = Incident.model_validate({"format": 1, "id": "t", "title": "t",
                                   "window": {"start": at(0).isoformat(), "end": at(12).isoformat()},
                                   "alert": {"at": at(8).isoformat(), "service": "gateway"}})
    services = ["gateway", *new_errors]
    f = Facts()
    put = lambda name, data, args=None: f.add(name, args or {}, Message(role="tool", data=data,  # noqa: E731
                                                                       evidence_ids=[f"E{len(f.results)}"]))
    put("describe_incident", Overview(inc, [SourceCoverage("logs", 1000, at(logs_from), at(12))], services, {}, {}))
    put("error_onsets", [])
    put("service_map", [Edge("gateway", s, 100, 0) for s in new_errors])
    for s, (n, text) in new_errors.items():
        b = before.get(s, 0)
        put("log_patterns", [LogTemplate(text, b, n, b / 4, n / 8, not b, "error", text)],
            {"service": s, "level": "error", "split_at": at(4).isoformat()})
    f.chain = f.walk_chain()
    f.t0 = f.alert_at
    return f


WRONG_VALUE = "ERROR c.s.ContactsServiceImpl#71 [findContactsById][No contacts according to contactsId]"
BACKGROUND = "ERROR e.s.ExecuteServiceImpl#51 [ticketExecute][ticket execute error: Order Status Wrong]"


def test_a_service_whose_new_errors_clearly_lead_is_listed_open_never_confirmed():
    f = facts({"contacts": (20, WRONG_VALUE), "execute": (10, BACKGROUND)})
    h, other = own_new_errors(f)
    assert (h.service, h.kind, h.lead) == ("contacts", "application_error", True)
    assert (other.service, other.lead) == ("execute", True) and other.strength < h.strength
    assert ranked(f)[0].score < CONCLUDE_AT
    report = conclude(f)
    assert report["inconclusive"]
    assert [(x["service"], x["status"]) for x in report["hypotheses"]][:1] == [("contacts", "open")]


def test_no_lead_when_another_service_gained_nearly_as_many_new_errors():
    # Both are listed for a person to check, neither as the lead.
    hs = own_new_errors(facts({"basic": (12, WRONG_VALUE), "execute": (16, BACKGROUND)}))
    assert [(h.service, h.strength) for h in hs] == [("execute", OTHERS_STRENGTH), ("basic", OTHERS_STRENGTH)]


def test_with_no_answer_the_runners_up_stay_open_for_a_person_to_check():
    """Too weak to answer is not ruled out: in an inconclusive report, a lead that nothing contradicts is listed
    open (where to look next), and its reason does not speak of a confirmed cause that does not exist."""
    report = conclude(facts({"basic": (12, WRONG_VALUE), "execute": (16, BACKGROUND)}))
    assert report["inconclusive"]
    assert [(x["service"], x["status"]) for x in report["hypotheses"]] == [("execute", "open"), ("basic", "open")]
    assert all("confirmed cause" not in x["reason"] for x in report["hypotheses"])


def test_a_background_error_that_kept_its_rate_is_no_lead_but_a_risen_one_is():
    # execute logged 8 in the 4 baseline minutes and 16 in the 8 after: its usual rate. basic logged 8 and then
    # 40: 24 beyond its rate (a wrong value returned now and then before the split, often after it).
    hs = own_new_errors(facts({"basic": (40, WRONG_VALUE), "execute": (16, BACKGROUND)}, before={"basic": 8,
                                                                                           "execute": 8}))
    assert [h.service for h in hs] == ["basic"]
    assert "24 error lines beyond" in hs[0].claim


def test_no_lead_when_the_logs_begin_after_the_baseline():
    # A capture that began at the fault has no before: every template looks new, the background's too.
    assert own_new_errors(facts({"contacts": (20, WRONG_VALUE)}, logs_from=4)) == []


def test_a_load_balancer_with_no_instance_to_call_is_infrastructure_not_the_callers_code():
    assert "conn_refused" in families(NO_INSTANCE)
    # travel's new errors are all "no instance of basic": they neither lead nor outnumber contacts' own.
    f = facts({"contacts": (6, WRONG_VALUE), "travel": (18, NO_INSTANCE)})
    assert [h.service for h in own_new_errors(f)] == ["contacts"]


def test_with_no_answer_only_what_evidence_contradicts_is_ruled_out(monkeypatch):
    """A weak hypothesis nothing speaks against (the wire time around a service with no telemetry of its own)
    stays open; a deploy its service's errors did not follow, or one off the failing path, is ruled out."""
    c = importlib.import_module("agent.heuristic.conclude")     # the package exports a function of that name
    from agent.heuristic.rules import Hypothesis
    f = facts({"contacts": (2, WRONG_VALUE)})
    hs = [Hypothesis("contacts", "network_delay", 0.3, at(5), ["E1"], "calls to contacts spend longer on the wire"),
          Hypothesis("contacts", "deploy_regression", 0.3, at(5), ["E1"], "a deploy of contacts"),
          Hypothesis("billing", "config_change", 0.6, at(5), ["E1"], "a config change of billing")]
    monkeypatch.setattr(c, "hypotheses", lambda _: hs)
    report = c.conclude(f)
    assert report["inconclusive"]
    assert {(x["service"], x["kind"]): x["status"] for x in report["hypotheses"]} == {
        ("contacts", "network_delay"): "open", ("contacts", "deploy_regression"): "ruled_out",
        ("billing", "config_change"): "ruled_out"}


def test_two_leads_from_different_evidence_at_one_service_answer_together(monkeypatch):
    """Nezha TrainTicket 08:43 (a wrong return in contacts): contacts' own logs gained new errors (a lead) and
    its callers' calls to it slowed on the wire (another lead, from spans); together, ahead of every other
    service's, they answer where. A second lead below another service's, or of the same kind, does not."""
    c = importlib.import_module("agent.heuristic.conclude")
    from agent.heuristic.rules import Hypothesis

    def report(*hs):
        monkeypatch.setattr(c, "hypotheses", lambda _: [Hypothesis(s, k, v, at(5), ["E1"], f"{k} at {s}",
                                                                   lead=not rest) for s, k, v, *rest in hs])
        return c.conclude(facts({"contacts": (2, WRONG_VALUE), "execute": (2, BACKGROUND)}))

    r = report(("contacts", "application_error", 0.6), ("contacts", "network_delay", 0.4),
               ("execute", "application_error", 0.3))
    assert not r["inconclusive"] and r["root_cause"]["service"] == "contacts"
    assert r["root_cause"]["kind"] == "application_error"
    assert "Network_delay at contacts" in [link["claim"] for link in r["chain"]]
    assert report(("contacts", "application_error", 0.6), ("execute", "application_error", 0.5),
                  ("contacts", "network_delay", 0.4))["inconclusive"]
    assert report(("contacts", "application_error", 0.6), ("contacts", "application_error", 0.5))["inconclusive"]
    # A second that claims its kind outright (a wire delay both ways, not a lead) is a rival reading (review)
    assert report(("contacts", "application_error", 0.6), ("contacts", "network_delay", 0.4, "claims"),
                  ("execute", "application_error", 0.3))["inconclusive"]
