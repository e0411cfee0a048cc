"""The same read-only tools over the Model Context Protocol (stdio), for other agents (Claude Code,
Cursor). Each call adds evidence to the ledger of the tools' context (agent.session.open_tools) and returns
the tool's text with its ids, redacted: the client hands it to an LLM."""
from __future__ import annotations

import anyio
import mcp.types as types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from pydantic import ValidationError

from tools.domain.redact import Redactor
from agent import __version__
from prompts import quote_untrusted
from tools import TOOLS, ToolContext
from tools.toolset import SHARED_PARAMETERS


def build_server(ctx: ToolContext) -> Server:
    redact = Redactor()

    async def list_tools(_req, _params) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[
            types.Tool(name=t.name, description=t.description, input_schema=t.schema,
                       annotations=types.ToolAnnotations(read_only_hint=True, open_world_hint=False))
            for t in TOOLS.values()])

    async def call_tool(_req, params: types.CallToolRequestParams) -> types.CallToolResult:
        tool = TOOLS.get(params.name)
        if tool is None:
            return _result(f"unknown tool {params.name!r}; tools: {', '.join(TOOLS)}", error=True)
        res = await anyio.to_thread.run_sync(lambda: tool(ctx, params.arguments or {}))
        ids = f" evidence={','.join(res.evidence_ids)}" if res.evidence_ids else ""
        return _result(f"<tool-result tool={params.name!r}{ids}>\n{quote_untrusted(redact(res.text))}\n</tool-result>",
                       error=res.error)
    return Server("fivewhys", version=__version__,
                  instructions="Read-only incident telemetry tools; every result names its evidence ids (E1, E2, "
                               f"...) to cite. {SHARED_PARAMETERS}", on_list_tools=list_tools, on_call_tool=call_tool)


def _result(text: str, error: bool = False) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(type="text", text=text)], is_error=error)


def rpc_error(exc: Exception) -> SessionMessage:
    """The JSON-RPC answer to a line that is not a message: -32700 when it is not JSON at all, -32600 when it
    is JSON but not a request (the SDK would only log it, and the client would wait for ever)."""
    not_json = isinstance(exc, ValidationError) and any(e["type"] == "json_invalid" for e in exc.errors())
    code, what = (types.PARSE_ERROR, "Parse error") if not_json else (types.INVALID_REQUEST, "Invalid Request")
    return SessionMessage(types.JSONRPCError(jsonrpc="2.0", id=None, error=types.ErrorData(code=code, message=what)))


def serve_stdio(ctx: ToolContext) -> None:
    server = build_server(ctx)

    async def main() -> None:
        async with stdio_server() as (read, write):
            messages, inbox = anyio.create_memory_object_stream(0)

            async def answer_bad_lines() -> None:      # what the server reads: messages; the rest is answered here
                async with messages:
                    async for item in read:
                        if isinstance(item, Exception):
                            await write.send(rpc_error(item))
                        else:
                            await messages.send(item)
            async with anyio.create_task_group() as tg:
                tg.start_soon(answer_bad_lines)
                await server.run(inbox, write, server.create_initialization_options())
                tg.cancel_scope.cancel()
    anyio.run(main)
