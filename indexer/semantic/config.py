"""The project's semantic setting, in `.codearchitect/config.json`
(`{"semantic": {"enabled": true, "model": "minilm"}}`), written by
`codearchitect semantic enable|disable`; every process re-reads it when the file changes.
`CODEARCHITECT_EMBED_MODEL` overrides the model ("minilm", or "hash": the tiny
deterministic model tests use)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vault.files import write_atomic

from .minilm import MINILM_ID, minilm_dir
from .models import INSTALL_HINT, HashEmbedder, SemanticUnavailable, semantic_extra_missing

__all__ = (
    "CONFIG_NAME",
    "MODELS",
    "SemanticConfig",
    "check_installed",
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
    enabled: bool = False
    model: str = "minilm"


def read_config(vault_dir: Path) -> SemanticConfig:
    """The project's semantic setting (disabled when the file is missing or unreadable)."""
    try:
        data = json.loads((vault_dir / CONFIG_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    section = data.get("semantic") if isinstance(data, dict) else None
    section = section if isinstance(section, dict) else {}
    model = os.environ.get("CODEARCHITECT_EMBED_MODEL") or section.get("model") or "minilm"
    return SemanticConfig(enabled=section.get("enabled") is True, model=str(model))


def write_config(vault_dir: Path, *, enabled: bool, model: str | None = None) -> SemanticConfig:
    """Switch semantic search on or off for the project (other keys are kept)."""
    path = vault_dir / CONFIG_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
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
    """`SemanticUnavailable` naming the install command if `model` cannot run here."""
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
