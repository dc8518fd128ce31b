"""The project's semantic setting.

Semantic search is on by default wherever the model is installed (a `make install` has
it). `codearchitect semantic disable` writes `{"semantic": {"enabled": false}}` into
`.codearchitect/config.json`, and that is remembered; `semantic enable` writes `true` (and
may pick the model). Every process re-reads the file when it changes. With no setting in
the file, `CODEARCHITECT_SEMANTIC=off` in the environment makes the default off (the test
suite does this, so that tests which do not need embedding do not pay for it).
`CODEARCHITECT_EMBED_MODEL` overrides the model ("minilm", or "hash": the tiny
deterministic model tests use)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vault.derived import read_file
from vault.files import write_atomic

from .minilm import MINILM_ID, minilm_dir
from .models import INSTALL_HINT, HashEmbedder, SemanticUnavailable, semantic_extra_missing

__all__ = (
    "CONFIG_NAME",
    "MODELS",
    "SemanticConfig",
    "check_installed",
    "default_enabled",
    "read_config",
    "write_config",
)

CONFIG_NAME = "config.json"
# name -> (model id, dimensions): known without loading the model
MODELS: dict[str, tuple[str, int]] = {
    "minilm": (MINILM_ID, 384),
    "hash": (HashEmbedder().model_id, HashEmbedder().dim),
}


@dataclass(frozen=True)
class SemanticConfig:
    enabled: bool = True  # wanted: the project's setting, else the default
    model: str = "minilm"
    explicit: bool = False  # the project's config.json says enabled true or false


def default_enabled() -> bool:
    """On, unless `CODEARCHITECT_SEMANTIC` says off (0, off, false, no)."""
    value = os.environ.get("CODEARCHITECT_SEMANTIC", "").strip().lower()
    return value not in ("0", "off", "false", "no")


def read_config(vault_dir: Path) -> SemanticConfig:
    """The project's semantic setting; without one (no file, no key, unreadable), the
    default (`default_enabled`)."""
    try:
        # A link, FIFO or folder planted there reads as missing (vault/derived.py).
        data = json.loads(read_file(vault_dir / CONFIG_NAME) or b"{}")
    except (OSError, ValueError):
        data = {}
    section = data.get("semantic") if isinstance(data, dict) else None
    section = section if isinstance(section, dict) else {}
    model = os.environ.get("CODEARCHITECT_EMBED_MODEL") or section.get("model") or "minilm"
    setting = section.get("enabled")
    if isinstance(setting, bool):
        return SemanticConfig(enabled=setting, model=str(model), explicit=True)
    return SemanticConfig(enabled=default_enabled(), model=str(model))


def write_config(vault_dir: Path, *, enabled: bool, model: str | None = None) -> SemanticConfig:
    """Switch semantic search on or off for the project (other keys are kept)."""
    path = vault_dir / CONFIG_NAME
    try:
        data = json.loads(read_file(path) or b"{}")
    except (OSError, ValueError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    old = data.get("semantic")
    section: dict[str, Any] = dict(old) if isinstance(old, dict) else {}
    section["enabled"] = enabled
    if model is not None:
        section["model"] = model
    data["semantic"] = section
    write_atomic(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode())
    return read_config(vault_dir)


def check_installed(model: str) -> None:
    """`SemanticUnavailable` naming the install command if `model` cannot run here
    (cheap: looks for the modules and the weights' folder, loads nothing)."""
    if model not in MODELS:
        raise SemanticUnavailable(f"Unknown embedding model {model!r}", details="minilm, hash")
    missing = semantic_extra_missing()
    if missing:
        raise SemanticUnavailable(
            f"Semantic search needs the 'semantic' extra ({', '.join(missing)} missing)",
            details=INSTALL_HINT,
        )
    if model == "minilm" and minilm_dir() is None:
        raise SemanticUnavailable(
            "The all-MiniLM-L6-v2 weights are not installed", details=INSTALL_HINT
        )
