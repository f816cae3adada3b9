"""The HTTP service: OpenAI embeddings (with the official client), Cohere/Jina rerank, search, catalogue, limits, auth, cache."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import signal
import threading
import time

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import given, strategies as st

from helpers import FIXTURES, HashEmbedder, WordReranker, start_server, stop_server
from shopsearch.serve.app import create_app
from shopsearch.serve.settings import ServeSettings

KEY = "sk-test-123"


@pytest.fixture
def served(open_engine, tmp_path, icecat_items):
    def make(reranker=None, **settings):
        engine = open_engine(tmp_path / "served", reranker=reranker)
        if len(engine) == 0:
            engine.upsert(icecat_items)
        app = create_app(engine, dataclasses.replace(ServeSettings(), **settings))
        return TestClient(app, raise_server_exceptions=False).__enter__()
    return make


def auth(key=KEY):
    return {"Authorization": f"Bearer {key}"}


def test_embeddings_openai_shape_float_and_base64(served, embedder):
    client = served()
    answer = client.post("/v1/embeddings", json={"input": ["usb-c charger", "cargador"], "model": "default"}).json()
    assert answer["object"] == "list" and answer["model"] == "multilingual-e5-small-q4-int8"
    assert [d["index"] for d in answer["data"]] == [0, 1] and answer["data"][0]["object"] == "embedding"
    expected = embedder.embed_documents(["usb-c charger", "cargador"])
    np.testing.assert_allclose(np.array([d["embedding"] for d in answer["data"]]), expected, atol=1e-5)
    assert answer["usage"]["prompt_tokens"] == answer["usage"]["total_tokens"] > 0
    b64 = client.post("/v1/embeddings", json={"input": "usb-c charger", "model": "default", "encoding_format": "base64"}).json()
    vector = np.frombuffer(base64.b64decode(b64["data"][0]["embedding"]), dtype="<f4")
    np.testing.assert_allclose(vector, expected[0], atol=1e-5)
    query = client.post("/v1/embeddings", json={"input": "usb-c charger", "input_type": "query"}).json()
    np.testing.assert_allclose(query["data"][0]["embedding"], embedder.embed_queries(["usb-c charger"])[0], atol=1e-5)


@pytest.mark.parametrize("body, status, param, code", [
    ({"input": [1, 2, 3]}, 400, "input", "unsupported_input"),
    ({"input": []}, 400, "input", "empty_input"),
    ({"input": "x", "model": "gpt-4"}, 404, "model", "model_not_found"),
    ({"input": "x", "dimensions": 64}, 400, "dimensions", "unsupported_dimensions"),
    ({"input": "x", "encoding_format": "hex"}, 400, "encoding_format", "literal_error"),
    ({"model": "default"}, 400, "input", "missing"),
    ({"input": ["x"] * 5}, 400, "input", "too_many_inputs"),
])
def test_embedding_errors_in_openai_shape(served, body, status, param, code):
    client = served(max_inputs=4)
    response = client.post("/v1/embeddings", json=body)
    assert response.status_code == status
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["param"] == param and error["code"] == code


def test_bad_json_and_big_bodies(served):
    client = served(max_body_bytes=2000)
    bad = client.post("/v1/search", content=b"{nope", headers={"Content-Type": "application/json"})
    assert bad.status_code == 400 and bad.json()["error"]["message"] == "the body is not valid JSON"
    big = client.post("/v1/embeddings", json={"input": "x" * 5000})
    assert big.status_code == 413 and big.json()["error"]["code"] == "body_too_large"

    def chunks():  # no Content-Length: counted as it arrives
        for _ in range(5):
            yield b" " * 1000
    streamed = client.post("/v1/embeddings", content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413


def test_token_limit_truncates_or_refuses(served, embedder):
    long_text = "wireless headphones " * 50
    client = served(max_input_tokens=10)
    answer = client.post("/v1/embeddings", json={"input": [long_text, "short"]}).json()
    assert answer["usage"]["prompt_tokens"] == 10 + embedder.count_tokens(["short"])[0]  # the model's own tokens
    assert "shopsearch_truncations_total 1.0" in client.get("/metrics").text
    strict = served(max_input_tokens=10, token_policy="error")
    refused = strict.post("/v1/embeddings", json={"input": ["short", long_text]})
    assert refused.status_code == 400 and refused.json()["error"]["param"] == "input[1]"


def test_the_models_own_token_limit_binds_before_the_servers(served, embedder):
    """The default model reads 512 tokens: past its max_tokens the server cuts (and counts) or refuses,
    though its own limit (8192) is higher."""
    over = "wireless headphones " * 300
    assert embedder.count_tokens([over])[0] > embedder.max_tokens
    client = served()
    answer = client.post("/v1/embeddings", json={"input": [over]}).json()
    assert answer["usage"]["prompt_tokens"] == embedder.max_tokens
    assert "shopsearch_truncations_total 1.0" in client.get("/metrics").text
    embedder.embed_documents([over])  # the model's own cut, as when indexing a long description
    assert f"shopsearch_model_truncations {float(embedder.truncations.count)}" in client.get("/metrics").text
    assert embedder.truncations.count >= 1
    refused = served(token_policy="error").post("/v1/embeddings", json={"input": [over]})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "context_length_exceeded"
    assert f"over the limit of {embedder.max_tokens}" in refused.json()["error"]["message"]


def test_a_cache_hit_is_flagged_without_touching_item_fields(served):
    client = served()
    written = client.post("/v1/catalog/items", json={"items": [{"id": "c1", "title": "cached cable tester", "cached": False}]})
    assert written.status_code == 200
    body = {"query": "cable tester", "mode": "keyword", "k": 3}
    first, second = client.post("/v1/search", json=body).json(), client.post("/v1/search", json=body).json()
    assert first["cached"] is False and second["cached"] is True
    hit = next(h for h in second["results"] if h["id"] == "c1")
    assert hit["item"]["cached"] is False and second["results"] == first["results"]


def test_auth_on_every_route_but_health(served):
    client = served(api_keys=(KEY, "other"))
    assert client.get("/health").status_code == 200
    for method, path, body in [("post", "/v1/embeddings", {"input": "x"}), ("get", "/v1/models", None),
                               ("post", "/v1/search", {"query": "x"}), ("get", "/metrics", None), ("get", "/ready", None),
                               ("get", "/v1/catalog/items/1", None)]:
        denied = client.request(method.upper(), path, json=body)
        assert denied.status_code == 401 and denied.json()["error"]["code"] == "invalid_api_key", path
        assert client.request(method.upper(), path, json=body, headers=auth("wrong")).status_code == 401
    assert client.post("/v1/embeddings", json={"input": "x"}, headers=auth()).status_code == 200
    assert client.get("/v1/models", headers=auth("other")).status_code == 200


def test_search_route_results_filters_explain_and_errors(served):
    client = served()
    answer = client.post("/v1/search", json={"query": "notebook bag", "k": 5, "filters": ["price<=50"], "explain": True}).json()
    assert len(answer["results"]) == 5 and all(h["item"]["price"] <= 50 for h in answer["results"])
    assert answer["degraded"] is False and {"keyword_ms", "embed_ms", "vector_ms"} <= set(answer["timings"])
    assert "keyword_rank" in answer["results"][0]["explanation"]
    page = client.post("/v1/search", json={"query": "notebook bag", "k": 2, "offset": 2, "filters": ["price<=50"]}).json()
    assert [h["id"] for h in page["results"]] == [h["id"] for h in answer["results"][2:4]]
    assert page["results"][0]["explanation"] is None
    for body, param in [({"query": ""}, "query"), ({"query": "x", "mode": "fuzzy"}, "mode"),
                        ({"query": "x", "filters": ["price<<3"]}, "filters"), ({"query": "x", "k": 0}, "k"),
                        ({"query": "x", "rerank": True}, "rerank"), ({"query": "x", "colour": 1}, "colour")]:
        response = client.post("/v1/search", json=body)
        assert response.status_code == 400 and response.json()["error"]["param"] == param, body


def test_search_cache_hits_and_writes_invalidate(served):
    client = served()
    first = client.post("/v1/search", json={"query": "walnut desk lamp", "mode": "keyword"}).json()
    second = client.post("/v1/search", json={"query": "walnut desk lamp", "mode": "keyword"}).json()
    assert first["cached"] is False and second["cached"] is True and first["results"] == second["results"]
    written = client.post("/v1/catalog/items", json={"items": [
        {"id": "new-1", "title": "Walnut desk lamp with dimmer", "price": 30},
        {"title": "no id"}, {"id": "bad-price", "title": "x", "price": "cheap"}]}).json()
    assert written["upserted"] == 1 and [e["index"] for e in written["errors"]] == [1, 2]
    third = client.post("/v1/search", json={"query": "walnut desk lamp", "mode": "keyword"}).json()
    assert third["cached"] is False and third["results"][0]["id"] == "new-1"
    assert client.get("/v1/catalog/items/new-1").json()["title"] == "Walnut desk lamp with dimmer"
    assert client.delete("/v1/catalog/items/new-1").json()["deleted"] is True
    assert client.get("/v1/catalog/items/new-1").status_code == 404
    assert client.delete("/v1/catalog/items/new-1").json()["error"]["code"] == "item_not_found"
    fourth = client.post("/v1/search", json={"query": "walnut desk lamp", "mode": "keyword"}).json()
    assert "new-1" not in [h["id"] for h in fourth["results"]]
    metrics = client.get("/metrics").text
    assert 'shopsearch_cache_total{kind="search",result="hit"} 1.0' in metrics


def test_rerank_cohere_shape(served):
    client = served(reranker=WordReranker())
    docs = ["red shoe", "usb c charger fast", {"text": "charger"}]
    answer = client.post("/v1/rerank", json={"query": "usb c charger", "documents": docs, "top_n": 2,
                                             "return_documents": True}).json()
    assert [r["index"] for r in answer["results"]] == [1, 2] and answer["model"] == "word-overlap-test"
    assert answer["results"][0]["document"] == {"text": "usb c charger fast"} and answer["results"][0]["relevance_score"] == 1.0
    assert answer["id"] and answer["usage"]["total_tokens"] > 0
    bare = client.post("/rerank", json={"query": "usb c charger", "documents": docs}).json()
    assert len(bare["results"]) == 3 and "document" not in bare["results"][0]
    models = client.get("/v1/models").json()
    assert [m["kind"] for m in models["data"]] == ["embedding", "rerank"]


def test_rerank_without_a_reranker_says_so(served):
    client = served()
    response = client.post("/v1/rerank", json={"query": "q", "documents": ["a"]})
    assert response.status_code == 404 and "no reranker is configured" in response.json()["error"]["message"]


def test_a_down_reranker_is_503_on_rerank_and_degraded_on_search(served):
    client = served(reranker=WordReranker(fail=True))
    down = client.post("/v1/rerank", json={"query": "q", "documents": ["a"]})
    assert down.status_code == 503 and down.headers["retry-after"] and down.json()["error"]["code"] == "model_unavailable"
    answer = client.post("/v1/search", json={"query": "notebook bag"}).json()
    assert answer["degraded"] is True and "rerank skipped" in answer["degraded_reason"] and answer["results"]
    assert "shopsearch_degraded_answers_total 1.0" in client.get("/metrics").text


def test_health_ready_metrics(served):
    client = served()
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready").json()
    assert ready["ready"] is True and ready["index"]["items"] == 213 and ready["rerank_model"] is None
    client.post("/v1/embeddings", json={"input": ["a", "b"]})
    metrics = client.get("/metrics").text
    assert 'shopsearch_requests_total{route="/v1/embeddings",status="200"} 1.0' in metrics
    assert "shopsearch_embedding_batch_size_count" in metrics and "shopsearch_request_seconds_bucket" in metrics
    assert client.get("/openapi.json").json()["paths"]["/v1/embeddings"]


def test_micro_batching_joins_concurrent_requests_and_bounds_the_queue(served):
    client = served(max_batch=64)  # continuous batching: no linger
    app = client.app
    service = app.state.service
    calls = []
    real = service._embed_batch

    def counting(key, texts):
        calls.append(len(texts))
        time.sleep(0.05)
        return real(key, texts)
    service.batcher._run = counting

    async def burst(n, tag):  # distinct texts each time: the embedding cache must not answer
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            return await asyncio.gather(*[http.post("/v1/embeddings", json={"input": [f"{tag} {i}", f"more {tag} {i}"]})
                                          for i in range(n)])
    responses = client.portal.call(burst, 16, "first")
    assert all(r.status_code == 200 for r in responses)
    assert sum(calls) == 32 and max(calls) > 2  # texts from several requests shared a model call
    service.batcher.max_queue = 4
    service.batcher.max_wait_s = 0.2
    responses = client.portal.call(burst, 6, "second")
    codes = sorted(r.status_code for r in responses)
    assert codes.count(429) >= 1 and codes.count(200) >= 1
    refused = next(r for r in responses if r.status_code == 429)
    assert refused.headers["retry-after"] == "1" and refused.json()["error"]["code"] == "queue_full"


def test_requests_past_the_in_flight_limit_get_429_at_once_and_the_server_recovers(served):
    client = served(reranker=WordReranker(delay_s=0.3), max_in_flight=2)
    app = client.app
    body = {"query": "usb charger", "documents": ["usb charger", "laptop bag", "mouse"]}

    async def burst(n):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            started = time.perf_counter()
            answers = await asyncio.gather(*[http.post("/v1/rerank", json=body) for _ in range(n)],
                                           http.get("/health"))
            return answers, time.perf_counter() - started
    answers, _ = client.portal.call(burst, 6)
    *reranks, health = answers
    assert health.status_code == 200  # never refused
    codes = sorted(r.status_code for r in reranks)
    assert codes == [200, 200, 429, 429, 429, 429], codes
    refused = next(r for r in reranks if r.status_code == 429)
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["error"]["code"] == "overloaded" and refused.json()["error"]["type"] == "rate_limit_error"
    assert client.post("/v1/rerank", json=body).status_code == 200  # the slots came back
    assert 'shopsearch_rejected_total{reason="overloaded"} 4.0' in client.get("/metrics").text
    assert "shopsearch_requests_in_flight 0.0" in client.get("/metrics").text


def test_a_negative_in_flight_limit_is_refused():
    from shopsearch.config import InvalidConfig

    with pytest.raises(InvalidConfig, match="max_in_flight"):
        ServeSettings(max_in_flight=-1)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    url, process = start_server(tmp_path_factory.mktemp("live"), KEY)
    yield url, process
    stop_server(process)


@pytest.mark.slow  # a real `shopsearch serve` process over the indexed Icecat slice (live_server)
def test_the_official_openai_client_works_unchanged(live_server, embedder):
    openai = pytest.importorskip("openai")
    url, _ = live_server
    client = openai.OpenAI(base_url=url + "/v1", api_key=KEY)
    result = client.embeddings.create(input=["usb-c charger", "轻便透气的夏季运动鞋"], model="default")
    vectors = np.array([d.embedding for d in result.data])
    np.testing.assert_allclose(vectors, embedder.embed_documents(["usb-c charger", "轻便透气的夏季运动鞋"]), atol=1e-5)
    assert result.usage.total_tokens > 0 and result.model == "multilingual-e5-small-q4-int8"
    # The client asks for base64 by default when numpy is around; either way it decodes the same vectors.
    plain = client.embeddings.create(input="usb-c charger", model="default", encoding_format="float")
    np.testing.assert_allclose(plain.data[0].embedding, vectors[0], atol=1e-5)
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(base_url=url + "/v1", api_key="wrong").embeddings.create(input="x", model="default")
    with pytest.raises(openai.NotFoundError):
        client.embeddings.create(input="x", model="text-embedding-3-small")
    assert [m.id for m in client.models.list().data] == ["multilingual-e5-small-q4-int8"]


@pytest.mark.slow  # the same real server process, stopped by SIGTERM mid-request
def test_graceful_shutdown_finishes_in_flight_requests(live_server):
    url, process = live_server
    results = []

    def slow_request():
        body = {"input": [f"product number {i} with a longer description" for i in range(2000)]}
        results.append(httpx.post(url + "/v1/embeddings", json=body, headers=auth(), timeout=60).status_code)

    thread = threading.Thread(target=slow_request)
    thread.start()
    time.sleep(0.3)  # the request is in flight
    process.send_signal(signal.SIGTERM)
    thread.join(timeout=60)
    assert results == [200]
    assert process.wait(timeout=30) == 0


def test_search_facets_and_highlights(served):
    client = served()
    answer = client.post("/v1/search", json={"query": "laptop bag", "facets": True, "explain": True, "k": 5}).json()
    brands = {f["value"]: f["count"] for f in answer["facets"]["brand"]}
    assert brands and sum(b["count"] for b in answer["facets"]["price"]) >= 5
    filtered = client.post("/v1/search", json={"query": "laptop bag", "facets": True, "k": 50,
                                                "filters": {"brand": [next(iter(brands))]}}).json()
    assert {h["item"]["brand"] for h in filtered["results"]} == {next(iter(brands))}
    # Counted over every ranked candidate (100 per leg here), not just the page of 50.
    [only] = filtered["facets"]["brand"]
    assert only["value"] == next(iter(brands)) and only["count"] >= len(filtered["results"]) == 50
    top = answer["results"][0]
    title = top["item"]["title"]
    marks = [title[s:e].lower() for s, e in top["explanation"]["highlights"]["title"]]
    assert "laptop" in marks and "bag" in marks
    assert client.post("/v1/search", json={"query": "laptop bag"}).json()["facets"] is None


def test_eval_api_runs_judgments_from_the_folder_or_an_upload(served, tmp_path):
    (tmp_path / "judged").mkdir()
    (tmp_path / "judged" / "ratings.csv").write_text((FIXTURES / "icecat_slice_ratings.csv").read_text())
    (tmp_path / "judged" / "notes.md").write_text("not judgments")
    client = served(judgments_dir=str(tmp_path / "judged"))
    assert client.get("/v1/eval/judgments").json()["data"] == [{"name": "ratings.csv", "queries_file": None}]
    report = client.post("/v1/eval", json={"file": "ratings.csv", "modes": ["keyword", "hybrid"]}).json()
    assert report["baseline"] == "mode=keyword" and [r["name"] for r in report["runs"]] == ["mode=keyword", "mode=hybrid"]
    assert report["queries"] == 5 and report["plot_png"].startswith("iVBOR")  # a PNG
    assert report["runs"][0]["ndcg_change_pct"] == 0.0 and 0 < report["runs"][0]["summary"]["ndcg@10"] <= 1
    uploaded = client.post("/v1/eval", json={"judgments": "query,docid,rating\nlaptop bag,1751314,3\n",
                                             "modes": ["keyword"]}).json()
    assert uploaded["source"] == "upload" and uploaded["queries"] == 1 and len(uploaded["runs"]) == 1
    trec = client.post("/v1/eval", json={"judgments": "q1 0 1751314 3\n", "queries": "q1\tlaptop bag\n",
                                         "modes": ["keyword"]}).json()
    assert trec["queries"] == 1 and trec["runs"][0]["summary"] == uploaded["runs"][0]["summary"]
    for body, status, param, code in [
        ({"file": "ratings.csv", "judgments": "x"}, 400, "file", "invalid_request"),
        ({}, 400, "file", "invalid_request"),
        ({"file": "../keys.txt"}, 404, "file", "not_found"),
        ({"file": "notes.md"}, 404, "file", "not_found"),
        ({"judgments": "q,doc\nx,y\n"}, 400, "judgments", "invalid_judgments"),
        ({"judgments": "query,docid,rating\nx,y,good\n"}, 400, "judgments", "invalid_judgments"),
        ({"judgments": "query,docid,rating\nx,y,1\n", "modes": ["bm25"]}, 400, "modes[0]", None),
    ]:
        response = client.post("/v1/eval", json=body)
        error = response.json()["error"]
        assert response.status_code == status and error["param"] == param, (body, response.json())
        if code:
            assert error["code"] == code


def test_the_page_is_served_with_a_strict_policy_and_needs_no_key(served):
    client = served(api_keys=(KEY,))
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert '<script type="module" src="/ui/app.js">' in page.text and "https://" not in page.text  # no CDN
    assert client.get("/ui/app.js").headers["content-type"].startswith("text/javascript")
    assert client.get("/ui/app.css").status_code == 200
    for missing in ("/ui/nothing.js", "/ui/..%2F__init__.py", "/ui/index.py"):
        assert client.get(missing).status_code == 404
    assert client.post("/v1/search", json={"query": "x"}).status_code == 401  # the API behind it still needs the key


def test_batcher_runs_as_many_calls_at_once_as_the_model_allows():
    from shopsearch.serve.batching import MicroBatcher

    running, peak = 0, 0
    lock = threading.Lock()

    def run(key, texts):
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.05)
        with lock:
            running -= 1
        return np.ones((len(texts), 2), dtype=np.float32)

    async def main(workers):
        batcher = MicroBatcher(run, max_batch=1, max_wait_ms=0, max_queue=100, workers=workers)
        batcher.start()
        answers = await asyncio.gather(*(batcher.submit(("document", None), [f"t{i}"]) for i in range(6)))
        await batcher.stop()
        return answers

    for workers in (1, 2):
        peak = 0
        answers = asyncio.run(main(workers))
        assert len(answers) == 6 and all(a.shape == (1, 2) for a in answers)
        assert peak == workers


def test_an_idle_model_runs_a_threads_request_at_once_and_a_busy_one_queues_it():
    from shopsearch.serve.batching import MicroBatcher

    release, inside = threading.Event(), threading.Event()
    calls: list[tuple[str, int]] = []

    def run(key, texts):
        calls.append((threading.current_thread().name, len(texts)))
        if texts[0] == "slow":
            inside.set()
            release.wait(10)
        return np.ones((len(texts), 2), dtype=np.float32)

    async def main():
        batcher = MicroBatcher(run, max_batch=8, max_wait_ms=0, max_queue=100, workers=1)
        batcher.start()
        loop = asyncio.get_running_loop()
        here = await loop.run_in_executor(None, batcher.run_now, ("query", None), ["idle"])
        slow = loop.run_in_executor(None, batcher.run_now, ("query", None), ["slow"])
        await loop.run_in_executor(None, inside.wait, 10)
        busy = batcher.run_now(("query", None), ["busy"])  # the one slot is taken: not run here
        queued = [asyncio.ensure_future(batcher.submit(("query", None), [f"q{i}"])) for i in range(3)]
        await asyncio.sleep(0.05)
        waiting = batcher.depth
        release.set()
        answers = await asyncio.gather(slow, *queued)
        await batcher.stop()
        return here, busy, waiting, answers

    here, busy, waiting, answers = asyncio.run(main())
    assert here.shape == (1, 2) and busy is None and waiting == 3
    assert [n for _, n in calls] == [1, 1, 3]  # the idle call, the slow call, then the three queued as one batch
    assert all(a.shape == (1, 2) for a in answers)


def test_a_server_starts_and_answers_by_keyword_while_the_embedding_model_is_down(open_engine, tmp_path, icecat_items):
    engine = open_engine(tmp_path / "down", embedder=HashEmbedder())
    engine.upsert(icecat_items[:40])
    engine.close()
    down = open_engine(tmp_path / "down", embedder=HashEmbedder(fail=True))
    with TestClient(create_app(down, ServeSettings(cache="none")), raise_server_exceptions=False) as client:
        assert client.get("/ready").status_code == 200
        answer = client.post("/v1/search", json={"query": icecat_items[0].title}).json()
        assert answer["degraded"] and answer["results"][0]["id"] == icecat_items[0].id
        assert client.post("/v1/embeddings", json={"input": "x"}).status_code == 503


@given(st.lists(st.tuples(st.sampled_from("abcdefgh"), st.integers(0, 300)), max_size=60),
       st.integers(1, 6), st.integers(0, 800))
def test_the_memory_cache_keeps_the_most_recent_entries_within_both_bounds(writes, entries, max_bytes):
    from shopsearch.serve.cache import MemoryCache

    cache = MemoryCache(entries, max_bytes)
    latest: dict[str, bytes] = {}
    for key, size in writes:
        cache.set(key, b"x" * size)
        latest[key] = b"x" * size
        latest = {k: latest.pop(k) for k in [*[k for k in latest if k != key], key]}  # recency order, newest last
    kept = [k for k in latest if cache.get(k) is not None]
    assert len(cache) == len(kept) <= entries
    assert cache.size_bytes == sum(len(latest[k]) for k in kept)
    assert cache.size_bytes <= max_bytes or not max_bytes or len(cache) == 1  # one entry over the bound stays alone
    if writes:
        assert cache.get(writes[-1][0]) == latest[writes[-1][0]]  # the newest entry is always there
        assert kept == list(latest)[-len(kept):]  # what was dropped is the least recently used
