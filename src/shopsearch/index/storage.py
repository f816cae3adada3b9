"""What writes need of the disk: room for a batch, a full disk told apart from other failures, and the
note a write to a remote index (Milvus) leaves for its repair. Used by Backends (index/backends.py)."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import re
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np

from ..errors import ShopsearchError, StorageFull
from .store import ChunkRecord

NEARLY_FULL = 1 << 20  # bytes free under which an error that does not say why is taken for a full disk


def disk_full(exc: BaseException, where: Path | None = None) -> bool:
    """Whether an error is a full disk, as the OS, SQLite or tantivy (a Rust io error in its message) report it;
    or, for an error that does not say why (numpy's short write, tantivy's "index writer was killed"), whether
    the disk holding `where` has next to nothing free."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    text = str(exc)
    if "database or disk is full" in text or "No space left on device" in text or "os error 28" in text:
        return True
    if isinstance(exc, OSError) and re.search(r"\d+ requested and \d+ written", text):
        return True
    return where is not None and shutil.disk_usage(where).free < NEARLY_FULL


def batch_bytes(records: Sequence[Mapping[str, Any]], vectors: np.ndarray, chunk_records: Sequence[Sequence[ChunkRecord]],
                snapshot_vectors: int) -> int:
    """What a batch may take on disk: the catalogue's copy (and its write-ahead log) and the keyword index's;
    and, for `snapshot_vectors` held locally, the next vector snapshot, which writes the whole index anew
    (the graph's own copy of each vector and ~2M links, and the vectors' array) before it drops the old one."""
    texts = sum(len(json.dumps(record, ensure_ascii=False)) for record in records)
    texts += sum(len(heading) + len(text) for chunks in chunk_records for heading, text, _ in chunks)
    dim = vectors.shape[1]
    need = 3 * texts + 3 * (vectors.nbytes + sum(len(chunks) for chunks in chunk_records) * dim * 4)
    return need + snapshot_vectors * (2 * 4 * dim + 200)


def check_space(data_dir: Path, need: int, min_free_mb: float) -> None:
    """StorageFull unless writing `need` bytes leaves min_free_mb free (0: no check), as Elasticsearch's
    flood-stage watermark refuses writes."""
    if not min_free_mb:
        return
    free = shutil.disk_usage(data_dir).free
    if free - need < min_free_mb * 2**20:
        raise StorageFull(f"{free / 2**20:.1f} MiB free on the disk holding {data_dir}: this batch would leave "
                          f"less than the {min_free_mb:g} MiB kept free (SHOPSEARCH_MIN_FREE_MB); the batch "
                          "was not written, earlier batches are intact, searches go on. Free space to write again.")


@contextmanager
def storage_errors(data_dir: Path, failed_after_commit: Callable[[], None]) -> Iterator[list[int]]:
    """A full disk met while writing becomes StorageFull, saying whether the catalogue had committed the batch
    (the caller appends its sequence to the yielded list once it has). Any failure after the commit calls
    failed_after_commit: the batch is kept, and some index has still to take it in."""
    committed: list[int] = []
    try:
        yield committed
    except ShopsearchError:
        raise
    except Exception as exc:
        if committed:
            failed_after_commit()
        if not disk_full(exc, data_dir):
            raise
        if not committed:
            raise StorageFull(f"the disk holding {data_dir} is full ({exc}): the batch was not written; "
                              "earlier batches are intact. Free space to write again.") from exc
        raise StorageFull(f"the disk holding {data_dir} filled after the catalogue committed this batch "
                          f"(sequence {committed[0]}) ({exc}): it is kept, and the indexes take it in before the next "
                          "write, or at the next open, once space is free; earlier batches are intact.") from exc


class RemoteWriteNote:
    """The rows and chunks a write to a remote index may touch, noted (fsynced) before it does: after a
    failure, or a crash before the catalogue commits, they are set back to what the catalogue holds."""

    NAME = "remote-writes.json"

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / self.NAME

    def write(self, seq: int, rows: Sequence[int], chunks: Sequence[int]) -> None:
        partial = self.path.with_suffix(".partial")
        with open(partial, "w") as out:
            json.dump({"seq": seq, "rows": list(rows), "chunks": list(chunks)}, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, self.path)

    def read(self) -> tuple[list[int], list[int]] | None:
        """(rows, chunks) noted, or None when no write is pending repair."""
        if not self.path.exists():
            return None
        noted = json.loads(self.path.read_text())
        return noted["rows"], noted["chunks"]

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)


def try_lock(path: Path) -> int | None:
    """The data directory's write lock (an open descriptor holding flock), or None when another process has it."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd
