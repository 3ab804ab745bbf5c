"""A tiny MCP server for the tests, written with the official SDK; run as a stdio program.

``inventory`` takes 250 ms (to show it runs alongside other tools); ``fail`` reports an error.
"""

from __future__ import annotations

import anyio
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("warehouse")


@server.tool(description="Warehouse inventory count of a product by sku")
async def inventory(sku: str) -> str:
    await anyio.sleep(0.25)
    return f"sku {sku}: 12 units in the warehouse"


@server.tool(description="Always fails")
async def fail(reason: str) -> str:
    raise ToolError(f"failing on purpose: {reason}")


if __name__ == "__main__":
    server.run()
