"""The behaviour loop over HTTP: every search answer has a query_id in the search log, events refer
to it, and analytics report exactly what was recorded."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from helpers import HashEmbedder
from shopsearch import Engine
from shopsearch.cli.main import cli
from shopsearch.serve.app import create_app
from shopsearch.serve.settings import ServeSettings

PRODUCTS = [{"id": f"bag-{i}", "title": f"laptop bag model {i}", "price": 20 + i} for i in range(6)]
PRODUCTS += [{"id": "lamp-1", "title": "walnut desk lamp", "price": 30}]


@pytest.fixture
def served(tmp_path):
    engine = Engine.open(tmp_path / "data", embedder=HashEmbedder())
    engine.upsert(PRODUCTS)
    with TestClient(create_app(engine, ServeSettings(cache="memory")), raise_server_exceptions=False) as client:
        yield client, engine, tmp_path / "data"
    engine.close()


def search(client, query, **body):
    answer = client.post("/v1/search", json={"query": query, "mode": "keyword", **body})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_every_answer_has_its_own_query_id_cached_or_not(served):
    client, _, _ = served
    first, second = search(client, "laptop bag"), search(client, "laptop bag", user_id="u-1")
    assert second["cached"] is True and first["results"] == second["results"]
    assert len(first["query_id"]) == 32 and first["query_id"] != second["query_id"]


def test_events_are_kept_or_refused_by_index_and_analytics_say_exactly_what_happened(served):
    client, _, data_dir = served
    bag = [search(client, "laptop bag", user_id=f"u{i}") for i in range(4)]
    nothing = search(client, "zzzz qqqq", translate=False)  # the hash model may "translate" nonsense words
    lamp = search(client, "walnut lamp")
    assert nothing["results"] == [] and lamp["results"][0]["id"] == "lamp-1"
    shown = bag[0]["results"]
    events = [
        {"type": "click", "query_id": bag[0]["query_id"], "item_id": shown[1]["id"], "position": 2, "user_id": "u0"},
        {"type": "purchase", "query_id": bag[0]["query_id"], "item_id": shown[1]["id"], "position": 2},
        {"type": "click", "query_id": bag[1]["query_id"], "item_id": shown[0]["id"], "position": 1, "timestamp": 1.7e9},
        {"type": "wishlist", "query_id": bag[1]["query_id"], "item_id": "x", "position": 1},  # unknown type
        {"type": "click", "query_id": "no-such-search", "item_id": "x", "position": 1},
        {"type": "click", "query_id": lamp["query_id"], "item_id": "lamp-1"},  # no position
        {"type": "click", "query_id": lamp["query_id"], "item_id": "lamp-1", "position": 4},
    ]
    answer = client.post("/v1/events", json={"events": events}).json()
    assert answer["accepted"] == 4 and [e["index"] for e in answer["errors"]] == [3, 4, 5]
    assert "no-such-search" in answer["errors"][1]["message"] and "position" in answer["errors"][2]["message"]
    figures = client.get("/v1/analytics").json()
    assert figures["searches"] == 6
    assert figures["no_result_rate"] == pytest.approx(1 / 6)
    assert figures["ctr"] == pytest.approx(3 / 6) and figures["no_click_rate"] == pytest.approx(3 / 6)
    assert figures["mean_click_position"] == pytest.approx((2 + 1 + 4) / 3)
    assert figures["conversion_rate"] == pytest.approx(1 / 6)
    assert figures["top_queries"][0] == {"query": "laptop bag", "count": 4}
    assert figures["no_result_queries"] == [{"query": "zzzz qqqq", "count": 1}]
    assert figures["no_click_queries"] == [{"query": "laptop bag", "count": 2}]
    assert client.get("/v1/analytics", params={"since": 4e9}).json()["searches"] == 0
    result = CliRunner().invoke(cli, ["analytics", "--data-dir", str(data_dir), "--json"])
    assert result.exit_code == 0, result.output
    cli_figures = json.loads(result.output)
    assert cli_figures["searches"] == 6 and cli_figures["top_queries"] == figures["top_queries"]


@pytest.mark.parametrize("params, param", [({"since": 10, "until": 5}, "since"), ({"until": "nan"}, "until"),
                                           ({"top": 0}, "top")])
def test_a_bad_analytics_window_is_a_400_naming_it(served, params, param):
    response = served[0].get("/v1/analytics", params=params)
    assert response.status_code == 400 and response.json()["error"]["param"] == param


def test_the_series_counts_the_same_searches_in_time_buckets(served):
    client = served[0]
    answers = [search(client, "laptop bag") for _ in range(3)] + [search(client, "zzzz qqqq")]
    client.post("/v1/events", json={"events": [
        {"type": "click", "query_id": answers[0]["query_id"], "item_id": answers[0]["results"][0]["id"], "position": 1}]})
    series = client.get("/v1/analytics/series").json()
    assert series["interval"] == 60.0 and series["since"] % 60 == 0 and series["until"] - series["since"] >= 60
    assert sum(b["searches"] for b in series["buckets"]) == 4
    figures = client.get("/v1/analytics").json()
    if len(series["buckets"]) == 1:  # the searches took under a minute, most likely in one bucket
        bucket = series["buckets"][0]
        assert {k: bucket[k] for k in ("searches", "ctr", "no_result_rate")} == {k: figures[k] for k in ("searches", "ctr", "no_result_rate")}
    day = client.get("/v1/analytics/series", params={"since": 0, "until": 86400}).json()
    assert day["interval"] == 900 and len(day["buckets"]) == 96 and day["buckets"][1]["start"] == 900
    assert client.get("/v1/analytics/series", params={"since": 0, "until": 3600, "interval": 600}).json()["interval"] == 600


@pytest.mark.parametrize("params, param, code", [
    ({"since": 10, "until": 5}, "since", "invalid_window"), ({"until": "inf"}, "until", "invalid_window"),
    ({"interval": 0.5}, "interval", "invalid_interval"), ({"interval": "nan"}, "interval", "invalid_interval"),
    ({"interval": "hourly"}, "interval", None), ({"since": 0, "until": 1e9, "interval": 60}, "interval", "too_many_buckets")])
def test_a_bad_series_request_is_a_400_naming_it(served, params, param, code):
    response = served[0].get("/v1/analytics/series", params=params)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["param"] == param and (code is None or error["code"] == code)
    if code == "too_many_buckets":
        assert "over the limit of 1,000" in error["message"]


def test_the_series_is_an_admin_route(tmp_path):
    engine = Engine.open(tmp_path / "data", embedder=HashEmbedder())
    settings = ServeSettings(cache="none", api_keys=("front search", "boss"))
    try:
        with TestClient(create_app(engine, settings), raise_server_exceptions=False) as client:
            front = client.get("/v1/analytics/series", headers={"Authorization": "Bearer front"})
            assert front.status_code == 403 and front.json()["error"]["code"] == "insufficient_scope"
            boss = client.get("/v1/analytics/series", headers={"Authorization": "Bearer boss"})
            assert boss.status_code == 200 and boss.json()["buckets"] == []
    finally:
        engine.close()


def test_too_many_events_are_refused_whole(served):
    client = served[0]
    query_id = search(client, "laptop bag")["query_id"]
    event = {"type": "click", "query_id": query_id, "item_id": "bag-1", "position": 1}
    response = client.post("/v1/events", json={"events": [event] * 1001})
    assert response.status_code == 400 and response.json()["error"]["param"] == "events"
    assert client.get("/v1/analytics").json()["ctr"] == 0.0


def test_analytics_on_a_directory_with_no_search_log_says_so(tmp_path):
    (tmp_path / "data").mkdir()
    result = CliRunner().invoke(cli, ["analytics", "--data-dir", str(tmp_path / "data")])
    assert result.exit_code == 1 and "no search log yet" in result.output


def test_judgments_from_events_grade_what_shoppers_clicked(served):
    from shopsearch.cli.relevance import _judgments_from_events

    client, engine, data_dir = served
    answers = [search(client, "laptop bag") for _ in range(8)]
    liked = answers[0]["results"][1]["id"]
    client.post("/v1/events", json={"events": [
        {"type": "click", "query_id": a["query_id"], "item_id": liked, "position": 2} for a in answers]})
    judged = _judgments_from_events(data_dir)
    grades = judged["laptop bag"]
    assert grades[liked] == max(grades.values()) >= 2  # clicked every time it was shown, at rank 2
    assert grades[answers[0]["results"][0]["id"]] < grades[liked]  # shown first, never clicked


def test_eval_takes_judgments_from_a_file_or_from_events(tmp_path):
    (tmp_path / "data").mkdir()
    both = CliRunner().invoke(cli, ["eval", "--data-dir", str(tmp_path / "data")])
    assert both.exit_code == 2 and "either --judgments FILE or --judgments-from-events" in both.output
    none = CliRunner().invoke(cli, ["eval", "--data-dir", str(tmp_path / "data"), "--judgments-from-events"])
    assert none.exit_code == 1 and "no search log yet" in none.output
