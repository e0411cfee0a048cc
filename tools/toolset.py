"""Tools are plain typed functions; their JSON schema comes from the signature and docstring.

The first parameter is the injected `ToolContext` (telemetry backend, evidence ledger,
limits), which the model never sees. Everything here is read-only by construction:
a tool only has the Telemetry protocol's query primitives to call.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, get_type_hints

import docstring_parser
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from tools.domain.errors import problems
from tools.domain.evidence import EvidenceLedger
from tools.domain.redact import safe_cut
from tools.analysis import baseline_end, compute_onsets
from tools.backends.base import Telemetry, TelemetryError
from tools.results import ErrorOnset, Status

MAX_RESULT_CHARS = 6000     # one tool result can never flood the context


@dataclass
class ToolContext:
    telemetry: Telemetry
    ledger: EvidenceLedger
    max_result_chars: int = MAX_RESULT_CHARS
    _memo: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def incident(self):
        return self.telemetry.incident

    def onsets(self) -> list[ErrorOnset]:
        """Every service's error onset, computed once on first use: a tool's answer (a default split time)
        must not depend on which tools ran before it."""
        if "onsets" not in self._memo:
            self._memo["onsets"] = compute_onsets(self.telemetry)
        return self._memo["onsets"]

    def baseline_end(self) -> datetime:
        """Where 'normal' ends: halfway to the page, and strictly before the earliest error onset."""
        onsets = self.onsets()
        cut = baseline_end(self.incident)
        return min(cut, min(o.onset for o in onsets) - timedelta(minutes=1)) if onsets else cut


@dataclass
class ToolResult:
    text: str                                   # compact rendering for the model
    evidence_ids: list[str] = field(default_factory=list)
    data: Any = None                            # the typed result (tools/results.py), for the heuristic and tests
    status: Status = Status.OK

    @property
    def error(self) -> bool:
        return self.status is Status.ERROR


class ToolArgumentError(ValueError):
    """Arguments from the model did not validate; the message goes back to the model."""


@dataclass
class Tool:
    name: str
    description: str
    fn: Callable[..., ToolResult]
    args_model: type[BaseModel]

    @property
    def schema(self) -> dict[str, Any]:
        """JSON schema of the parameters (provider-neutral)."""
        s = self.args_model.model_json_schema()
        s.pop("title", None)
        for p in s.get("properties", {}).values():
            p.pop("title", None)
        return s

    def validate(self, arguments: dict[str, Any] | None) -> dict[str, Any]:
        try:
            return dict(self.args_model.model_validate(arguments or {}))
        except ValidationError as e:
            raise ToolArgumentError("; ".join(problems(e, root="arguments"))) from None

    def __call__(self, ctx: ToolContext, arguments: dict[str, Any] | None = None) -> ToolResult:
        """Validate, run, and bound the output. Backend failures become an error result, not a crash."""
        try:
            result = self.fn(ctx, **self.validate(arguments))
        except ToolArgumentError as e:
            return ToolResult(text=f"invalid arguments for {self.name}: {e}", status=Status.ERROR)
        except TelemetryError as e:
            return ToolResult(text=f"{self.name} failed: {e}", status=Status.ERROR)
        except Exception as e:  # noqa: BLE001 - odd data must cost one tool call, not the investigation
            return ToolResult(text=f"{self.name} failed unexpectedly ({type(e).__name__}: {e}); "
                                   f"try other arguments or another tool", status=Status.ERROR)
        if len(result.text) > ctx.max_result_chars:
            k = safe_cut(result.text, ctx.max_result_chars)
            result.text = result.text[:k] + f"\n… [{len(result.text) - k} more characters left out; narrow the query]"
        return result


TOOLS: dict[str, Tool] = {}


def tool(fn: Callable[..., ToolResult]) -> Callable[..., ToolResult]:
    """Register a typed function as a tool. The one extension hook for new data sources."""
    doc = docstring_parser.parse(inspect.getdoc(fn) or "")
    param_docs = {p.arg_name: " ".join((p.description or "").split()) or None for p in doc.params}
    hints = get_type_hints(fn)
    fields: dict[str, Any] = {}
    for name, p in list(inspect.signature(fn).parameters.items())[1:]:   # skip the injected context
        default = ... if p.default is inspect.Parameter.empty else p.default
        fields[name] = (hints[name], Field(default, description=param_docs.get(name)))
    model = create_model(f"{fn.__name__}_args", __config__=ConfigDict(extra="forbid"), **fields)
    # Paragraphs joined by a blank line, the lines inside a paragraph by a space (docstrings wrap mid-sentence).
    description = "\n\n".join(" ".join(p.split()) for x in (doc.short_description, doc.long_description) if x
                              for p in x.split("\n\n"))
    TOOLS[fn.__name__] = Tool(fn.__name__, description, fn, model)
    return fn


def fmt_time(t: datetime | None) -> str:
    return t.strftime("%H:%M:%S") if t and (t.second or t.microsecond) else (t.strftime("%H:%M") if t else "-")


def fmt_span(start: datetime | None, end: datetime | None) -> str:
    if not start or not end:
        return "-"
    day = start.strftime("%Y-%m-%d ")
    return f"{day}{fmt_time(start)}–{fmt_time(end)}Z"


def minutes(td: timedelta) -> float:
    return td.total_seconds() / 60
