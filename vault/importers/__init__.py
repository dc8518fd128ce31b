"""Importers: Claude Code transcripts, claude.ai and ChatGPT exports, and the live capture hook.

Each source module streams its input and yields session drafts with ids derived from the
source's own ids; `run_import` writes them through the vault (docs/import.md).
"""

from .capture import capture_claude_code
from .common import resolve_tool_results
from .runner import SOURCES, ImportReport, Source, run_import

__all__ = (
    "SOURCES",
    "ImportReport",
    "Source",
    "capture_claude_code",
    "resolve_tool_results",
    "run_import",
)
