"""The session file format: `SessionFile` and `Message` values, `loads`/`dumps`.

A session file is YAML frontmatter followed by message blocks (see docs/format.md)::

    ---
    id: session-20250115-143022-auth
    ...
    ---

    # Auth

    <!-- cam:msg id=m01J… role=user ts=2025-01-15T14:30:22.123Z bytes=5 sha256=… -->
    ### User · 2025-01-15 14:30:22 UTC
    hello
    <!-- /cam:msg id=m01J… -->

The content between the header line and the end marker comes back byte for byte: the
renderer adds exactly one `\\n` before the end marker and the parser strips exactly one.
A block ends only at the first line equal to its own end marker, and the renderer refuses
content that holds that line, so no content can close a block early.

This module is the format's one public face; the code lives in:

- vault/records.py: the values, field names, timestamps;
- vault/rendering.py: `dumps`, the frontmatter and title, one message block;
- vault/frontmatter_reader.py: finding, parsing and checking the frontmatter;
- vault/parsing.py: `parse`/`loads`/`load`, the block scanner, torn tails.
"""

from __future__ import annotations

from .frontmatter_reader import read_frontmatter
from .parsing import load, loads, parse
from .records import (
    KEY_FIELDS,
    MAX_FRONTMATTER_BYTES,
    ROLES,
    SOURCE_FIELDS,
    STATUSES,
    Message,
    ParsedSession,
    SessionFile,
    check_timestamp,
    format_ts,
    utc_now,
    with_messages,
)
from .rendering import (
    dumps,
    end_marker,
    render_frontmatter,
    render_head,
    render_message,
    title_line,
)

__all__ = (
    "KEY_FIELDS",
    "MAX_FRONTMATTER_BYTES",
    "ROLES",
    "SOURCE_FIELDS",
    "STATUSES",
    "Message",
    "ParsedSession",
    "SessionFile",
    "check_timestamp",
    "dumps",
    "end_marker",
    "format_ts",
    "load",
    "loads",
    "parse",
    "read_frontmatter",
    "render_frontmatter",
    "render_head",
    "render_message",
    "title_line",
    "utc_now",
    "with_messages",
)
