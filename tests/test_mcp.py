"""The MCP server, driven by the SDK's own client over stdio, as Claude Code or Cursor would."""
import os
import sys

import anyio
from mcp import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from agent import __version__
from conftest import DEMO, REPO


def test_tools_over_stdio(tmp_path):
    """…and the server names its version (issue 14, item 8: serverInfo.version was empty)."""
    async def run():
        params = StdioServerParameters(command=sys.executable, args=["-m", "agent", "mcp", "--snapshot", str(DEMO)],
                                       cwd=str(REPO), env={**os.environ, "FIVEWHYS_STATE_DIR": str(tmp_path)})
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as session:
                init = await session.initialize()
                assert init.server_info.name == "fivewhys" and init.server_info.version == __version__
                tools = (await session.list_tools()).tools
                names = {t.name for t in tools}
                assert {"describe_incident", "scaling_events", "query_metric"} <= names
                assert all(t.annotations.read_only_hint for t in tools)
                first = await session.call_tool("describe_incident", {})
                assert "evidence=E1" in first.content[0].text and "search-token-peak" in first.content[0].text
                res = await session.call_tool("scaling_events", {"service": "search"})
                assert "evidence=E2" in res.content[0].text and "failed" in res.content[0].text
                bad = await session.call_tool("query_metric", {"service": "search"})
                assert bad.is_error and "name" in bad.content[0].text
    anyio.run(run)
