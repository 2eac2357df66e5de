"""ApiKeys: created and revoked by workspace admins, verified through a short cache."""
from __future__ import annotations

import pytest

from entities.errors import Forbidden, TokenExpired, TokenRevoked, Unauthorized, ValidationFailed
from tests.fakes.gateway import api_key_repository
from tests.fakes.identity import Identity
from tests.fakes.shared import FakeClock
from use_cases.gateway.api_keys import ApiKeys, hash_secret

TTL = 5.0
TOUCH = 60.0


@pytest.fixture
def identity():
    return Identity()


@pytest.fixture
def repo():
    return api_key_repository()


@pytest.fixture
def clock():
    return FakeClock()


def keys_for(identity, repo, clock) -> ApiKeys:
    """One process's ApiKeys: its own cache over the shared repository."""
    return ApiKeys(repo, identity.workspace_repo, identity.users, identity.access, identity.audit,
                   TTL, TOUCH, clock.wall, clock.monotonic)


@pytest.fixture
def keys(identity, repo, clock):
    return keys_for(identity, repo, clock)


@pytest.fixture
def owner(identity):
    return identity.actor("owner@example.com")


@pytest.fixture
def workspace(identity, owner):
    return identity.personal_workspace(owner)


def test_a_key_is_stored_as_its_hash_and_names_its_creator_and_workspace(keys, repo, owner,
                                                                          workspace, identity):
    key, secret = keys.create(owner, workspace, "ci")
    assert secret.startswith("sk-syn-") and repo.keys[key.id].key_hash == hash_secret(secret)
    actor = keys.authenticate(secret)
    assert (actor.user_id, actor.api_key_id, actor.api_key_workspace_id) == (
        owner.user_id, key.id, workspace)
    assert identity.audit.entries[-1]["action"] == "api_key.created"


def test_only_admins_create_keys(identity, keys, owner, workspace):
    member = identity.actor("member@example.com")
    identity.workspaces.add_member(owner, workspace, "member@example.com", "member")
    with pytest.raises(Forbidden):
        keys.create(member, workspace, "mine")


def test_a_key_cannot_expire_in_the_past(keys, owner, workspace, clock):
    with pytest.raises(ValidationFailed):
        keys.create(owner, workspace, "old", expires_at=clock.now)


def test_verification_reads_the_database_once_per_ttl(keys, repo, owner, workspace, clock):
    _, secret = keys.create(owner, workspace, "ci")
    for _ in range(5):
        keys.authenticate(secret)
    assert len(repo.lookups) == 1
    clock.advance(TTL + 0.1)
    keys.authenticate(secret)
    assert len(repo.lookups) == 2


def test_last_used_is_written_at_most_once_per_interval(keys, repo, owner, workspace, clock):
    key, secret = keys.create(owner, workspace, "ci")
    for _ in range(30):  # 30 cache misses over 150 s
        keys.authenticate(secret)
        clock.advance(TTL + 0.1)
    writes = [touch for touch in repo.lookups if touch is not None]
    assert len(repo.lookups) == 30 and len(writes) == 3
    assert repo.keys[key.id].last_used_at == writes[-1]


def test_revoking_stops_the_key_at_once_here_and_within_the_ttl_elsewhere(
        keys, identity, repo, owner, workspace, clock):
    other_process = keys_for(identity, repo, clock)
    key, secret = keys.create(owner, workspace, "ci")
    keys.authenticate(secret)
    other_process.authenticate(secret)
    keys.revoke(owner, workspace, key.id)
    with pytest.raises(TokenRevoked):
        keys.authenticate(secret)
    other_process.authenticate(secret)  # its cache still holds the key, for at most the TTL
    clock.advance(TTL + 0.1)
    with pytest.raises(TokenRevoked):
        other_process.authenticate(secret)


def test_an_expired_key_fails_even_from_the_cache(keys, owner, workspace, clock):
    _, secret = keys.create(owner, workspace, "ci", expires_at=clock.now.replace(hour=13))
    keys.authenticate(secret)
    clock.advance(3600)
    with pytest.raises(TokenExpired):
        keys.authenticate(secret)


def test_keys_of_a_deleted_workspace_and_unknown_keys_are_refused(identity, keys, repo, owner,
                                                                 clock):
    team, _ = identity.workspaces.create(owner, "Team")
    _, secret = keys.create(owner, team.id, "ci")
    identity.workspaces.delete(owner, team.id)
    with pytest.raises(Unauthorized):
        keys.authenticate(secret)
    with pytest.raises(Unauthorized):
        keys.authenticate("sk-syn-unknown")
    lookups = len(repo.lookups)
    with pytest.raises(Unauthorized):
        keys.authenticate("not-a-key-at-all")
    assert len(repo.lookups) == lookups


def test_a_deactivated_creators_keys_stop_within_the_ttl(identity, keys, owner, workspace, clock):
    _, secret = keys.create(owner, workspace, "ci")
    keys.authenticate(secret)
    identity.users.update(owner.user_id, is_active=False)
    clock.advance(TTL + 0.1)
    with pytest.raises(Unauthorized):
        keys.authenticate(secret)
