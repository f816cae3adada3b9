"""Snapshots: a consistent copy of a data directory taken while it is served and written, and its restore.

Consistency comes from the order of the copy and from what opening a directory already does
after a crash. The derived indexes are copied first, each as of one of its own saved states: an
HNSW snapshot is a state file naming immutable files (copied after it; a save that replaced them
meanwhile makes the copy start over), and a tantivy index is its state file, then its meta.json,
then the immutable segment files it names. Only then is the catalogue copied, by SQLite's online
backup (one consistent read, writers not blocked), so the catalogue is at a sequence S at least
as new as every index copied. Opening the restored directory for writing replays into each index
the batches after the one it holds (backends.catch_up, the crash-recovery path), and it then
answers as the directory did at S. The search log (events.sqlite) is backed up the same way.

Indexes on a Milvus server are not copied: their collections are recorded in the manifest, and
docs/deploy.md says how to back them up on the server (milvus-backup).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import DataDirError

if TYPE_CHECKING:
    from .backends import Backends

MANIFEST = "snapshot.json"
DATABASES = ("catalogue.sqlite", "events.sqlite")
INDEX_DIRS = ("keyword", "vector", "vector-chunks")
SKIPPED = {"LOCK"}  # the writer's lock is the live directory's, never a copy's
ATTEMPTS = 20  # copies of an index started over because a save replaced its files meanwhile


def snapshot_of(backends: Backends, out: str | Path) -> dict[str, Any]:
    """A snapshot of an open directory. Writing, every index is saved and copied at the catalogue's sequence
    (writes wait meanwhile, searches go on), so the copy answers exactly as the directory does; read-only,
    the indexes as saved are copied and a restore brings them up to the catalogue's sequence."""
    if backends.read_only:
        return snapshot(backends.data_dir, out)
    with backends.writer:
        if backends.unsaved:
            backends.save_vectors()
        return snapshot(backends.data_dir, out)


def snapshot(data_dir: str | Path, out: str | Path) -> dict[str, Any]:
    """Copy the data directory `data_dir` (live or not) into the new directory `out`; its manifest."""
    data_dir, out = Path(data_dir), Path(out)
    if not (data_dir / DATABASES[0]).exists():
        raise DataDirError(f"{data_dir} holds no shopsearch index (run `shopsearch index` first)")
    if out.exists() and any(out.iterdir()):
        raise DataDirError(f"{out} exists and is not empty: a snapshot goes into a new directory")
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    remote = {}
    for name in INDEX_DIRS:
        if (data_dir / name).is_dir():
            remote.update(_copy_index(data_dir / name, out / name))
    for path in sorted(data_dir.iterdir()):  # the ranker, the remote-write note, ...: small files written whole
        if path.is_file() and path.name not in SKIPPED and path.name not in DATABASES and not path.name.startswith(DATABASES):
            shutil.copy2(path, out / path.name)
    for name in DATABASES:  # last: the catalogue at least as new as every index copied
        if (data_dir / name).exists():
            _backup(data_dir / name, out / name)
    with sqlite3.connect(f"file:{out / DATABASES[0]}?mode=ro", uri=True) as db:
        seq, items = db.execute("SELECT COALESCE(MAX(seq), 0), COUNT(*) FILTER (WHERE deleted = 0) FROM items").fetchone()
        model = db.execute("SELECT value FROM meta WHERE key = 'model'").fetchone()
    manifest = {"source": str(data_dir.resolve()), "created": started, "seq": seq, "items": items,
                "model": json.loads(model[0]) if model else None, "remote_collections": remote}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2))
    _fsync_tree(out)
    return manifest


def restore(snapshot_dir: str | Path, data_dir: str | Path) -> dict[str, Any]:
    """Copy a snapshot into the new data directory `data_dir`; the snapshot's manifest. The first open for
    writing (the caller's) brings every index up to the snapshot's sequence."""
    snapshot_dir, data_dir = Path(snapshot_dir), Path(data_dir)
    manifest_path = snapshot_dir / MANIFEST
    if not manifest_path.exists():
        raise DataDirError(f"{snapshot_dir} is no shopsearch snapshot (it has no {MANIFEST})")
    if data_dir.exists() and any(data_dir.iterdir()):
        raise DataDirError(f"{data_dir} exists and is not empty: restore into a new directory")
    data_dir.mkdir(parents=True, exist_ok=True)
    for path in snapshot_dir.iterdir():
        if path.name == MANIFEST:
            continue
        (shutil.copytree if path.is_dir() else shutil.copy2)(path, data_dir / path.name)
    _fsync_tree(data_dir)
    return json.loads(manifest_path.read_text())


def _copy_index(source: Path, target: Path) -> dict[str, Any]:
    """One index directory as of one of its saved states; the Milvus collections its state names, if any."""
    for _ in range(ATTEMPTS):
        if target.exists():
            shutil.rmtree(target)
        target.mkdir(parents=True)
        try:
            return _copy_index_once(source, target)
        except FileNotFoundError:  # a save or a merge replaced a file between the state and the copy
            time.sleep(0.05)
    raise DataDirError(f"{source} kept changing while it was copied ({ATTEMPTS} attempts); try again")


def _copy_index_once(source: Path, target: Path) -> dict[str, Any]:
    remote: dict[str, Any] = {}
    # The state first (the sequence the index holds), then what names files, then the files present after
    # those were read: a state never claims more than the files copied after it hold.
    first = [source / name for name in ("state.json", "meta.json", ".managed.json") if (source / name).exists()]
    for path in first:
        (target / path.name).write_bytes(path.read_bytes())
    for path in source.iterdir():
        if path.is_file() and path not in first and not path.name.endswith((".lock", ".tmp")):
            data = path.read_bytes()
            if path.name.startswith("milvus") and path.suffix == ".json":
                remote[f"{source.name}/{path.name}"] = json.loads(data)
            (target / path.name).write_bytes(data)
    for name in _named_files(target):
        if not (target / name).exists():
            raise FileNotFoundError(name)
    return remote


def _named_files(index: Path) -> list[str]:
    """The files an index's state (HNSW) or meta.json (tantivy's segments) needs."""
    named = []
    state = index / "state.json"
    if state.exists():
        named += [v for k, v in json.loads(state.read_text()).items() if isinstance(v, str) and k != "seq"]
    meta = index / "meta.json"
    if meta.exists():
        for segment in json.loads(meta.read_text()).get("segments", []):
            named.append(segment["segment_id"].replace("-", "") + ".store")
    return named


def _backup(source: Path, target: Path) -> None:
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    dst = sqlite3.connect(target)
    try:
        src.execute("PRAGMA busy_timeout = 10000")
        src.backup(dst, pages=4096, sleep=0.005)  # in steps: a writer is never held up for long
    finally:
        dst.close()
        src.close()


def _fsync_tree(root: Path) -> None:
    for folder, _, names in os.walk(root):
        for name in names:
            with open(os.path.join(folder, name), "rb") as f:
                os.fsync(f.fileno())
