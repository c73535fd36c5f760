"""Drives `writ mcp` with the official MCP Python SDK (PyPI `mcp`), as a
real client would: connect (the SDK probes `server/discover` and falls back
to the initialize handshake), list tools, resources and resource templates,
call `search` and `propose` (the proposal as a JSON object), read a
resource, and check that bad arguments come back as a tool error.

Usage: python mcp_sdk.py WRIT_BINARY REPO_DIR
Exits non-zero, with the reason on stderr, on any failure. Run by the test
`the_official_python_sdk_drives_writ_mcp` in tests/mcp.rs.
"""

import asyncio
import json
import os
import sys
import traceback

from importlib.metadata import version

from mcp import Client, StdioServerParameters


def check(cond, what):
    if not cond:
        raise AssertionError(what)


async def drive(writ, repo):
    server = StdioServerParameters(command=writ, args=["mcp"], cwd=repo, env=dict(os.environ))
    async with Client(server, read_timeout_seconds=120) as client:
        protocol = client.protocol_version
        check(client.protocol_version in ("2025-11-25", "2025-06-18"), f"protocol {client.protocol_version}")
        check(client.server_info.name == "writ", f"server {client.server_info}")

        tools = {t.name: t for t in (await client.list_tools()).tools}
        check(list(tools) == ["search", "ask", "propose", "explain", "status", "reindex"], f"tools {list(tools)}")
        for tool in tools.values():
            check(tool.input_schema.get("type") == "object", f"{tool.name}: schema type")
        proposal_schema = tools["propose"].input_schema["properties"]["proposal"]
        check(proposal_schema.get("type") == "object", f"proposal schema {proposal_schema}")
        check(tools["search"].annotations.read_only_hint is True, "search read-only")
        check(tools["propose"].annotations.read_only_hint is False, "propose not read-only")
        check(tools["propose"].annotations.destructive_hint is False, "propose not destructive")

        uris = [str(r.uri) for r in (await client.list_resources()).resources]
        check("writ://file/src/shop.py" in uris, f"resources {uris}")
        templates = [t.uri_template for t in (await client.list_resource_templates()).resource_templates]
        check(templates == ["writ://file/{path}"], f"templates {templates}")

        found = await client.call_tool("search", {"query": "sum of prices", "k": 1})
        check(not found.is_error, f"search failed: {found.content}")
        answer = json.loads(found.content[0].text)
        check(answer["generation"] >= 1, f"answer {answer}")
        structured = getattr(found, "structured_content", None) or getattr(found, "structuredContent", None)
        check(structured and structured["result"] == answer, f"structured content {structured}")
        hits = answer["hits"]
        check(hits and hits[0]["path"] == "src/shop.py" and hits[0]["stale"] is False, f"hits {hits}")

        proposal = {
            "kind": "note",
            "title": "explain total",
            "rationale": "r",
            "citations": [hits[0]["chunk_id"]],
            "text": "total sums prices",
        }
        intake = await client.call_tool("propose", {"proposal": proposal})
        check(not intake.is_error, f"propose failed: {intake.content}")
        recorded = json.loads(intake.content[0].text)
        check(recorded["state"] == "held", f"intake {recorded}")

        bad = await client.call_tool("search", {"query": "prices", "k": 0})
        check(bad.is_error, f"k: 0 was accepted: {bad.content}")

        read = await client.read_resource("writ://file/src/shop.py")
        check("def total" in read.contents[0].text, f"read {read.contents}")

    print(
        f"mcp {version('mcp')} ok: "
        f"protocol {protocol}, {len(tools)} tools, {len(uris)} resources, "
        f"proposal {recorded['id']} {recorded['state']}"
    )


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        asyncio.run(drive(sys.argv[1], sys.argv[2]))
    except BaseException as e:  # noqa: BLE001 - any failure fails the test
        traceback.print_exc()
        print(f"mcp_sdk.py: FAILED: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
