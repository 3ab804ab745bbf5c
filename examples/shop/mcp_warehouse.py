"""A small MCP server (official ``mcp`` SDK, stdio) for the "Bring your own agent" example.
Frugal starts it itself (see ``frugal.toml``); it exposes one tool, ``inventory``."""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

server = MCPServer("warehouse")
STOCK = {"kettle": 14, "scarf": 3, "socks": 120}


@server.tool(description="Warehouse inventory count of a product (kettle, scarf, socks)")
async def inventory(product: str) -> str:
    for name, count in STOCK.items():
        if name in product.lower():
            return f"{count} {name} units in the warehouse"
    return f"no stock record for {product!r}"


if __name__ == "__main__":
    server.run()
