"""The models: the tiny deterministic one, and our numpy all-MiniLM-L6-v2 checked against
published sentence-transformers outputs and a float64 reference forward pass."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from indexer.semantic.minilm import MiniLM, minilm_dir
from indexer.semantic.models import MAX_PIECES, HashEmbedder, SemanticUnavailable

from .conftest import needs_minilm


def test_hash_model_is_deterministic_normalised_and_chunks_long_text() -> None:
    model = HashEmbedder(max_words=10)
    a, b = model.embed(["rotate the jwt keys", "rotate the jwt keys"])
    assert np.allclose(a, b) and math.isclose(float(np.linalg.norm(a)), 1.0, rel_tol=1e-5)
    near, far = model.embed(["rotating jwt key", "boil pasta water"])
    assert float(a @ near) > float(a @ far)
    text = " ".join(f"word{i}" for i in range(25))
    chunks = model.chunks(text)
    assert [len(c.text.split()) for c in chunks] == [10, 10, 5]
    assert all(text[c.start : c.end] == c.text for c in chunks)
    assert model.chunks("   ") == []


@pytest.fixture(scope="module")
def minilm() -> MiniLM:
    if minilm_dir() is None:
        pytest.skip("all-MiniLM-L6-v2 wheel not installed")
    return MiniLM.load()


@needs_minilm
def test_minilm_matches_published_sentence_transformers_outputs(minilm: MiniLM) -> None:
    # SentenceTransformer("all-MiniLM-L6-v2").encode("hello world")[:5]
    first = minilm.embed(["hello world"])[0][:5]
    assert np.allclose(first, [-0.034477, 0.031023, 0.006735, 0.026109, -0.039362], atol=2e-4)
    # the sentence-transformers quickstart: similarities 0.6660, 0.1046, 0.1411
    e = minilm.embed(
        ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
    )
    sims = e @ e.T
    assert np.allclose([sims[0, 1], sims[0, 2], sims[1, 2]], [0.6660, 0.1046, 0.1411], atol=6e-4)


@needs_minilm
def test_minilm_matches_a_float64_reference_to_cosine_0_9999(minilm: MiniLM) -> None:
    texts = [
        "How do I rotate JWT signing keys without downtime?",
        "short",
        "def f(x):\n    return x ** 2  # squares, ünïcödé and emoji 🚀",
    ]
    ours = minilm.embed(texts)  # one padded batch, float32, tanh GELU
    for text, vec in zip(texts, ours, strict=True):
        ref = _reference(minilm, text)
        cos = float(vec @ ref / np.linalg.norm(ref))
        assert cos >= 0.9999, (text, cos)


@needs_minilm
def test_minilm_chunks_fit_the_model_and_cut_between_words(minilm: MiniLM) -> None:
    text = " ".join(["internationalization configuration"] * 400)
    chunks = minilm.chunks(text)
    assert len(chunks) > 1
    for c in chunks:
        assert text[c.start : c.end] == c.text
        pieces = minilm._tok.encode(c.text, add_special_tokens=False).ids
        assert len(pieces) + 2 <= MAX_PIECES
        assert c.text[0].isalnum() and c.text[-1].isalnum()
    assert text[chunks[-1].end :].strip() == ""


def test_weights_are_checked_by_sha256(tmp_path: Path) -> None:
    source = minilm_dir()
    fake = tmp_path / "model"
    fake.mkdir()
    (fake / "model.safetensors").write_bytes(b"not the real weights")
    if source is not None:
        shutil.copy(source / "tokenizer.json", fake / "tokenizer.json")
    with pytest.raises(SemanticUnavailable, match="does not match"):
        MiniLM.load(fake)
    with pytest.raises(SemanticUnavailable, match="not installed"):
        MiniLM.load(tmp_path / "nowhere")


def _reference(m: MiniLM, text: str) -> np.ndarray:
    """A plain float64 BertModel forward pass with the exact (erf) GELU, one text."""
    enc = m._tok.encode(text, add_special_tokens=False)
    ids = [m.cls_id, *enc.ids[: MAX_PIECES - 2], m.sep_id]
    f = np.float64
    x = m.word[ids].astype(f) + m.pos[: len(ids)].astype(f) + m.type0.astype(f)
    x = _ln(x, *m.emb_ln)
    erf = np.vectorize(math.erf)
    for layer in m.layers:
        w, b = (a.astype(f) for a in layer["qkv"])
        qkv = x @ w + b
        q, k, v = (
            qkv[:, i * 384 : (i + 1) * 384].reshape(-1, 12, 32).transpose(1, 0, 2) for i in range(3)
        )
        s = q @ k.transpose(0, 2, 1) / math.sqrt(32)
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        ctx = (s @ v).transpose(1, 0, 2).reshape(-1, 384)
        x = _ln(ctx @ layer["out"][0].astype(f) + layer["out"][1] + x, *layer["ln1"])
        h = x @ layer["up"][0].astype(f) + layer["up"][1]
        h = h * 0.5 * (1 + erf(h / math.sqrt(2)))
        x = _ln(h @ layer["down"][0].astype(f) + layer["down"][1] + x, *layer["ln2"])
    pooled: npt.NDArray[np.float64] = x.mean(axis=0)
    return pooled / np.linalg.norm(pooled)


def _ln(x: npt.NDArray[np.float64], w: np.ndarray, b: np.ndarray) -> npt.NDArray[np.float64]:
    mu: npt.NDArray[np.float64] = x.mean(-1, keepdims=True)
    var: npt.NDArray[np.float64] = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + 1e-12) * w.astype(np.float64) + b.astype(np.float64)
