"""kill -9 during indexing: the directory stays openable, every batch reported
as committed is searchable, and re-running the same command completes the job."""

import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from shopsearch import Engine

# Each case runs the indexer as a process, kills it with SIGKILL, then re-runs it over 3000 items.
pytestmark = pytest.mark.slow

N_ITEMS = 3000
BATCH = 100


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory):
    rng = random.Random(11)
    words = "red blue steel oak wireless compact travel kettle lamp chair desk cable charger bag shoe".split()
    path = tmp_path_factory.mktemp("crash") / "catalogue.jsonl"
    with open(path, "w") as f:
        for i in range(N_ITEMS):
            title = f"item{i} " + " ".join(rng.sample(words, 4))
            f.write(json.dumps({"id": f"p{i}", "title": title, "price": rng.randint(1, 500)}) + "\n")
    return path


def index_command(catalogue, data_dir):
    return [sys.executable, "-m", "shopsearch.cli.main", "index", str(catalogue),
            "--data-dir", str(data_dir), "--batch-size", str(BATCH)]


def committed_count(lines):
    counts = [int(line.split("(")[1].split()[0]) for line in lines if line.startswith("committed batch")]
    return max(counts, default=0)


@pytest.mark.parametrize("kill_after_batches,extra_delay", [(1, 0.0), (4, 0.013), (9, 0.041)])
def test_kill_9_during_indexing(catalogue, tmp_path, embedder, kill_after_batches, extra_delay):
    data_dir = tmp_path / "data"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(index_command(catalogue, data_dir), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, env=env)
    lines = []
    while sum(line.startswith("committed batch") for line in lines) < kill_after_batches:
        line = proc.stdout.readline()
        assert line, "indexer ended before it was killed"
        lines.append(line)
    time.sleep(extra_delay)  # land the kill somewhere inside the next batch
    os.kill(proc.pid, signal.SIGKILL)
    lines += proc.stdout.readlines()
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    committed = committed_count(lines)
    assert committed >= kill_after_batches * BATCH

    with Engine.open(data_dir, embedder=embedder) as engine:
        stats = engine.stats()
        assert stats["items"] >= committed
        assert stats["keyword_index"]["docs"] == stats["vector_index"]["vectors"] == stats["items"]
        sample = random.Random(kill_after_batches).sample(range(committed), 40)
        for i in sample:
            assert engine.get(f"p{i}") is not None
            assert engine.search(f"item{i}", mode="keyword", k=1).hits[0].id == f"p{i}"
            assert f"p{i}" in [h.id for h in engine.search("x", mode="vector", k=5, filters=[f"id=p{i}"]).hits]

    rerun = subprocess.run(index_command(catalogue, data_dir), capture_output=True, text=True, env=env, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    with Engine.open(data_dir, embedder=embedder) as engine:
        assert len(engine) == N_ITEMS
        assert engine.search(f"item{N_ITEMS - 1}", mode="keyword", k=1).hits[0].id == f"p{N_ITEMS - 1}"
