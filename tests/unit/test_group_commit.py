"""Group commit: concurrent submitters share writes, each returns once its own item is written."""
from __future__ import annotations

import threading

import pytest

from use_cases.gateway.group_commit import GroupCommit


def test_concurrent_items_share_batches_and_each_waits_for_its_own():
    written: list[list[int]] = []
    release = threading.Event()

    def write(batch):
        release.wait(5)  # the first batch is slow: the others gather meanwhile
        written.append(list(batch))

    commit = GroupCommit(write, "test-commit")
    threads = [threading.Thread(target=commit.submit, args=(n,)) for n in range(20)]
    for thread in threads:
        thread.start()
    release.set()
    for thread in threads:
        thread.join(10)

    assert sorted(n for batch in written for n in batch) == list(range(20))
    assert len(written) < 20  # shared round trips


def test_a_failed_write_is_raised_to_every_submitter_of_its_batch():
    def write(batch):
        raise ConnectionError("database down")

    commit = GroupCommit(write, "test-commit")
    with pytest.raises(ConnectionError):
        commit.submit(1)
    with pytest.raises(ConnectionError):
        commit.submit(2)  # the writer lives on after a failure


def test_each_submitter_gets_what_the_write_returned_for_its_batch():
    release = threading.Event()

    def write(batch):
        release.wait(5)
        return sorted(batch)  # e.g. totals read back once for the whole batch

    commit = GroupCommit(write, "test-commit")
    results: dict[int, list[int]] = {}
    threads = [threading.Thread(target=lambda n=n: results.__setitem__(n, commit.submit(n)))
               for n in range(10)]
    for thread in threads:
        thread.start()
    release.set()
    for thread in threads:
        thread.join(10)

    assert sorted(results) == list(range(10))
    assert all(n in results[n] for n in results)  # each saw its own batch's result
