"""The merge driver with real git: setup, merge, rebase, cherry-pick, stash pop, a clone
without the driver (doctor, resolve), and the same session created on two machines."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from indexer import Indexer
from indexer.dump import expected_dump
from tests.helpers.gitrepo import clone, git, new_repo, run_cli, setup_driver
from tests.helpers.settings import FAST
from vault import Vault, parse

SESSION = "auth-work"


def contents(root: Path, session_id: str = SESSION) -> list[str]:
    return [m.content for m in Vault(root).get(session_id).messages]


def session_file(root: Path, session_id: str = SESSION) -> Path:
    return Vault(root).locate(session_id)


def commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


def pair(tmp_path: Path, *, driver: bool = True) -> tuple[Path, Path]:
    a = new_repo(tmp_path / "a", "a")
    code, out = run_cli("init", "--root", str(a))
    assert code == 0, out
    Vault(a).append_message(SESSION, "user", "first message")
    commit_all(a, "base")
    b = clone(a, tmp_path / "b", "b")
    if driver:
        setup_driver(b)
    return a, b


def index_matches_files(root: Path) -> None:
    vault = Vault(root)
    with Indexer(vault, FAST) as ix:
        ix.reconcile()
        assert ix.dump() == expected_dump(vault)


def test_init_and_setup_write_the_attribute_and_the_driver(tmp_path: Path) -> None:
    a = new_repo(tmp_path / "a")
    code, out = run_cli("init", "--root", str(a))
    assert code == 0 and "registered the merge driver" in out
    attributes = (a / ".codearchitect" / ".gitattributes").read_text()
    assert "sessions/*/*.md merge=codearchitect" in attributes
    driver = git(a, "config", "--local", "merge.codearchitect.driver").stdout
    assert "merge-file %O %A %B %P" in driver
    sample = ".codearchitect/sessions/2025-01-15/session-x.md"
    assert git(a, "check-attr", "merge", "--", sample).stdout.strip().endswith("codearchitect")
    code, out = run_cli("git", "setup", "--root", str(a))
    assert code == 0 and out.count("already set up") == 2
    assert (a / ".codearchitect" / ".gitattributes").read_text() == attributes
    code, out = run_cli("doctor", "--root", str(a))
    assert code == 0 and "ok" in out


def test_doctor_names_a_clone_without_the_driver_and_setup_fixes_it(tmp_path: Path) -> None:
    _, b = pair(tmp_path, driver=False)
    code, out = run_cli("doctor", "--root", str(b))
    assert code == 1 and "NO_MERGE_DRIVER" in out and "codearchitect git setup" in out
    setup_driver(b)
    code, out = run_cli("doctor", "--root", str(b))
    assert code == 0, out


def test_setup_outside_a_clone_is_a_clear_error(tmp_path: Path) -> None:
    folder = tmp_path / "plain"
    (folder / ".codearchitect").mkdir(parents=True)
    code, out = run_cli("git", "setup", "--root", str(folder))
    assert code == 1 and "[INVALID_INPUT]" in out and "not in a git clone" in out
    code, out = run_cli("init", "--root", str(folder))
    assert code == 0 and "not a git clone" in out


def test_concurrent_appends_and_patches_merge_and_rebase_cleanly(tmp_path: Path) -> None:
    a, b = pair(tmp_path)
    Vault(a).append_message(SESSION, "assistant", "from a")
    Vault(a).patch(SESSION, title="Title from a", tags=["a"])
    commit_all(a, "a1")
    Vault(b).append_message(SESSION, "assistant", "from b")
    Vault(b).patch(SESSION, tags=["b"])
    commit_all(b, "b1")
    git(b, "pull", "-q", "--no-rebase", "--no-edit")
    assert sorted(contents(b)) == ["first message", "from a", "from b"]
    session = Vault(b).get(SESSION)
    assert session.title == "Title from a" and set(session.tags) == {"a", "b"}
    # The same merge the other way round gives the same bytes.
    merged = session_file(b).read_bytes()
    git(a, "fetch", "-q", str(b), "main:from-b")
    git(a, "merge", "-q", "--no-edit", "from-b^1")  # b1 into a1: the other direction
    assert session_file(a).read_bytes() == merged
    # Rebase: both sides append again, b rebases onto a.
    Vault(a).append_message(SESSION, "user", "a again")
    commit_all(a, "a2")
    Vault(b).append_message(SESSION, "user", "b again")
    commit_all(b, "b2")
    git(b, "pull", "-q", "--rebase")
    assert sorted(contents(b)) == sorted(
        ["first message", "from a", "from b", "a again", "b again"]
    )
    index_matches_files(b)


def test_cherry_pick_and_stash_pop_never_stop(tmp_path: Path) -> None:
    a, b = pair(tmp_path)
    setup_driver(a)
    git(a, "checkout", "-q", "-b", "side")
    Vault(a).append_message(SESSION, "user", "on side")
    commit_all(a, "side")
    git(a, "checkout", "-q", "main")
    Vault(a).append_message(SESSION, "user", "on main")
    commit_all(a, "main")
    git(a, "cherry-pick", "side")
    assert sorted(contents(a)) == ["first message", "on main", "on side"]
    # stash pop over a pulled change to the same file
    Vault(b).append_message(SESSION, "user", "uncommitted in b")
    git(b, "stash", "-q")
    git(b, "pull", "-q", "--no-rebase", "--no-edit")
    git(b, "stash", "pop", "-q")
    assert "uncommitted in b" in contents(b) and "on side" in contents(b)
    parse(session_file(b).read_bytes())


def test_both_sides_edit_one_message_git_reports_it_and_keeps_both(tmp_path: Path) -> None:
    a, b = pair(tmp_path)
    for repo, text in ((a, "a's version"), (b, "b's version")):
        path = session_file(repo)
        path.write_bytes(path.read_bytes().replace(b"first message", text.encode()))
        commit_all(repo, "edit")
    done = git(b, "pull", "--no-rebase", "--no-edit", check=False)
    assert done.returncode != 0 and "edited differently on both sides" in done.stderr
    data = session_file(b).read_bytes()
    assert b"<<<<<<<" not in data and b"Merge conflict" in data
    assert sorted(contents(b)) == ["a's version", "b's version"]
    code, out = run_cli("doctor", "--root", str(b))
    assert code == 1 and "MERGE_CONFLICT" in out


def test_without_the_driver_doctor_reports_markers_and_resolve_merges(tmp_path: Path) -> None:
    a, b = pair(tmp_path, driver=False)
    Vault(a).append_message(SESSION, "assistant", "from a")
    Vault(a).patch(SESSION, title="a's title")
    commit_all(a, "a1")
    Vault(b).append_message(SESSION, "assistant", "from b")
    Vault(b).patch(SESSION, title="b's title")
    commit_all(b, "b1")
    assert git(b, "pull", "--no-rebase", "--no-edit", check=False).returncode != 0
    path = session_file(b)
    data = path.read_bytes()
    line = data[: data.index(b"<<<<<<<")].count(b"\n") + 1
    code, out = run_cli("doctor", "--root", str(b), "--json")
    assert code == 1
    report = json.loads(out)
    found = [f for f in report["git"] if f["code"] == "CONFLICT_MARKERS"]
    assert found == [
        {
            "code": "CONFLICT_MARKERS",
            "path": str(path),
            "line": line,
            "message": "git conflict markers (resolve: codearchitect resolve)",
        }
    ]
    # Meanwhile the index holds both sides' messages.
    assert report["status"]["messages"] == 3
    code, out = run_cli("resolve", "--root", str(b))
    assert code == 0 and "git index" in out
    assert sorted(contents(b)) == ["first message", "from a", "from b"]
    assert git(b, "ls-files", "-u").stdout == ""
    commit_all(b, "resolved")
    setup_driver(b)
    code, out = run_cli("doctor", "--root", str(b))
    assert code == 0, out
    index_matches_files(b)


def test_resolve_reads_markers_committed_by_mistake(tmp_path: Path) -> None:
    a, b = pair(tmp_path, driver=False)
    Vault(a).append_message(SESSION, "assistant", "from a")
    commit_all(a, "a1")
    Vault(b).append_message(SESSION, "assistant", "from b")
    commit_all(b, "b1")
    git(b, "pull", "--no-rebase", "--no-edit", check=False)
    commit_all(b, "committed with markers")
    path = session_file(b)
    code, out = run_cli("resolve", str(path), "--root", str(b))
    assert code == 0 and "conflict markers" in out
    data = path.read_bytes()
    assert b"<<<<<<<" not in data and b">>>>>>>" not in data
    assert sorted(contents(b)) == ["first message", "from a", "from b"]
    code, out = run_cli("resolve", str(path), "--root", str(b))
    assert code == 0 and "nothing to resolve" in out


def test_conflict_markers_stored_as_message_text_are_not_a_conflict(tmp_path: Path) -> None:
    a, _ = pair(tmp_path)
    text = "git said:\n<<<<<<< HEAD\nmine\n=======\ntheirs\n>>>>>>> branch\nhow do I fix it?"
    Vault(a).append_message(SESSION, "user", text)
    setup_driver(a)
    code, out = run_cli("doctor", "--root", str(a))
    assert code == 0, out
    code, out = run_cli("resolve", "--root", str(a))
    assert "nothing to resolve" in out
    assert text in contents(a)


def test_resolve_refuses_a_file_outside_the_vault(tmp_path: Path) -> None:
    a, _ = pair(tmp_path)
    stray = tmp_path / "stray.md"
    stray.write_text("x")
    code, out = run_cli("resolve", str(stray), "--root", str(a))
    assert code == 1 and "[INVALID_INPUT]" in out
    assert stray.read_text() == "x"


def test_one_named_session_created_on_two_machines_is_folded(tmp_path: Path) -> None:
    a, b = pair(tmp_path)
    setup_driver(a)
    Vault(a).append_message("shared-name", "user", "a created it")
    commit_all(a, "a")
    made = Vault(b).append_message("shared-name", "user", "b created it too").path
    made.rename(made.with_name("session-20250101-000000-shared-name.md"))  # another second
    commit_all(b, "b")
    git(b, "pull", "-q", "--no-rebase", "--no-edit")
    git(a, "pull", "-q", "--no-rebase", "--no-edit", str(b), "main")
    for repo in (a, b):
        assert len(Vault(repo).session_ids()["shared-name"]) == 2
        code, out = run_cli("doctor", "--root", str(repo))
        assert code == 1 and "AMBIGUOUS" in out and "codearchitect resolve" in out
        code, out = run_cli("resolve", "--root", str(repo))
        assert code == 0 and "fold of 2 files" in out
        assert sorted(contents(repo, "shared-name")) == ["a created it", "b created it too"]
        commit_all(repo, "fold")
    # Folded the same way on both clones: they sync without a conflict.
    git(b, "pull", "-q", "--no-rebase", "--no-edit")
    git(a, "pull", "-q", "--no-rebase", "--no-edit", str(b), "main")
    assert git(a, "rev-parse", "HEAD^{tree}").stdout == git(b, "rev-parse", "HEAD^{tree}").stdout
    code, out = run_cli("doctor", "--root", str(a))
    assert code == 0, out


def test_the_same_path_added_on_both_sides_merges(tmp_path: Path) -> None:
    a, b = pair(tmp_path)
    name = Path("2025-03-01") / "session-20250301-100000-same.md"
    for repo, who in ((a, "a"), (b, "b")):
        folder = Vault(repo).sessions_dir / name.parent
        folder.mkdir(parents=True, exist_ok=True)
        other = Vault(repo).append_message(f"tmp-{who}", "user", f"written on {who}")
        data = other.path.read_bytes().replace(f"tmp-{who}".encode(), b"same")
        (folder / name.name).write_bytes(data)
        other.path.unlink()
        commit_all(repo, who)
    git(b, "pull", "-q", "--no-rebase", "--no-edit")
    assert sorted(contents(b, "same")) == ["written on a", "written on b"]


def test_merge_file_falls_back_to_lines_for_a_file_it_cannot_read(tmp_path: Path) -> None:
    base, ours, theirs = tmp_path / "o", tmp_path / "a", tmp_path / "b"
    base.write_text("not a session\nline\n")
    ours.write_text("not a session\nline\nours\n")
    theirs.write_text("changed: not a session\nline\n")
    code, _ = run_cli("merge-file", str(base), str(ours), str(theirs), "x.md")
    assert code == 0
    assert ours.read_text() == "changed: not a session\nline\nours\n"
    shutil.copy(base, theirs)
    theirs.write_text("not a session\nline\ntheirs\n")
    code, _ = run_cli("merge-file", str(base), str(ours), str(theirs), "x.md")
    assert code == 1 and "<<<<<<<" in ours.read_text()


def test_a_vault_git_ignores_needs_no_driver(tmp_path: Path) -> None:
    repo = new_repo(tmp_path / "r")
    (repo / ".gitignore").write_text(".codearchitect/\n")
    Vault(repo).append_message(SESSION, "user", "private")
    code, out = run_cli("doctor", "--root", str(repo))
    assert code == 0 and "NO_MERGE_DRIVER" not in out, out
    (repo / ".gitignore").unlink()
    code, out = run_cli("doctor", "--root", str(repo))
    assert code == 1 and "NO_MERGE_DRIVER" in out


def test_a_deletion_merged_from_another_clone_is_not_a_lost_message(tmp_path: Path) -> None:
    a, b = pair(tmp_path)
    setup_driver(a)
    kept = Vault(a).append_message(SESSION, "user", "acknowledged on a, kept").message
    gone = Vault(a).append_message(SESSION, "user", "acknowledged on a, deleted on b").message
    commit_all(a, "a")
    git(b, "pull", "-q", "--no-rebase", "--no-edit")
    Vault(b).delete_message(SESSION, gone.id)
    commit_all(b, "b deletes one")
    git(a, "pull", "-q", "--no-rebase", "--no-edit", str(b), "main")
    assert kept.id in [m.id for m in Vault(a).get(SESSION).messages]
    code, out = run_cli("doctor", "--root", str(a))
    assert code == 0, out
    # A stale save over the file (not through git) is still reported.
    path = session_file(a)
    stale = path.read_bytes()
    lost = Vault(a).append_message(SESSION, "user", "appended, then saved over").message
    path.write_bytes(stale)
    code, out = run_cli("doctor", "--root", str(a))
    assert code == 1 and f"ACKED_MISSING {lost.id}" in out
