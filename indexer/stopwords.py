"""English stop words: the words a plain query ignores (indexer/query.py).

NLTK's English list (179 words, the standard list of IR course material), as the default
tokenizer sees it: contractions split at the apostrophe (`don't` -> `don`, `t`), so their
parts are here too. Phrases and `+word` still match these words: only plain, ranked words
skip them.
"""

from __future__ import annotations

__all__ = ("STOP_WORDS",)

_NLTK_ENGLISH = """
    a about above after again against ain all am an and any are aren as at be because been
    before being below between both but by can couldn d did didn do does doesn doing don down
    during each few for from further had hadn has hasn have haven having he her here hers
    herself him himself his how i if in into is isn it its itself just ll m ma me mightn more
    most mustn my myself needn no nor not now o of off on once only or other our ours
    ourselves out over own re s same shan she should shouldn so some such t than that the
    their theirs them themselves then there these they this those through to too under until
    up ve very was wasn we were weren what when where which while who whom why will with won
    wouldn y you your yours yourself yourselves
"""
STOP_WORDS = frozenset(_NLTK_ENGLISH.split())
