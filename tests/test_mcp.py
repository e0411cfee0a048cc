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


def test_a_line_that_is_not_a_message_gets_a_json_rpc_error(tmp_path):
    """Non-JSON input was only logged by the SDK: the client waited for an answer for ever (issue 16, also seen)."""
    import json
    import subprocess
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
    lines = "hello, not json\n[1, 2\n{\"a\": 1}\n" + json.dumps(init) + "\n"
    res = subprocess.run([sys.executable, "-m", "agent", "mcp", "--snapshot", str(DEMO)], input=lines,
                         capture_output=True, text=True, timeout=120, cwd=str(REPO),
                         env={**os.environ, "FIVEWHYS_STATE_DIR": str(tmp_path)})
    out = [json.loads(line) for line in res.stdout.splitlines()]
    assert [(m["id"], m["error"]["code"]) for m in out[:3]] == [(None, -32700), (None, -32700), (None, -32600)]
    assert out[3]["id"] == 1 and out[3]["result"]["serverInfo"]["name"] == "fivewhys"
    assert res.returncode == 0 and "Traceback" not in res.stderr
