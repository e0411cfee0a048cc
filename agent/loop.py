"""The agent loop: model turn → tool calls → results → … until a valid report or a budget runs out."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Callable

from agent.config import Budgets
from tools.domain.evidence import EvidenceLedger
from agent.models.base import Message, Model, ModelError, ToolCall, ToolSpec, Usage
from agent.report import Report, inconclusive, parse_report
from agent.transcript import Transcript
from prompts import quote_untrusted, render
from tools import TOOLS, ToolContext, ToolResult
from tools.toolset import compact_schema
from tools.results import Status

SUBMIT = "submit_report"


class StopReason(StrEnum):
    """Why a run ended. The values are what transcripts, `--json` and eval results show."""
    SUBMITTED = "submitted"
    BUDGET_STEPS = "budget_steps"
    BUDGET_TOKENS = "budget_tokens"
    BUDGET_WALL = "budget_wall"
    NO_TOOL_CALLS = "no_tool_calls"          # max_text_turns turns in a row without a tool call
    REPORT_REJECTED = "report_rejected"      # max_report_attempts reports sent back
    MODEL_ERROR = "model_error"              # the provider failed; RunResult.error says how
    INTERRUPTED = "interrupted"              # Ctrl-C, or an exception the loop does not handle


# ---- what the loop tells its surface while it runs (progress lines, Slack status, benchmarks) ----
@dataclass(frozen=True)
class ToolStarted:
    call: ToolCall


@dataclass(frozen=True)
class ToolFinished:
    call: ToolCall
    text: str
    evidence_ids: list[str]
    error: bool
    seconds: float


@dataclass(frozen=True)
class ModelText:
    text: str                                # streamed as it arrives, where the provider streams


@dataclass(frozen=True)
class ReportRejected:
    problems: list[str]
    attempt: int


@dataclass(frozen=True)
class RunFinished:
    stop_reason: StopReason
    error: str | None


LoopEvent = ToolStarted | ToolFinished | ModelText | ReportRejected | RunFinished
EventHandler = Callable[[LoopEvent], None]


@dataclass
class RunUsage:
    steps: int = 0
    tool_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    wall_s: float = 0.0

    def add_turn(self, u: Usage) -> None:
        self.steps += 1
        self.input_tokens += u.input_tokens
        self.output_tokens += u.output_tokens
        self.cost_usd += u.cost_usd


@dataclass
class RunResult:
    report: Report
    ledger: EvidenceLedger
    usage: RunUsage
    stop_reason: StopReason
    messages: list[Message] = field(default_factory=list)
    error: str | None = None                 # what failed, for model_error (and an interrupting exception)

    @property
    def stop_text(self) -> str:
        """The stop reason as people read it: "budget_steps", "model_error: 401 invalid api key"."""
        return f"{self.stop_reason}: {self.error}" if self.error else str(self.stop_reason)


def tool_specs() -> list[ToolSpec]:
    specs = [ToolSpec(name=t.name, description=t.description, parameters=t.schema) for t in TOOLS.values()]
    report = compact_schema(Report.model_json_schema())
    report.pop("description", None)             # it is the tool's description
    return specs + [ToolSpec(name=SUBMIT, description=(Report.__doc__ or "").strip(), parameters=report)]


def schema_chars(specs: list[ToolSpec]) -> dict[str, int]:
    """Characters each tool's schema adds to every request (compact JSON, as the SDKs send it)."""
    return {s.name: len(json.dumps(s.model_dump(), separators=(",", ":"), ensure_ascii=False)) for s in specs}


class Investigation:
    """One conversation over one incident: follow-up questions keep the messages and the ledger.
    Surfaces open one with agent.session.open_investigation, which also closes what it opened."""

    def __init__(self, model: Model, ctx: ToolContext, budgets: Budgets | None = None,
                 transcript: Transcript | None = None, on_event: EventHandler | None = None):
        self.model, self.ctx, self.budgets = model, ctx, budgets or Budgets()
        self.transcript = transcript or Transcript(None, {})
        self.on_event = on_event or (lambda event: None)
        self.specs = tool_specs()
        self.messages: list[Message] = []

    def run(self, question: str | None = None) -> RunResult:
        """Turns until a valid report, a budget, or a failing model; the transcript gets the end either way."""
        self._ask(question)
        usage, t0, report, error = RunUsage(), time.monotonic(), None, None
        try:
            report, stop = self._turns(usage, t0)
        except ModelError as e:
            stop, error = StopReason.MODEL_ERROR, str(e)
        except BaseException as e:          # Ctrl-C or a bug: record the end, then let it go on up
            self._finish(None, StopReason.INTERRUPTED, None if isinstance(e, KeyboardInterrupt)
                         else f"{type(e).__name__}: {e}"[:500], usage, t0)
            raise
        return self._finish(report, stop, error, usage, t0)

    def _ask(self, question: str | None) -> None:
        if not self.messages:
            self._record(Message(role="system", content=render("system.j2", submit_tool=SUBMIT, budget=self.budgets)))
            question = question or self.ctx.incident.question
        self._record(Message(role="user", content=render("task.j2", incident=self.ctx.incident, question=question)))

    def _turns(self, usage: RunUsage, t0: float) -> tuple[Report | None, StopReason]:
        rejected = idle = 0
        while not (stop := self._over_budget(usage, t0)):
            turn = self.model.turn(self.messages, self.specs, on_text=lambda s: self.on_event(ModelText(s)))
            usage.add_turn(turn.usage)
            self._record(Message(role="assistant", content=turn.text, tool_calls=turn.tool_calls))
            if not turn.tool_calls:
                idle += 1
                if idle >= self.budgets.max_text_turns:
                    return None, StopReason.NO_TOOL_CALLS
                self._record(Message(role="user", content=render("no_tool_call.j2", submit_tool=SUBMIT)))
                continue
            idle, report = 0, None
            for call in turn.tool_calls:    # every call of the turn is answered, even after a report
                if call.name == SUBMIT:
                    report, rejected = self._submit(call, rejected)
                else:
                    usage.tool_calls += 1
                    self._record(self._run_tool(call))
            if report is not None:
                return report, StopReason.SUBMITTED
            if rejected >= self.budgets.max_report_attempts:
                return None, StopReason.REPORT_REJECTED
        return None, stop

    def _over_budget(self, usage: RunUsage, t0: float) -> StopReason | None:
        b = self.budgets
        if usage.steps >= b.max_steps:
            return StopReason.BUDGET_STEPS
        if usage.input_tokens + usage.output_tokens >= b.max_tokens:
            return StopReason.BUDGET_TOKENS
        return StopReason.BUDGET_WALL if time.monotonic() - t0 >= b.max_wall_s else None

    def _submit(self, call: ToolCall, rejected: int) -> tuple[Report | None, int]:
        """Validate a submitted report; its problems go back to the model, a bounded number of times."""
        report, problems = parse_report(call.arguments, self.ctx.ledger) if call.arguments is not None \
            else (None, [f"arguments were not valid JSON: {(call.raw_arguments or '')[:200]!r}"])
        rejected += bool(problems)
        self._record(Message(role="tool", tool_call_id=call.id, name=SUBMIT, content=render(
            "report_rejected.j2", attempt=rejected, max_attempts=self.budgets.max_report_attempts,
            problems=problems, submit_tool=SUBMIT, known_ids=_ids(self.ctx.ledger))
            if problems else "report accepted"))
        if problems:
            self.on_event(ReportRejected(problems, rejected))
        return report, rejected

    def _run_tool(self, call: ToolCall) -> Message:
        tool = TOOLS.get(call.name)
        self.on_event(ToolStarted(call))
        t0 = time.perf_counter()
        if tool is None:
            res = ToolResult(f"unknown tool {call.name!r}; tools: {', '.join(TOOLS)}, {SUBMIT}", status=Status.ERROR)
        elif call.arguments is None:
            res = ToolResult(f"arguments were not valid JSON: {(call.raw_arguments or '')[:200]!r}",
                             status=Status.ERROR)
        else:
            res = tool(self.ctx, call.arguments)
        text, ids, data, err = res.text, res.evidence_ids, res.data, res.error
        self.on_event(ToolFinished(call, text, ids, err, time.perf_counter() - t0))
        body = render("tool_error.j2" if err else "tool_result.j2", name=call.name, evidence_ids=ids,
                      status=res.status.value, text=quote_untrusted(text))
        return Message(role="tool", tool_call_id=call.id, name=call.name, content=body, evidence_ids=ids, data=data)

    def _finish(self, report: Report | None, stop: StopReason, error: str | None, usage: RunUsage,
                t0: float) -> RunResult:
        usage.wall_s = round(time.monotonic() - t0, 3)
        final = report or inconclusive(f"stopped before a valid report ({f'{stop}: {error}' if error else stop})")
        redactor = getattr(self.model, "redact", None)
        self.transcript.write("result", stop_reason=stop, error=error, report=final, usage=usage.__dict__,
                              evidence=self.ctx.ledger.items, failures=self.ctx.ledger.failures, redactions=dict(getattr(redactor, "counts", {})),
                              compacted_tool_results=getattr(self.model, "compacted", 0))
        self.on_event(RunFinished(stop, error))
        return RunResult(final, self.ctx.ledger, usage, stop, self.messages, error)

    def _record(self, msg: Message) -> None:
        self.messages.append(msg)
        self.transcript.write("message", message=msg.model_dump(mode="json"))


def _ids(ledger: EvidenceLedger) -> str:
    return f"E1..E{len(ledger)}" if len(ledger) else "none yet (call tools first)"
