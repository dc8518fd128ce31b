"""Property: after any sequence of vault writes and hand edits, the mirror equals a fresh
parse of the files, and tantivy holds exactly the mirror's messages."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from indexer import Indexer
from indexer.dump import expected_dump
from tests.helpers.polling import PATIENCE
from vault import Vault, VaultError

from .conftest import FAST

SESSIONS = ["s0", "s1", "s2"]
words = st.sampled_from(["alpha", "beta", "gamma", "delta", "c++", "foo-bar", "ünï"])
text = st.lists(words, min_size=1, max_size=6).map(" ".join)

ops = st.one_of(
    st.tuples(
        st.just("append"), st.sampled_from(SESSIONS), st.sampled_from(["user", "assistant"]), text
    ),
    st.tuples(st.just("store"), text),
    st.tuples(st.just("patch"), st.sampled_from(SESSIONS), text),
    st.tuples(st.just("delete_message"), st.sampled_from(SESSIONS), st.integers(0, 5)),
    st.tuples(st.just("delete"), st.sampled_from(SESSIONS)),
    st.tuples(st.just("hand_edit"), st.sampled_from(SESSIONS), words, words),
    st.tuples(st.just("hand_append"), st.sampled_from(SESSIONS), text),
    st.tuples(st.just("hand_break"), st.sampled_from(SESSIONS)),
    st.tuples(st.just("hand_unlink"), st.sampled_from(SESSIONS)),
)


def apply(ix: Indexer, op: tuple[object, ...], counter: list[int]) -> bool:
    """Run one operation; True if it was a hand edit (needs a reconcile to be seen)."""
    kind = op[0]
    assert isinstance(kind, str), op
    try:
        path: Path | None = ix.vault.locate(str(op[1])) if kind not in ("store",) else None
    except VaultError:
        path = None
    try:
        if kind == "append":
            ix.append_message(str(op[1]), str(op[2]), str(op[3]))
        elif kind == "store":
            ix.store_session([{"role": "user", "content": str(op[1])}], "prop")
        elif kind == "patch" and path is not None:
            ix.patch_session(str(op[1]), title=str(op[2]))
        elif kind == "delete_message" and path is not None:
            messages = ix.get_messages(str(op[1]))
            if messages:
                ix.delete_message(messages[int(str(op[2])) % len(messages)].id, str(op[1]))
        elif kind == "delete":
            ix.delete_session(str(op[1]))
        elif path is not None and kind.startswith("hand_"):
            data = path.read_bytes()
            if kind == "hand_edit":
                path.write_bytes(data.replace(str(op[2]).encode(), str(op[3]).encode(), 1))
            elif kind == "hand_append":
                counter[0] += 1
                mid = f"hand{counter[0]}"
                block = f"\n<!-- cam:msg id={mid} role=user ts=2025-01-01T00:00:00.000Z -->\n{op[2]}\n<!-- /cam:msg id={mid} -->\n"
                path.write_bytes(data + block.encode())
            elif kind == "hand_break":
                path.write_bytes(data.replace(b"---\n", b"--\n", 1))
            elif kind == "hand_unlink":
                path.unlink()
            return True
    except VaultError:
        pass  # e.g. appending to a malformed file: refused, nothing changed
    return False


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(st.lists(ops, min_size=1, max_size=12))
def test_mirror_equals_a_fresh_parse(steps: list[tuple[object, ...]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        vault = Vault(Path(tmp) / "project")
        with Indexer(vault, FAST) as ix:
            counter = [0]
            for op in steps:
                if not apply(ix, op, counter):
                    # our own writes are visible at once (read-your-writes)
                    assert ix.dump() == expected_dump(vault), op
                else:
                    ix.reconcile()
                    assert ix.dump() == expected_dump(vault), op
            assert ix.reconcile().changed == 0
            assert ix.flush(PATIENCE)
            docs = {(h.session_id, h.message_id) for h in ix.search("-zzzzzz", limit=1000).hits}
            conn = ix.mirror.conn()
            mirrored = set(conn.execute("SELECT session_id, id FROM messages").fetchall())
            assert docs == {tuple(r) for r in mirrored}
