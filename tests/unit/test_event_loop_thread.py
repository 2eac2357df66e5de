import asyncio
import threading
import time

import pytest

from adapters.event_loop_thread import EventLoopThread


class Numbers:
    """An async stream of 0..count-1 that remembers how far it was read and whether it was
    closed (like LiteLLM's CustomStreamWrapper, it has `aclose`)."""

    def __init__(self, count: int, fail_at: int | None = None):
        self.count = count
        self.fail_at = fail_at
        self.read = 0
        self.closed = threading.Event()
        self.loop_thread: str | None = None

    def __aiter__(self):
        return self

    async def __anext__(self) -> int:
        self.loop_thread = threading.current_thread().name
        if self.read == self.fail_at:
            raise ValueError("the provider went away")
        if self.read >= self.count:
            raise StopAsyncIteration
        self.read += 1
        await asyncio.sleep(0)
        return self.read - 1

    async def aclose(self) -> None:
        self.closed.set()


@pytest.fixture(scope="module")
def calls():
    return EventLoopThread("test-calls")


def test_a_coroutine_runs_on_the_loop_thread_and_its_result_or_error_comes_back(calls):
    async def where() -> str:
        return threading.current_thread().name

    async def fail() -> None:
        raise KeyError("no such model")

    assert calls.run(where()) == "test-calls"
    with pytest.raises(KeyError, match="no such model"):
        calls.run(fail())


def test_an_async_stream_is_read_in_order_and_closed(calls):
    numbers = Numbers(50)

    assert list(calls.iterate(numbers)) == list(range(50))
    assert numbers.loop_thread == "test-calls"
    assert numbers.closed.wait(2)


def test_an_error_midway_comes_after_the_items_before_it(calls):
    received = []

    with pytest.raises(ValueError, match="went away"):
        for item in calls.iterate(Numbers(10, fail_at=3)):
            received.append(item)

    assert received == [0, 1, 2]


def test_a_slow_reader_holds_the_producer_back(calls):
    numbers = Numbers(1_000)
    stream = calls.iterate(numbers, window=8)

    assert next(stream) == 0
    time.sleep(0.2)  # the loop would read everything by now if nothing held it back

    assert numbers.read <= 10
    assert list(stream) == list(range(1, 1_000))


def test_closing_a_stream_early_stops_reading_and_closes_it(calls):
    numbers = Numbers(1_000_000)
    stream = calls.iterate(numbers, window=4)
    assert next(stream) == 0

    stream.close()

    assert numbers.closed.wait(2)
    read = numbers.read
    time.sleep(0.1)
    assert numbers.read == read < 10


def test_a_stream_closed_or_dropped_before_its_first_item_is_closed(calls):
    """A caller that fails between getting a stream and reading it (its generator never started)
    must still hang up on the provider."""
    closed, dropped = Numbers(10), Numbers(10)

    calls.iterate(closed).close()
    stream = calls.iterate(dropped)
    del stream

    assert closed.closed.wait(2)
    assert dropped.closed.wait(2)
    assert closed.read == dropped.read == 0


def test_a_stream_wrapped_in_a_generator_that_never_starts_is_closed(calls):
    numbers = Numbers(10)

    def deltas(stream):  # as the gateway's _deltas wraps iterate()
        yield from stream

    deltas(calls.iterate(numbers)).close()

    assert numbers.closed.wait(2)


def test_calls_go_on_after_the_loop_thread_died():
    """Something stopped the loop (a BaseException out of a callback ends `run_forever`): the
    next call gets a new loop instead of waiting forever on a loop nobody runs."""
    calls = EventLoopThread("dying-calls")

    async def answer() -> int:
        return 42

    assert calls.run(answer()) == 42
    loop = calls.loop()
    loop.call_soon_threadsafe(loop.stop)
    for thread in threading.enumerate():
        if thread.name == "dying-calls":
            thread.join(2)

    result: list[int] = []
    caller = threading.Thread(target=lambda: result.append(calls.run(answer())), daemon=True)
    caller.start()
    caller.join(5)
    assert result == [42]


class Cancelled(Numbers):
    """A stream whose reading is cancelled from inside (a library's own cancel scope)."""

    async def __anext__(self) -> int:
        if self.read == 2:
            raise asyncio.CancelledError()
        return await super().__anext__()


def test_a_stream_cancelled_from_inside_ends_its_reader_with_an_error(calls):
    outcome: list[object] = []

    def read() -> None:
        try:
            outcome.append(list(calls.iterate(Cancelled(10))))
        except BaseException as exc:  # whatever it is, it must come
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(5)

    assert outcome and isinstance(outcome[0], BaseException)
