"""Micro-batching: concurrent small requests gathered into one model call.

Each request hands its (already validated) rows to :meth:`MicroBatcher.submit` and awaits
its own result. One drain task takes what is waiting (up to ``max_rows`` rows), runs the
batch function once in a worker thread, and hands each request its part. While that call
runs, new requests queue up and form the next batch, so batches grow with the load by
themselves ("batch while busy"): a lone request is run at once, without waiting.
``wait_ms > 0`` additionally holds a batch open up to that long for more rows (bigger
batches, higher latency at low load).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Generic, TypeVar

__all__ = ["MicroBatcher"]

P = TypeVar("P")
R = TypeVar("R")


class MicroBatcher(Generic[P, R]):
    """Gathers payloads into batches for ``run``.

    Parameters
    ----------
    run : callable
        ``run(payloads) -> results``, one result per payload, in order, called in
        ``executor``. A result that is an ``Exception`` is raised in its own request only;
        an exception raised by ``run`` itself fails every request of the batch.
    executor : concurrent.futures.Executor
    max_rows : int, default 256
        Rows per batch at most (a single payload may have more; it then runs alone).
    wait_ms : float, default 0
        How long a batch waits for more rows once the first arrived.
    """

    def __init__(
        self,
        run: Callable[[Sequence[P]], Sequence[R | BaseException]],
        executor: Executor | None,
        *,
        max_rows: int = 256,
        wait_ms: float = 0.0,
    ) -> None:
        self.run = run
        self.executor = executor
        self.max_rows = max(int(max_rows), 1)
        self.wait_s = max(float(wait_ms), 0.0) / 1000.0
        self._queue: deque[tuple[P, int, asyncio.Future[R]]] = deque()
        self._rows = 0
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None
        self.batches = 0  # model calls made (for tests and metrics)

    async def submit(self, payload: P, n_rows: int) -> R:
        """Queue ``payload`` (``n_rows`` rows) and wait for its result."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._queue.append((payload, n_rows, future))
        self._rows += n_rows
        if self._wake is not None:
            self._wake.set()
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._drain())
        return await future

    def _take(self) -> list[tuple[P, int, asyncio.Future[R]]]:
        batch = [self._queue.popleft()]
        rows = batch[0][1]
        while self._queue and rows + self._queue[0][1] <= self.max_rows:
            item = self._queue.popleft()
            batch.append(item)
            rows += item[1]
        self._rows -= rows
        return batch

    async def _gather_more(self) -> None:
        """Hold the batch open up to ``wait_s`` or until it is full."""
        self._wake = self._wake or asyncio.Event()
        deadline = time.monotonic() + self.wait_s
        while self._rows < self.max_rows:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), remaining)
            except TimeoutError:
                return

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            if self.wait_s > 0:
                await self._gather_more()
            else:
                # One turn of the loop lets requests whose bytes already arrived join.
                await asyncio.sleep(0)
            batch = self._take()
            payloads = [item[0] for item in batch]
            try:
                if self.executor is None:
                    results = self.run(payloads)
                else:
                    results = await loop.run_in_executor(self.executor, self.run, payloads)
            except asyncio.CancelledError:
                for _, _, future in batch:
                    future.cancel()
                raise
            except Exception as exc:  # every request of the batch gets the error
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                continue
            self.batches += 1
            for (_, _, future), result in zip(batch, results, strict=True):
                if future.done():  # the client went away
                    continue
                if isinstance(result, BaseException):
                    future.set_exception(result)
                else:
                    future.set_result(result)
