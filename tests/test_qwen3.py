"""Qwen3-Embedding and Qwen3-Reranker against a hand-written reference of the official recipe."""

from __future__ import annotations

import numpy as np
import pytest

from qwen_models import build, torch, transformers  # noqa: F401  (skips without torch)
from shopsearch.models import InputTooLong
from shopsearch.models.qwen3 import Qwen3Embedder, Qwen3Reranker

TASK = "Given a shopper's product search query, retrieve products that match what the shopper wants"
TEXTS = ["usb-c charger under $30", "轻便透气的夏季运动鞋", "regalo para papá", "HP 530 Notebook PC " * 12]


@pytest.fixture(scope="module")
def embedding_folder(tmp_path_factory):
    return build(tmp_path_factory.mktemp("qwen3-embedding"), "Qwen3Model")


@pytest.fixture(scope="module")
def reranker_folder(tmp_path_factory):
    return build(tmp_path_factory.mktemp("qwen3-reranker"), "Qwen3ForCausalLM", seed=1)


@pytest.fixture(scope="module")
def embedder(embedding_folder):
    return Qwen3Embedder(str(embedding_folder), batch_size=3)


def reference_embedding(folder, text: str) -> np.ndarray:
    """The model card's recipe, one text at a time: ids + <|endoftext|>, last token, L2."""
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.AutoModel.from_pretrained(folder).eval()
    ids = tokenizer(text)["input_ids"] + [tokenizer.convert_tokens_to_ids("<|endoftext|>")]
    with torch.no_grad():
        hidden = model(input_ids=torch.tensor([ids])).last_hidden_state[0, -1]
    return torch.nn.functional.normalize(hidden, p=2, dim=0).numpy()


def test_query_prompt_has_no_space_after_query_and_ends_in_endoftext(embedder):
    ids = embedder.token_ids([f"Instruct: {TASK}\nQuery:usb-c charger"])[0]
    assert ids[-1] == 151643
    text = embedder.tokenizer.decode(ids)
    assert text == f"Instruct: {TASK}\nQuery:usb-c charger<|endoftext|>"


def test_embeddings_match_the_reference_recipe(embedder, embedding_folder):
    queries = embedder.embed_queries(TEXTS)
    documents = embedder.embed_documents(TEXTS)
    for i, text in enumerate(TEXTS):
        ref_q = reference_embedding(embedding_folder, f"Instruct: {TASK}\nQuery:{text}")
        ref_d = reference_embedding(embedding_folder, text)
        assert float(queries[i] @ ref_q) >= 0.9999
        assert float(documents[i] @ ref_d) >= 0.9999
    # The instruction is on the query side only.
    assert float(queries[0] @ documents[0]) < 0.9999


def test_left_padding_does_not_change_a_vector(embedder):
    batched = embedder.embed_documents(TEXTS)  # lengths differ a lot: heavy padding
    for i, text in enumerate(TEXTS):
        alone = embedder.embed_documents([text])[0]
        assert float(batched[i] @ alone) >= 0.9999


@pytest.mark.parametrize("dims", [32, 48, 63])
def test_matryoshka_truncates_then_renormalises(embedder, dims):
    full = embedder.embed_documents(TEXTS)
    cut = embedder.embed_documents(TEXTS, dimensions=dims)
    assert cut.shape == (len(TEXTS), dims)
    np.testing.assert_allclose(np.linalg.norm(cut, axis=1), 1.0, atol=1e-5)
    expected = full[:, :dims] / np.linalg.norm(full[:, :dims], axis=1, keepdims=True)
    np.testing.assert_allclose(cut, expected, atol=1e-5)


@pytest.mark.parametrize("dims", [16, 31, 65, 4096])
def test_dimensions_outside_32_to_native_are_refused(embedder, dims):
    with pytest.raises(ValueError, match="between 32 and 64"):
        embedder.embed_documents(["x"], dimensions=dims)


def test_truncation_policy(embedding_folder):
    long_text = "wireless noise cancelling headphones " * 40
    for bad in (16, 40000):
        with pytest.raises(ValueError, match="max_length must be between 64 and 32768"):
            Qwen3Embedder(str(embedding_folder), max_length=bad)
    cutting = Qwen3Embedder(str(embedding_folder), max_length=64)
    ids = cutting.token_ids([long_text])[0]
    assert len(ids) == 64 and ids[-1] == 151643
    assert cutting.truncations.count == 1
    assert cutting.embed_documents([long_text]).shape == (1, 64)
    strict = Qwen3Embedder(str(embedding_folder), max_length=64, truncation="error")
    with pytest.raises(InputTooLong, match="input 1 has .* tokens, more than the model's limit of 64"):
        strict.embed_documents(["short", long_text])
    assert strict.embed_documents(["short"]).shape == (1, 64)


def reference_rerank(folder, query, documents, instruction, max_length=8192):
    """The Qwen3-Reranker model card's code, one pair at a time."""
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder, padding_side="left")
    model = transformers.AutoModelForCausalLM.from_pretrained(folder).eval()
    prefix = ("<|im_start|>system\nJudge whether the Document meets the requirements based on the Query and the "
              "Instruct provided. Note that the answer can only be \"yes\" or \"no\".<|im_end|>\n<|im_start|>user\n")
    suffix = "<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
    prefix_ids = tokenizer.encode(prefix, add_special_tokens=False)
    suffix_ids = tokenizer.encode(suffix, add_special_tokens=False)
    yes, no = tokenizer.convert_tokens_to_ids("yes"), tokenizer.convert_tokens_to_ids("no")
    scores = []
    for doc in documents:
        pair = f"<Instruct>: {instruction}\n<Query>: {query}\n<Document>: {doc}"
        body = tokenizer(pair, truncation=True, add_special_tokens=False,
                         max_length=max_length - len(prefix_ids) - len(suffix_ids))["input_ids"]
        with torch.no_grad():
            logits = model(input_ids=torch.tensor([prefix_ids + body + suffix_ids])).logits[0, -1]
        scores.append(torch.log_softmax(torch.stack([logits[no], logits[yes]]), dim=0)[1].exp().item())
    return np.array(scores)


def test_rerank_prompt_boundaries(reranker_folder):
    reranker = Qwen3Reranker(str(reranker_folder))
    ids = reranker.token_ids("usb-c charger", ["Anker 30W USB-C charger"], "Find chargers")[0]
    tokenizer = reranker.tokenizer
    assert ids[:3] == tokenizer.convert_tokens_to_ids(["<|im_start|>", "system", "Ċ"])
    think, end_think = tokenizer.convert_tokens_to_ids(["<think>", "</think>"])
    # ... assistant\n <think> \n\n </think> \n\n : the trailing "\n\n" is the last token.
    assert ids[-4:] == [think, tokenizer.convert_tokens_to_ids("ĊĊ"), end_think, tokenizer.convert_tokens_to_ids("ĊĊ")]
    text = tokenizer.decode(ids)
    assert "<|im_start|>user\n<Instruct>: Find chargers\n<Query>: usb-c charger\n<Document>: Anker 30W USB-C charger<|im_end|>\n" in text
    assert text.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")


def test_rerank_scores_match_the_reference_and_batching(reranker_folder):
    docs = ["Anker 30W USB-C charger", "Zapatillas de running ligeras", "轻便透气的夏季运动鞋 男款", "cable " * 50]
    reranker = Qwen3Reranker(str(reranker_folder), batch_size=3)
    batched = reranker.score("usb-c charger", docs, "Find chargers")
    expected = reference_rerank(reranker_folder, "usb-c charger", docs, "Find chargers")
    np.testing.assert_allclose(batched, expected, atol=1e-4)
    alone = np.array([reranker.score("usb-c charger", [d], "Find chargers")[0] for d in docs])
    np.testing.assert_allclose(batched, alone, atol=1e-4)
    assert ((batched > 0) & (batched < 1)).all()


def test_rerank_truncation_keeps_prefix_and_suffix_whole(reranker_folder):
    reranker = Qwen3Reranker(str(reranker_folder), max_length=96)
    doc = "very long product description " * 80
    ids = reranker.token_ids("charger", [doc])[0]
    assert len(ids) == 96 and reranker.truncations.count == 1
    assert reranker.tokenizer.decode(ids).endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    expected = reference_rerank(reranker_folder, "charger", [doc], reranker.instruction, max_length=96)
    np.testing.assert_allclose(reranker.score("charger", [doc]), expected, atol=1e-4)
