"""One asyncio event loop per process, in a daemon thread, that request threads hand
coroutines to.

Why: LiteLLM's synchronous Router calls run each call in a new event loop
(`litellm_core_utils/asyncify.run_async_function`), and LiteLLM keys its HTTP client cache by
the running loop (`caching/llm_caching_handler.LLMClientCache`), so every synchronous call built
a new OpenAI SDK client and opened a new connection. Calls made on one long-lived loop reuse
the cached client and its connection pool (README, "OpenAI-compatible gateway": the figures).
"""
from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import threading
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


class EventLoopThread:
    """Runs coroutines on a loop of its own, started on first use (and again in a forked
    child, where the parent's thread does not exist, or after its thread died)."""

    def __init__(self, name: str):
        self.name = name
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid: int | None = None
        self._thread: threading.Thread | None = None

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """The coroutine's result, or its exception, in the calling thread. If the caller is
        interrupted (an exception raised into it while waiting), the coroutine is cancelled."""
        future = asyncio.run_coroutine_threadsafe(coroutine, self.loop())
        try:
            return future.result()
        finally:
            future.cancel()  # no-op once done

    def iterate(self, items: AsyncIterator[T], window: int = 16) -> Iterator[T]:
        """A synchronous iterator over an async one. The loop reads ahead at most `window`
        items (a slow reader holds back the producer, as a synchronous stream would) and hands
        them over in a thread-safe queue. Closing it early cancels the reading, which closes
        the async iterator (its `aclose()`, when it has one), even before the first item is read
        (and so does dropping it: a caller that fails before reading still hangs up)."""
        loop = self.loop()
        return _Stream(items, self._read(items, window, loop), loop)

    def _read(self, items: AsyncIterator[T], window: int,
              loop: asyncio.AbstractEventLoop) -> Iterator[T]:
        handed: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        room = asyncio.Semaphore(window)

        async def pump() -> None:
            try:
                async for item in items:
                    handed.put((_ITEM, item))
                    await room.acquire()
                handed.put((_END, None))
            except Exception as exc:
                handed.put((_ERROR, exc))
            except BaseException:  # cancelled (by the reader leaving, or from inside): a
                # reader still waiting must not wait forever
                handed.put((_ERROR, ConnectionAbortedError("the stream's reading was cancelled")))
                raise
            finally:
                close = getattr(items, "aclose", None)
                if close is not None:
                    await close()

        def free(count: int) -> None:
            for _ in range(count):
                room.release()

        reading = asyncio.run_coroutine_threadsafe(pump(), loop)
        taken = 0
        try:
            while True:
                kind, value = handed.get()
                if kind is _END:
                    return
                if kind is _ERROR:
                    raise value
                yield value
                taken += 1
                if taken * 2 >= window:  # room made in batches: one wake-up per half window
                    loop.call_soon_threadsafe(free, taken)
                    taken = 0
        finally:
            reading.cancel()  # no-op once done

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if (self._loop is None or self._pid != os.getpid() or self._thread is None
                    or not self._thread.is_alive()):  # a loop nobody runs would hang its callers
                self._loop = asyncio.new_event_loop()
                self._pid = os.getpid()
                self._thread = threading.Thread(target=self._loop.run_forever, name=self.name,
                                                daemon=True)
                self._thread.start()
            return self._loop


_ITEM, _END, _ERROR = "item", "end", "error"


class _Stream(Iterator[T]):
    """`reading` (a generator over `items`), which also closes `items` when closed or dropped
    before its first item: a generator never started runs no `finally`."""

    def __init__(self, items: AsyncIterator[T], reading: Iterator[T],
                 loop: asyncio.AbstractEventLoop):
        self._items = items
        self._reading = reading
        self._loop = loop
        self._started = False
        self._closed = False

    def __next__(self) -> T:
        self._started = True
        return next(self._reading)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        close = getattr(self._reading, "close", None)
        if self._started:
            if close is not None:
                close()  # its own `finally` cancels the reading, which closes `items`
            return
        aclose = getattr(self._items, "aclose", None)
        if aclose is not None and not self._loop.is_closed():
            asyncio.run_coroutine_threadsafe(aclose(), self._loop)

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # at interpreter exit the loop may be gone
            self.close()
