"""The same read-only tools over the Model Context Protocol (stdio), for other agents (Claude Code,
Cursor). Each call adds evidence to the ledger of the tools' context (agent.session.open_tools) and returns
the tool's text with its ids, redacted: the client hands it to an LLM."""
from __future__ import annotations

import anyio
import mcp.types as types
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

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


def serve_stdio(ctx: ToolContext) -> None:
    server = build_server(ctx)

    async def main() -> None:
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())
    anyio.run(main)
