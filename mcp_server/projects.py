"""Projects: a registered name or the path of a project root, each with its own vault.

Registered names live in `projects.json` in the user's config directory
(`$CODEARCHITECT_CONFIG_DIR`, else click's app dir, e.g. `~/.config/codearchitect`).
A `project` argument that is neither a registered name nor a folder holding
`.codearchitect/` or `.git/` is refused with `PROJECT_NOT_FOUND`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from vault import VaultError, files

__all__ = ("ProjectNotFound", "Registry", "config_dir", "is_project_root")


class ProjectNotFound(VaultError):
    """`project` names no registered project and no project root."""

    code = "PROJECT_NOT_FOUND"


def config_dir() -> Path:
    explicit = os.environ.get("CODEARCHITECT_CONFIG_DIR")
    return Path(explicit) if explicit else Path(click.get_app_dir("codearchitect"))


def is_project_root(path: Path) -> bool:
    return path.is_dir() and ((path / ".codearchitect").is_dir() or (path / ".git").exists())


class Registry:
    """name → project root, stored as JSON."""

    def __init__(self, folder: Path | None = None) -> None:
        self.path = (folder or config_dir()) / "projects.json"

    def load(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ProjectNotFound(f"Cannot read the project registry {self.path}: {exc}") from exc
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def add(self, name: str, root: Path) -> Path:
        if not name or "/" in name or name != name.strip():
            raise ProjectNotFound(f"Invalid project name: {name!r}")
        real = root.expanduser().resolve()
        if not real.is_dir():
            raise ProjectNotFound(f"Not a folder: {root}")
        projects = self.load()
        projects[name] = str(real)
        self._save(projects)
        return real

    def remove(self, name: str) -> bool:
        projects = self.load()
        if name not in projects:
            return False
        del projects[name]
        self._save(projects)
        return True

    def resolve(self, value: str | None, default: Path) -> Path:
        """The project root that `value` names (None: the server's own root)."""
        if value is None or value == "":
            return default
        projects = self.load()
        if value in projects:
            return Path(projects[value])
        candidate = Path(value).expanduser()
        if candidate.is_absolute() and is_project_root(candidate):
            return candidate.resolve()
        raise ProjectNotFound(
            f"Unknown project {value!r}: not a registered name and not a project root "
            "(a folder holding .codearchitect/ or .git/)"
        )

    def _save(self, projects: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = (json.dumps(projects, indent=2, sort_keys=True) + "\n").encode()
        if self.path.exists():
            files.write_atomic(self.path, data)
        else:
            files.create_exclusive(self.path.parent, [self.path.name], data)
