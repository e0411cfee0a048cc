"""The agent loop: model turn → tool calls → results → … until a valid report or a budget runs out."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

from agent.config import Budgets
from tools.domain.evidence import EvidenceLedger
from agent.models.base import Message, Model, ModelError, ToolCall, ToolSpec, Usage
from agent.report import Report, inconclusive, parse_report
from agent.transcript import Transcript
from prompts import quote_untrusted, render
from tools import TOOLS, ToolContext, ToolResult
from tools.results import Status

SUBMIT = "submit_report"
Event = Callable[[str, dict[str, Any]], None]     # ("tool_start"|"tool_end"|"text"|"rejected", payload)


@dataclass
class RunUsage:
    steps: int = 0
    tool_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    wall_s: float = 0.0


@dataclass
class RunResult:
    report: Report
    ledger: EvidenceLedger
    usage: RunUsage
    stop_reason: str                   # submitted, budget_steps, budget_tokens, budget_wall, ...
    messages: list[Message] = field(default_factory=list)


def tool_specs() -> list[ToolSpec]:
    specs = [ToolSpec(name=t.name, description=t.description, parameters=t.schema) for t in TOOLS.values()]
    return specs + [ToolSpec(name=SUBMIT, description=(Report.__doc__ or "").strip(),
                             parameters=Report.model_json_schema())]


class Investigation:
    """One conversation over one incident: follow-up questions keep the messages and the ledger."""

    def __init__(self, model: Model, ctx: ToolContext, budgets: Budgets | None = None,
                 transcript: Transcript | None = None, on_event: Event | None = None):
        self.model, self.ctx, self.budgets = model, ctx, budgets or Budgets()
        self.transcript = transcript or Transcript(None, {})
        self.on_event = on_event or (lambda kind, payload: None)
        self.specs = tool_specs()
        self.messages: list[Message] = []

    def run(self, question: str | None = None) -> RunResult:
        if not self.messages:
            self._record(Message(role="system", content=render("system.j2", submit_tool=SUBMIT, budget=self.budgets)))
            self._record(Message(role="user", content=render("task.j2", incident=self.ctx.incident,
                                                             question=question or self.ctx.incident.question)))
        else:
            self._record(Message(role="user", content=render("task.j2", incident=self.ctx.incident, question=question)))
        usage, report, stop, rejected, idle, t0 = RunUsage(), None, None, 0, 0, time.monotonic()
        try:
            while report is None and not (stop := self._over_budget(usage, t0)):
                turn = self.model.turn(self.messages, self.specs, on_text=lambda s: self.on_event("text", {"text": s}))
                usage.steps += 1
                self._add_usage(usage, turn.usage)
                self._record(Message(role="assistant", content=turn.text, tool_calls=turn.tool_calls))
                if not turn.tool_calls:
                    idle += 1
                    if idle >= self.budgets.max_text_turns:
                        stop = "no_tool_calls"
                        break
                    self._record(Message(role="user", content=render("no_tool_call.j2", submit_tool=SUBMIT)))
                    continue
                idle = 0
                for call in turn.tool_calls:
                    if call.name != SUBMIT:
                        usage.tool_calls += 1
                        self._record(self._run_tool(call))
                        continue
                    report, problems = parse_report(call.arguments, self.ctx.ledger) if call.arguments is not None \
                        else (None, [f"arguments were not valid JSON: {(call.raw_arguments or '')[:200]!r}"])
                    rejected += bool(problems)
                    self._record(Message(role="tool", tool_call_id=call.id, name=SUBMIT, content=render(
                        "report_rejected.j2", attempt=rejected, max_attempts=self.budgets.max_report_attempts,
                        problems=problems, submit_tool=SUBMIT, known_ids=_ids(self.ctx.ledger))
                        if problems else "report accepted"))
                    if problems:
                        self.on_event("rejected", {"problems": problems})
                        stop = "report_rejected" if rejected >= self.budgets.max_report_attempts else None
                if stop:
                    break
        except ModelError as e:
            stop = f"model_error: {e}"
        finally:
            usage.wall_s = round(time.monotonic() - t0, 3)
            final = report or inconclusive(f"stopped before a valid report ({stop or 'interrupted'})")
            redactor = getattr(self.model, "redact", None)
            self.transcript.write("result", stop_reason="submitted" if report else stop, report=final,
                                  usage=usage.__dict__, evidence=self.ctx.ledger.items,
                                  redactions=dict(getattr(redactor, "counts", {})),
                                  compacted_tool_results=getattr(self.model, "compacted", 0))
        return RunResult(final, self.ctx.ledger, usage, "submitted" if report else str(stop), self.messages)

    def _over_budget(self, usage: RunUsage, t0: float) -> str | None:
        b = self.budgets
        if usage.steps >= b.max_steps:
            return "budget_steps"
        if usage.input_tokens + usage.output_tokens >= b.max_tokens:
            return "budget_tokens"
        return "budget_wall" if time.monotonic() - t0 >= b.max_wall_s else None

    def _run_tool(self, call: ToolCall) -> Message:
        tool = TOOLS.get(call.name)
        self.on_event("tool_start", {"call": call})
        if tool is None:
            res = ToolResult(f"unknown tool {call.name!r}; tools: {', '.join(TOOLS)}, {SUBMIT}", status=Status.ERROR)
        elif call.arguments is None:
            res = ToolResult(f"arguments were not valid JSON: {(call.raw_arguments or '')[:200]!r}",
                             status=Status.ERROR)
        else:
            res = tool(self.ctx, call.arguments)
        text, ids, data, err = res.text, res.evidence_ids, res.data, res.error
        self.on_event("tool_end", {"call": call, "text": text, "evidence_ids": ids, "error": err})
        body = render("tool_error.j2" if err else "tool_result.j2", name=call.name, evidence_ids=ids,
                      status=res.status.value, text=quote_untrusted(text))
        return Message(role="tool", tool_call_id=call.id, name=call.name, content=body, evidence_ids=ids, data=data)

    def _record(self, msg: Message) -> None:
        self.messages.append(msg)
        self.transcript.write("message", message=msg.model_dump(mode="json"))

    @staticmethod
    def _add_usage(run: RunUsage, u: Usage) -> None:
        run.input_tokens += u.input_tokens
        run.output_tokens += u.output_tokens
        run.cost_usd += u.cost_usd


def _ids(ledger: EvidenceLedger) -> str:
    return f"E1..E{len(ledger)}" if len(ledger) else "none yet (call tools first)"
