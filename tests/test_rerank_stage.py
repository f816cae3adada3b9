"""The rerank stage of search: reorders the head, keeps the tail, explains, and degrades instead of failing."""

from __future__ import annotations

import json
import time

import pytest
from click.testing import CliRunner

from helpers import HashEmbedder, WordReranker
from shopsearch import InvalidRequest
from shopsearch.cli.main import cli
from shopsearch.search.resilience import CircuitBreaker, ModelCallFailed

PRODUCTS = [
    {"id": "1", "title": "red running shoe", "price": 50},
    {"id": "2", "title": "blue kettle", "description": "a running joke of a kettle", "price": 20},
    {"id": "3", "title": "trail running shoe waterproof", "price": 90},
    {"id": "4", "title": "running socks", "price": 9},
]


@pytest.fixture
def engine_with(open_engine, tmp_path):
    def make(reranker, **config):
        return open_engine(tmp_path / "d", embedder=HashEmbedder(), reranker=reranker)
    return make


def ids(response):
    return [h.id for h in response.hits]


def test_rerank_reorders_the_head_and_keeps_the_tail(engine_with):
    reranker = WordReranker()
    engine = engine_with(reranker)
    engine.upsert(PRODUCTS)
    plain = engine.search("waterproof running shoe", mode="keyword", k=4, rerank=False)
    reranked = engine.search("waterproof running shoe", mode="keyword", k=4, rerank_depth=3)
    head = ids(plain)[:3]
    assert set(ids(reranked)[:3]) == set(head) and ids(reranked)[3] == ids(plain)[3]
    assert ids(reranked)[0] == "3"  # all three words
    scores = [h.explanation.rerank_score for h in reranked.hits[:3]]
    assert scores == sorted(scores, reverse=True) and reranked.hits[3].explanation.rerank_score is None
    assert [h.explanation.rerank_rank for h in reranked.hits[:3]] == [1, 2, 3]
    assert [h.score for h in reranked.hits] == sorted((h.score for h in reranked.hits), reverse=True)
    query, docs, instruction = reranker.seen[-1]
    assert len(docs) == 3 and docs[0].startswith(engine.get(head[0])["title"]) and instruction == engine.config.model.rerank_instruction
    assert "rerank_ms" in reranked.timings and not reranked.degraded


def test_rerank_is_on_by_default_when_configured_and_paging_works(engine_with):
    engine = engine_with(WordReranker())
    engine.upsert(PRODUCTS)
    full = ids(engine.search("running shoe", mode="keyword", k=4))
    assert engine.search("running shoe", mode="keyword", k=1).hits[0].explanation.rerank_score is not None
    assert ids(engine.search("running shoe", mode="keyword", k=2, offset=2)) == full[2:4]


def test_no_reranker_means_no_rerank_stage_said_plainly(open_engine, tmp_path):
    engine = open_engine(tmp_path / "d", embedder=HashEmbedder())
    engine.upsert(PRODUCTS)
    assert engine.search("running shoe").hits[0].explanation.rerank_score is None
    with pytest.raises(InvalidRequest, match="no reranker is configured, so there is no rerank stage") as err:
        engine.search("running shoe", rerank=True)
    assert err.value.param == "rerank"
    assert engine.stats()["reranker"] is None


def test_a_failing_reranker_degrades_to_the_fused_order_then_the_breaker_opens(engine_with):
    reranker = WordReranker(fail=True)
    engine = engine_with(reranker)
    engine.upsert(PRODUCTS)
    plain = ids(engine.search("running shoe", rerank=False))
    for _ in range(3):
        response = engine.search("running shoe")
        assert ids(response) == plain and response.degraded
        assert "rerank skipped: reranker failed: reranker unreachable" in response.to_dict()["degraded_reason"]
    assert reranker.calls == 3
    response = engine.search("running shoe")
    assert reranker.calls == 3 and "circuit open" in response.warnings[0]  # not called while open
    assert engine.stats()["reranker"]["breaker"] == "open"


def test_a_slow_reranker_times_out_per_request(engine_with):
    engine = engine_with(WordReranker(delay_s=0.5))
    engine.upsert(PRODUCTS)
    started = time.perf_counter()
    response = engine.search("running shoe", timeout_s=0.05)
    assert time.perf_counter() - started < 0.4
    assert response.degraded and "timed out after 0.05s" in response.warnings[0]
    assert len(response.hits) == 4 and response.hits[0].explanation.rerank_score is None


def test_both_models_down_leaves_keyword_results(engine_with):
    engine = engine_with(WordReranker(fail=True))
    engine.upsert(PRODUCTS)
    engine.embedder.fail = True
    response = engine.search("running shoe", mode="hybrid")
    assert len(response.hits) >= 3 and len(response.warnings) == 2 and response.degraded


def test_breaker_half_opens_after_cooldown():
    now = [0.0]
    breaker = CircuitBreaker("m", threshold=2, cooldown_s=10, clock=lambda: now[0])

    def boom():
        raise RuntimeError("down")

    for _ in range(2):
        with pytest.raises(ModelCallFailed, match="down"):
            breaker.call(boom, None)
    assert breaker.state == "open"
    with pytest.raises(ModelCallFailed, match="circuit open"):
        breaker.call(lambda: 1, None)
    now[0] = 11.0
    assert breaker.state == "half-open"
    assert breaker.call(lambda: 42, None) == 42 and breaker.state == "closed"


def test_cli_rerank_and_embed_json(tmp_path):
    pytest.importorskip("torch")
    from qwen_models import build

    folder = build(tmp_path / "reranker", "Qwen3ForCausalLM")
    runner = CliRunner()
    out = runner.invoke(cli, ["rerank", "usb charger", "usb-c charger", "red shoe", "--model", f"qwen3:{folder}", "--json"])
    assert out.exit_code == 0, out.output
    answer = json.loads(out.output)
    assert answer["model"] == "qwen3:reranker" and [r["index"] for r in answer["results"]] == [0, 1]
    assert all(0 < r["relevance_score"] < 1 for r in answer["results"])
    none = runner.invoke(cli, ["rerank", "q", "d"])
    assert none.exit_code == 1 and "no reranker configured" in none.output
    out = runner.invoke(cli, ["embed", "usb-c charger", "cargador", "--json"])
    answer = json.loads(out.output)
    assert answer["model"] == "multilingual-e5-small-q4-int8" and len(answer["data"]) == 2
    assert len(answer["data"][0]["embedding"]) == 384
    fixed = runner.invoke(cli, ["embed", "x", "--dimensions", "64"])
    assert fixed.exit_code == 1 and "fixed size of 384" in fixed.output


def test_search_cli_with_a_qwen3_reranker_folder(tmp_path, icecat_items):
    pytest.importorskip("torch")
    from qwen_models import build

    folder = build(tmp_path / "reranker", "Qwen3ForCausalLM")
    data = tmp_path / "data"
    runner = CliRunner()
    items = tmp_path / "items.jsonl"
    items.write_text("\n".join(json.dumps(it.to_record()) for it in icecat_items[:40]))
    assert runner.invoke(cli, ["index", str(items), "--data-dir", str(data)]).exit_code == 0
    out = runner.invoke(cli, ["search", "notebook bag", "--data-dir", str(data), "--rerank-model", f"qwen3:{folder}",
                              "--rerank-depth", "8", "--k", "5", "--json"])
    assert out.exit_code == 0, out.output
    response = json.loads(out.output)
    scores = [r["explanation"]["rerank_score"] for r in response["results"]]
    assert all(0 < s < 1 for s in scores) and scores == sorted(scores, reverse=True)
    assert response["degraded"] is False and "rerank_ms" in response["timings"]
    plain = runner.invoke(cli, ["search", "notebook bag", "--data-dir", str(data), "--rerank", "--json"])
    assert plain.exit_code == 1 and "no rerank stage" in plain.output
