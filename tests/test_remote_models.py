"""The OpenAI embeddings and Cohere/TEI rerank clients against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest

from shopsearch.config import ModelConfig
from shopsearch.models import create_embedder, create_reranker
from shopsearch.models.http import RemoteModelError
from shopsearch.models.openai_client import OpenAIEmbedder
from shopsearch.models.rerank_client import RerankClient

DIM = 8


def fake_vector(text: str) -> list[float]:
    rng = np.random.default_rng(abs(hash(text)) % 2**32)
    return rng.normal(size=DIM).tolist()


class ModelServer(BaseHTTPRequestHandler):
    """Speaks OpenAI /v1/embeddings, Cohere /v1/rerank and TEI /rerank; scripted failures first."""

    failures: list[int] = []  # statuses to answer before succeeding
    delay_s = 0.0
    requests: list[tuple[str, dict]] = []

    def log_message(self, *args):  # keep test output clean
        pass

    def _reply(self, status: int, body) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if status == 429:
            self.send_header("Retry-After", "0")
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append((self.path, body))
        time.sleep(self.delay_s)
        if type(self).failures:
            status = type(self).failures.pop(0)
            return self._reply(status, {"error": {"message": f"scripted {status}", "type": "server_error"}})
        if self.path == "/v1/embeddings":
            inputs = body["input"]
            data = [{"object": "embedding", "index": i, "embedding": fake_vector(t)} for i, t in enumerate(inputs)]
            return self._reply(200, {"object": "list", "data": data[::-1], "model": body["model"]})  # any order
        if self.path == "/v1/rerank":
            scores = [len(set(body["query"].split()) & set(d.split())) / 3 for d in body["documents"]]
            results = sorted(({"index": i, "relevance_score": s} for i, s in enumerate(scores)), key=lambda r: -r["relevance_score"])
            return self._reply(200, {"id": "x", "results": results})
        if self.path == "/rerank":  # TEI: a bare list, "texts" in
            return self._reply(200, [{"index": i, "score": 0.1 * i} for i, _ in enumerate(body["texts"])][::-1])
        return self._reply(404, {"error": {"message": "no route"}})


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address):  # a client that timed out and left is expected here
        pass


@pytest.fixture
def server():
    ModelServer.failures, ModelServer.delay_s, ModelServer.requests = [], 0.0, []
    httpd = QuietServer(("127.0.0.1", 0), ModelServer)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_openai_embedder_batches_orders_and_normalises(server):
    model = OpenAIEmbedder(server + "/v1", "bge-m3", batch_size=2)
    texts = ["a", "b", "c", "d", "e"]
    vectors = model.embed_documents(texts)
    assert vectors.shape == (5, DIM) and model.dim == DIM
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    expected = np.array([fake_vector(t) for t in texts])
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(vectors, expected, atol=1e-6)  # rows put back in input order
    assert [len(body["input"]) for _, body in ModelServer.requests] == [2, 2, 1]


def test_openai_embedder_adds_the_qwen3_instruction_and_sends_dimensions(server):
    config = ModelConfig(embedder=f"openai:{server}/v1#Qwen3-Embedding-4B", dimensions=4)
    model = create_embedder(config)
    vector = model.embed_queries(["usb-c charger"])
    _, body = ModelServer.requests[-1]
    assert body["input"] == [f"Instruct: {config.query_instruction}\nQuery:usb-c charger"]
    assert body["dimensions"] == 4 and body["model"] == "Qwen3-Embedding-4B"
    assert vector.shape == (1, 4) and abs(np.linalg.norm(vector) - 1) < 1e-6
    model.embed_documents(["usb-c charger"])
    assert ModelServer.requests[-1][1]["input"] == ["usb-c charger"]  # documents go bare
    plain = OpenAIEmbedder(server + "/v1", "bge-m3")
    plain.embed_queries(["usb-c charger"])
    assert ModelServer.requests[-1][1]["input"] == ["usb-c charger"]


def test_retries_with_backoff_then_succeeds(server):
    ModelServer.failures = [503, 429]
    model = OpenAIEmbedder(server + "/v1", "m", retries=3)
    assert model.embed_documents(["x"]).shape == (1, DIM)
    assert len(ModelServer.requests) == 3


def test_gives_up_with_the_servers_message(server):
    ModelServer.failures = [503] * 5
    with pytest.raises(RemoteModelError, match="answered 503: scripted 503"):
        OpenAIEmbedder(server + "/v1", "m", retries=2).embed_documents(["x"])
    assert len(ModelServer.requests) == 3
    ModelServer.failures, ModelServer.requests = [400], []
    with pytest.raises(RemoteModelError, match="400"):
        OpenAIEmbedder(server + "/v1", "m", retries=3).embed_documents(["x"])
    assert len(ModelServer.requests) == 1  # a client error is not retried


def test_timeout_and_unreachable_server_are_clear(server):
    ModelServer.delay_s = 0.5
    with pytest.raises(RemoteModelError, match="Timeout"):
        OpenAIEmbedder(server + "/v1", "m", timeout_s=0.1, retries=0).embed_documents(["x"])
    with pytest.raises(RemoteModelError, match="ConnectError"):
        OpenAIEmbedder("http://127.0.0.1:9/v1", "m", retries=0).embed_documents(["x"])


def test_cohere_rerank_client_returns_scores_in_input_order(server):
    reranker = create_reranker(ModelConfig(reranker=f"cohere:{server}/v1#Qwen3-Reranker-4B"))
    docs = ["red shoe", "usb c charger fast", "charger"]
    scores = reranker.score("usb c charger", docs, "Find chargers")
    np.testing.assert_allclose(scores, [0.0, 1.0, 1 / 3], atol=1e-6)
    path, body = ModelServer.requests[-1]
    assert path == "/v1/rerank" and body["model"] == "Qwen3-Reranker-4B" and body["instruct"] == "Find chargers"
    assert body["top_n"] == 3


def test_tei_rerank_adapter_reads_a_bare_list(server):
    reranker = RerankClient(server, flavour="tei")
    np.testing.assert_allclose(reranker.score("q", ["a", "b", "c"]), [0.0, 0.1, 0.2], atol=1e-6)
    assert ModelServer.requests[-1] == ("/rerank", {"query": "q", "texts": ["a", "b", "c"], "raw_scores": False})


@pytest.mark.parametrize("spec, message", [
    ("openai:localhost:8000#m", "is a URL"),
    ("nonsense", "unknown model 'nonsense'"),
])
def test_bad_model_names_are_clear(spec, message):
    with pytest.raises(ValueError, match=message):
        create_embedder(ModelConfig(embedder=spec))


def test_no_reranker_configured_means_none():
    assert create_reranker(ModelConfig()) is None


def _replica(failures: list[int], delay_s: float = 0.0):
    handler = type("Replica", (ModelServer,), {"failures": list(failures), "delay_s": delay_s, "requests": []})
    httpd = QuietServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{httpd.server_address[1]}/v1", handler, httpd


def test_several_endpoints_share_a_big_call_and_cover_for_a_failed_one():
    texts = [f"product {i}" for i in range(40)]
    expected = np.asarray([fake_vector(t) for t in texts], dtype=np.float32)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    (a, handler_a, httpd_a), (b, handler_b, httpd_b) = _replica([], 0.02), _replica([], 0.02)
    (down, handler_down, httpd_down) = _replica([503] * 1000)
    try:
        both = create_embedder(ModelConfig(embedder=f"openai:{a},{b}#m", batch_size=4))
        np.testing.assert_allclose(both.embed_documents(texts), expected, atol=1e-6)  # in order
        served = [len(handler_a.requests), len(handler_b.requests)]
        assert sum(served) == 10 and min(served) >= 3  # both replicas took a share of the 10 batches

        handler_a.requests.clear()
        failover = OpenAIEmbedder(f"{down},{a}", "m", batch_size=4, retries=1)
        np.testing.assert_allclose(failover.embed_documents(texts), expected, atol=1e-6)
        assert len(handler_a.requests) == 10  # every batch, the failed endpoint's included

        dead = OpenAIEmbedder(f"{down},{down}", "m", batch_size=4, retries=1)
        with pytest.raises(RemoteModelError, match="every embedding endpoint failed.*503"):
            dead.embed_documents(texts)
        with pytest.raises(ValueError, match="http"):
            OpenAIEmbedder("http://ok:1/v1,ftp://nope", "m")
    finally:
        for httpd in (httpd_a, httpd_b, httpd_down):
            httpd.shutdown()
            httpd.server_close()
