"""The MCP server: a thin layer of tools over the vault and the index.

Each tool validates its arguments (pydantic, from the signature), calls one indexer
function, and returns the same JSON as `structuredContent` and as text. Failures are
`{"success": false, "error": CODE, "message", "details"}` with `isError: true`.
"""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any, Literal, TypeVar

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError
from mcp.shared.exceptions import MCPError
from mcp.types import INTERNAL_ERROR, INVALID_PARAMS, CallToolResult, ToolAnnotations
from pydantic import AfterValidator, Field

from indexer.context import render
from vault import InvalidInput, SessionNotFound
from vault.paths import check_session_id
from vault.redaction import Redactions

from .app import App
from .arguments import literal_strings
from .errors import ProtocolError, error_payload
from .results import fail, run_tool, text_only, warning_fields
from .views import message_view, pair_view, session_view

__all__ = ("build_server",)

log = logging.getLogger("codearchitect.server")

# The indexer's page bounds (indexer.queries.MAX_OFFSET, indexer.filters.MAX_SEARCH_OFFSET;
# a test keeps them equal), repeated here so that the schemas state them without importing
# the indexer before tools/list is answered (serve.py).
MAX_OFFSET = 1_000_000
MAX_SEARCH_OFFSET = 10_000

Project = Annotated[
    str | None,
    Field(
        description="A registered project name or the path of a project root; default: this server's project"
    ),
]


def _safe_session_id(value: str | None) -> str | None:
    """An unsafe id (a path, control or bidi characters, '..') is INVALID_INPUT, as the
    vault refuses it on writes, not a SESSION_NOT_FOUND."""
    if value is None:
        return None
    try:
        return check_session_id(value)
    except InvalidInput as exc:
        raise ValueError(exc.message) from exc


SessionId = Annotated[
    str,
    Field(description="The session id", min_length=1, max_length=128),
    AfterValidator(_safe_session_id),
]
SessionFilter = Annotated[
    str | None,
    Field(description="Only this session (its id)", min_length=1, max_length=128),
    AfterValidator(_safe_session_id),
]
Limit = Annotated[int, Field(description="At most this many results", ge=1, le=1000, strict=True)]
Offset = Annotated[
    int,
    Field(description="Skip this many results first", ge=0, le=MAX_OFFSET, strict=True),
]
SearchOffset = Annotated[
    int,
    Field(
        description=f"Skip this many hits first (at most {MAX_SEARCH_OFFSET})",
        ge=0,
        le=MAX_SEARCH_OFFSET,
        strict=True,
    ),
]
Time = Annotated[
    str | None, Field(description="ISO 8601 time, e.g. 2025-01-15T14:30:00Z", max_length=40)
]
Role = Literal["user", "assistant", "system", "tool"]
Mode = Annotated[
    Literal["keyword", "semantic", "hybrid"] | None,
    Field(
        description="keyword (BM25, query syntax), semantic (by meaning) or hybrid (both, fused);"
        " default: hybrid when semantic search is on and caught up, else keyword"
    ),
]
MAX_QUERY = 1000
_Fn = TypeVar("_Fn", bound=Callable[..., Any])
ToolName = Annotated[
    str | None,
    Field(
        description="Only messages that call this tool or carry its result (e.g. Bash, Edit; "
        "letter case ignored)",
        min_length=1,
        max_length=200,
    ),
]


class VaultServer(MCPServer[App]):
    """MCPServer whose every tool failure, an unknown tool and a bad argument included,
    comes back as our envelope, and whose missing resources are not-found errors."""

    def vault_tool(
        self, title: str, *, read_only: bool, destructive: bool = False, idempotent: bool = False
    ) -> Callable[[_Fn], _Fn]:
        """Register a tool with its annotations (a read-only tool is also idempotent and
        not destructive), its docstring dedented as description, and its string arguments
        kept as sent (arguments.py)."""

        def decorator(fn: _Fn) -> _Fn:
            annotations = ToolAnnotations(
                title=title,
                read_only_hint=read_only,
                destructive_hint=destructive and not read_only,
                idempotent_hint=idempotent or read_only,
                open_world_hint=False,
            )
            self.add_tool(
                fn,
                title=title,
                description=inspect.cleandoc(fn.__doc__ or ""),
                annotations=annotations,
            )
            tool = self._tool_manager.get_tool(fn.__name__)
            assert tool is not None
            tool.fn_metadata = literal_strings(tool.fn_metadata)
            return fn

        return decorator

    async def call_tool(self, name: str, arguments: dict[str, Any], context: Any = None) -> Any:
        tool = self._tool_manager.get_tool(name)
        if tool is None:
            names = ", ".join(sorted(t.name for t in self._tool_manager.list_tools()))
            return fail(
                ProtocolError("TOOL_NOT_FOUND", f"Unknown tool '{name}'", f"tools: {names}")
            )
        allowed = set(tool.parameters.get("properties", {}))
        unknown = sorted(set(arguments) - allowed)
        if unknown:
            return fail(
                InvalidInput(
                    f"Unknown argument '{unknown[0]}' for {name}",
                    field=unknown[0],
                    details=f"allowed: {', '.join(sorted(allowed))}",
                )
            )
        try:
            return await super().call_tool(name, arguments, context)
        except MCPError:
            raise
        except Exception as exc:
            # A ValidationError is INVALID_INPUT; anything else the SDK wrapped is logged
            # and answered as UNKNOWN_ERROR, never as the SDK's plain text.
            cause = exc.__cause__ if isinstance(exc, ToolError) and exc.__cause__ else exc
            return fail(cause)

    async def read_resource(self, uri: Any, context: Any = None) -> Any:
        try:
            return await super().read_resource(uri, context)
        except ResourceNotFoundError as exc:
            raise resource_error(ProtocolError("RESOURCE_NOT_FOUND", str(exc)), str(uri)) from exc


def resource_error(exc: BaseException, uri: str) -> MCPError:
    """A failed resource read as a JSON-RPC error with our envelope (and the URI) as data:
    -32602 for a missing resource or a bad URI (the SDK's not-found code), else -32603."""
    envelope = error_payload(exc)
    client_side = envelope["error"] in _NOT_FOUND or envelope["error"] == "INVALID_INPUT"
    return MCPError(
        code=INVALID_PARAMS if client_side else INTERNAL_ERROR,
        message=envelope["message"],
        data={**envelope, "uri": uri},
    )


_NOT_FOUND = {"SESSION_NOT_FOUND", "RESOURCE_NOT_FOUND", "SESSION_DELETED"}


def build_server(app: App) -> VaultServer:
    """The server with every tool, bound to `app`."""

    @asynccontextmanager
    async def lifespan(server: MCPServer[App]) -> AsyncIterator[App]:
        app.start()
        yield app

    def session_record(project: str | None, session: str) -> Any:
        record = app.index(project).get_session(session)
        if record is None:
            raise SessionNotFound(session)
        return record

    mcp = VaultServer("codearchitect", version="0.1.0", lifespan=lifespan)

    @mcp.vault_tool("Store a conversation", read_only=False)
    def store_session(
        conversation: Annotated[
            str | list[dict[str, Any]],
            Field(
                description='The conversation: text with "User:"/"AI:" prefixes, or a list of {role, content}'
            ),
        ],
        topic: Annotated[
            str | None, Field(description="Topic for the title and file name (≤ 100 chars)")
        ] = None,
        format: Annotated[
            Literal["plain", "messages"] | None,
            Field(description='"plain" (default for text) or "messages"'),
        ] = None,
        session_id: Annotated[
            str | None, Field(description="Store under this session id (appends if it exists)")
        ] = None,
        project: Project = None,
    ) -> CallToolResult:
        """Save a whole conversation as a new markdown session file in the project's vault.

        Use it at the end of a piece of work to keep the conversation for later. Returns the
        file path and the session id; search it later with search_messages.
        Example: {"conversation": "User: How do we rotate JWT keys?\\nAI: Keep two keys...",
        "topic": "JWT key rotation"}
        """

        def body() -> dict[str, Any]:
            stored = app.index(project).store_session(conversation, topic, format, session_id)
            warnings = list(stored.warnings)
            if app.root_warning is not None and project is None:
                warnings.insert(0, app.root_warning)
            return {
                "file": str(stored.path),
                "filename": stored.path.name,
                "topic": stored.session.topic,
                "date": stored.session.created,
                "message": f"Session saved to {stored.path.name}",
                **warning_fields(warnings),
                "session_id": stored.session.id,
                "message_count": len(stored.session.messages),
                "redacted": stored.redacted.to_dict(),
            }

        return run_tool(body)

    @mcp.vault_tool("Store a message", read_only=False)
    def store_message(
        content: Annotated[str, Field(description="The message text, stored verbatim")],
        role: Annotated[Role, Field(description="user, assistant, system or tool")],
        session: Annotated[
            str | None,
            Field(
                description="Session id; created if it does not exist; omit to start a new session"
            ),
        ] = None,
        metadata: Annotated[
            dict[str, Any] | None,
            Field(
                description="model, tokens {input, output}, latency, toolCalls [{name, arguments, result}], …"
            ),
        ] = None,
        project: Project = None,
    ) -> CallToolResult:
        """Append one message to a session (creating the session if needed).

        Use it to record a conversation as it happens, one message at a time. The message is
        on disk and searchable when this returns.
        Example: {"content": "Let's add retries", "role": "user", "session": "auth-work"}
        """

        def body() -> dict[str, Any]:
            appended = app.index(project).append_message(session, role, content, metadata)
            return {
                "message": {
                    "id": appended.message.id,
                    "sessionId": appended.session_id,
                    "role": appended.message.role,
                    "createdAt": appended.message.created_at,
                },
                "created_session": appended.created_session,
                **warning_fields(list(appended.warnings)),
                "redacted": appended.redacted.to_dict(),
            }

        return run_tool(body)

    @mcp.vault_tool("Get a session", read_only=True)
    def get_session(
        session: SessionId,
        limit: Limit = 100,
        offset: Offset = 0,
        project: Project = None,
    ) -> CallToolResult:
        """Get a session's details and its messages in order (paged with limit/offset).

        Example: {"session": "session-20250115-143022-jwt-key-rotation", "limit": 20}
        """

        def body() -> dict[str, Any]:
            row = session_record(project, session)
            messages = app.index(project).get_messages(session, limit=limit, offset=offset)
            return {
                "session": session_view(row),
                "messages": [message_view(m) for m in messages],
                "total": row.message_count,
            }

        return run_tool(body)

    @mcp.vault_tool("Get or create a session", read_only=False, idempotent=True)
    def get_or_create_session(
        agent_id: Annotated[str, Field(description="The agent", min_length=1, max_length=200)],
        channel: Annotated[
            str, Field(description="The channel (cli, slack, …)", min_length=1, max_length=200)
        ],
        account_id: Annotated[str, Field(description="The account", min_length=1, max_length=200)],
        peer_kind: Annotated[
            str, Field(description="Kind of peer (user, group, …)", min_length=1, max_length=200)
        ],
        peer_id: Annotated[str, Field(description="The peer", min_length=1, max_length=200)],
        title: Annotated[str | None, Field(description="Title if the session is created")] = None,
        project: Project = None,
    ) -> CallToolResult:
        """Find the session for a five-field key, or create it (safe when callers race).

        Example: {"agent_id": "claude", "channel": "cli", "account_id": "me",
        "peer_kind": "user", "peer_id": "alice"}
        """

        def body() -> dict[str, Any]:
            key = {
                "agent_id": agent_id,
                "channel": channel,
                "account_id": account_id,
                "peer_kind": peer_kind,
                "peer_id": peer_id,
            }
            fields = {"title": title} if title else {}
            redacted = Redactions()
            row, created = app.index(project).get_or_create_session(
                key, redacted=redacted, **fields
            )
            return {
                "session": session_view(row),
                "created": created,
                "redacted": redacted.to_dict(),
            }

        return run_tool(body)

    @mcp.vault_tool("List sessions", read_only=True)
    def list_sessions(
        agent_id: str | None = None,
        channel: str | None = None,
        account_id: str | None = None,
        peer_kind: str | None = None,
        peer_id: str | None = None,
        status: Literal["active", "idle", "compacted", "archived"] | None = None,
        created_after: Time = None,
        created_before: Time = None,
        updated_after: Time = None,
        updated_before: Time = None,
        limit: Limit = 50,
        offset: Offset = 0,
        project: Project = None,
    ) -> CallToolResult:
        """List sessions, newest activity first, filtered by key fields, status and dates.

        Example: {"status": "active", "updated_after": "2025-01-01T00:00:00Z", "limit": 10}
        """

        def body() -> dict[str, Any]:
            rows = app.index(project).list_sessions(
                agent_id=agent_id,
                channel=channel,
                account_id=account_id,
                peer_kind=peer_kind,
                peer_id=peer_id,
                status=status,
                created_after=created_after,
                created_before=created_before,
                updated_after=updated_after,
                updated_before=updated_before,
                limit=limit,
                offset=offset,
            )
            return {"sessions": [session_view(r) for r in rows], "count": len(rows)}

        return run_tool(body)

    @mcp.vault_tool("Edit a session's details", read_only=False, destructive=True, idempotent=True)
    def patch_session(
        session: SessionId,
        title: str | None = None,
        status: Literal["active", "idle", "compacted", "archived"] | None = None,
        tags: list[str] | None = None,
        metadata: Annotated[
            dict[str, Any] | None,
            Field(description="Merged key by key; a null value removes the key"),
        ] = None,
        project: Project = None,
    ) -> CallToolResult:
        """Change a session's title, status, tags or metadata (only the fields given).

        Example: {"session": "auth-work", "status": "archived", "metadata": {"ticket": "AUTH-12"}}
        """

        def body() -> dict[str, Any]:
            changes = {"title": title, "status": status, "tags": tags, "metadata": metadata}
            redacted = Redactions()
            row = app.index(project).patch_session(
                session, redacted=redacted, **{k: v for k, v in changes.items() if v is not None}
            )
            return {"session": session_view(row), "redacted": redacted.to_dict()}

        return run_tool(body)

    @mcp.vault_tool("Delete a session", read_only=False, destructive=True, idempotent=True)
    def delete_session(session: SessionId, project: Project = None) -> CallToolResult:
        """Delete a session: its file moves to .codearchitect/trash/ (restorable by hand).

        Example: {"session": "auth-work"}
        """
        return run_tool(lambda: {"deleted": app.index(project).delete_session(session)})

    @mcp.vault_tool("Read messages", read_only=True)
    def get_messages(
        session: SessionId,
        role: Role | None = None,
        before: Time = None,
        after: Time = None,
        limit: Limit = 100,
        offset: Offset = 0,
        project: Project = None,
    ) -> CallToolResult:
        """Read a stretch of one session's messages in order, filtered by role and time.

        Example: {"session": "auth-work", "after": "2025-01-15T14:00:00Z", "limit": 20}
        """

        def body() -> dict[str, Any]:
            rows = app.index(project).get_messages(
                session, role=role, before=before, after=after, limit=limit, offset=offset
            )
            return {"messages": [message_view(m) for m in rows], "count": len(rows)}

        return run_tool(body)

    @mcp.vault_tool("Recent messages", read_only=True)
    def recent_messages(
        limit: Limit = 10, session: SessionFilter = None, project: Project = None
    ) -> CallToolResult:
        """The latest messages, overall or of one session, returned oldest first.

        Example: {"limit": 5, "session": "auth-work"}
        """

        def body() -> dict[str, Any]:
            rows = app.index(project).recent_messages(limit=limit, session_id=session)
            return {"messages": [message_view(m) for m in rows], "count": len(rows)}

        return run_tool(body)

    @mcp.vault_tool("Search messages", read_only=True)
    def search_messages(
        query: Annotated[
            str,
            Field(
                description='A question or words (ranked), "a phrase", +required, -exclude, a OR b, prefix*',
                min_length=1,
                max_length=MAX_QUERY,
            ),
        ],
        session: SessionFilter = None,
        role: Role | None = None,
        after: Time = None,
        before: Time = None,
        limit: Limit = 10,
        offset: SearchOffset = 0,
        mode: Mode = None,
        tool: ToolName = None,
        project: Project = None,
    ) -> CallToolResult:
        """Search every stored message, best matches first, with snippets.

        Step 1 of recall: find. Then get_context to read the best conversations within a
        token budget, or get_messages for a whole stretch around a hit. Each hit says which
        search found it (found_by: keyword, semantic). mode "semantic"/"hybrid" also finds
        messages that say the same thing in other words (when semantic search is on).
        Tool calls (name and arguments), tool results and thinking are searched too; `tool`
        keeps the messages that call or answer one tool, role "tool" its results.
        Example: {"query": "\\"key rotation\\" jwt -oauth", "limit": 5},
        {"query": "alembic upgrade", "tool": "Bash"}
        """

        def body() -> dict[str, Any]:
            result = app.index(project).search(
                query,
                session_id=session,
                role=role,
                after=after,
                before=before,
                limit=limit,
                offset=offset,
                mode=mode,
                tool=tool,
            )
            return result.to_dict()

        return run_tool(body)

    @mcp.vault_tool("Recall context", read_only=True)
    def get_context(
        query: Annotated[
            str,
            Field(description="What to recall, in plain words", min_length=1, max_length=MAX_QUERY),
        ],
        max_tokens: Annotated[
            int,
            Field(description="Token budget for the whole result (estimated)", ge=100, le=200_000),
        ],
        session: SessionFilter = None,
        role: Role | None = None,
        after: Time = None,
        before: Time = None,
        project: Project = None,
    ) -> CallToolResult:
        """Recall past conversations within a token budget, as a transcript.

        Finds the messages most relevant to `query` (hybrid search when semantic search
        is on), each with the turns around it (the question before an answer, the answer
        after a question); fills max_tokens in rank order with whole messages (one that
        does not fit, or would take over a quarter of the budget, is shortened at a word
        boundary with a visible marker, or left out; room left at the end lengthens the
        cut ones); groups them by session in time order. The text:
          mode: hybrid · tokens: 1874
          ## session ops-1 · 2025-01-15T14:02Z · nginx
          [0] user: the nginx proxy keeps timing out
          [1] assistant, near: Raise proxy_read_timeout …
          omitted: 4 · best: ops-7 [5], ops-9 [2]
        A session's line: its id, date (UTC, to the minute) and title. A message:
        `[offset] role`, then `, near` if it is a turn around a hit rather than a hit, a
        date if sent on another day than its session's, and its content as written.
        The budget covers this whole text: `tokens` (its estimate) <= max_tokens.
        `omitted`: how many hits were left out and the best few as `session [offset]`;
        read one, or a whole stretch, with get_messages {"session": …, "offset": …}.
        The progression: search_messages to find, get_context to read within a budget,
        get_messages for a whole stretch.
        Example: {"query": "how did we fix the nginx proxy timeout", "max_tokens": 2000}
        """

        try:
            context = app.index(project).get_context(
                query, max_tokens, session_id=session, role=role, after=after, before=before
            )
        except Exception as exc:
            return fail(exc)
        return text_only(render(context))  # the text the budget paid for, nothing else

    @mcp.vault_tool("Conversation exchanges", read_only=True)
    def conversation_pairs(
        session: SessionId, limit: Limit = 10, project: Project = None
    ) -> CallToolResult:
        """The latest user→assistant exchanges of a session, oldest first.

        Example: {"session": "auth-work", "limit": 3}
        """

        def body() -> dict[str, Any]:
            pairs = app.index(project).conversation_pairs(session, limit=limit)
            return {"pairs": [pair_view(p) for p in pairs], "count": len(pairs)}

        return run_tool(body)

    @mcp.vault_tool("Delete a message", read_only=False, destructive=True, idempotent=True)
    def delete_message(
        message_id: Annotated[
            str, Field(description="The message id", min_length=1, max_length=128)
        ],
        session: Annotated[
            SessionFilter,
            Field(
                description="The session holding it; needed only when several sessions"
                " hold a message with this id (copied or imported twice)"
            ),
        ] = None,
        project: Project = None,
    ) -> CallToolResult:
        """Delete one message from its session file.

        Example: {"message_id": "m01JH3Q8Z6M3V1R6Y8S9T0W2X4C"}
        """
        return run_tool(lambda: {"deleted": app.index(project).delete_message(message_id, session)})

    @mcp.vault_tool("Count messages", read_only=True)
    def count_messages(
        session: SessionFilter = None, tool: ToolName = None, project: Project = None
    ) -> CallToolResult:
        """Count messages, overall or in one session; `tool`: only those that call or answer
        that tool. `stale` is true until the index has read every session file once (right
        after a start with no index). Example: {"session": "auth-work", "tool": "Bash"}"""

        def count() -> dict[str, Any]:
            index = app.index(project)
            n = index.count_messages(session_id=session, tool=tool)
            return {"count": n, "stale": index.catching_up()}

        return run_tool(count)

    @mcp.vault_tool("Index status", read_only=True)
    def index_status(project: Project = None) -> CallToolResult:
        """Files versus index: counts, malformed files with their errors, indexing lag, and
        semantic search progress (embedded, pending, lag_seconds).

        Use it when search results look stale or a session seems missing.
        """

        def body() -> dict[str, Any]:
            index = app.index(project)
            data = index.status().to_dict()
            data["acked_missing"] = [e.to_dict() for e in index.vault.acked_missing()]
            return data

        return run_tool(body)

    @mcp.resource("codearchitect://session/{id}", mime_type="application/json")
    def session_resource(id: str) -> str:
        """A session and all its messages, as JSON."""
        try:
            check_session_id(id)
            row = session_record(None, id)
            messages = app.index(None).get_messages(id)
        except Exception as exc:
            raise resource_error(exc, f"codearchitect://session/{id}") from exc
        return json.dumps(
            {"session": session_view(row), "messages": [message_view(m) for m in messages]},
            ensure_ascii=False,
        )

    return mcp
