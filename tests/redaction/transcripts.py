"""A small Claude Code transcript with secrets in it, written record by record (a user
prompt, an assistant tool call, the tool's result: an env dump), as Claude Code writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .planted import CASES

SESSION = "0b7c4a52-3e1f-4d8a-9c6b-2f5e8d1a7c90"
AWS_CASE = next(c for c in CASES if c.name == "env dump: AWS")
ANTHROPIC_CASE = next(c for c in CASES if c.name == "anthropic env")
JWT_CASE = next(c for c in CASES if c.name == "JWT bearer in curl")
SECRETS = (*AWS_CASE.secrets, *ANTHROPIC_CASE.secrets, *JWT_CASE.secrets)


def records(cwd: str, rounds: int = 1) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for r in range(rounds):
        base: dict[str, Any] = {
            "sessionId": SESSION,
            "cwd": cwd,
            "gitBranch": "main",
            "version": "2.0.1",
        }
        ts = f"2025-01-15T14:{30 + r:02d}:"
        out.append(
            {
                **base,
                "type": "user",
                "uuid": f"u{r}-1",
                "timestamp": ts + "00.000Z",
                "message": {"role": "user", "content": f"Round {r}: {JWT_CASE.text}"},
            }
        )
        out.append(
            {
                **base,
                "type": "assistant",
                "uuid": f"a{r}-1",
                "timestamp": ts + "05.000Z",
                "message": {
                    "id": f"msg_{r}",
                    "role": "assistant",
                    "model": "claude-sonnet-4",
                    "content": [
                        {"type": "text", "text": "Let me check the environment."},
                        {
                            "type": "tool_use",
                            "id": f"toolu_{r}",
                            "name": "Bash",
                            "input": {"command": ANTHROPIC_CASE.text.splitlines()[0]},
                        },
                    ],
                    "usage": {"input_tokens": 10, "output_tokens": 20},
                },
            }
        )
        out.append(
            {
                **base,
                "type": "user",
                "uuid": f"u{r}-2",
                "timestamp": ts + "09.000Z",
                "message": {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": f"toolu_{r}",
                            "content": AWS_CASE.text,
                        }
                    ],
                },
            }
        )
    return out


def write(path: Path, cwd: str, rounds: int = 1) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records(cwd, rounds)), encoding="utf-8")
    return path
