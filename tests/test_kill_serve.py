"""kill -9 of `shopsearch serve` while four clients write: every write answered 200 survives."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from helpers import start_server
from shopsearch import Engine

KEY = "sk-kill"
pytestmark = pytest.mark.slow


def test_every_acknowledged_write_is_there_after_kill_9(tmp_path):
    data, first = tmp_path / "data", tmp_path / "first.jsonl"
    first.write_text('{"id": "first", "title": "the first item"}\n')
    url, process = start_server(data, KEY, first)
    acknowledged: list[str] = []
    lock, stop = threading.Lock(), threading.Event()

    def writer(client_no: int) -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as client:
            for batch in range(10_000):
                if stop.is_set():
                    return
                items = [{"id": f"w{client_no}-{batch}-{i}", "title": f"zq{client_no}x{batch}x{i} sturdy widget",
                          "price": 10 + i} for i in range(3)]
                try:
                    answer = client.post("/v1/catalog/items", json={"items": items})
                except httpx.TransportError:
                    return  # the server is gone
                if answer.status_code == 200 and answer.json()["upserted"] == len(items):
                    with lock:
                        acknowledged.extend(item["id"] for item in items)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 60
        while len(acknowledged) < 60 and time.monotonic() < deadline:
            time.sleep(0.05)
        process.kill()  # SIGKILL, mid-write: requests are in flight on every client
        process.wait(timeout=10)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=60)
        if process.poll() is None:
            process.kill()
    assert len(acknowledged) >= 60, "the clients' writes were not answered in time"
    with Engine.open(data) as engine:
        missing = [i for i in acknowledged if engine.get(i) is None]
        assert not missing, f"{len(missing)} of {len(acknowledged)} acknowledged items lost, e.g. {missing[:3]}"
        for item_id in acknowledged[:: max(1, len(acknowledged) // 20)]:
            client_no, batch, i = item_id[1:].split("-")
            hits = engine.search(f"zq{client_no}x{batch}x{i}", mode="keyword", k=3).hits
            assert hits and hits[0].id == item_id, item_id
