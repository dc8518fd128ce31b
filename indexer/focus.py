"""The text the semantic side embeds for a query: the query without the content words that
a large share of the vault's messages hold (docs/retrieval.md, "The semantic query").

An embedding has no idf: a word found in most messages (in LoCoMo, the speakers' names,
which begin each of their turns) pulls the query's vector toward all of them at once and
away from what the question is about. BM25 weighs such a word down by itself, so the
keyword side reads the query whole. A word is left out when at least `COMMON_LEAST`
messages and more than `COMMON_SHARE` of the vault's messages hold it (the first keeps a
small vault's queries whole: a share of a few messages says little), unless it is an
English stop word (the model reads a question's grammar: leaving them out cost ShareGPT
prompts 0.01-0.03 MRR) or a number (numbered lists make "1", "2", "3" common in any vault
of assistant replies). The rest of the query (its other words, punctuation) is kept as
written; a query left with no content word is embedded whole.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .stopwords import STOP_WORDS

__all__ = ("COMMON_LEAST", "COMMON_SHARE", "semantic_text")

COMMON_SHARE = 0.25  # measured flat from 0.15 to 0.5 (docs/retrieval.md)
COMMON_LEAST = 20

# a word as the full-text index's tokenizer (tantivy's "simple") cuts it: letters and digits
_WORD = re.compile(r"[^\W_]+")


def semantic_text(query: str, frequency: Callable[[str], int], documents: int) -> str:
    """`query` without its common words; `frequency(word)` is how many of the vault's
    `documents` messages hold the (lower-cased) word."""
    if documents <= 0:
        return query
    bar = max(COMMON_LEAST - 1, COMMON_SHARE * documents)

    dropped = False

    def keep(match: re.Match[str]) -> str:
        nonlocal dropped
        word = match.group().lower()
        if word in STOP_WORDS or word.isdecimal() or frequency(word) <= bar:
            return match.group()
        dropped = True
        return ""

    kept = _WORD.sub(keep, query)
    if not dropped:
        return query
    focused = " ".join(kept.split())
    content = (w for w in _WORD.findall(focused) if w.lower() not in STOP_WORDS)
    return focused if next(content, None) is not None else query
