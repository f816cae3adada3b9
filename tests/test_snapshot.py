"""Snapshots: a consistent copy of a data directory taken while it is written, restored into a new
directory that answers the same searches; and the refusals (a non-empty target, no snapshot)."""

from __future__ import annotations

import threading

import pytest

from helpers import HashEmbedder
from shopsearch import Engine
from shopsearch.errors import DataDirError
from shopsearch.index.snapshot import restore, snapshot

WORDS = "laptop bag charger cable phone case speaker mouse keyboard monitor lamp desk".split()


def product(i: int, version: int = 0) -> dict:
    return {"id": f"p{i}", "title": f"{WORDS[i % len(WORDS)]} {WORDS[(i * 7 + version) % len(WORDS)]} model {i}",
            "brand": ["Acme", "Globex", "Initech"][i % 3], "price": float(10 + i % 50 + version)}


def answers(engine: Engine) -> list[list[tuple[str, float]]]:
    return [[(h.id, round(h.score, 6)) for h in engine.search(query, mode=mode, k=10).hits]
            for query in ("laptop bag", "phone case", "usb charger cable", "desk lamp") for mode in ("keyword", "vector", "hybrid")]


def test_a_restored_snapshot_answers_as_the_writer_did(tmp_path):
    with Engine.open(tmp_path / "live", embedder=HashEmbedder()) as live:
        for start in range(0, 300, 50):
            live.upsert([product(i) for i in range(start, start + 50)])
        live.delete(["p3", "p4"])
        live.set_rules([{"id": "r", "when": {"query": "laptop bag"}, "actions": [{"pin": "p7"}]}])
        manifest = live.snapshot(tmp_path / "snap")
        expected, count = answers(live), len(live)
    assert manifest["items"] == count == 298 and manifest["seq"] > 0
    assert restore(tmp_path / "snap", tmp_path / "restored")["seq"] == manifest["seq"]
    with Engine.open(tmp_path / "restored", embedder=HashEmbedder()) as restored:
        assert not restored.read_only and len(restored) == count
        assert answers(restored) == expected
        assert [r.id for r in restored.rules.rules] == ["r"]


def test_a_snapshot_taken_during_writes_is_consistent(tmp_path):
    live = Engine.open(tmp_path / "live", embedder=HashEmbedder())
    live.upsert([product(i) for i in range(200)])
    stop = threading.Event()
    # From another process's view (a CLI beside a server): the files only, the indexes as last saved.

    def write() -> None:
        version = 0
        while not stop.is_set():
            version += 1
            live.upsert([product(i, version) for i in range(version % 150, version % 150 + 40)])
            live.upsert([product(1000 + version)])

    writer = threading.Thread(target=write)
    writer.start()
    try:
        manifests = [snapshot(tmp_path / "live", tmp_path / f"snap{n}") for n in range(3)]
    finally:
        stop.set()
        writer.join()
        live.close()
    for n, manifest in enumerate(manifests):
        restore(tmp_path / f"snap{n}", tmp_path / f"restored{n}")
        with Engine.open(tmp_path / f"restored{n}", embedder=HashEmbedder()) as restored:
            backends = restored.backends
            assert backends.store.last_seq() == manifest["seq"] and len(restored) == manifest["items"]
            # Every index holds exactly the catalogue at the snapshot's sequence: each stored item is found by its
            # own title in both legs, and nothing else is there.
            assert backends.keyword.count() == backends.vector.count() == len(restored)
            for record in [restored.get(f"p{i}") for i in range(0, 200, 37)] + [restored.get("p1001")]:
                if record is None:
                    continue
                assert record["id"] in [h.id for h in restored.search(record["title"], mode="keyword", k=5).hits]
                assert record["id"] in [h.id for h in restored.search(record["title"], mode="vector", k=10, exact=True).hits]


def test_snapshot_and_restore_refuse_what_they_would_overwrite(tmp_path):
    with Engine.open(tmp_path / "live", embedder=HashEmbedder()) as live:
        live.upsert([product(1)])
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("mine")
    with pytest.raises(DataDirError, match="not empty"):
        snapshot(tmp_path / "live", tmp_path / "full")
    with pytest.raises(DataDirError, match="no shopsearch index"):
        snapshot(tmp_path / "nothing", tmp_path / "snap")
    snapshot(tmp_path / "live", tmp_path / "snap")
    with pytest.raises(DataDirError, match="not empty"):
        restore(tmp_path / "snap", tmp_path / "full")
    with pytest.raises(DataDirError, match="no shopsearch snapshot"):
        restore(tmp_path / "live", tmp_path / "new")
    assert (tmp_path / "full" / "x").read_text() == "mine"


def test_the_server_takes_snapshots_into_its_snapshot_directory(tmp_path):
    from fastapi.testclient import TestClient

    from shopsearch.serve.app import create_app
    from shopsearch.serve.settings import ServeSettings

    engine = Engine.open(tmp_path / "live", embedder=HashEmbedder())
    engine.upsert([product(i) for i in range(60)])
    settings = ServeSettings(cache="none", snapshot_dir=str(tmp_path / "snapshots"))
    with TestClient(create_app(engine, settings), raise_server_exceptions=False) as client:
        taken = client.post("/v1/snapshots", json={"name": "nightly-1"})
        assert taken.status_code == 200 and taken.json()["items"] == 60
        again = client.post("/v1/snapshots", json={"name": "nightly-1"})
        assert again.status_code == 409 and again.json()["error"]["code"] == "snapshot_exists"
        for bad in ({"name": "../escape"}, {"name": ""}, {}):
            refused = client.post("/v1/snapshots", json=bad)
            assert refused.status_code == 400 and refused.json()["error"]["param"] == "name"
        expected = answers(engine)
    with TestClient(create_app(engine, ServeSettings(cache="none")), raise_server_exceptions=False) as client:
        assert client.post("/v1/snapshots", json={"name": "x"}).json()["error"]["code"] == "snapshots_off"
    engine.close()
    restore(tmp_path / "snapshots" / "nightly-1", tmp_path / "restored")
    with Engine.open(tmp_path / "restored", embedder=HashEmbedder()) as opened:
        assert len(opened) == 60 and answers(opened) == expected
