"""Safe YAML for session frontmatter, wrapping python-frontmatter's YAML handler.

Nothing outside this module sees python-frontmatter or PyYAML. The loader:

- is a SafeLoader (no Python tags: `!!python/object/apply` is a parse error, never run);
- refuses anchors and aliases (an alias bomb never expands) and duplicate keys;
- keeps timestamps as strings (`2025-01-15` stays text, so it round-trips unchanged);
- reads booleans the YAML 1.2 way: only `true`/`false`, so `topic: no` is the text "no".

The dumper writes keys in the order given, unicode as is, block style. It calls PyYAML
itself rather than the handler's `export`, which `.strip()`s the text: that strip takes
Unicode blanks YAML counts as text (U+00A0, U+3000, ...) off the end of the last value,
so `k: a` plus a U+00A0 came back as `a`, and a value of such blanks alone as null.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from frontmatter.default_handlers import YAMLHandler

__all__ = ("YamlError", "dump_yaml", "load_yaml")

_HANDLER = YAMLHandler()

_BOOL_PATTERN = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
# One `key: value` line of a simple frontmatter (what we write for most sessions): the
# value `[]`, `{}`, a one-line single-quoted text, or a one-line plain scalar that starts
# with a word character and holds no `:` or `#` (so it is neither a nested mapping nor a
# comment) and does not end in a blank. `_simple_mapping` reads such lines without PyYAML.
_SIMPLE_LINE = re.compile(
    r"([a-z_][a-z0-9_]*): (?:(\[\]|\{\})|'((?:[^']|'')*)'|([\w./(](?:[^:#]*[^:#\s])?))"
)


class YamlError(ValueError):
    """The frontmatter is not acceptable YAML; `line` is 1-based within the YAML text."""

    def __init__(self, reason: str, line: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line


def _strip_resolvers(cls: Any) -> None:
    """Drop YAML 1.1 timestamp and yes/no/on/off resolvers from a loader class."""
    resolvers: dict[str | None, list[tuple[str, re.Pattern[str]]]] = {}
    for first, entries in cls.yaml_implicit_resolvers.items():
        kept = [
            (tag, regexp)
            for tag, regexp in entries
            if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:bool")
        ]
        resolvers[first] = kept
    cls.yaml_implicit_resolvers = resolvers
    cls.add_implicit_resolver("tag:yaml.org,2002:bool", _BOOL_PATTERN, list("tTfF"))


def _construct_mapping(loader: Any, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    loader.flatten_mapping(node)
    result: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError as exc:
            raise YamlError(
                "mapping key is not a plain value", key_node.start_mark.line + 1
            ) from exc
        if key in result:
            raise YamlError(f"duplicate key {key!r}", key_node.start_mark.line + 1)
        result[key] = loader.construct_object(value_node, deep=deep)
    return result


class _PyLoader(yaml.SafeLoader):
    """Pure-Python safe loader that can refuse aliases (used when `&` or `*` appear)."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        event: Any = self.peek_event()  # type: ignore[no-untyped-call]
        if type(event).__name__ == "AliasEvent":
            raise YamlError("YAML aliases are not allowed", event.start_mark.line + 1)
        if getattr(event, "anchor", None):
            raise YamlError("YAML anchors are not allowed", event.start_mark.line + 1)
        return super().compose_node(parent, index)


_FastBase: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _FastLoader(_FastBase):  # type: ignore[misc]
    """libyaml-backed safe loader for frontmatter that holds no anchors or aliases."""


for _cls in (_PyLoader, _FastLoader):
    _strip_resolvers(_cls)
    _cls.add_constructor("tag:yaml.org,2002:map", _construct_mapping)

_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def load_yaml(text: str) -> Any:
    """Parse frontmatter YAML safely; raises `YamlError` with a line number."""
    simple = _simple_mapping(text)
    if simple is not None:
        return simple
    loader = _PyLoader if ("&" in text or "*" in text) else _FastLoader
    try:
        return _HANDLER.load(text, Loader=loader)
    except YamlError:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else 1
        raise YamlError(str(exc.problem or exc.context or "invalid YAML"), line) from exc
    except (yaml.YAMLError, RecursionError) as exc:
        raise YamlError(f"invalid YAML: {exc}", 1) from exc


def _simple_mapping(text: str) -> dict[str, Any] | None:
    """The mapping, read without PyYAML, when every line is a `_SIMPLE_LINE` of printable
    text, no key repeats, and no key or plain value would resolve to anything but text
    (checked with the loader's own implicit resolvers); None otherwise, and PyYAML reads
    it. Each value read here is exactly what PyYAML reads."""
    out: dict[str, Any] = {}
    for line in text.split("\n"):
        if not line:
            continue
        m = _SIMPLE_LINE.fullmatch(line)
        if m is None or not line.isprintable():
            return None
        key, empty, quoted, plain = m.groups()
        if key in out or not _plain_text(key):
            return None
        if empty is not None:
            out[key] = [] if empty == "[]" else {}
        elif quoted is not None:
            out[key] = quoted.replace("''", "'")
        elif _plain_text(plain):
            out[key] = plain
        else:
            return None
    return out or None


def _plain_text(value: str) -> bool:
    """Does this plain scalar resolve to text (not a number, bool or null)?"""
    resolvers = _FastLoader.yaml_implicit_resolvers
    for _, regexp in resolvers.get(value[0], []) + resolvers.get(None, []):
        if regexp.match(value):
            return False
    return True


def dump_yaml(data: dict[str, Any]) -> str:
    """Serialise a mapping as block-style YAML, keys in the given order, no trailing newline."""
    text: str = yaml.dump(
        data,
        Dumper=_Dumper,
        sort_keys=False,
        width=4096,
        default_flow_style=False,
        allow_unicode=True,
    )
    # Only the newline PyYAML ends with: `str.strip` would also take the Unicode blanks a
    # plain scalar may end with (see the module docstring).
    return text.removesuffix("\n")
