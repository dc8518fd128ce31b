"""codearchitect's MCP server and command line: a thin layer over vault and indexer."""
