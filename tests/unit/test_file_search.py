"""Search in files (`file_search` tools): BM25-ranked passages with file name and position,
bounded, and only in files the caller can read."""
from __future__ import annotations

import itertools

import pytest

from adapters.bm25_ranker import Bm25Ranker
from entities.errors import ValidationFailed
from tests.fakes.files import FileWorld
from use_cases.agents.file_search import FileSearch, passage_bounds
from use_cases.files.files import UploadDetails

HANDBOOK = ("Welcome to the company handbook.\n\n"
            "Holidays: every employee has 25 days of paid holiday a year.\n\n"
            "Expenses: keep every receipt; travel is refunded within 30 days.\n\n")
MINUTES = ("Board minutes, March.\n\n"
           "The board approved the Lisbon office. Revenue grew 12 percent.\n\n")


@pytest.fixture
def world():
    return FileWorld(max_file_size=100_000, quota=1_000_000)


@pytest.fixture
def alice(world):
    return world.identity.actor("alice@example.com")


def upload(world, actor, name: str, text: str) -> str:
    return world.files.upload(actor, UploadDetails(), name, [text.encode()]).id


def searcher(world, **limits) -> FileSearch:
    return FileSearch(world.files.file_access, world.files.texts, Bm25Ranker(), **limits)


def test_the_best_passages_come_first_with_file_name_and_position(world, alice):
    workspace = world.identity.personal_workspace(alice)
    handbook = upload(world, alice, "handbook.txt", HANDBOOK * 3)
    minutes = upload(world, alice, "minutes.txt", MINUTES)
    found = searcher(world, passage_chars=120, overlap_chars=20).search(
        alice.user_id, workspace, [handbook, minutes], "Lisbon office revenue", k=3)

    best = found.passages[0]
    assert (best.file_id, best.filename) == (minutes, "minutes.txt")
    assert "Lisbon office" in best.text
    assert MINUTES[best.start:best.end].strip() == best.text
    assert found.searched == 2 and found.skipped == []
    shown = found.as_dict()["passages"][0]
    assert shown["filename"] == "minutes.txt" and shown["position"] == {"start": best.start,
                                                                         "end": best.end}

    holidays = searcher(world, passage_chars=120, overlap_chars=20).search(
        alice.user_id, workspace, [handbook, minutes], "paid holiday", k=3)
    assert [p.filename for p in holidays.passages] == ["handbook.txt"] * 3
    assert all("paid holiday" in p.text for p in holidays.passages)
    assert len({p.start for p in holidays.passages}) == 3  # three copies, three positions
    assert all((HANDBOOK * 3)[p.start:p.end].strip() == p.text for p in holidays.passages)


def test_a_query_matching_nothing_finds_no_passage(world, alice):
    workspace = world.identity.personal_workspace(alice)
    handbook = upload(world, alice, "handbook.txt", HANDBOOK)
    found = searcher(world).search(alice.user_id, workspace, [handbook], "zebra giraffe")
    assert found.passages == [] and found.searched == 1


def test_pages_marked_by_form_feeds_are_given(world, alice):
    workspace = world.identity.personal_workspace(alice)
    paged = upload(world, alice, "report.txt", "Intro page.\fSecond page: nothing.\fThird page "
                   "tells of the Lisbon office.")
    found = searcher(world).search(alice.user_id, workspace, [paged], "Lisbon", k=1)
    assert found.passages[0].page == 1  # one passage holds the short text: it starts on page 1
    small = searcher(world, passage_chars=30, overlap_chars=0).search(
        alice.user_id, workspace, [paged], "Lisbon office", k=1)
    assert small.passages[0].page == 3


def test_only_files_the_caller_can_read_in_the_workspace_are_searched(world, alice):
    mallory = world.identity.actor("mallory@example.com")
    workspace = world.identity.personal_workspace(alice)
    secret = upload(world, mallory, "salaries.txt", "Lisbon salaries are secret.")
    own = upload(world, alice, "minutes.txt", MINUTES)
    found = searcher(world).search(alice.user_id, workspace, [secret, own, "f" * 24], "Lisbon")
    assert [p.filename for p in found.passages] == ["minutes.txt"]
    assert found.skipped == [{"file_id": secret, "reason": "not found"},
                             {"file_id": "f" * 24, "reason": "not found"}]
    # mallory's own file, searched from alice's workspace by mallory: not in that workspace
    theirs = searcher(world).search(mallory.user_id, workspace, [secret], "Lisbon")
    assert theirs.passages == [] and theirs.skipped[0]["reason"] == "not found"


def test_files_without_text_and_past_the_limits_are_skipped_with_a_reason(world, alice):
    workspace = world.identity.personal_workspace(alice)
    image = world.files.upload(alice, UploadDetails(), "logo.png", [b"\x89PNG....."]).id
    texts = [upload(world, alice, f"n{i}.txt", f"note {i} about Lisbon") for i in range(3)]
    found = searcher(world, max_files=2).search(alice.user_id, workspace, [image, *texts],
                                                "Lisbon")
    assert found.searched == 1
    reasons = {entry["file_id"]: entry["reason"] for entry in found.skipped}
    assert reasons[image] == "its content cannot be read as text"
    assert reasons[texts[1]].startswith("left out: at most 2 files")


def test_the_query_and_k_are_bounded(world, alice):
    workspace = world.identity.personal_workspace(alice)
    search = searcher(world, max_k=10, max_query_chars=100)
    for query, k in (("", 5), ("x" * 101, 5), ("ok", 0), ("ok", 11)):
        with pytest.raises(ValidationFailed):
            search.search(alice.user_id, workspace, [], query, k)


def test_passages_cover_the_text_end_at_boundaries_and_overlap_a_little():
    text = " ".join(f"word{i}." for i in range(400))
    bounds = passage_bounds(text, 200, 40)
    assert bounds[0][0] == 0 and bounds[-1][1] == len(text)
    for (start, end), (next_start, _next_end) in itertools.pairwise(bounds):
        assert end - start <= 200
        assert text[end - 1] == " " or end == len(text)  # cut after a space, not mid-word
        assert end - 40 <= next_start < end  # overlapping, always moving on
        assert text[next_start - 1] == " "
