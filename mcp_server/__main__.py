"""`python -m mcp_server`: the same as `codearchitect serve`."""

from mcp_server.serve import run_server

if __name__ == "__main__":
    run_server()
