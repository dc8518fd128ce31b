"""The command line as a person uses it (issue 16): whole ids and what `show` accepts,
numbered ranges, human `stats`, one summary line per import, no vault made by a read-only
command, `search -word`, doctor's one line per problem, `restore` in time order and
`doctor --forget` for a removal that was meant."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mcp_server.cli import cli
from tests.helpers.data import FIXTURES
from vault import Vault

LONG = "chatgpt-d5dc5307-6807-41a0-8b04-4acee626eeb7-branch-aaa24023-b02f-4d49-b568-5856b41750c0"


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def project(vault_root: Path) -> Path:
    vault = Vault(vault_root)
    vault.store_session("User: How do we rotate JWT keys?\nAI: Keep two keys.", topic="JWT keys")
    for n in range(1, 6):
        vault.append_message("auth-work", "user", f"step {n} of the flaky login test")
    vault.append_message(LONG, "user", "a branch of a conversation with a long id")
    return vault_root


def test_tables_show_whole_ids_one_row_per_line_when_piped(project: Path) -> None:
    code, out, _ = run("sessions", "--root", str(project))
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 1 + 3  # header + one line per session: nothing wrapped
    assert any(line.split()[4] == LONG for line in lines[1:])  # date, time, n, status, id
    assert all(line == line.rstrip() for line in lines)
    code, out, _ = run("search", "branch", "--root", str(project))
    assert code == 0 and LONG in out.splitlines()[1].split()


def test_show_takes_an_id_a_unique_prefix_or_the_file(project: Path) -> None:
    vault = Vault(project)
    path = vault.locate("auth-work")
    for ref in ("auth-work", "auth-w", str(path), os.path.relpath(path)):
        code, out, _ = run("show", ref, "--root", str(project))
        assert code == 0, (ref, out)
        assert out.startswith("# ") and "(auth-work)" in out.splitlines()[0]
    code, out, _ = run("show", LONG[:20], "--root", str(project))
    assert code == 0 and f"({LONG})" in out
    vault.append_message("auth-other", "user", "x")
    code, out, err = run("show", "auth", "--root", str(project))
    assert code == 1
    assert "[INVALID_INPUT]" in err and "auth-other" in err and "auth-work" in err
    code, _, err = run("show", "zzz", "--root", str(project))
    assert code == 1 and "[SESSION_NOT_FOUND]" in err
    code, _, err = run("show", str(project / "nope.md"), "--root", str(project))
    assert code == 1 and "[SESSION_NOT_FOUND]" in err


def test_show_tail_and_range_are_numbered(project: Path) -> None:
    code, out, _ = run("show", "auth-work", "--tail", "2", "--root", str(project))
    assert code == 0
    assert re.findall(r"^--- #(\d+) ", out, re.M) == ["4", "5"]
    assert "step 5 of" in out and "step 3 of" not in out
    assert "messages 4–5 of 5" in out
    code, out, _ = run("show", "auth-work", "--range", "2:3", "--root", str(project))
    assert re.findall(r"^--- #(\d+) ", out, re.M) == ["2", "3"]
    code, out, _ = run("show", "auth-work", "--range", "4:", "--root", str(project))
    assert re.findall(r"^--- #(\d+) ", out, re.M) == ["4", "5"]
    code, out, _ = run("show", "auth-work", "--range", "2:3", "--json", "--root", str(project))
    assert [m["position"] for m in json.loads(out)["messages"]] == [1, 2]
    for bad in ("3:2", "x", "0:2", ":"):
        code, _, err = run("show", "auth-work", "--range", bad, "--root", str(project))
        assert code == 1 and "[INVALID_INPUT]" in err, bad
    code, _, err = run("show", "auth-work", "--tail", "1", "--range", "1:2", "--root", str(project))
    assert code == 1 and "[INVALID_INPUT]" in err


def test_show_pages_on_a_terminal(project: Path, tmp_path: Path) -> None:
    import pty

    paged = tmp_path / "paged.txt"
    exe = Path(sys.executable).parent / "codearchitect"
    pager = tmp_path / "pager"
    pager.write_text(f"#!/bin/sh\ncat > {paged}\n")
    pager.chmod(0o755)
    env = {**os.environ, "PAGER": str(pager), "TERM": "dumb"}
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.chdir(project)
        os.execve(str(exe), [str(exe), "show", "auth-work"], env)
    output = b""
    while True:
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        output += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, output
    assert "step 5 of the flaky login test" in paged.read_text()
    assert b"step 5 of" not in output  # it went to the pager, not straight to the terminal


def test_stats_reads_as_words_and_json_keeps_the_numbers(project: Path) -> None:
    code, out, _ = run("stats", "--root", str(project))
    assert code == 0
    assert "{" not in out and "None" not in out and "-1.0" not in out and "False" not in out
    assert re.search(r"^\s*semantic: off \(off by default in this environment", out, re.M)
    assert re.search(r"^\s*messages: 8$", out, re.M)
    code, out, _ = run("stats", "--root", str(project), "--json")
    data = json.loads(out)
    assert data["messages"] == 8 and data["semantic"]["enabled"] is False
    code, out, _ = run("semantic", "enable", "--root", str(project))
    assert code == 0
    code, out, _ = run("stats", "--root", str(project))
    line = next(x for x in out.splitlines() if x.strip().startswith("semantic:"))
    assert re.fullmatch(r"\s*semantic: on, model minilm, [\d,]+ embedded, [\d,]+ waiting.*", line)
    assert "-1" not in line and "None" not in line


@pytest.mark.parametrize(
    "command",
    [
        "sessions",
        "search x",
        "stats",
        "doctor",
        "show x",
        "restore m01",
        "reindex",
        "semantic status",
        "semantic embed",
    ],
)
def test_read_only_commands_never_create_a_vault(vault_root: Path, command: str) -> None:
    """The commands that read or maintain a vault; `init` creates one."""
    code, _out, err = run(*command.split(), "--root", str(vault_root))
    assert code == 1
    assert "[VAULT_NOT_FOUND]" in err and "codearchitect init" in err
    assert not (vault_root / ".codearchitect").exists()


def test_search_takes_a_query_starting_with_a_minus(project: Path) -> None:
    code, out, _ = run("search", "-rotate", "keys", "--root", str(project), "--json")
    assert code == 0, out
    hits = json.loads(out)["hits"]
    assert hits and all("rotate" not in h["snippet"] for h in hits)
    code, out, _ = run("search", "flaky", "login", "--root", str(project), "--json")
    assert json.loads(out)["total"] == 5  # unquoted words are one query


def test_search_session_filter_takes_a_prefix(project: Path) -> None:
    code, out, _ = run("search", "step", "--session", "auth-w", "--root", str(project), "--json")
    assert code == 0 and json.loads(out)["total"] == 5


def test_import_prints_one_summary_line(vault_root: Path) -> None:
    spotter = FIXTURES / "claude_code" / "marot-spotter"
    code, out, _ = run("import", "claude-code", str(spotter), "--root", str(vault_root))
    assert code == 0
    assert len(out.splitlines()) == 1
    assert re.match(
        r"imported claude-code into .*: 3 session\(s\) created, .* record\(s\) skipped", out
    )
    code, out, _ = run("import", "claude-code", str(spotter), "-v", "--root", str(vault_root))
    assert "3 unchanged" in out.splitlines()[0]
    assert any(
        line.startswith("skipped record ") and "are not messages" in line
        for line in out.splitlines()
    )


def test_first_import_of_a_conversation_and_its_fragment_reports_nothing_lost(
    vault_root: Path,
) -> None:
    # chatgpt-citations.json is a fragment of chatgpt-export.json's first conversation
    # (same id, none of its nodes): both go into one session, nothing was "removed by hand"
    librechat = FIXTURES / "chatgpt" / "danny-avila-LibreChat"
    files = [str(librechat / "chatgpt-citations.json"), str(librechat / "chatgpt-export.json")]
    _code, out, _ = run("import", "chatgpt", *files, "--root", str(vault_root), "--json")
    data = json.loads(out)
    skipped = data["skipped_sources"] + data["skipped_records"]
    assert [s for s in skipped if "no longer" in s["reason"]] == []
    messages = Vault(vault_root).get("chatgpt-d6523d1e-7ec3-474f-a363-0e9dffdb3d93").messages
    assert len(messages) == 2 + 16


def test_import_help_keeps_its_example_lines(vault_root: Path) -> None:
    _code, out, _ = run("import", "--help")
    assert re.search(r"^ +codearchitect import claude-code$", out, re.M)
    assert re.search(
        r"^ +codearchitect import chatgpt ~/Downloads/chatgpt-export.zip --dry-run$", out, re.M
    )


# ------------------------------------------------------------------ doctor and restore


def _remove_block(path: Path, message_id: str) -> None:
    """A person deletes a message block in an editor."""
    text = path.read_text()
    block = re.compile(
        rf"\n<!-- cam:msg id={re.escape(message_id)} .*?<!-- /cam:msg id={re.escape(message_id)} -->\n",
        re.S,
    )
    new, n = block.subn("", text)
    assert n == 1
    path.write_text(new)


def test_malformed_file_is_one_line_and_its_session_stays_listed(project: Path) -> None:
    vault = Vault(project)
    path = vault.locate("auth-work")
    path.write_text(
        path.read_text().replace("\nid: auth-work\n", "\nid: auth-work\ntags: [oops\n", 1)
    )
    code, out, _ = run("doctor", "--root", str(project))
    assert code == 1
    problems = [x for x in out.splitlines() if x.startswith(("MALFORMED", "ACKED_MISSING"))]
    assert len(problems) == 1 and problems[0].startswith("MALFORMED_SESSION_FILE ")
    assert path.name in problems[0]
    code, out, _ = run("sessions", "--root", str(project))
    row = next(x for x in out.splitlines() if "auth-work" in x)
    assert "malformed" in row and path.name in row
    code, out, _ = run("sessions", "--root", str(project), "--json")
    bad = next(r for r in json.loads(out) if r["status"] == "malformed")
    assert bad["id"] == "auth-work" and bad["error"]["code"] == "MALFORMED_SESSION_FILE"
    code, out, err = run("search", "flaky", "--root", str(project))
    assert code == 0 and "1 session file is malformed" in err


def test_restore_puts_the_message_back_in_time_order(project: Path) -> None:
    vault = Vault(project)
    ids = [m.id for m in vault.get("auth-work").messages]
    path = vault.locate("auth-work")
    _remove_block(path, ids[2])
    code, out, _ = run("doctor", "--root", str(project))
    assert code == 1 and f"ACKED_MISSING {ids[2]} in auth-work" in out
    assert f"codearchitect doctor --forget {ids[2]}" in out
    code, out, _ = run("restore", ids[2], "--root", str(project))
    assert code == 0 and "as message 3" in out
    assert [m.id for m in vault.get("auth-work").messages] == ids
    code, out, _ = run("doctor", "--root", str(project))
    assert code == 0 and out.splitlines()[-1] == "ok"
    code, out, _ = run("show", "auth-work", "--range", "3:3", "--root", str(project))
    assert "step 3 of the flaky login test" in out


def test_doctor_forget_accepts_a_removal_that_was_meant(project: Path) -> None:
    vault = Vault(project)
    ids = [m.id for m in vault.get("auth-work").messages]
    path = vault.locate("auth-work")
    before = path.read_bytes()
    _remove_block(path, ids[1])
    _remove_block(path, ids[3])
    code, _, err = run("doctor", "--forget", "m-not-there", "--root", str(project))
    assert code == 1 and "[MESSAGE_NOT_FOUND]" in err
    code, out, _ = run("doctor", "--forget", ids[1], "--root", str(project))
    assert code == 1 and f"forgotten: {ids[1]}" in out and f"ACKED_MISSING {ids[3]}" in out
    code, out, _ = run("doctor", "--forget", "auth-work", "--root", str(project))
    assert code == 0 and f"forgotten: {ids[3]}" in out
    code, out, _ = run("doctor", "--root", str(project))
    assert code == 0 and out.splitlines()[-1] == "ok"
    assert path.read_bytes() != before and ids[1] not in path.read_text()
    # forgotten, so `restore` has nothing to put back
    code, _, err = run("restore", ids[1], "--root", str(project))
    assert code == 1 and "[MESSAGE_NOT_FOUND]" in err


def test_restore_takes_several_ids_in_order_and_stops_at_the_first_it_cannot(
    project: Path,
) -> None:
    vault = Vault(project)
    ids = [m.id for m in vault.get("auth-work").messages]
    path = vault.locate("auth-work")
    for mid in (ids[1], ids[3], ids[4]):
        _remove_block(path, mid)
    code, out, _ = run("restore", ids[3], ids[1], "--root", str(project))
    assert code == 0
    assert out.splitlines() == [
        f"restored {ids[3]} to auth-work as message 3",
        f"restored {ids[1]} to auth-work as message 2",
    ]
    code, out, err = run("restore", ids[4], "m-not-there", ids[0], "--root", str(project))
    assert code == 1 and "[MESSAGE_NOT_FOUND]" in err
    assert out.splitlines() == [f"restored {ids[4]} to auth-work as message 5"]
    assert [m.id for m in vault.get("auth-work").messages] == ids
    code, out, _ = run("doctor", "--root", str(project))
    assert code == 0 and out.splitlines()[-1] == "ok"
