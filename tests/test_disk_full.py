"""The disk fills during an ingest, on a small filesystem the test mounts (tmpfs with a size, which needs
root, as CI runs): the batch fails with a clear error, the data directory opens again, and every batch
committed before it is intact and searchable."""

from __future__ import annotations

import dataclasses
import subprocess

import pytest

from helpers import HashEmbedder
from shopsearch import Engine
from shopsearch.config import EngineConfig
from shopsearch.errors import StorageFull

WORDS = "sturdy compact charger cable adapter leather sleeve wireless speaker bright lamp quiet fan".split()


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(mount)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a small filesystem here (needs root): {made.stderr.strip()}")

    def grow(size: str) -> None:
        subprocess.run(["mount", "-o", f"remount,size={size}", str(mount)], check=True)

    yield mount, grow
    subprocess.run(["umount", "-l", str(mount)], check=False)


def batch(number: int, size: int = 100) -> list[dict]:
    return [{"id": f"b{number}-{i}", "title": f"{WORDS[(number + i) % len(WORDS)]} item {number} {i}",
             "description": " ".join(WORDS[(i + j) % len(WORDS)] for j in range(150)), "price": float(i)}
            for i in range(size)]


def fill(engine: Engine) -> tuple[list[int], StorageFull]:
    written = []
    for number in range(1000):
        try:
            engine.upsert(batch(number))
        except StorageFull as exc:
            return written, exc
        written.append(number)
    raise AssertionError("the small disk never filled")


def check_intact(data, kept: list[int], searched: int) -> None:
    """Every item of the kept batches is stored as written and has its vector; batch `searched` is found by keyword."""
    with Engine.open(data, embedder=HashEmbedder()) as engine:
        for number in kept:
            for item in batch(number)[::25]:
                assert engine.get(item["id"]) == item
        item = batch(searched)[7]
        assert item["id"] in [h.id for h in engine.search(item["title"], mode="keyword", k=5).hits]
        assert engine.stats()["vector_index"]["vectors"] == len(engine) == 100 * len(kept)


def test_writes_stop_at_the_free_space_reserve_and_the_directory_stays_whole(small_disk):
    mount, _ = small_disk
    data = mount / "data"
    config = dataclasses.replace(EngineConfig(), min_free_mb=3)
    with Engine.open(data, config=config, embedder=HashEmbedder()) as engine:
        written, refused = fill(engine)
        assert written and "MiB free" in str(refused) and "earlier batches are intact" in str(refused)
        assert len(engine) == 100 * len(written)  # nothing of the refused batch
        assert engine.search(batch(0)[3]["title"], k=3).hits  # searches go on
        engine.delete([item["id"] for item in batch(written[-1])])  # deleting is allowed: it is how space comes back
    check_intact(data, written[:-1], written[-2])


def test_a_disk_that_fills_mid_write_keeps_every_committed_batch(small_disk):
    mount, grow = small_disk
    data = mount / "data"
    config = dataclasses.replace(EngineConfig(), min_free_mb=0)  # no reserve: the disk itself fills mid-write
    engine = Engine.open(data, config=config, embedder=HashEmbedder())
    written, failed = fill(engine)
    assert written and "is full" in str(failed) or "filled after" in str(failed)
    kept_failed_batch = "filled after" in str(failed)  # the catalogue had committed it: it is kept
    engine.close()  # a snapshot that cannot be saved is left to the next open's replay
    kept = [*written, len(written)] if kept_failed_batch else written
    check_intact(data, kept, written[-1])  # opens on the full disk
    grow("64m")
    with Engine.open(data, config=config, embedder=HashEmbedder()) as engine:  # with space, the next write catches up
        engine.upsert(batch(9999))
    check_intact(data, [*kept, 9999], kept[-1])
    with Engine.open(data, embedder=HashEmbedder()) as engine:
        present = [engine.get(item["id"]) is not None for item in batch(len(written))]
        assert all(present) if kept_failed_batch else not any(present)  # the failed batch is whole or absent
