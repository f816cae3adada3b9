"""Eval-gated model migration: another model's vectors built beside the live ones, kept current, swapped in, rolled back."""

from __future__ import annotations

import threading

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from helpers import HashEmbedder, catalogue
from shopsearch import Engine
from shopsearch.cli.main import cli
from shopsearch.errors import DataDirError
from shopsearch.index.migration import VectorSet
from shopsearch.search.migration import CandidateSearch, request_swap
from shopsearch.serve.app import create_app
from shopsearch.serve.settings import ServeSettings

QUERIES = ["gadget 3", "scuba diving waterproof", "battery life music", "non-stick pan eggs", "warranty care"]


def models():
    return HashEmbedder(dim=32, name="hash-live"), HashEmbedder(dim=16, name="hash-next")


def vector_answers(searcher, **request):
    """Per query: the top scores, and which items score above the last of them (items tied there may differ)."""
    answers = []
    for query in QUERIES:
        hits = searcher.search(query, mode="vector", k=5, rerank=False, exact=True, **request).hits
        scores = [round(h.score, 5) for h in hits]
        answers.append((scores, sorted(h.id for h, score in zip(hits, scores) if score > scores[-1])))
    return answers


def built_fresh(path, embedder, items):
    """What a directory indexed from scratch with `embedder` answers: the reference a migration must equal."""
    with Engine.open(path, embedder=embedder) as engine:
        engine.upsert(items)
        return vector_answers(engine)


@pytest.fixture
def live(tmp_path):
    old, new = models()
    engine = Engine.open(tmp_path / "data", embedder=old)
    engine.upsert(catalogue())
    yield engine, old, new
    engine.close()


def test_the_candidate_follows_writes_and_answers_as_a_fresh_index_of_its_model(live, tmp_path):
    engine, old, new = live
    vectors = VectorSet.create(engine.data_dir, "hash-next", {"name": new.name, "dim": new.dim})
    embedded = vectors.catch_up(engine.backends, new)
    assert embedded == len(catalogue()) + engine.stats()["chunk_index"]["chunks"] > len(catalogue())
    # Writes while the migration runs reach the candidate at its next catch-up, and only they are embedded.
    engine.upsert([{"id": "3", "title": "Acme Everyday Gadget 3", "description": "now short"},
                   {"id": "new", "title": "Blue kettle", "description": "boils water"}])
    engine.delete(["5"])
    assert vectors.catch_up(engine.backends, new) == 2
    assert vectors.seq == engine.backends.store.last_seq()
    assert VectorSet.open(engine.data_dir).seq == vectors.seq  # recorded, for a resumed run

    items = [it for it in catalogue() if it["id"] not in ("3", "5")]
    items += [{"id": "3", "title": "Acme Everyday Gadget 3", "description": "now short"},
              {"id": "new", "title": "Blue kettle", "description": "boils water"}]
    candidate = CandidateSearch(engine.backends, vectors, new)
    try:
        assert vector_answers(candidate) == built_fresh(tmp_path / "fresh", HashEmbedder(dim=16, name="hash-next"), items)
    finally:
        candidate.close()
    assert vector_answers(engine) == built_fresh(tmp_path / "fresh-old", HashEmbedder(dim=32, name="hash-live"), items)


def test_a_catch_up_with_another_model_is_refused(live):
    engine, old, new = live
    vectors = VectorSet.create(engine.data_dir, "hash-next", {"name": new.name, "dim": new.dim})
    with pytest.raises(DataDirError, match="holds vectors of hash-next"):
        vectors.catch_up(engine.backends, HashEmbedder(dim=16, name="another"))


def test_swap_reopen_and_rollback(live, tmp_path):
    engine, old, new = live
    version = engine.version
    vectors = VectorSet.create(engine.data_dir, "hash-next", {"name": new.name, "dim": new.dim})
    vectors.catch_up(engine.backends, new)
    engine.upsert([{"id": "late", "title": "Red toaster", "description": "written after the build"}])
    previous = engine.swap_model(vectors, new)  # the swap's own catch-up embeds "late"

    items = catalogue() + [{"id": "late", "title": "Red toaster", "description": "written after the build"}]
    expected = built_fresh(tmp_path / "fresh", HashEmbedder(dim=16, name="hash-next"), items)
    assert engine.embedder is new and engine.stats()["model"] == {"name": "hash-next", "dim": 16}
    assert vector_answers(engine) == expected
    assert engine.version != version  # cached answers of the old model are not served
    assert previous.role == "previous" and previous.model == {"name": "hash-live", "dim": 32}
    assert engine.stats()["migration"]["role"] == "previous"

    # Writes after the swap embed with the new model; the directory reopens on it, not on the old one.
    engine.upsert([{"id": "after", "title": "Green lamp", "description": "desk light"}])
    engine.close()
    with pytest.raises(DataDirError, match="built with model hash-next"):
        Engine.open(tmp_path / "data", embedder=HashEmbedder(dim=32, name="hash-live"))
    reopened = Engine.open(tmp_path / "data", embedder=new)
    try:
        with Engine.open(tmp_path / "fresh2", embedder=HashEmbedder(dim=16, name="hash-next")) as fresh:
            fresh.upsert(items + [{"id": "after", "title": "Green lamp", "description": "desk light"}])
            assert vector_answers(reopened) == vector_answers(fresh)
        # Rollback: the same swap with the previous model's set, which first embeds what came since.
        back = reopened.vector_set()
        assert back.role == "previous" and back.spec == "default"
        reopened.swap_model(back, old)
        assert reopened.stats()["model"] == {"name": "hash-live", "dim": 32}
        with Engine.open(tmp_path / "fresh3", embedder=HashEmbedder(dim=32, name="hash-live")) as fresh:
            fresh.upsert(items + [{"id": "after", "title": "Green lamp", "description": "desk light"}])
            assert vector_answers(reopened) == vector_answers(fresh)
    finally:
        reopened.close()


def test_a_failed_swap_leaves_the_directory_as_it_was(live, tmp_path, monkeypatch):
    engine, old, new = live
    before = vector_answers(engine)
    vectors = VectorSet.create(engine.data_dir, "hash-next", {"name": new.name, "dim": new.dim})

    def disk_gone(*args, **kwargs):
        raise OSError("disk I/O error")

    monkeypatch.setattr(engine.backends.store, "replace_vectors", disk_gone)
    with pytest.raises(OSError):
        engine.swap_model(vectors, new)
    assert engine.embedder is old and vector_answers(engine) == before
    assert not (engine.data_dir / "migration" / "previous.sqlite").exists()
    assert VectorSet.open(engine.data_dir).role == "candidate"
    engine.close()
    with Engine.open(tmp_path / "data", embedder=HashEmbedder(dim=32, name="hash-live")) as reopened:
        assert vector_answers(reopened) == before  # the old snapshot was saved back


def test_searches_during_a_swap_never_fail(live):
    engine, old, new = live
    vectors = VectorSet.create(engine.data_dir, "hash-next", {"name": new.name, "dim": new.dim})
    vectors.catch_up(engine.backends, new)
    failures, answered, stop = [], [0], threading.Event()

    def shopper():
        while not stop.is_set():
            for query in QUERIES:
                try:
                    for mode in ("vector", "hybrid"):
                        assert engine.search(query, mode=mode, k=5).hits
                    answered[0] += 1
                except Exception as exc:  # noqa: BLE001 - collected, asserted below
                    failures.append(repr(exc))

    threads = [threading.Thread(target=shopper) for _ in range(3)]
    for thread in threads:
        thread.start()
    engine.swap_model(vectors, new)
    done = answered[0]
    while answered[0] < done + 10:
        pass
    stop.set()
    for thread in threads:
        thread.join()
    assert failures == []
    assert engine.embedder is new


def test_a_query_embedded_before_a_swap_is_embedded_again(live):
    engine, old, new = live
    vectors = VectorSet.create(engine.data_dir, "hash-next", {"name": new.name, "dim": new.dim})
    vectors.catch_up(engine.backends, new)

    calls = []

    def embed_then_swap(text, timeout):
        model = engine.embedder  # as a server's batcher reads it, just before the swap lands
        calls.append(model.name)
        if model is old:
            engine.swap_model(vectors, new)
        return model.embed_queries([text])[0]

    response = engine.search("gadget 3", mode="vector", k=3, exact=True, embed_query=embed_then_swap)
    assert calls == ["hash-live", "hash-next"]
    assert [h.score for h in response.hits] == [h.score for h in engine.search("gadget 3", mode="vector", k=3, exact=True).hits]


def test_a_server_swaps_at_the_request_of_a_migration_beside_it(live, tmp_path):
    engine, old, new = live
    made = []

    def embedder_for(spec):
        made.append(spec)
        return HashEmbedder(dim=16, name="hash-next")

    app = create_app(engine, ServeSettings(cache="none"), embedder_for=embedder_for)
    with TestClient(app) as client:
        reader = Engine.open(tmp_path / "data", read_only=True, embedder=HashEmbedder(dim=32, name="hash-live"))
        try:
            vectors = VectorSet.create(reader.data_dir, "hash-next", {"name": new.name, "dim": new.dim})
            vectors.catch_up(reader.backends, new)
            assert client.post("/v1/catalog/items", json={"items": [{"id": "w", "title": "Written meanwhile"}]}).status_code == 200
            answer = request_swap(reader.data_dir, "hash-next", timeout_s=30)
        finally:
            reader.close()
        assert answer["ok"], answer
        assert made == ["hash-next"] and engine.stats()["model"]["name"] == "hash-next"
        found = client.post("/v1/search", json={"query": "written meanwhile", "mode": "vector", "k": 3}).json()
        assert found["results"][0]["id"] == "w"
        assert client.get("/v1/models").json()["data"][0]["id"] == "hash-next"
        # A request naming no vector set gets a refusal, and the server goes on as it was.
        refused = request_swap(tmp_path / "data", "st:unknown", timeout_s=30)
        assert not refused["ok"] and "no vector set" in refused["error"]


def test_request_swap_without_a_server_times_out(live):
    engine, *_ = live
    VectorSet.directory(engine.data_dir).mkdir(parents=True, exist_ok=True)
    with pytest.raises(DataDirError, match="no server writing"):
        request_swap(engine.data_dir, "hash-next", timeout_s=0.3, poll_s=0.05)


# -- the command line, with the real default model and e5-nano ------------------------------------

@pytest.fixture
def small_dir(open_engine, icecat_items, tmp_path):
    engine = open_engine(tmp_path / "cli")
    engine.upsert(icecat_items[:12])
    judged = tmp_path / "judged.csv"
    rows = ["query,docid,rating"] + [f"{it.title[:40].replace(',', ' ')},{it.id},2" for it in icecat_items[:6]]
    judged.write_text("\n".join(rows) + "\n")
    engine.close()
    return tmp_path / "cli", judged


def run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False)


def test_cli_migrate_evaluates_swaps_rolls_back_and_cleans_up(small_dir):
    data, judged = small_dir
    result = run("migrate", "--data-dir", data, "--embedding-model", "e5-nano", "--judgments", judged, "--force")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("multilingual-e5-small-q4-int8 ") for line in lines)  # the live model's evaluation
    assert any(line.startswith("multilingual-e5-small-q4 ") for line in lines)  # the candidate's
    assert "swapped in multilingual-e5-small-q4" in result.output
    with Engine.open(data) as engine:  # the "default" setting opens the model the directory now holds
        assert engine.embedder.name == "multilingual-e5-small-q4"
        assert engine.search("notebook", k=3).hits

    assert "already holds vectors" in run("migrate", "--data-dir", data, "--embedding-model", "e5-small", "--force").output
    result = run("migrate", "--data-dir", data, "--rollback")
    assert result.exit_code == 0 and "rolled back to multilingual-e5-small-q4-int8" in result.output
    with Engine.open(data) as engine:
        assert engine.embedder.name == "multilingual-e5-small-q4-int8"
    assert run("migrate", "--data-dir", data, "--cleanup").exit_code == 0
    assert not (data / "migration").exists()
    assert "no previous model" in run("migrate", "--data-dir", data, "--rollback").output


def test_cli_migrate_keeps_the_live_model_when_the_new_one_is_worse(small_dir, monkeypatch):
    from shopsearch.cli import migrate as migrate_command

    data, judged = small_dir
    monkeypatch.setattr(migrate_command, "_evaluate", lambda *args: (0.80, 0.75))
    result = run("migrate", "--data-dir", data, "--embedding-model", "e5-nano", "--judgments", judged)
    assert result.exit_code == 1 and "not swapped: nDCG@10 0.7500" in result.output
    with Engine.open(data) as engine:
        assert engine.embedder.name == "multilingual-e5-small-q4-int8"
        assert engine.vector_set().role == "candidate"  # kept: a rerun resumes or --force swaps it


@pytest.mark.parametrize("args, message", [
    ([], "give one of --embedding-model"),
    (["--embedding-model", "e5-nano", "--rollback"], "give one of --embedding-model"),
    (["--embedding-model", "e5-nano"], "give --judgments FILE or --judgments-from-events"),
    (["--embedding-model", "nonsense:model", "--force"], "--embedding-model"),
    (["--embedding-model", "default", "--force"], "already uses multilingual-e5-small-q4-int8"),
    (["--cleanup"], "holds no second model's vectors"),
    (["--embedding-model", "e5-nano", "--judgments-from-events"], "has no search log yet"),
    (["--embedding-model", "e5-nano", "--judgments", "missing.csv"], "no such file"),
])
def test_cli_migrate_bad_inputs_change_nothing(small_dir, args, message):
    data, _ = small_dir
    result = run("migrate", "--data-dir", data, *args)
    assert result.exit_code != 0 and message in result.output
    assert not (data / "migration" / "vectors.sqlite").exists()


def test_a_replica_follows_the_writers_swap(open_engine, icecat_items, tmp_path):
    import time

    from shopsearch.config import ModelConfig
    from shopsearch.models import create_embedder

    writer = open_engine(tmp_path / "shared")
    writer.upsert(icecat_items[:10])
    replica = open_engine(tmp_path / "shared", read_only=True)
    nano = create_embedder(ModelConfig(), "e5-nano")
    vectors = VectorSet.create(writer.data_dir, "e5-nano", {"name": nano.name, "dim": nano.dim})
    vectors.catch_up(writer.backends, nano)
    writer.swap_model(vectors, nano)
    writer.upsert([{"id": "after-swap", "title": "Wireless presenter with laser pointer"}])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (replica.embedder.name != nano.name or len(replica) != 11
                                           or replica.version != writer.version):
        time.sleep(0.1)
    assert replica.embedder.name == nano.name
    for query in ("notebook case", "laser pointer", "toner"):
        expected = [(h.id, round(h.score, 4)) for h in writer.search(query, mode="vector", k=5, exact=True).hits]
        assert [(h.id, round(h.score, 4)) for h in replica.search(query, mode="vector", k=5, exact=True).hits] == expected


CRASHING_SWAP = """
import os, sys
sys.path.insert(0, {tests!r})
from helpers import HashEmbedder, catalogue
from shopsearch import Engine
from shopsearch.index.migration import VectorSet
old, new = HashEmbedder(dim=32, name="hash-live"), HashEmbedder(dim=16, name="hash-next")
engine = Engine.open({data!r}, embedder=old)
engine.upsert(catalogue())
engine.backends.save_vectors()  # an old-model snapshot on disk, as a serving writer has
vectors = VectorSet.create(engine.data_dir, "hash-next", {{"name": new.name, "dim": new.dim}})
vectors.catch_up(engine.backends, new)
engine.backends.swap_vectors = lambda *args: os._exit(9)  # killed just after the catalogue transaction
engine.swap_model(vectors, new)
"""


def test_a_crash_just_after_the_swaps_commit_opens_on_the_new_model(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    import numpy as np

    data = tmp_path / "data"
    script = CRASHING_SWAP.format(tests=str(Path(__file__).parent), data=str(data))
    assert subprocess.run([sys.executable, "-c", script], timeout=120).returncode == 9
    assert (data / "migration" / "previous.sqlite").exists()
    with Engine.open(data, embedder=HashEmbedder(dim=16, name="hash-next")) as engine:
        vectors = engine.vector_set()  # the interrupted rename is finished
        assert vectors.role == "previous" and vectors.model == {"name": "hash-live", "dim": 32}
        assert not (data / "migration" / "previous.sqlite").exists()
        # The HNSW index was replayed from the catalogue (the old model's snapshot was dropped first):
        # an item's nearest neighbours by its stored vector score as the catalogue's vectors say.
        store = engine.backends.store
        rows = {row: np.frombuffer(blob, dtype=np.float32) for row, _, blob in store.live_vectors()}
        matrix = np.stack(list(rows.values()))
        assert matrix.shape[1] == 16 and engine.backends.vector.count() == len(rows)
        for item_id in ("3", "11"):
            row = store.rows_by_id([item_id])[item_id]
            best = np.sort(matrix @ rows[row])[::-1][1]  # the best other item
            hits = engine.similar(item_id, k=1).hits
            assert abs(hits[0].score - best) < 1e-5
