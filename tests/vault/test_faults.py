"""Injected I/O failures (ENOSPC, EIO) at each step: no ack, old bytes intact, no temp left."""

from __future__ import annotations

import errno
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vault import FileWriteError, Vault
from vault import files as vfiles


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith(".~cam-")]


def failing(name: str, err: int, after: int = 0) -> Callable[..., Any]:
    real = getattr(vfiles.IO, name)
    calls = {"n": 0}

    def fake(*args: Any) -> Any:
        calls["n"] += 1
        if calls["n"] > after:
            raise OSError(err, f"injected {errno.errorcode[err]}")
        return real(*args)

    return fake


STEPS = ["write", "fsync", "replace", "link", "ftruncate"]


@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EIO])
@pytest.mark.parametrize("step", ["write", "fsync"])
def test_append_failure_leaves_file_identical(
    vault: Vault, monkeypatch: pytest.MonkeyPatch, step: str, err: int
) -> None:
    first = vault.append_message("s", "user", "kept")
    before = first.path.read_bytes()
    monkeypatch.setattr(vfiles.IO, step, failing(step, err))
    with pytest.raises(FileWriteError) as info:
        vault.append_message("s", "user", "never acknowledged")
    assert info.value.code == "FILE_WRITE_ERROR"
    monkeypatch.undo()
    assert first.path.read_bytes() == before
    assert not temp_files(vault.root)
    assert [m.content for m in vault.get("s").messages] == ["kept"]


@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EIO])
@pytest.mark.parametrize("step", ["write", "fsync", "replace"])
def test_rewrite_failure_leaves_file_identical(
    vault: Vault, monkeypatch: pytest.MonkeyPatch, step: str, err: int
) -> None:
    first = vault.append_message("s", "user", "kept")
    before = first.path.read_bytes()
    monkeypatch.setattr(vfiles.IO, step, failing(step, err))
    with pytest.raises(FileWriteError):
        vault.patch("s", title="never")
    monkeypatch.undo()
    assert first.path.read_bytes() == before
    assert not temp_files(vault.root)


@pytest.mark.parametrize("step", ["write", "fsync", "link"])
def test_create_failure_leaves_nothing(
    vault: Vault, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    vault.init()
    monkeypatch.setattr(vfiles.IO, step, failing(step, errno.ENOSPC))
    with pytest.raises(FileWriteError):
        vault.store_session("User: never stored", topic="t")
    monkeypatch.undo()
    assert not list(vault.session_paths())
    assert not temp_files(vault.root)


@pytest.mark.parametrize("k", range(1, 6))
def test_fail_the_kth_io_call(vault: Vault, monkeypatch: pytest.MonkeyPatch, k: int) -> None:
    """Fail the k-th OS call of a store (any of write/fsync/replace/link) until one succeeds."""
    vault.init()
    calls = {"n": 0}
    for name in STEPS:
        real = getattr(vfiles.IO, name)

        def fake(*args: Any, _real: Callable[..., Any] = real) -> Any:
            calls["n"] += 1
            if calls["n"] == k:
                raise OSError(errno.EIO, "injected")
            return _real(*args)

        monkeypatch.setattr(vfiles.IO, name, fake)
    try:
        stored = vault.store_session("User: maybe", topic="t")
    except FileWriteError:
        monkeypatch.undo()
        assert not list(vault.session_paths())
    else:
        monkeypatch.undo()
        assert vault.get(stored.session.id).messages[0].content == "maybe"
    assert not temp_files(vault.root)
