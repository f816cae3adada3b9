"""Dynamic micro-batching: texts from concurrent requests share one model call.

Continuous batching: when the model is idle a request goes straight in;
while a call runs, arriving texts queue and the next call takes them all (up
to `max_batch`, of one kind: queries or documents, one dimension). An
optional linger (`max_wait_ms`) holds a lone request back for company; it
costs every quiet request that much latency, so it is off by default. The
queue is bounded: past `max_queue` waiting texts a request is refused at once
(429) instead of growing memory without limit.

`workers` model calls may run at once, for models that allow it (the server
asks the model's `parallel_calls`): while one batch is in the model, the next
is tokenised and started, as infinity-emb pipelines its stages. A lone
request still gets the model to itself.

A request thread (a search embedding its query) may take an idle model at once
(`run_now`): straight to the batcher's threads, holding a call slot like any batch,
so requests that arrive meanwhile queue and batch behind it, and an idle model
costs no trip through the event loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from dataclasses import dataclass, field
from typing import Callable

import numpy as np


class QueueFull(RuntimeError):
    pass


@dataclass
class _Request:
    key: tuple
    texts: list[str]
    future: asyncio.Future
    rows: list = field(default_factory=list)
    next_text: int = 0
    done_texts: int = 0


class MicroBatcher:
    def __init__(self, run: Callable[[tuple, list[str]], np.ndarray], max_batch: int, max_wait_ms: float,
                 max_queue: int, on_batch: Callable[[int], None] | None = None, workers: int = 1) -> None:
        self._run = run
        self.max_batch, self.max_wait_s, self.max_queue = max_batch, max_wait_ms / 1000, max_queue
        self._on_batch = on_batch
        self._pending: list[_Request] = []
        self._waiting_texts = 0
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task | None = None
        self._loop_ref: asyncio.AbstractEventLoop | None = None
        self._workers = max(1, workers)
        self._free = self._workers  # call slots not in use (batches on the loop and run_now calls)
        self._slots_lock = threading.Lock()
        self._running: set[asyncio.Task] = set()
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="shopsearch-batch")

    @property
    def workers(self) -> int:
        return self._workers

    @property
    def depth(self) -> int:
        return self._waiting_texts

    def start(self) -> None:
        self._wake = asyncio.Event()
        self._loop_ref = asyncio.get_running_loop()
        self._task = self._loop_ref.create_task(self._loop())

    def _take_slot(self) -> bool:
        with self._slots_lock:
            if self._free == 0:
                return False
            self._free -= 1
            return True

    def _give_slot(self, on_loop: bool) -> None:
        with self._slots_lock:
            self._free += 1
        assert self._wake is not None and self._loop_ref is not None
        if on_loop:
            self._wake.set()
        elif self._pending:  # given back after the check, a later request's submit wakes the loop itself
            self._loop_ref.call_soon_threadsafe(self._wake.set)

    def run_now(self, key: tuple, texts: list[str], timeout_s: float | None = None) -> np.ndarray | None:
        """From a thread other than the event loop's: the vectors, when the model is idle (a free call slot,
        nothing waiting); None when it is busy (then `submit`). The call runs on the batcher's own
        threads, as every batch does, so the model is always called from the same few threads, as the
        server before the batcher path did, not from whichever request thread came.
        Past timeout_s it raises TimeoutError; the call's slot is given back when the call ends."""
        if self._loop_ref is None or self._pending or not self._take_slot():
            return None
        try:
            future = self._executor.submit(self._run, key, list(texts))
        except BaseException:
            self._give_slot(on_loop=False)
            raise
        future.add_done_callback(lambda _: self._give_slot(on_loop=False))
        vectors = future.result(timeout_s)
        if self._on_batch:
            self._on_batch(len(texts))
        return vectors

    async def stop(self) -> None:
        for task in [self._task, *self._running]:
            if task:
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass
        self._executor.shutdown(wait=False)

    async def submit(self, key: tuple, texts: list[str]) -> np.ndarray:
        if not texts:
            raise ValueError("nothing to embed")
        if self._waiting_texts + len(texts) > self.max_queue:
            raise QueueFull(f"{self._waiting_texts} texts are waiting for the model (limit {self.max_queue})")
        request = _Request(key, list(texts), asyncio.get_running_loop().create_future(), [None] * len(texts))
        self._pending.append(request)
        self._waiting_texts += len(texts)
        assert self._wake is not None, "MicroBatcher.start() first"
        self._wake.set()
        return await request.future

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        assert self._wake is not None  # start() makes it before this loop
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._pending:
                if not self._take_slot():  # every slot busy: a finishing call wakes this loop
                    break
                if self.max_wait_s and self._waiting_texts < self.max_batch:
                    await asyncio.sleep(self.max_wait_s)
                if not self._pending:  # a failed batch dropped what was waiting
                    self._give_slot(on_loop=True)
                    break
                task = loop.create_task(self._run_batch(self._take()))
                self._running.add(task)
                task.add_done_callback(self._running.discard)

    async def _run_batch(self, batch: list[tuple[_Request, int]]) -> None:
        texts = [r.texts[i] for r, i in batch]
        key = batch[0][0].key
        try:
            vectors = await asyncio.get_running_loop().run_in_executor(self._executor, self._run, key, texts)
        except Exception as exc:
            for request in {id(r): r for r, _ in batch}.values():
                if not request.future.done():
                    request.future.set_exception(exc)
                self._drop(request)
            return
        finally:
            self._give_slot(on_loop=True)
        if self._on_batch:
            self._on_batch(len(texts))
        for (request, i), vector in zip(batch, vectors):
            request.rows[i] = vector
            request.done_texts += 1
            if request.done_texts == len(request.texts) and not request.future.done():
                request.future.set_result(np.stack(request.rows))

    def _take(self) -> list[tuple[_Request, int]]:
        key = self._pending[0].key
        batch: list[tuple[_Request, int]] = []
        for request in list(self._pending):
            if request.key != key:
                continue
            while request.next_text < len(request.texts) and len(batch) < self.max_batch:
                batch.append((request, request.next_text))
                request.next_text += 1
            if request.next_text == len(request.texts):
                self._pending.remove(request)
            if len(batch) == self.max_batch:
                break
        self._waiting_texts -= len(batch)
        return batch

    def _drop(self, request: _Request) -> None:
        if request in self._pending:
            self._pending.remove(request)
            self._waiting_texts -= len(request.texts) - request.next_text
