"""Tool arguments arrive as the client sent them: no JSON re-parsing of strings.

The SDK's `FuncMetadata.pre_parse_json` runs `json.loads` on every string argument whose
annotation is not exactly `str` (for clients that send lists as JSON text), so
`session="null"` became None (a new session on every call), `conversation="[]"` an empty
list, `title="null"` no change and `session="[1]"` a type error. Here an argument whose
type admits a string is never re-parsed: the string is the value. An argument that admits
no string at all (`tags`, `metadata`) is still read from JSON text, as the SDK does, since
no string could be meant there.
"""

from __future__ import annotations

import types
from typing import Any, Literal, Union, get_args, get_origin

from mcp.server.mcpserver.utilities.func_metadata import FuncMetadata

__all__ = ("LiteralStrings", "admits_string", "literal_strings")


def admits_string(annotation: Any) -> bool:
    """True if a value of type `annotation` may be a str (str, a union with str, a Literal
    of strings, Any)."""
    if annotation is str or annotation is Any:
        return True
    origin = get_origin(annotation)
    if origin is Literal:
        return any(isinstance(v, str) for v in get_args(annotation))
    if origin is Union or origin is types.UnionType:
        return any(admits_string(a) for a in get_args(annotation))
    if origin is not None and hasattr(annotation, "__metadata__"):  # Annotated[...]
        return admits_string(get_args(annotation)[0])
    return False


class LiteralStrings(FuncMetadata):
    """`FuncMetadata` that leaves a string argument alone wherever a string is allowed."""

    def pre_parse_json(self, data: dict[str, Any]) -> dict[str, Any]:
        fields = self.arg_model.model_fields
        keep = {
            key: value
            for key, value in data.items()
            if isinstance(value, str) and key in fields and admits_string(fields[key].annotation)
        }
        return {**super().pre_parse_json(data), **keep}


def literal_strings(meta: FuncMetadata) -> LiteralStrings:
    """The same metadata, with string arguments kept as sent."""
    return LiteralStrings(
        arg_model=meta.arg_model,
        output_schema=meta.output_schema,
        output_model=meta.output_model,
        wrap_output=meta.wrap_output,
    )
