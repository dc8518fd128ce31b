"""The semantic wing: embedding models, the memory-mapped vector store and its cache, the
vector search and the background embedding worker (docs/retrieval.md).

| module | holds |
|---|---|
| models.py | the `Embedder` protocol, `HashEmbedder`, `load_embedder`, `SemanticUnavailable` |
| minilm.py | all-MiniLM-L6-v2's numpy forward pass and where its weights are |
| config.py | the project's setting (`config.json`), `check_installed` |
| store.py | `VectorStore`: the vector files, their writer, the embedding cache |
| view.py | `VectorView`: scoring one generation's rows (exact, int8, reduced) |
| index.py | `SemanticIndex`: embedding pending messages, compaction, progress |
| nearest.py | vector search with the filters of keyword search |
| worker.py | `EmbedWorker`: the leader's embedding thread |
"""

from .config import MODELS, SemanticConfig, check_installed, read_config, write_config
from .index import SemanticIndex
from .models import Embedder, HashEmbedder, SemanticUnavailable, load_embedder
from .nearest import VectorHit
from .worker import EmbedWorker

__all__ = (
    "MODELS",
    "EmbedWorker",
    "Embedder",
    "HashEmbedder",
    "SemanticConfig",
    "SemanticIndex",
    "SemanticUnavailable",
    "VectorHit",
    "check_installed",
    "load_embedder",
    "read_config",
    "write_config",
)
