"""What `codearchitect git setup` (and `init`) does to a clone, as a list of steps.

Each step says whether the clone already has it (`done`) and makes it so (`apply`,
returning what it did). The steps are:

- `attributes`: `.codearchitect/.gitattributes` names the merge driver for session files
  (versioned: every clone gets it with the vault);
- `driver`: the clone's own `.git/config` registers the driver
  (`merge.codearchitect.driver`); a clone's config is not versioned, so each clone runs
  setup once.

Another step (a pre-commit hook, for instance) is one more `Step` in `STEPS`.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .. import files
from .repo import check_attr, config_get, config_set

__all__ = (
    "ATTRIBUTES_LINE",
    "DRIVER",
    "STEPS",
    "Clone",
    "Step",
    "driver_command",
    "missing",
    "run",
)

DRIVER = "codearchitect"
ATTRIBUTES_FILE = ".gitattributes"
ATTRIBUTES_LINE = f"sessions/*/*.md merge={DRIVER}"
_ATTRIBUTES_HEAD = "# Written by codearchitect: session files merge by message id (docs/git.md).\n"
_DRIVER_KEY = f"merge.{DRIVER}.driver"
_NAME_KEY = f"merge.{DRIVER}.name"
_NAME = "codearchitect session files, merged by message id"


@dataclass(frozen=True)
class Clone:
    """A git clone holding a vault: its top folder, and the vault's `.codearchitect/`."""

    top: Path
    vault_dir: Path
    command: str

    @property
    def sample(self) -> Path:
        """A session file path (real or not) for asking git which attributes apply."""
        return self.vault_dir / "sessions" / "2000-01-01" / "session.md"


@dataclass(frozen=True)
class Step:
    name: str
    done: Callable[[Clone], bool]
    apply: Callable[[Clone], str]


def driver_command() -> str:
    """The command git runs to merge a session file: this installation's `codearchitect`
    (by absolute path, so it works outside the virtualenv), `merge-file %O %A %B %P`."""
    beside = Path(sys.executable).with_name("codearchitect")
    if beside.is_file():
        program = shlex.quote(str(beside))
    else:
        found = shutil.which("codearchitect")
        program = (
            shlex.quote(found) if found else f"{shlex.quote(sys.executable)} -m mcp_server.cli"
        )
    return f"{program} merge-file %O %A %B %P"


def run(clone: Clone, steps: tuple[Step, ...] | None = None) -> list[tuple[str, str]]:
    """Apply every step not yet done; (step name, what happened) for each."""
    report = []
    for step in steps or STEPS:
        if step.done(clone):
            report.append((step.name, "already set up"))
        else:
            report.append((step.name, step.apply(clone)))
    return report


def missing(clone: Clone) -> list[Step]:
    """The steps this clone still lacks."""
    return [step for step in STEPS if not step.done(clone)]


def _attributes_done(clone: Clone) -> bool:
    return check_attr(clone.top, "merge", clone.sample) == DRIVER


def _attributes_apply(clone: Clone) -> str:
    target = clone.vault_dir / ATTRIBUTES_FILE
    old = target.read_text("utf-8") if target.is_file() else ""
    if ATTRIBUTES_LINE in old.splitlines():
        return f"{target} already names the driver (another attribute file overrides it)"
    text = (old if not old or old.endswith("\n") else old + "\n") or _ATTRIBUTES_HEAD
    files.write_atomic(target, (text + ATTRIBUTES_LINE + "\n").encode("utf-8"))
    return f"wrote {target} (commit it)"


def _driver_done(clone: Clone) -> bool:
    value = config_get(clone.top, _DRIVER_KEY)
    if not value:
        return False
    try:
        program = shlex.split(value)[0]
    except (ValueError, IndexError):
        return False
    return shutil.which(program) is not None


def _driver_apply(clone: Clone) -> str:
    config_set(clone.top, _NAME_KEY, _NAME)
    config_set(clone.top, _DRIVER_KEY, clone.command)
    return f"registered the merge driver in this clone's git config: {clone.command}"


STEPS: tuple[Step, ...] = (
    Step("attributes", _attributes_done, _attributes_apply),
    Step("driver", _driver_done, _driver_apply),
)
