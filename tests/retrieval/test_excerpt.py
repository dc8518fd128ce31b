"""Where a long message is cut: around the query's words (indexer/excerpt.py)."""

from __future__ import annotations

from indexer.excerpt import LEAD_PIECES, PIECE_CHARS, focus, query_stems

LOG = "\n".join(f"line {i}: compiled module{i} fine" for i in range(500))
DEEP = LOG + "\nERROR: the alembic migration failed on table users\n" + "tail\n" * 50


def test_query_stems_leave_stop_words_out_and_stem() -> None:
    assert query_stems("Why did the migrations FAIL?") == query_stems("migration failing")
    assert query_stems("why did the") == frozenset()


def test_an_excerpt_starts_a_few_lines_before_the_best_line() -> None:
    start = focus(DEEP, query_stems("why did the alembic migration fail"), 200)
    assert start > 0 and DEEP[start - 1] == "\n"  # a line start
    shown = DEEP[start:].split("\n")
    assert shown[LEAD_PIECES].startswith("ERROR: the alembic migration failed")
    assert shown[0] == "line 498: compiled module498 fine"


def test_the_beginning_when_it_holds_the_words_or_nothing_matches() -> None:
    early = "ERROR: alembic migration failed\n" + LOG
    assert focus(early, query_stems("alembic migration"), 200) == 0
    assert focus(DEEP, query_stems("zebra crossing"), 200) == 0
    assert focus(DEEP, frozenset(), 200) == 0
    # the best line ends within the room: the beginning holds it too
    assert focus(DEEP, query_stems("alembic migration"), 100_000) == 0


def test_the_piece_with_more_of_the_words_wins() -> None:
    text = LOG + "\nalembic ran\n" + LOG + "\nalembic migration failed\n" + LOG
    start = focus(text, query_stems("alembic migration failed"), 200)
    assert text[start:].split("\n")[LEAD_PIECES] == "alembic migration failed"


def test_a_long_line_is_looked_at_in_stretches_broken_at_a_space() -> None:
    words = (
        " ".join(f"word{i}" for i in range(3000)) + " the alembic migration failed " + "x " * 200
    )
    start = focus(words, query_stems("alembic migration"), 100)
    assert 0 < start < words.index("alembic")
    assert words[start - 1] == " "
    assert words.index("alembic") - start <= (LEAD_PIECES + 1) * (PIECE_CHARS + 20)
