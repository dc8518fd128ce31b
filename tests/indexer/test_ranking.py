"""The ranking rules of keyword search (indexer/query.py, docs/indexing.md): natural
questions, stop words, stemming, titles and topics, adjacency, and an old index migrating."""

from __future__ import annotations

import json
from typing import Any

import tantivy

from indexer import Indexer
from indexer.mirror import get_state, set_state
from indexer.query import natural_query
from indexer.schema import FULLTEXT_VERSION
from vault import Vault


def top(ix: Indexer, query: str, **kw: Any) -> list[str]:
    """The hits' texts, best first."""
    hits = ix.search(query, limit=20, mode="keyword", **kw).hits
    text = {m.id: m.content for h in hits for m in ix.get_messages(h.session_id, limit=100)}
    return [text[h.message_id] for h in hits]


def test_a_natural_question_finds_its_message_first(ix: Indexer) -> None:
    ix.append_message("a", "user", "Caroline: I went to the LGBTQ support group yesterday.")
    ix.append_message("a", "assistant", "Melanie: That is great, how was the group?")
    ix.append_message("b", "user", "Caroline: I am painting a sunrise for my friend.")
    ix.append_message("b", "assistant", "Melanie: Did you go camping with the kids?")
    ix.flush()
    got = top(ix, "When did Caroline go to the LGBTQ support group?")
    assert got[0] == "Caroline: I went to the LGBTQ support group yesterday."
    assert len(got) == 4  # every message holds a content word (caroline, go, group)


def test_stop_words_alone_find_nothing_and_are_not_an_error(ix: Indexer) -> None:
    ix.append_message("a", "user", "what is it that they did there, and when?")
    ix.flush()
    result = ix.search("What did they do when it was there?", mode="keyword")
    assert result.hits == () and result.total == 0
    assert top(ix, '+"what is it"')  # explicit syntax still matches stop words


def test_stemming_finds_other_forms_and_the_exact_word_ranks_first(ix: Indexer) -> None:
    ix.append_message("a", "user", "We rotate the signing keys every Monday.")
    ix.append_message("b", "user", "Key rotation is documented in the wiki.")
    ix.append_message("c", "user", "Rotating credentials broke staging.")
    ix.append_message("d", "user", "Unrelated message about lunch.")
    ix.flush()
    got = top(ix, "rotation")
    assert got[0] == "Key rotation is documented in the wiki."
    assert set(got) == {
        "We rotate the signing keys every Monday.",
        "Key rotation is documented in the wiki.",
        "Rotating credentials broke staging.",
    }
    assert top(ix, "+rotation") == ["Key rotation is documented in the wiki."]  # as written


def test_session_titles_and_topics_are_searched_and_lift_their_messages(ix: Indexer) -> None:
    ix.create_session("t1", title="Nginx proxy timeouts", topic="nginx-proxy-timeouts")
    ix.append_message("t1", "user", "It fails after sixty seconds with a retry.")
    ix.create_session("t2", title="Weekly notes", topic="kubernetes-upgrade")
    ix.append_message("t2", "user", "We planned the cluster work for Friday.")
    ix.create_session("t3", title="Lunch", topic="lunch")
    ix.append_message("t3", "user", "One more retry and it worked.")
    ix.flush()
    hits = ix.search("nginx", mode="keyword").hits
    assert [(h.session_id, h.session_title) for h in hits] == [("t1", "Nginx proxy timeouts")]
    assert [h.session_id for h in ix.search("kubernetes upgrades", mode="keyword").hits] == [
        "t2"
    ]  # the topic's words, stemmed
    assert [h.session_id for h in ix.search("proxy retry", mode="keyword").hits] == ["t1", "t3"]


def test_more_of_the_words_and_adjacent_words_rank_higher(ix: Indexer) -> None:
    ix.append_message("a", "user", "the group of volunteers offered support all week")
    ix.append_message("b", "user", "our support group meets on Tuesdays")
    ix.append_message("c", "user", "support matters")
    ix.flush()
    got = top(ix, "support group")
    assert got[0] == "our support group meets on Tuesdays"  # adjacent, in order
    assert got[-1] == "support matters"  # one of the two words


def test_a_quoted_phrase_is_required_unless_no_message_holds_it(ix: Indexer) -> None:
    ix.append_message("a", "user", "she read nothing but magazines, impossible to reach")
    ix.append_message("b", "user", "her favourite book is Nothing is Impossible")
    ix.flush()
    q = 'When did she read the book "nothing is impossible"?'
    assert top(ix, q)[0] == "her favourite book is Nothing is Impossible"
    assert (
        top(ix, '"nothing is impossible" read')[0] == "her favourite book is Nothing is Impossible"
    )
    assert top(ix, '+"impossible to reach"') == [
        "she read nothing but magazines, impossible to reach"
    ]
    assert top(ix, '"impossible to reach"') == top(ix, '+"impossible to reach"')
    got = top(ix, 'Would she enjoy the book "Four Impossible Seasons"?')  # held by none
    assert set(got) == {  # so its words are ranked: no zero hits for a natural question
        "she read nothing but magazines, impossible to reach",
        "her favourite book is Nothing is Impossible",
    }


def test_natural_query_never_raises(ix: Indexer) -> None:
    schema, analyzer = ix.fulltext.schema, ix.fulltext.analyzer
    assert natural_query("   ", schema, analyzer) is None
    assert natural_query("the of and", schema, analyzer) is None
    assert natural_query("(" * 40 + "x", schema, analyzer) is None
    assert natural_query('"unclosed OR', schema, analyzer) is not None


def test_an_index_of_the_previous_schema_is_rebuilt_by_itself(vault: Vault) -> None:
    """A tantivy index written by version 1 (no stemmed fields) with its version recorded:
    the next leader recreates it from the mirror, and stemming works."""
    first = Indexer(vault).open()
    first.append_message("old", "user", "We rotate the keys weekly.")
    first.flush()
    directory = first.fulltext.directory
    first.close()
    for entry in directory.iterdir():  # the version-1 index: the old schema, same message
        if entry.is_file():
            entry.unlink()
    sb = tantivy.SchemaBuilder()
    for name in ("key", "file", "message_id", "session_id", "role", "created_at"):
        sb.add_text_field(name, stored=True, tokenizer_name="raw")
    for name in ("agent_id", "channel", "account_id", "peer_kind", "peer_id"):
        sb.add_text_field(name, stored=False, tokenizer_name="raw")
    sb.add_text_field("content", stored=True)
    sb.add_text_field("title", stored=True)
    sb.add_date_field("created", stored=False, indexed=True, fast=True)
    old = tantivy.Index(sb.build(), str(directory))
    writer = old.writer(15_000_000, 1)
    writer.add_document(tantivy.Document(key="x", content="We rotate the keys weekly."))
    writer.commit()
    writer.wait_merging_threads()
    del writer, old
    again = Indexer(vault).open()
    with again.mirror.write() as conn:
        set_state(conn, "fulltext_version", 1)
    again.close()

    reopened = Indexer(vault).open()
    try:
        assert top(reopened, "key rotation") == ["We rotate the keys weekly."]
        with reopened.mirror.read() as conn:
            assert json.loads(json.dumps(get_state(conn, "fulltext_version"))) == FULLTEXT_VERSION
    finally:
        reopened.close()


def test_the_examples_of_the_docs(ix: Indexer) -> None:
    """docs/indexing.md's table of examples, as written there."""
    ix.store_session(
        "User: How do we rotate JWT keys?\nAI: Keep two keys and rotate them weekly.",
        "JWT key rotation",
    )
    ix.flush()
    question, reply = "How do we rotate JWT keys?", "Keep two keys and rotate them weekly."
    assert top(ix, "key rotation") == [question, reply]
    assert top(ix, "+rotation") == []
    assert top(ix, "When did we rotate the JWT keys?") == [question, reply]
    assert top(ix, "keys -weekly") == [question]
    assert top(ix, '"rotate them"') == [reply]
    assert top(ix, '"rotate them daily"') == [question, reply]  # held nowhere: words ranked
    assert top(ix, "the of and") == []


def test_other_forms_are_found_in_writes_not_yet_absorbed(ix: Indexer) -> None:
    ix.append_message("a", "user", "we rotate keys")
    ix.flush()
    assert top(ix, "rotation") == ["we rotate keys"]
    ix.append_message("b", "user", "rotating the certificates")  # queued, not in tantivy yet
    assert set(top(ix, "rotation")) == {"we rotate keys", "rotating the certificates"}
