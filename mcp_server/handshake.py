"""Answering the MCP handshake while the SDK loads.

Importing the MCP SDK and building the server's tools takes most of a second on a 2-core
machine (pydantic builds ~570 models), and `serve` has a budget of 1 s from start to the
answered `tools/list` (../shared/DESIGN.md). The answers to the handshake do not depend on
the vault: `initialize` (legacy protocol versions), `server/discover` (2026-07-28) and
`tools/list` are recorded from the real server in `handshake.json` beside this module, and
`serve` answers them from it on the main thread while a background thread loads the SDK.

Only well-formed handshake requests are answered here (`Prelude.answer`); the first line
of any other kind hands the connection over to the SDK, which then reads everything that
follows. The request that chose the protocol era (`initialize`, or the first 2026-07-28
request) and `notifications/initialized` are replayed into the SDK first, so its state is
the one the client sees; its answer to the replayed request is not sent again.

The recording is used only if it was made from this code and these SDK versions
(`current_key`: a hash of `server.py` and `arguments.py`, where the tools are defined, and
the installed versions of mcp, mcp_types, pydantic, pydantic_core); otherwise `serve` waits
for the SDK as before. Two recordings are looked at, the first that fits is used:
`INSTALLED`, made by `make install` for the environment's own versions when the one shipped
does not fit them (`python -m mcp_server.handshake_record --if-stale --out …`), and
`SNAPSHOT`, the one shipped beside this module. `tests/mcp/test_handshake.py` checks that the
recording in use equals the live server's answers and that the shipped one was made from
this code; `python -m mcp_server.handshake_record` records it again.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from importlib.machinery import PathFinder
from pathlib import Path
from typing import Any

__all__ = (
    "INSTALLED",
    "MAX_LINE_BYTES",
    "SNAPSHOT",
    "Prelude",
    "current_key",
    "load_snapshot",
)

# The longest request line the server reads whole (stdio.LimitedLines refuses longer ones);
# here so that the prelude reads with the same limit without loading the SDK.
MAX_LINE_BYTES = 16 * 1024 * 1024

SNAPSHOT = Path(__file__).with_name("handshake.json")  # shipped: the key of a release
INSTALLED = Path(sys.prefix) / "share" / "codearchitect" / "handshake.json"  # make install's
SOURCES = ("server.py", "arguments.py")
PACKAGES = ("mcp", "mcp_types", "pydantic", "pydantic_core")
OFF_ENV = "CODEARCHITECT_HANDSHAKE"  # "sdk": never answer from the recording

_VERSION = "io.modelcontextprotocol/protocolVersion"
_CLIENT_INFO = "io.modelcontextprotocol/clientInfo"
_CLIENT_CAPS = "io.modelcontextprotocol/clientCapabilities"
_INFO_KEYS = frozenset({"name", "version", "title"})


def current_key() -> dict[str, Any]:
    """What the recorded answers depend on: the tool definitions and the SDK's versions."""
    here = Path(__file__).parent
    digest = hashlib.sha256()
    for name in SOURCES:
        digest.update(name.encode())
        digest.update((here / name).read_bytes())
    return {"sources": digest.hexdigest(), "packages": _installed(PACKAGES)}


def _installed(packages: tuple[str, ...]) -> list[str]:
    """The dist-info folder names (name-version) of `packages`, found without importing
    them or importlib.metadata; "name-?" for one not found."""
    found = []
    listings: dict[str, list[str]] = {}
    for name in packages:
        spec = PathFinder.find_spec(name)
        folder = None
        if spec is not None and spec.submodule_search_locations:
            folder = os.path.dirname(next(iter(spec.submodule_search_locations)))
        elif spec is not None and spec.origin:
            folder = os.path.dirname(spec.origin)
        if folder is not None and folder not in listings:
            try:
                listings[folder] = os.listdir(folder)
            except OSError:
                listings[folder] = []
        names = listings.get(folder, []) if folder is not None else []
        infos = sorted(
            n.removesuffix(".dist-info")
            for n in names
            if n.endswith(".dist-info") and n.startswith(f"{name}-")
        )
        found.append(infos[-1] if infos else f"{name}-?")
    return found


def load_snapshot(path: Path | None = None) -> dict[str, Any] | None:
    """The recorded answers (`path`'s, else the first of INSTALLED and SNAPSHOT that fits),
    or None when they are missing, unreadable, switched off (CODEARCHITECT_HANDSHAKE=sdk) or
    were recorded from other code or SDK versions."""
    if os.environ.get(OFF_ENV, "").lower() == "sdk":
        return None
    if path is None:
        key = current_key()
        for where in (INSTALLED, SNAPSHOT):
            found = _read(where, key)
            if found is not None:
                return found
        return None
    return _read(path, current_key())


def _read(path: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("key") != key:
            return None
    except (OSError, ValueError):
        return None
    return data


class Prelude:
    """Answers the handshake from the recording until a request it does not answer.

    `answer(line)` returns the JSON text of the answer, `""` for a notification it keeps
    for the SDK, or None: the SDK must take over from this line on (`replay` then holds
    the lines to feed it first, `hidden_id` the id whose answer it must not send again).
    """

    def __init__(self, snapshot: dict[str, Any]) -> None:
        self.snapshot = snapshot
        self.era: str | None = None  # "legacy" or "modern", once a request chose it
        self.version: str | None = None  # legacy: the negotiated protocol version
        self.replay: list[bytes] = []
        self.hidden_id: str | int | None = None
        self.listed = False  # tools/list answered

    def answer(self, raw: bytes) -> str | None:
        try:
            message = json.loads(raw)
        except ValueError:
            return None
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            return None
        method = message.get("method")
        params = message.get("params")
        if "id" not in message:
            if method == "notifications/initialized" and self.era == "legacy" and not params:
                self.replay.append(raw)
                return ""
            return None
        request_id = message["id"]
        if not isinstance(request_id, str | int) or isinstance(request_id, bool):
            return None
        result = self._result(method, params)
        if result is None:
            return None
        if isinstance(result.get("tools"), int):
            result["tools"] = self.snapshot["tools"][result["tools"]]
        if self.hidden_id is None:
            self.replay.append(raw)
            self.hidden_id = request_id
        self.listed = self.listed or method == "tools/list"
        reply = {"jsonrpc": "2.0", "id": request_id, "result": result}
        return json.dumps(reply, ensure_ascii=False, separators=(",", ":"))

    def _result(self, method: object, params: object) -> dict[str, Any] | None:
        legacy = self.snapshot["legacy"]
        modern = self.snapshot["modern"]
        if method == "initialize" and self.era is None:
            requested = _initialize_version(params)
            if requested is None:
                return None
            self.era = "legacy"
            # as the SDK negotiates: the version asked for if it speaks it, else its latest
            self.version = requested if requested in legacy["initialize"] else legacy["latest"]
            return dict(legacy["initialize"][self.version])
        if method == "tools/list" and self.era == "legacy" and not params:
            assert self.version is not None
            return dict(legacy["tools/list"][self.version])
        if method in ("server/discover", "tools/list") and self.era in (None, "modern"):
            version = _envelope_version(params, list(modern["server/discover"]))
            if version is None:
                return None
            self.era = "modern"
            return dict(modern[str(method)][version])
        return None


def _client_info(info: object) -> bool:
    return (
        isinstance(info, dict)
        and {"name", "version"} <= info.keys() <= _INFO_KEYS
        and all(isinstance(v, str) for v in info.values())
    )


def _capabilities(caps: object) -> bool:
    return isinstance(caps, dict) and all(
        isinstance(k, str) and isinstance(v, dict) for k, v in caps.items()
    )


def _initialize_version(params: object) -> str | None:
    """The protocol version a plain, well-formed `initialize` asks for."""
    if not isinstance(params, dict) or params.keys() != {
        "protocolVersion",
        "capabilities",
        "clientInfo",
    }:
        return None
    version = params["protocolVersion"]
    if not isinstance(version, str) or not _capabilities(params["capabilities"]):
        return None
    return version if _client_info(params["clientInfo"]) else None


def _envelope_version(params: object, versions: list[str]) -> str | None:
    """The version of a plain 2026-07-28 request envelope (nothing but `_meta` with the
    version, client info and capabilities), if it is one this server speaks."""
    if not isinstance(params, dict) or params.keys() != {"_meta"}:
        return None
    meta = params["_meta"]
    if not isinstance(meta, dict) or meta.keys() != {_VERSION, _CLIENT_INFO, _CLIENT_CAPS}:
        return None
    version = meta[_VERSION]
    if version not in versions or not _client_info(meta[_CLIENT_INFO]):
        return None
    return str(version) if _capabilities(meta[_CLIENT_CAPS]) else None
