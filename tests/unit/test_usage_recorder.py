from __future__ import annotations

import logging
import threading
import time

import pytest

from entities.llm import UsageRecord
from tests.fakes.gateway import usage_repository
from use_cases.gateway.usage_recorder import UsageRecorder


def usage(n: int = 0) -> UsageRecord:
    return UsageRecord(workspace_id="ws", user_id="u", model="m", provider="p",
                       status="success", source="llm_chat", prompt_tokens=n)


@pytest.fixture
def repo():
    return usage_repository()


@pytest.fixture
def recorder(repo):
    recorder = UsageRecorder(repo, flush_interval=60, batch_size=10)
    yield recorder
    recorder.close()


def test_recording_does_not_write_to_the_database_on_the_callers_thread(recorder, repo):
    recorder.record(usage())

    assert repo.batches == [] and recorder.pending == 1
    assert recorder.flush() and [r.prompt_tokens for r in repo.records] == [0]


def test_records_are_stamped_with_the_time_they_were_recorded(recorder, repo):
    recorder.record(usage())
    recorder.flush()

    assert repo.records[0].created_at is not None


def test_a_flush_writes_in_batches_of_batch_size(recorder, repo):
    for n in range(25):
        recorder.record(usage(n))

    recorder.flush()

    assert all(len(batch) <= 10 for batch in repo.batches)
    assert [r.prompt_tokens for r in repo.records] == list(range(25))


def test_a_full_batch_is_written_by_the_background_thread_without_waiting(recorder, repo):
    for n in range(10):
        recorder.record(usage(n))

    assert repo.written.wait(2)
    assert len(repo.records) == 10


def test_the_background_thread_flushes_every_interval(repo):
    recorder = UsageRecorder(repo, flush_interval=0.05, batch_size=100)
    recorder.record(usage())

    assert repo.written.wait(2)
    recorder.close()


def test_a_database_error_keeps_the_records_for_the_next_flush(recorder, repo, caplog):
    repo.fail = True
    recorder.record(usage(1))
    recorder.record(usage(2))

    with caplog.at_level(logging.ERROR):
        assert recorder.flush() is False
    assert recorder.pending == 2
    assert "could not write 2 usage records" in caplog.text

    repo.fail = False
    recorder.record(usage(3))
    assert recorder.flush()
    assert [r.prompt_tokens for r in repo.records] == [1, 2, 3]


def test_close_writes_what_is_left(repo):
    recorder = UsageRecorder(repo, flush_interval=60, batch_size=100)
    recorder.record(usage())

    recorder.close()

    assert len(repo.records) == 1


def test_a_record_after_close_is_still_written(repo):
    recorder = UsageRecorder(repo, flush_interval=60)
    recorder.close()

    recorder.record(usage())

    assert len(repo.records) == 1


def test_an_overflowing_queue_drops_its_oldest_records_loudly(repo, caplog):
    repo.fail = True
    recorder = UsageRecorder(repo, flush_interval=60, batch_size=100, max_pending=3)

    with caplog.at_level(logging.ERROR):
        for n in range(5):
            recorder.record(usage(n))

    assert "dropped 1 oldest usage records" in caplog.text
    repo.fail = False
    recorder.close()
    assert [r.prompt_tokens for r in repo.records] == [2, 3, 4]


def test_recording_from_many_threads_loses_nothing(repo):
    recorder = UsageRecorder(repo, flush_interval=0.01, batch_size=7)

    def work():
        for n in range(200):
            recorder.record(usage(n))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    time.sleep(0.05)
    recorder.close()

    assert len(repo.records) == 800
