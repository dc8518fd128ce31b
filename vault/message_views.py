"""What a message shows besides its text: its thinking and its tool calls, from metadata.

The metadata keys read (docs/format.md): `thinking` (text), `toolCalls`
(`[{name, arguments, result, isError, id}]`), `toolResults` (`[{id, result}]`: results
whose call is not in the message) and `toolName` (the tool a `tool` message answers).
They take three forms:

- `thinking_view` and `calls_view`: the markdown the renderer writes around a message's
  content so that GitHub, VS Code and Obsidian show them (a quoted **Thinking** paragraph
  before the content, one quoted list item per call after it). They are derived: the
  parser skips them when they are exactly what the metadata gives;
- `search_text` and `tool_names`: what the full-text index holds for a message;
- `plain_text`: a message as `codearchitect show` prints it.

Metadata may be anything JSON (hand-written included): every function here accepts it
and never raises.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

__all__ = (
    "calls_view",
    "fold_tool_name",
    "has_views",
    "plain_text",
    "plain_text_json",
    "search_text",
    "search_text_json",
    "thinking_view",
    "tool_names",
)

# The argument shown first, without its name, when present: what a reader wants to see.
_PRIMARY = (
    "command",
    "file_path",
    "notebook_path",
    "pattern",
    "query",
    "path",
    "url",
    "skill",
    "description",
    "prompt",
)
_PRIMARY_CHARS = 160
_VALUE_CHARS = 80
_RESULT_CHARS = 100
_MAX_ARGS = 6
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 .:/-]*")
_PLAIN_KEY = re.compile(r"-{0,2}[A-Za-z0-9]+(?:[_-][A-Za-z0-9]+)*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_MAY_HOLD_VIEWS = re.compile(r'"(?:thinking|toolCalls|toolResults)"')
_UPPER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def has_views(metadata: Mapping[str, Any]) -> bool:
    """Could this metadata give a view (cheap test before building one)?"""
    return "thinking" in metadata or "toolCalls" in metadata or "toolResults" in metadata


def thinking_view(metadata: Mapping[str, Any]) -> str:
    """The thinking as a quote headed **Thinking**, no final newline; '' when none."""
    thinking = _thinking(metadata)
    if not thinking:
        return ""
    lines = ["> **Thinking**", ">"]
    lines += [f"> {line}" if line else ">" for line in thinking.split("\n")]
    return "\n".join(lines)


def calls_view(metadata: Mapping[str, Any]) -> str:
    """One quoted list item per tool call (and per result without a call), no final
    newline; '' when there is none."""
    lines = [f"> - 🔧 {_call_line(call)}" for call in _calls(metadata)]
    for item in _results(metadata):
        lines.append(f"> - ↳ result{_result_suffix(item)}")
    return "\n".join(lines)


def search_text(content: str, metadata: Mapping[str, Any]) -> str:
    """The text the full-text index holds: the content, then the thinking, then each tool
    call (`name: argument values…`) and its result."""
    if not has_views(metadata):
        return content
    parts = [content] if content else []
    thinking = _thinking(metadata)
    if thinking:
        parts.append(thinking)
    for call in _calls(metadata):
        if not isinstance(call, Mapping):
            parts.append(_json(call))
            continue
        values = " ".join(_strings(call.get("arguments")))
        parts.append(f"{_text(call.get('name'))}: {values}".strip())
        if "result" in call:
            parts.append(_text(call["result"]))
    for item in _results(metadata):
        if isinstance(item, Mapping) and "result" in item:
            parts.append(_text(item["result"]))
    return "\n".join(p for p in parts if p)


def search_text_json(content: str, metadata_json: str) -> str:
    """`search_text` of a message whose metadata is JSON text (a mirror row); the JSON is
    decoded only when it may hold thinking or tool calls."""
    if not _MAY_HOLD_VIEWS.search(metadata_json):
        return content
    try:
        metadata = json.loads(metadata_json)
    except ValueError:
        return content
    return search_text(content, metadata) if isinstance(metadata, dict) else content


def tool_names(metadata: Mapping[str, Any]) -> list[str]:
    """The tools a message calls (`toolCalls[].name`) or answers (`toolName`), in order,
    each once."""
    names: list[str] = []
    answered = metadata.get("toolName")
    if isinstance(answered, str) and answered:
        names.append(answered)
    for call in _calls(metadata):
        name = call.get("name") if isinstance(call, Mapping) else None
        if isinstance(name, str) and name and name not in names:
            names.append(name)
    return names


def fold_tool_name(name: str) -> str:
    """A tool name as the `tool` filter compares it: ASCII letters lowercased (as SQLite's
    `lower()` does), so `bash` finds `Bash`."""
    return name.translate(_UPPER)


def plain_text(role: str, content: str, metadata: Mapping[str, Any]) -> str:
    """A message's body for a terminal: what tool it answers, its thinking, its content,
    then each tool call with every argument and its result, in full."""
    out: list[str] = []
    answered = metadata.get("toolName")
    if role == "tool" and isinstance(answered, str) and answered:
        out.append(f"← {answered}" + (" (error)" if metadata.get("isError") else ""))
    thinking = _thinking(metadata)
    if thinking:
        out.append("💭 thinking:")
        out.append(_indent(thinking, "  │ "))
    if content:
        out.append(content)
    for call in _calls(metadata):
        if not isinstance(call, Mapping):
            out.append(f"🔧 {_json(call)}")
            continue
        out.extend(_plain_call(call))
    for item in _results(metadata):
        if isinstance(item, Mapping) and "result" in item:
            out.append("↳ result:")
            out.append(_indent(_text(item["result"]), "    "))
    return "\n".join(out)


def plain_text_json(role: str, content: str, metadata_json: str) -> str:
    """`plain_text` of a message whose metadata is JSON text (a mirror row); the JSON is
    decoded only when it may hold thinking, tool calls or a tool name."""
    if not _MAY_HOLD_VIEWS.search(metadata_json) and '"toolName"' not in metadata_json:
        return content
    try:
        metadata = json.loads(metadata_json)
    except ValueError:
        return content
    return plain_text(role, content, metadata) if isinstance(metadata, dict) else content


# ---------------------------------------------------------------- reading the metadata


def _thinking(metadata: Mapping[str, Any]) -> str:
    value = metadata.get("thinking")
    return value if isinstance(value, str) else ""


def _calls(metadata: Mapping[str, Any]) -> list[Any]:
    value = metadata.get("toolCalls")
    return value if isinstance(value, list) else []


def _results(metadata: Mapping[str, Any]) -> list[Any]:
    value = metadata.get("toolResults")
    return value if isinstance(value, list) else []


def _strings(value: Any) -> Iterator[str]:
    """Every text inside an argument value, depth first (keys and numbers left out)."""
    if isinstance(value, str):
        if value:
            yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else _json(value)


def _json(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


# ---------------------------------------------------------------- the markdown view


def _call_line(call: Any) -> str:
    if not isinstance(call, Mapping):
        return _code(_cut(_json(call), _VALUE_CHARS))
    name = call.get("name")
    parts = [_name(name if isinstance(name, str) else "")]
    args = call.get("arguments")
    if isinstance(args, Mapping):
        primary = next((k for k in _PRIMARY if isinstance(args.get(k), str)), None)
        if primary is not None:
            parts.append(_value(args[primary], _PRIMARY_CHARS))
        rest = [k for k in args if k != primary]
        shown = [f"{_key(str(k))}: {_value(args[k], _VALUE_CHARS)}" for k in rest[:_MAX_ARGS]]
        if len(rest) > _MAX_ARGS:
            shown.append(f"+{len(rest) - _MAX_ARGS} more")
        line = " ".join(parts)
        return " · ".join([line, *shown]) + _result_suffix(call)
    if args is not None:
        parts.append(_value(args, _PRIMARY_CHARS))
    return " ".join(parts) + _result_suffix(call)


def _result_suffix(item: Any) -> str:
    if not isinstance(item, Mapping) or "result" not in item:
        return ""
    label = " → error: " if item.get("isError") is True else " → "
    return label + _value(item["result"], _RESULT_CHARS)


def _name(name: str) -> str:
    if not name:
        return "**(no name)**"
    if _PLAIN_NAME.fullmatch(name) and len(name) <= _VALUE_CHARS:
        return f"**{name}**"
    return f"**{_code(_cut(name, _VALUE_CHARS))}**"


def _key(key: str) -> str:
    if _PLAIN_KEY.fullmatch(key) and len(key) <= _VALUE_CHARS:
        return key
    return _code(_cut(key, _VALUE_CHARS) or " ")


def _value(value: Any, limit: int) -> str:
    """A value on one line: text in a code span (first line, cut to `limit`, the number of
    further lines said), a list as its length, anything else as compact JSON."""
    if isinstance(value, str):
        if not value:
            return "(empty)"
        more = value.count("\n")
        shown = _code(_cut(_first_line(value) if more else value, limit) or " ")
        return shown + (f" (+{more} line{'s' if more > 1 else ''})" if more else "")
    if isinstance(value, list | tuple):
        return f"[{len(value)} item{'s' if len(value) > 1 else ''}]" if value else "[]"
    return _code(_cut(_json(value), limit))


def _first_line(text: str) -> str:
    """The first line of `text` that is not blank, else its first line."""
    start = 0
    while True:
        end = text.find("\n", start)
        line = text[start:] if end < 0 else text[start:end]
        if line.strip():
            return line
        if end < 0:
            return text[: text.find("\n")]
        start = end + 1


def _cut(text: str, limit: int) -> str:
    """One line of at most `limit` characters, control characters shown as spaces."""
    if len(text) > limit:
        return _CONTROL.sub(" ", text[: limit - 1]) + "…"
    return _CONTROL.sub(" ", text)


def _code(text: str) -> str:
    """`text` as a markdown code span: a fence longer than any run of backticks in it,
    padded with a space when it starts or ends with a backtick or a space."""
    longest = max((len(run) for run in re.findall("`+", text)), default=0) if "`" in text else 0
    fence = "`" * (longest + 1)
    if text[:1] in ("`", " ") or text[-1:] in ("`", " "):
        text = f" {text} "
    return f"{fence}{text}{fence}"


# ---------------------------------------------------------------- the terminal view


def _plain_call(call: Mapping[str, Any]) -> list[str]:
    name = call.get("name")
    args = call.get("arguments")
    head = f"🔧 {name if isinstance(name, str) and name else '(no name)'}"
    lines: list[str] = []
    if isinstance(args, Mapping):
        primary = next((k for k in _PRIMARY if isinstance(args.get(k), str)), None)
        if primary is not None and "\n" not in args[primary]:
            head += f": {args[primary]}"
        else:
            primary = None
        for key, value in args.items():
            if key == primary:
                continue
            text = _text(value)
            if "\n" in text:
                lines += [f"    {key}:", _indent(text, "      ")]
            else:
                lines.append(f"    {key}: {text}")
    elif args is not None:
        text = _text(args)
        lines.append(_indent(text, "    "))
    if "result" in call:
        lines.append("    ← error:" if call.get("isError") is True else "    ← result:")
        lines.append(_indent(_text(call["result"]), "      "))
    return [head, *lines]


def _indent(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.split("\n"))
