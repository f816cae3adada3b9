"""Learning from clicks: simulated shoppers (eval/simulate.py), POST /v1/ranker/train and the install rule.

The end-to-end test runs the benchmark's loop (benchmarks/bench_learning.py) in small: the bundled
400-product Icecat sample and its 52 judged queries, searches logged in the engine's search log,
simulated clicks posted to /v1/events, then the route trains from the log."""

from __future__ import annotations

import gzip
import json
import shutil
import threading
import time
import uuid
from importlib import resources

import numpy as np
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from helpers import HashEmbedder
from shopsearch import Engine
from shopsearch.behaviour import SearchRecord, Session
from shopsearch.cli.main import cli
from shopsearch.eval import train_ranker
from shopsearch.eval.judgments import load_judgments
from shopsearch.eval.simulate import Shoppers, adjacent_swaps
from shopsearch.models import ModelUnavailable
from shopsearch.search import ranker as ranker_module
from shopsearch.search.ranker import FEATURES, LearnedRanker
from shopsearch.serve.app import create_app
from shopsearch.serve.settings import ServeSettings
from shopsearch.text.analyzer import fold

DATA = resources.files("shopsearch") / "data"
SESSIONS = 24  # per query: enough for every shown pair to be judged (5 impressions), few enough to stay fast


# -- the simulator ------------------------------------------------------------------
def test_adjacent_swaps_swap_one_neighbouring_pair_or_none():
    rng = np.random.default_rng(0)
    assert np.array_equal(adjacent_swaps(3, 5, 0.0, rng), np.tile(np.arange(5), (3, 1)))
    orders = adjacent_swaps(500, 6, 1.0, rng)
    moved = orders != np.arange(6)
    assert np.all(moved.sum(axis=1) == 2)  # exactly two positions changed, next to each other, swapped
    first = moved.argmax(axis=1)
    assert np.all(orders[np.arange(500), first] == first + 1) and np.all(orders[np.arange(500), first + 1] == first)
    assert set(first.tolist()) == set(range(5))  # every adjacent pair is chosen sometimes
    assert 0.4 < (adjacent_swaps(1000, 4, 0.5, rng) != np.arange(4)).any(axis=1).mean() < 0.6
    assert adjacent_swaps(2, 1, 1.0, rng).tolist() == [[0], [0]]
    with pytest.raises(ValueError, match="probability"):
        adjacent_swaps(2, 3, 1.5, rng)


def test_shoppers_click_by_grade_and_look_less_further_down():
    shoppers, rng = Shoppers(), np.random.default_rng(1)
    sessions = shoppers.sessions("q", ["a", "b", "c", "d"], {"a": 3, "d": 3, "b": 0}, 4000, rng)
    assert len(sessions) == 4000 and all(s.shown == ("a", "b", "c", "d") and not s.purchased for s in sessions)
    rate = np.array([[p in s.clicked for p in range(1, 5)] for s in sessions]).mean(axis=0)
    assert rate == pytest.approx([0.8, 0.05 / 2 ** 0.8, 0.05 / 3 ** 0.8, 0.8 / 4 ** 0.8], abs=0.03)  # "c" is unjudged: 0
    with pytest.raises(ValueError):
        Shoppers(click_by_grade=(0.1, 1.5))


@pytest.mark.parametrize("ranker, current, beats", [(0.61, 0.60, True), (0.60, 0.60, False), (0.59, 0.60, False)])
def test_the_install_rule_needs_a_strictly_better_held_out_figure(ranker, current, beats):
    won, reason = train_ranker.install_rule(ranker, current, "fusion")
    assert won is beats and f"{ranker:.4f}" in reason and f"{current:.4f}" in reason
    assert ("search keeps fusion" in reason) is not beats


# -- the loop, end to end -----------------------------------------------------------
@pytest.fixture(scope="module")
def sample_index(tmp_path_factory, embedder):
    """The bundled sample indexed once for the module (the default model's embeddings are its cost)."""
    data = tmp_path_factory.mktemp("sample") / "data"
    with gzip.open(DATA / "sample_catalogue.jsonl.gz", "rt", encoding="utf-8") as f:
        items = [json.loads(line) for line in f]
    with Engine.open(data, embedder=embedder) as engine:
        engine.upsert(items)
    return data


@pytest.fixture
def sample(sample_index, tmp_path, embedder):
    """A writable copy of the sample's index, served; (client, engine)."""
    data = tmp_path / "data"
    shutil.copytree(sample_index, data)
    (data / "LOCK").unlink(missing_ok=True)
    engine = Engine.open(data, embedder=embedder)
    with TestClient(create_app(engine, ServeSettings(cache="memory")), raise_server_exceptions=False) as client:
        yield client, engine
    engine.close()


def top(client, query: str, k: int) -> list[str]:
    return [hit["id"] for hit in client.post("/v1/search", json={"query": query, "k": k}).json()["results"]]


def log(client, engine, sessions: list[Session], when: float) -> int:
    """The sessions in the engine's search log (at time `when`) and their clicks posted to /v1/events, as a shop's
    server and front end would record them. Returns the clicks posted."""
    events = []
    for session in sessions:
        query_id = uuid.uuid4().hex
        engine.events.log_search(SearchRecord(query_id, session.query, None, None, session.shown, len(session.shown), when))
        events += [{"type": "click", "query_id": query_id, "item_id": session.shown[p - 1], "position": p}
                   for p in sorted(session.clicked)]
    engine.events.flush()  # the store buffers searches; their events must find them
    for start in range(0, len(events), 1000):
        answer = client.post("/v1/events", json={"events": events[start:start + 1000]}).json()
        assert answer["errors"] == [], answer["errors"][:3]
    return len(events)


def train(client, **body):
    answer = client.post("/v1/ranker/train", json={"from": "events", "folds": 4, **body})
    assert answer.status_code == 200, answer.text
    report = answer.json()
    current = report["current_figures"]["ndcg@10"]
    assert report["beats_current"] == report["installed"] == (report["ranker"]["ndcg@10"] > current)  # the rule
    assert f"{report['ranker']['ndcg@10']:.4f}" in report["reason"] and f"{current:.4f}" in report["reason"]
    assert report["queries"] == report["ranker"]["queries"] == report["current_figures"]["queries"] and report["folds"] == 4
    return report


def test_the_loop_from_simulated_clicks_to_an_installed_ranker(sample):
    client, engine = sample
    truth = load_judgments(DATA / "judgments" / "sample_ratings.csv")
    queries = sorted(truth)
    assert len(queries) == 52
    rng, shoppers = np.random.default_rng(0), Shoppers()
    earlier, later = time.time() - 3600, time.time() + 3600  # two windows of the log

    # 1. Shoppers by the true grades, on the engine's own top 10 (an adjacent pair swapped in each session).
    shown = {q: top(client, q, 10) for q in queries}
    sessions = [s for q in queries for s in shoppers.sessions(fold(q), shown[q], truth[q], SESSIONS, rng, swap_rate=1.0)]
    assert log(client, engine, sessions, earlier) > 1000
    judged = train_ranker.judgments_from_events(engine.events, until=earlier + 1)[0]
    pairs = [(truth[q][d], g) for q in queries for d, g in judged.get(fold(q), {}).items() if d in truth[q]]
    assert len(pairs) > 120
    true, derived = np.array(pairs).T
    assert derived[true >= 2].mean() > derived[true == 0].mean() + 1.5  # relevant items graded far above irrelevant
    concordant = np.sign(true[:, None] - true[None, :]) * np.sign(derived[:, None] - derived[None, :])
    assert (concordant > 0).sum() > 4 * (concordant < 0).sum()
    first = train(client, until=earlier + 1)
    assert first["sessions"] == len(sessions) and first["current"] == "fusion"
    assert first["current_figures"] == first["fusion"] and first["queries"] > 30
    assert first["installed"] == (engine.ranker is not None) == (engine.data_dir / "ranker.txt").exists()
    engine.set_ranker(None, save=False)  # whatever it decided: from fusion again for the next window

    # 2. A later window: the page shows 10 of the top 30 at random, and shoppers want short titles, a taste
    # fusion knows nothing of and one of the ranker's features (title_words) does: the ranker must win.
    pool = {q: top(client, q, 30) for q in queries}
    words = {d: len(set(str(engine.get(d)["title"]).lower().split())) for q in queries for d in pool[q]}
    taste = {q: {d: 3.0 for d in sorted(pool[q], key=lambda d: (words[d], d))[:6]} for q in queries}
    sessions = [s for q in queries for _ in range(SESSIONS)
                for s in shoppers.sessions(fold(q), [pool[q][i] for i in rng.permutation(len(pool[q]))[:10]],
                                           taste[q], 1, rng)]
    log(client, engine, sessions, later)
    before = client.post("/v1/search", json={"query": "laptop bag", "explain": True}).json()
    assert client.post("/v1/search", json={"query": "laptop bag", "explain": True}).json()["cached"]
    version = engine.version
    second = train(client, since=later)
    assert second["sessions"] == len(sessions) and second["current"] == "fusion"
    assert second["installed"], second["reason"]
    assert (engine.data_dir / "ranker.txt").exists() and engine.ranker is not None
    assert second["version"] == engine.version > version  # the install changes the version...
    after = client.post("/v1/search", json={"query": "laptop bag", "explain": True}).json()
    assert not after["cached"]  # ...so no answer cached before it, ranked without it, is served again
    assert all(hit["explanation"]["ranker_score"] is not None for hit in after["results"])
    assert [h["id"] for h in after["results"]] != [h["id"] for h in before["results"]]

    # 3. The current ranking is now that ranker, measured on the queries it was trained on (in-sample): a new one,
    # scored out of sample, does not beat it, and the installed one stays.
    model = (engine.data_dir / "ranker.txt").read_bytes()
    third = train(client, since=later)
    assert third["current"] == "installed ranker" and third["current_figures"] != third["fusion"]
    assert not third["installed"] and "search keeps installed ranker" in third["reason"]
    assert (engine.data_dir / "ranker.txt").read_bytes() == model and third["version"] == second["version"]



# -- the route's edges ----------------------------------------------------------------
@pytest.fixture
def small(tmp_path):
    """A tiny catalogue with a hashing model (no judgments needed, nothing learnt): (client, engine)."""
    engine = Engine.open(tmp_path / "data", embedder=HashEmbedder())
    engine.upsert([{"id": f"bag-{i}", "title": f"laptop bag model {i}"} for i in range(6)])
    with TestClient(create_app(engine, ServeSettings(cache="memory")), raise_server_exceptions=False) as client:
        yield client, engine
    engine.close()


def error(response, status):
    assert response.status_code == status, response.text
    body = response.json()["error"]
    assert set(body) == {"message", "type", "param", "code"}
    return body


@pytest.mark.parametrize("body, param, code", [
    ({}, "from", "missing"),
    ({"from": "judgments"}, "from", "literal_error"),
    ({"source": "events"}, "from", "missing"),
    ({"from": "events", "folds": 1}, "folds", "greater_than_equal"),
    ({"from": "events", "folds": 21}, "folds", "less_than_equal"),
    ({"from": "events", "dry_run": True}, "dry_run", "extra_forbidden"),
    ({"from": "events", "since": 10, "until": 5}, "since", "invalid_window"),
    ({"from": "events", "until": "inf"}, "until", "invalid_window"),
])
def test_a_bad_training_request_is_a_400_naming_its_field(small, body, param, code):
    found = error(small[0].post("/v1/ranker/train", json=body), 400)
    assert found["param"] == param and found["code"] == code


def test_no_judgments_in_the_log_is_a_400_saying_so(small):
    client, engine = small
    found = error(client.post("/v1/ranker/train", json={"from": "events"}), 400)
    assert found["code"] == "no_judgments" and "shown 5 times or more (0 searches" in found["message"]
    for _ in range(6):  # judged now, but nobody clicked anything: nothing to learn either
        client.post("/v1/search", json={"query": "laptop bag", "mode": "keyword"})
    found = error(client.post("/v1/ranker/train", json={"from": "events"}), 400)
    assert found["code"] == "no_judgments" and "none has an item shoppers clicked" in found["message"]
    assert engine.ranker is None


def test_without_lightgbm_training_says_what_to_install(small, monkeypatch, tmp_path):
    def missing():
        raise ModelUnavailable("the learned ranker needs LightGBM: pip install 'shopsearch[ltr]'")

    monkeypatch.setattr(ranker_module, "_lightgbm", missing)
    found = error(small[0].post("/v1/ranker/train", json={"from": "events"}), 501)
    assert found["code"] == "ltr_not_installed" and "pip install 'shopsearch[ltr]'" in found["message"]
    small[1].close()
    (small[1].data_dir / "events.sqlite").touch()
    result = CliRunner().invoke(cli, ["train-ranker", "--data-dir", str(small[1].data_dir), "--from-events"])
    assert result.exit_code == 1 and "pip install 'shopsearch[ltr]'" in result.output


def test_one_training_at_a_time(small, monkeypatch):
    client = small[0]
    inside, release = threading.Event(), threading.Event()

    def slow(engine, folds, since, until):
        inside.set()
        assert release.wait(20)
        return train_ranker.TrainingReport(
            sessions=0, judged_queries=0, queries=0, queries_left_out=0, pairs=0, folds=folds, current="fusion",
            ranker={}, current_figures={}, fusion={}, beats_current=False, installed=False, reason="stub")

    monkeypatch.setattr(train_ranker, "train_from_events", slow)
    answers = []
    first = threading.Thread(target=lambda: answers.append(client.post("/v1/ranker/train", json={"from": "events"})))
    first.start()
    assert inside.wait(20)
    busy = error(client.post("/v1/ranker/train", json={"from": "events", "folds": 3}), 409)
    assert busy["code"] == "training_in_progress" and busy["type"] == "conflict_error"
    release.set()
    first.join(20)
    assert answers[0].status_code == 200 and answers[0].json()["reason"] == "stub"
    assert client.post("/v1/ranker/train", json={"from": "events"}).status_code == 200  # free again


def test_training_is_an_admin_route(tmp_path):
    engine = Engine.open(tmp_path / "data", embedder=HashEmbedder())
    settings = ServeSettings(cache="none", api_keys=("front search", "boss"))
    try:
        with TestClient(create_app(engine, settings), raise_server_exceptions=False) as client:
            front = client.post("/v1/ranker/train", json={"from": "events"}, headers={"Authorization": "Bearer front"})
            assert error(front, 403)["code"] == "insufficient_scope"
            boss = client.post("/v1/ranker/train", json={"from": "events"}, headers={"Authorization": "Bearer boss"})
            assert error(boss, 400)["code"] == "no_judgments"
    finally:
        engine.close()


def test_installing_a_ranker_changes_the_version_for_good(tmp_path):
    engine = Engine.open(tmp_path / "data", embedder=HashEmbedder())
    engine.upsert([{"id": "1", "title": "lamp"}])
    rng = np.random.default_rng(0)
    ranker = LearnedRanker.fit([rng.random((60, len(FEATURES)))] * 2, [rng.integers(0, 4, 60)] * 2)
    start = engine.version
    engine.set_ranker(ranker, save=False)  # in memory only: the version moves, and is not stored
    assert engine.version == start + 1
    engine.set_ranker(ranker)
    assert engine.version == start + 2
    engine.close()
    with Engine.open(tmp_path / "data", embedder=HashEmbedder()) as again:  # a shared cache outlives a restart
        assert again.ranker is not None and again.version == start + 2  # never back to a version answered before


def test_a_read_only_index_cannot_take_a_ranker_and_says_so_before_any_work(tmp_path):
    Engine.open(tmp_path / "data", embedder=HashEmbedder()).close()
    engine = Engine.open(tmp_path / "data", embedder=HashEmbedder(), read_only=True)
    try:
        with TestClient(create_app(engine, ServeSettings(cache="none")), raise_server_exceptions=False) as client:
            found = error(client.post("/v1/ranker/train", json={"from": "events"}), 409)
            assert found["code"] == "read_only" and "could not be installed" in found["message"]
        assert not (tmp_path / "data" / "events.sqlite").exists()  # refused before reading the log
    finally:
        engine.close()
