"""The file use cases on in-memory fakes: limits, quota accounting, versions, links, purge."""
from datetime import timedelta

import pytest

from entities.errors import (
    Forbidden,
    NotFound,
    PayloadTooLarge,
    QuotaExceeded,
    TokenExpired,
    UnsupportedMediaType,
)
from entities.workspace import WorkspaceRole
from tests.fakes.files import FileWorld
from use_cases.files.files import UploadDetails

PNG = b"\x89PNG\r\n\x1a\n"


def chunks(total: int, size: int = 100, byte: bytes = b"a"):
    for start in range(0, total, size):
        yield byte * min(size, total - start)


@pytest.fixture
def world():
    return FileWorld(max_file_size=1024, quota=4096)


@pytest.fixture
def alice(world):
    return world.identity.actor("alice@example.com")


def test_an_oversized_upload_stops_being_read_at_the_limit_and_leaves_nothing(world, alice):
    with pytest.raises(PayloadTooLarge):
        world.files.upload(alice, UploadDetails(), "big.txt", chunks(100_000))

    assert world.storage.chunks_read <= 1024 // 100 + 1
    assert world.storage.blobs == {}
    assert world.usage.used(world.identity.personal_workspace(alice)) == 0


def test_content_refused_after_streaming_leaves_no_bytes_and_no_charge(world, alice):
    with pytest.raises(UnsupportedMediaType):
        world.files.upload(alice, UploadDetails(), "photo.png", [b"GIF89a..."])

    assert world.storage.blobs == {}
    assert world.usage.used(world.identity.personal_workspace(alice)) == 0


def test_every_version_counts_against_the_quota_until_purged(world, alice):
    workspace_id = world.identity.personal_workspace(alice)
    file = world.files.upload(alice, UploadDetails(), "a.txt", chunks(1000))
    for _ in range(3):
        world.files.add_version(alice, file.id, "a.txt", chunks(1000))
    assert world.usage.used(workspace_id) == 4000

    with pytest.raises(QuotaExceeded):
        world.files.upload(alice, UploadDetails(), "b.txt", chunks(200))

    world.files.delete(alice, file.id)
    assert world.files.purge_deleted(older_than_days=0) == 1
    assert world.usage.used(workspace_id) == 0 and world.storage.blobs == {}


def test_a_full_workspace_refuses_before_reading_any_byte(world, alice):
    world.files.upload(alice, UploadDetails(), "a.txt", chunks(1000))
    world.usage.reserve(world.identity.personal_workspace(alice), 3096, 4096)
    read_before = world.storage.chunks_read

    with pytest.raises(QuotaExceeded):
        world.files.upload(alice, UploadDetails(), "b.txt", chunks(10))

    assert world.storage.chunks_read == read_before


def test_purge_leaves_files_deleted_recently(world, alice):
    file = world.files.upload(alice, UploadDetails(), "a.txt", chunks(10))
    world.files.delete(alice, file.id)

    assert world.files.purge_deleted(older_than_days=30) == 0
    assert world.files.restore(alice, file.id).deleted_at is None


def test_viewers_read_but_cannot_upload_and_members_cannot_change_others_files(world, alice):
    bob = world.identity.actor("bob@example.com")
    carol = world.identity.actor("carol@example.com")
    workspace_id = world.identity.workspaces.create(alice, "Team")[0].id
    world.identity.workspaces.add_member(alice, workspace_id, "bob@example.com", "viewer")
    world.identity.workspaces.add_member(alice, workspace_id, "carol@example.com", "member")
    file = world.files.upload(alice, UploadDetails(workspace_id=workspace_id), "a.txt", [b"hi"])

    assert world.files.get(bob, file.id).id == file.id
    with pytest.raises(Forbidden):
        world.files.upload(bob, UploadDetails(workspace_id=workspace_id), "b.txt", [b"hi"])
    with pytest.raises(Forbidden):
        world.files.update(carol, file.id, description="mine")
    world.identity.memberships.set_role(workspace_id, carol.user_id, WorkspaceRole.ADMIN)
    assert world.files.update(carol, file.id, description="admin edit").description == "admin edit"


def test_an_upload_is_announced_to_the_workspace(world, alice):
    file = world.files.upload(alice, UploadDetails(), "a.txt", [b"hi"])

    events = world.events.on(f"workspace:{file.workspace_id}")
    assert [(e["type"], e["file_id"], e["version"]) for e in events] == [
        ("file.uploaded", file.id, 1)]


def test_a_link_opens_its_version_until_it_expires(world, alice):
    file = world.files.upload(alice, UploadDetails(), "a.txt", [b"one"])
    world.files.add_version(alice, file.id, "a.txt", [b"two"])
    link = world.downloads.link(alice, file.id, version=1)

    assert world.downloads.open_link(link.token).stream.read() == b"one"
    with pytest.raises(NotFound):
        world.downloads.open_link("forged:" + link.token)
    now = world.downloads.clock()
    world.downloads.clock = lambda: now + timedelta(minutes=15)
    with pytest.raises(TokenExpired):
        world.downloads.open_link(link.token)


def test_links_are_only_for_members(world, alice):
    mallory = world.identity.actor("mallory@example.com")
    file = world.files.upload(alice, UploadDetails(is_public=True), "a.txt", [b"hi"])

    with pytest.raises(NotFound):
        world.downloads.link(mallory, file.id)
    assert world.downloads.open_public(file.id).stream.read() == b"hi"


def test_a_public_file_publishes_its_current_version_not_its_history(world, alice):
    file = world.files.upload(alice, UploadDetails(is_public=True), "a.txt", [b"draft"])
    world.files.add_version(alice, file.id, "a.txt", [b"final"])

    assert world.downloads.open_public(file.id).stream.read() == b"final"
    assert world.downloads.open_public(file.id, 2).stream.read() == b"final"
    with pytest.raises(NotFound):
        world.downloads.open_public(file.id, 1)
    assert world.downloads.open_link(world.downloads.link(alice, file.id, 1).token) \
        .stream.read() == b"draft"
