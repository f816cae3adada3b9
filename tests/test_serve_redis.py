"""The Redis result cache, against Debian's redis-server started on 127.0.0.1 by the test and stopped by PID."""

from __future__ import annotations

import dataclasses
import shutil
import socket
import subprocess
import time

import pytest
from fastapi.testclient import TestClient

from shopsearch.serve.app import create_app
from shopsearch.serve.cache import RedisCache, cache_key, make_cache
from shopsearch.serve.settings import ServeSettings

try:
    import redis
except ImportError:
    redis = None
# A skip mark and a skip in the server fixture, not a module-level skip: each test then reports its
# own skip, which the conftest hook turns into a failure where SHOPSEARCH_REQUIRE_SUITES lists redis.
pytestmark = [pytest.mark.redis, pytest.mark.skipif(redis is None, reason="the redis client is not installed "
                                                                         "(pip install 'shopsearch[redis]', in shopsearch[test])")]


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found is None:
        subprocess.run(["apt-get", "install", "-y", "-q", "redis-server"], capture_output=True, timeout=300)
        found = shutil.which("redis-server")
    if found is None:
        pytest.skip("redis-server is not installed and apt-get could not install it")
    return found


def start_redis(workdir, port: int | None = None):
    """A redis-server on 127.0.0.1, on the port given or a free one: (url, process)."""
    workdir.mkdir(parents=True, exist_ok=True)
    if port is None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    process = subprocess.Popen([redis_binary(), "--bind", "127.0.0.1", "--port", str(port), "--save", "",
                                "--appendonly", "no", "--dir", str(workdir)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(100):
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    else:
        process.kill()
        pytest.fail("redis-server did not start")
    return url, process


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    url, process = start_redis(tmp_path_factory.mktemp("redis"))
    yield url
    process.terminate()
    process.wait(timeout=10)


def test_redis_cache_round_trip_and_ttl(redis_url):
    cache = make_cache(redis_url, 10, 1)
    assert isinstance(cache, RedisCache)
    key = cache_key("test", {"q": "x"})
    assert cache.get(key) is None
    cache.set(key, b"value")
    assert cache.get(key) == b"value"
    assert 0 < redis.Redis.from_url(redis_url).ttl(key) <= 1


def test_search_answers_come_from_redis_and_writes_invalidate(redis_url, open_engine, tmp_path, icecat_items):
    engine = open_engine(tmp_path / "d")
    engine.upsert(icecat_items)
    settings = dataclasses.replace(ServeSettings(), cache=redis_url)
    client = TestClient(create_app(engine, settings)).__enter__()
    body = {"query": "walnut desk lamp", "mode": "keyword"}
    assert client.post("/v1/search", json=body).json()["cached"] is False
    # A second server process sharing the Redis gets the answer from it.
    other = TestClient(create_app(engine, settings)).__enter__()
    assert other.post("/v1/search", json=body).json()["cached"] is True
    client.post("/v1/catalog/items", json={"items": [{"id": "lamp", "title": "Walnut desk lamp"}]})
    fresh = other.post("/v1/search", json=body).json()
    assert fresh["cached"] is False and fresh["results"][0]["id"] == "lamp"
    assert redis.Redis.from_url(redis_url).dbsize() >= 2


def test_an_unreachable_redis_is_a_clear_start_error():
    with pytest.raises(redis.ConnectionError):
        make_cache("redis://127.0.0.1:9/0", 10, 60)
    with pytest.raises(ValueError, match="--cache must be memory, none or redis://"):
        make_cache("memcached://x", 10, 60)


def test_a_redis_outage_is_counted_and_logged_and_searches_still_answer_then_caching_resumes(
        tmp_path, open_engine, icecat_items, caplog):
    url, process = start_redis(tmp_path / "redis")
    try:
        engine = open_engine(tmp_path / "d")
        engine.upsert(icecat_items[:20])
        client = TestClient(create_app(engine, dataclasses.replace(ServeSettings(), cache=url))).__enter__()
        body = {"query": "laptop case", "mode": "keyword"}
        assert client.post("/v1/search", json=body).status_code == 200
    finally:
        process.terminate()
        process.wait(timeout=10)
    with caplog.at_level("WARNING", logger="shopsearch.serve.cache"):
        answer = client.post("/v1/search", json=body)
    assert answer.status_code == 200 and answer.json()["cached"] is False and answer.json()["results"]
    metrics = client.get("/metrics").text
    assert 'shopsearch_cache_errors_total{operation="get"}' in metrics
    assert 'shopsearch_cache_errors_total{operation="set"}' in metrics
    assert any("Redis cache get failed" in record.getMessage() for record in caplog.records)

    # Redis comes back on the same address: the same client reconnects and answers are cached again.
    _, again = start_redis(tmp_path / "redis", port=int(url.rsplit(":", 1)[1].split("/")[0]))
    try:
        first = client.post("/v1/search", json=body).json()
        second = client.post("/v1/search", json=body).json()
        assert first["cached"] is False and second["cached"] is True and second["results"] == first["results"]
        assert redis.Redis.from_url(url).dbsize() > 0
    finally:
        client.__exit__(None, None, None)
        again.terminate()
        again.wait(timeout=10)
