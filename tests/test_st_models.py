"""sentence-transformers backends on tiny offline models: prompts, Matryoshka, truncation, CrossEncoder scores."""

from __future__ import annotations

import numpy as np
import pytest

from qwen_models import build, torch  # noqa: F401  (skips without torch)

st = pytest.importorskip("sentence_transformers")

from shopsearch.config import ModelConfig  # noqa: E402
from shopsearch.models import InputTooLong, create_embedder, create_reranker  # noqa: E402


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return build(tmp_path_factory.mktemp("st-embedding"), "Qwen3Model")


def test_st_embedder_uses_the_models_prompts(folder):
    reference = st.SentenceTransformer(str(folder), prompts={"query": "query: ", "document": "passage: "})
    reference.save(str(folder / "with-prompts"))
    model = create_embedder(ModelConfig(embedder=f"st:{folder / 'with-prompts'}"))
    queries = model.embed_queries(["usb-c charger", "regalo para papá"])
    expected = reference.encode(["usb-c charger", "regalo para papá"], prompt_name="query", normalize_embeddings=True)
    np.testing.assert_allclose(queries, expected, atol=1e-5)
    documents = model.embed_documents(["usb-c charger"])
    assert float(queries[0] @ documents[0]) < 0.9999  # the two prompts differ
    np.testing.assert_allclose(documents[0], reference.encode("usb-c charger", prompt_name="document", normalize_embeddings=True), atol=1e-5)


def test_st_embedder_matryoshka_and_truncation(folder):
    model = create_embedder(ModelConfig(embedder=f"st:{folder}", dimensions=16))
    vectors = model.embed_documents(["a", "b c"])
    assert vectors.shape == (2, 16) and model.dim == 16
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    strict = create_embedder(ModelConfig(embedder=f"st:{folder}", max_length=8, truncation="error"))
    with pytest.raises(InputTooLong, match="input 0 has"):
        strict.embed_documents(["many words " * 20])
    cutting = create_embedder(ModelConfig(embedder=f"st:{folder}", max_length=8))
    assert cutting.embed_documents(["many words " * 20]).shape == (1, 64) and cutting.truncations.count == 1


def test_cross_encoder_reranker_scores_in_unit_interval(tmp_path):
    folder = build(tmp_path / "cross", "Qwen3ForSequenceClassification", chat_template=False, num_labels=1)
    reranker = create_reranker(ModelConfig(reranker=f"st:{folder}"))
    docs = ["usb-c charger", "red shoe", "cargador usb " * 10]
    scores = reranker.score("usb charger", docs)
    reference = st.CrossEncoder(str(folder)).predict([("usb charger", d) for d in docs])
    # sentence-transformers applies the model's activation (a sigmoid for one-label models) itself.
    np.testing.assert_allclose(scores, reference, atol=1e-5)
    assert scores.shape == (3,) and ((scores > 0) & (scores < 1)).all()


def test_a_bare_folder_is_read_by_its_config(folder, tmp_path):
    assert create_embedder(ModelConfig(embedder=str(folder))).name == f"qwen3:{folder.name}"
    other = build(tmp_path / "other", "Qwen3Model")
    config = (other / "config.json").read_text().replace('"model_type": "qwen3"', '"model_type": "qwen3_like"')
    (other / "config.json").write_text(config)
    from shopsearch.models.factory import EMBEDDER_KINDS, parse_spec
    assert parse_spec(str(other), EMBEDDER_KINDS).kind == "st"


@pytest.fixture(scope="module")
def prompted(folder):
    reference = st.SentenceTransformer(str(folder), prompts={"query": "query: ", "document": "passage: "})
    reference.save(str(folder / "prompted"))
    return folder / "prompted", reference


MIXED_LENGTHS = ["usb", "regalo para papá", "轻便透气的夏季运动鞋 " * 12, "red running shoe, size 42 " * 6, "ssd"] * 3


def test_onnx_engine_gives_sentence_transformers_vectors(prompted, tmp_path):
    path, reference = prompted
    model = create_embedder(ModelConfig(embedder=f"st:{path}", engine="onnx", batch_size=4, cache_dir=str(tmp_path)))
    assert model.engine == "onnx"
    # Mixed lengths over several length groups and batches: every row must come back in its place.
    for vectors, kind in ((model.embed_queries(MIXED_LENGTHS), "query"), (model.embed_documents(MIXED_LENGTHS), "document")):
        expected = reference.encode(MIXED_LENGTHS, prompt_name=kind, normalize_embeddings=True)
        np.testing.assert_allclose(vectors, expected, atol=1e-5)
    torch_engine = create_embedder(ModelConfig(embedder=f"st:{path}", engine="torch"))
    assert torch_engine.engine == "torch"
    np.testing.assert_allclose(torch_engine.embed_documents(MIXED_LENGTHS), model.embed_documents(MIXED_LENGTHS), atol=1e-5)


def test_onnx_export_is_made_once_and_reused(prompted, tmp_path, monkeypatch):
    from shopsearch.models.onnx_runtime import OnnxSentenceEncoder

    path, _ = prompted
    first = create_embedder(ModelConfig(embedder=f"st:{path}", cache_dir=str(tmp_path)))
    assert first.engine == "onnx" and first.onnx.path.is_file() and first.onnx.path.is_relative_to(tmp_path)

    def no_export(self, sample):
        raise AssertionError("exported again")

    monkeypatch.setattr(OnnxSentenceEncoder, "_export", no_export)
    again = create_embedder(ModelConfig(embedder=f"st:{path}", cache_dir=str(tmp_path)))
    assert again.onnx.path == first.onnx.path
    np.testing.assert_array_equal(again.embed_queries(["usb-c charger"]), first.embed_queries(["usb-c charger"]))
    assert not list(tmp_path.rglob("*.partial"))


def test_models_that_cannot_export_run_with_torch_or_say_why(folder, tmp_path):
    import json
    import shutil

    from shopsearch.models import ModelUnavailable

    reference = st.SentenceTransformer(str(folder))
    reference.save(str(tmp_path / "no-prompt-pooling"))
    pooling = tmp_path / "no-prompt-pooling" / "1_Pooling" / "config.json"
    pooling.write_text(json.dumps({**json.loads(pooling.read_text()), "include_prompt": False}))
    spec = f"st:{tmp_path / 'no-prompt-pooling'}"
    assert create_embedder(ModelConfig(embedder=spec, cache_dir=str(tmp_path))).engine == "torch"
    with pytest.raises(ModelUnavailable, match="leaves the prompt out"):
        create_embedder(ModelConfig(embedder=spec, engine="onnx", cache_dir=str(tmp_path)))
    with pytest.raises(ValueError, match="engine must be one of"):
        create_embedder(ModelConfig(embedder=spec, engine="tensorrt"))
    shutil.rmtree(tmp_path / "no-prompt-pooling")


def test_overlapping_calls_answer_as_one_at_a_time(prompted, tmp_path):
    """The server runs two calls at once on an ONNX model: answers must equal one-at-a-time answers.
    (The tokenizer race the lock prevents showed up under bench_serve.py's load, with a BERT
    tokenizer; this tiny model's calls are too quick to reproduce it reliably.)"""
    from concurrent.futures import ThreadPoolExecutor

    path, _ = prompted
    # max_length 64: texts over 62 characters go through the length check's own tokenizer call.
    model = create_embedder(ModelConfig(embedder=f"st:{path}", engine="onnx", max_length=64, cache_dir=str(tmp_path)))
    assert (model.parallel_calls, model.serving_batch) == (2, 2)
    # Long texts take the length check's own tokenizer call (no padding) while the other thread pads.
    batches = [[("word " * 300)[: 100 + i], "usb-c charger", "regalo para papá"] for i in range(60)]
    expected = [model.embed_documents(b) for b in batches]
    with ThreadPoolExecutor(2) as pool:
        answers = list(pool.map(model.embed_documents, batches))
    for got, want in zip(answers, expected):
        np.testing.assert_allclose(got, want, atol=1e-6)
