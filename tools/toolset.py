"""Tools are plain typed functions; their JSON schema comes from the signature and docstring.

The first parameter is the injected `ToolContext` (telemetry backend, evidence ledger,
limits), which the model never sees. Everything here is read-only by construction:
a tool only has the Telemetry protocol's query primitives to call.
"""
from __future__ import annotations

import inspect
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Callable, get_type_hints

import docstring_parser
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model

from tools.domain.errors import QueryError, problems
from tools.domain.evidence import EvidenceLedger
from tools.domain.redact import safe_cut
from tools.analysis import baseline_end, compute_onsets
from tools.backends.base import Telemetry, TelemetryError
from tools.results import ErrorOnset, Status

MAX_RESULT_CHARS = 6000     # one tool result can never flood the context
# What parameters of these names mean in every tool, said once (the system prompt, the MCP server's instructions)
# instead of in each schema, which goes with every turn; the schemas do not repeat the time format either.
SHARED_PARAMETERS = ("Tool arguments: times are RFC 3339 (the report's too); start and end narrow the incident "
                     "window (default: all of it); service keeps one service's rows; split_at is where 'before' "
                     "ends (default, the same in every tool: a minute before the earliest error onset, or halfway to the page "
                     "if that is earlier).")


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
        return self.split()[0]

    def split(self, split_at: datetime | None = None) -> tuple[datetime, str]:
        """The one default split of every tool that compares before with after, and why, in a short phrase
        the tools print (a model comparing two tools' answers must see they cut at the same time)."""
        if split_at:
            return split_at, "as asked"
        onsets = self.onsets()
        cut = baseline_end(self.incident)
        if onsets and (first := min(o.onset for o in onsets) - timedelta(minutes=1)) < cut:
            return first, "a minute before the earliest error onset"
        return cut, "halfway to the page" + ("" if onsets else ", no error onset")

    def split_note(self, split_at: datetime | None = None) -> str:
        """'split at 10:04 (why)': the phrase every before/after tool says its split with."""
        t, why = self.split(split_at)
        return f"split at {fmt_time(t)} ({why})"


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
        """JSON schema of the parameters (provider-neutral), as compact as compact_schema makes it."""
        return compact_schema(self.args_model.model_json_schema())

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
        except QueryError as e:             # the caller asked for what cannot be answered: its mistake, told back
            return ToolResult(text=f"{self.name} failed: {e}", status=Status.ERROR)
        except TelemetryError as e:         # the data could not be read: the report and the exit code say so
            ctx.ledger.failed(self.name, str(e))
            return ToolResult(text=f"{self.name} failed: {e}", status=Status.ERROR)
        except Exception as e:  # noqa: BLE001 - odd data must cost one tool call, not the investigation
            ctx.ledger.failed(self.name, f"{self.name} failed unexpectedly: {type(e).__name__}: {e}")
            return ToolResult(text=f"{self.name} failed unexpectedly ({type(e).__name__}: {e}); "
                                   f"try other arguments or another tool", status=Status.ERROR)
        if len(result.text) > ctx.max_result_chars:
            k = safe_cut(result.text, ctx.max_result_chars)
            result.text = result.text[:k] + f"\n… [{len(result.text) - k} more characters left out; narrow the query]"
        return result


def compact_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """The JSON schema a model reads with every turn, without what it does not need: titles, the `null`
    alternative of an optional field (it is left out instead), a `default` of null or false (what leaving a
    field out means), `additionalProperties: false` (extra arguments are refused, with the reason, anyway),
    the date-time format (SHARED_PARAMETERS says it once); an enum used twice is written once under $defs, and
    a $defs entry used once where it is used. Validation stays pydantic's, on the full model."""
    return _inline_single_use(_share_enums(_strip(schema)))


def _needless(key: str, value: Any) -> bool:
    return (key == "title" or (key == "additionalProperties" and value is False)
            or (key == "default" and (value is None or value is False)) or (key == "format" and value == "date-time"))


def _strip(node: Any) -> Any:
    if isinstance(node, list):
        return [_strip(x) for x in node]
    if not isinstance(node, dict):
        return node
    alts = node.get("anyOf", [])
    if len(alts) == 2 and {"type": "null"} in alts and node.get("default") is None:
        node = {**next(a for a in alts if a != {"type": "null"}),
                **{k: v for k, v in node.items() if k not in ("anyOf", "default")}}
    return {k: {name: _strip(s) for name, s in v.items()} if k in ("properties", "$defs") else _strip(v)
            for k, v in node.items() if not _needless(k, v)}


def _share_enums(schema: dict[str, Any]) -> dict[str, Any]:
    """An enum that two properties share (the report's kind) goes under $defs, named after the property."""
    found: dict[str, list[tuple[str, dict]]] = {}
    for holder in [schema, *schema.get("$defs", {}).values()]:
        for name, prop in holder.get("properties", {}).items():
            if "enum" in prop:
                found.setdefault(json.dumps([prop.get("type"), prop["enum"]]), []).append((name, prop))
    for uses in (u for u in found.values() if len(u) > 1):
        name = uses[0][0].title()
        schema.setdefault("$defs", {})[name] = {k: uses[0][1][k] for k in ("type", "enum") if k in uses[0][1]}
        for _, prop in uses:            # a description or default stays beside the reference
            rest = {k: v for k, v in prop.items() if k not in ("type", "enum")}
            prop.clear()
            prop.update({"$ref": f"#/$defs/{name}", **rest})
    return schema


def _inline_single_use(schema: dict[str, Any]) -> dict[str, Any]:
    """A $defs entry referred to once is written where it is used: $defs are for what is shared."""
    defs = schema.get("$defs", {})
    text = json.dumps(schema)
    once = {n for n in defs if text.count(f'"#/$defs/{n}"') == 1}

    def inline(node: Any) -> Any:
        if isinstance(node, list):
            return [inline(x) for x in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref", "").removeprefix("#/$defs/")
        if ref in once:
            return inline({**defs[ref], **{k: v for k, v in node.items() if k != "$ref"}})
        return {k: inline(v) for k, v in node.items() if not (k == "$defs" and node is schema)}
    out = inline(schema)
    if kept := {n: inline(d) for n, d in defs.items() if n not in once}:
        out["$defs"] = kept
    return out


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
    # Paragraphs joined by a blank line, the lines inside a paragraph by a space (docstrings wrap mid-sentence;
    # the parser's short description is the first line, not the first sentence, so read its whole description).
    description = "\n\n".join(" ".join(p.split()) for p in (doc.description or "").split("\n\n") if p.strip())
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
