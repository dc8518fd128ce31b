"""`codearchitect scan` on files written before redaction, `--fix`, `--staged` as a real
git pre-commit hook, and `doctor`'s count."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mcp_server.cli import cli
from vault import Vault
from vault.redaction import MARKER

from .conftest import git
from .planted import CASES

AWS = next(c for c in CASES if c.name == "env dump: AWS")
PEM = next(c for c in CASES if c.name == "RSA private key file")
GITHUB = next(c for c in CASES if c.name == "github fine-grained token")
REPO = Path(__file__).resolve().parents[2]


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def _old_vault(root: Path) -> Vault:
    """A vault written with redaction off (as by an older version), then turned on."""
    config = root / ".codearchitect" / "config.json"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('{"redaction": {"enabled": false}}')
    vault = Vault(root)
    vault.append_message("leaky", "user", "nothing to see")
    vault.append_message(
        "leaky", "tool", AWS.text, {"toolCalls": [{"name": "cat", "result": PEM.text}]}
    )
    vault.append_message("clean", "user", "only words here")
    vault.patch("leaky", title=f"token {GITHUB.secrets[0]}")
    config.write_text("{}")
    return vault


def test_scan_reports_file_line_and_kind_never_the_value(vault_root: Path) -> None:
    vault = _old_vault(vault_root)
    path = vault.locate("leaky")
    lines = path.read_text().splitlines()
    code, out = run("scan", "--root", str(vault_root), "--json")
    assert code == 1
    report = json.loads(out)
    assert report["files_scanned"] == 2 and report["files_with_secrets"] == 1
    kinds = sorted(f["kind"] for f in report["found"])
    assert kinds == ["aws-access-key", "aws-secret-key", "github-token", "private-key"]
    for f in report["found"]:
        line = lines[f["line"] - 1]
        if f["where"] == "frontmatter":
            assert line.startswith("title: token ")
        elif f["kind"] == "private-key":
            assert line.startswith("<!-- cam:meta ")  # the tool call's result
        else:
            assert f["where"].startswith("message ") and "AWS_" in line
    for secret in (*AWS.secrets, *GITHUB.secrets):
        assert secret not in out
    code, text = run("scan", "--root", str(vault_root))
    assert code == 1 and "4 secret(s) in 1 of 2 session file(s)" in text
    assert all(secret not in text for secret in AWS.secrets)


def test_scan_fix_redacts_in_place_and_keeps_the_file_otherwise(vault_root: Path) -> None:
    vault = _old_vault(vault_root)
    path = vault.locate("leaky")
    with path.open("a", encoding="utf-8") as f:
        f.write("\nA note typed by hand between blocks.\n")
    before = vault.get("leaky")
    code, out = run("scan", "--fix", "--root", str(vault_root), str(path))
    assert code == 0, out
    assert "redacted 4 secret(s) in 1 file(s)" in out
    data = path.read_text()
    for secret in (*AWS.secrets, *GITHUB.secrets, *PEM.secrets):
        assert secret not in data
    assert data.endswith("\nA note typed by hand between blocks.\n")
    after = Vault(vault_root).get("leaky")
    assert [m.id for m in after.messages] == [m.id for m in before.messages]
    assert after.messages[0] == before.messages[0]
    assert not any(m.edited for m in after.messages)
    assert MARKER.search(after.title) and MARKER.search(after.messages[1].content)
    assert after.messages[1].metadata["toolCalls"][0]["result"].startswith("$ cat ~/.ssh/")
    assert run("scan", "--root", str(vault_root))[0] == 0
    code, out = run("scan", "--fix", "--root", str(vault_root))
    assert code == 0 and "redacted 0 secret(s)" in out


def test_doctor_counts_unredacted_secrets(vault_root: Path) -> None:
    _old_vault(vault_root)
    code, out = run("doctor", "--root", str(vault_root))
    assert code == 1 and "UNREDACTED_SECRETS 4 in 1 file(s)" in out
    code, out = run("doctor", "--root", str(vault_root), "--json")
    assert json.loads(out)["unredacted_secrets"]["count"] == 4
    assert (vault_root / ".codearchitect" / "index" / "secrets.json").is_file()
    config = vault_root / ".codearchitect" / "config.json"
    config.write_text(json.dumps({"redaction": {"allow": [AWS.secrets[0]]}}))
    code, out = run("doctor", "--root", str(vault_root), "--json")
    assert json.loads(out)["unredacted_secrets"]["count"] == 3  # new settings, read again
    config.write_text("{}")
    run("scan", "--fix", "--root", str(vault_root))
    code, out = run("doctor", "--root", str(vault_root))
    assert code == 0 and "ok" in out
    (vault_root / ".codearchitect" / "config.json").write_text(
        '{"redaction": {"disable": ["nope"]}}'
    )
    code, out = run("doctor", "--root", str(vault_root))
    assert code == 1 and "REDACTION_CONFIG" in out and "unknown kind 'nope'" in out


# ---------------------------------------------------------------- the pre-commit hook


@pytest.fixture
def repo(clone: Path) -> Path:
    vault_root = clone
    hook = vault_root / ".git" / "hooks" / "pre-commit"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text(
        f"#!/bin/sh\nPYTHONPATH={REPO} exec {sys.executable} -m mcp_server.cli scan --staged\n"
    )
    hook.chmod(0o755)
    return vault_root


def test_the_pre_commit_hook_stops_a_staged_secret_and_names_file_and_line(repo: Path) -> None:
    vault = _old_vault(repo)
    git(repo, "add", "-A")
    done = git(repo, "commit", "-q", "-m", "sessions", check=False)
    assert done.returncode == 1
    rel = vault.locate("leaky").relative_to(repo)
    assert f"{rel}:" in done.stderr and "aws-access-key" in done.stderr
    assert all(secret not in done.stderr + done.stdout for secret in AWS.secrets)
    assert git(repo, "rev-list", "--all").stdout == ""  # nothing was committed

    # Fixing the work tree is not enough: the staged copy still holds the secret.
    assert run("scan", "--fix", "--root", str(repo))[0] == 0
    assert git(repo, "commit", "-q", "-m", "sessions", check=False).returncode == 1
    git(repo, "add", "-A")
    done = git(repo, "commit", "-q", "-m", "sessions", check=False)
    assert done.returncode == 0, done.stderr
    shown = git(repo, "show", "HEAD").stdout
    assert all(secret not in shown for secret in (*AWS.secrets, *GITHUB.secrets))


def test_scan_staged_ignores_files_that_are_not_session_files(
    repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (repo / "notes.md").write_text(AWS.text)
    Vault(repo).append_message("s", "user", "clean words")
    git(repo, "add", "-A")
    monkeypatch.chdir(repo)
    code, out = run("scan", "--staged", "--json")
    assert (code, json.loads(out)["found"]) == (0, [])
    assert json.loads(out)["files_scanned"] == 1


def test_scan_staged_outside_git_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    code, out = run("scan", "--staged", "--root", str(tmp_path))
    assert code == 1 and "scan --staged:" in out and "not a git repository" in out.lower()


def test_fixing_and_staging_together_is_refused(vault_root: Path) -> None:
    code, out = run("scan", "--staged", "--fix", "--root", str(vault_root))
    assert code == 2 and "takes no PATHS or --fix" in out
