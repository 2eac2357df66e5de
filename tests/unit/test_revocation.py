"""Principals (claims are not authority) and Revocations (open channels end with their session),
on the in-memory fakes."""
from __future__ import annotations

import pytest

from entities.actor import Actor
from entities.errors import NotFound
from entities.user import GlobalRole
from tests.fakes.identity import Identity
from use_cases.identity.auth import ClientInfo
from use_cases.identity.revocation import Revocations
from use_cases.shared.stale_caches import TOPIC

CLIENT = ClientInfo(ip="10.0.0.1")
PASSWORD = "correct-horse-1"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def identity():
    return Identity()


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def revocations(identity, clock):
    return Revocations(identity.principals, identity.stale_caches, recheck_s=5.0, clock=clock)


def second_session(identity, actor: Actor) -> Actor:
    user = identity.users.get(actor.user_id)
    result = identity.accounts.login(user.email, PASSWORD, CLIENT)
    return Actor(actor.user_id, result.user.role, session_id=result.session.id)


# --- principals --------------------------------------------------------------------------------

def test_a_session_counts_only_for_the_user_who_owns_it(identity):
    ann, bob = identity.actor("ann@example.com"), identity.actor("bob@example.com")
    assert identity.principals.actor(ann.user_id, ann.session_id) is not None
    assert identity.principals.actor(bob.user_id, ann.session_id) is None
    assert not identity.sessions.is_live(ann.session_id, bob.user_id)


def test_the_role_comes_from_the_database_and_follows_announced_changes(identity):
    boss = identity.actor("boss@example.com", role=GlobalRole.ADMIN)
    ann = identity.actor("ann@example.com")
    assert identity.principals.actor(ann.user_id, ann.session_id).role is GlobalRole.USER
    identity.users.update(ann.user_id, role=GlobalRole.ANALYST)  # not announced: cached a moment
    assert identity.principals.standing(ann.user_id).role is GlobalRole.USER
    identity.stale_caches.announce(user_id=ann.user_id)
    assert identity.principals.standing(ann.user_id).role is GlobalRole.ANALYST
    identity.admin.update_user(boss, ann.user_id, is_active=False)
    assert identity.principals.actor_of(ann.user_id, ann.session_id) is None


def test_every_revocation_is_announced_with_what_ended(identity):
    ann = identity.actor("ann@example.com")
    other = second_session(identity, ann)
    identity.accounts.logout(ann)
    identity.accounts.logout_all(other)
    announced = identity.events.on(TOPIC)
    assert {"session_ids": [ann.session_id], "user_id": None}.items() <= announced[0].items()
    assert any(event["user_id"] == ann.user_id for event in announced[1:])
    assert [r["action"] for r in identity.audit.entries][-2:] == ["auth.logout", "auth.logout_all"]


# --- revocations -------------------------------------------------------------------------------

def test_a_logout_ends_the_sessions_channels_at_once_and_no_others(identity, revocations):
    ann = identity.actor("ann@example.com")
    other = second_session(identity, ann)
    mine, theirs = revocations.watch(ann), revocations.watch(other)
    identity.accounts.logout(ann)
    assert not mine.live() and not mine.confirm()
    assert theirs.live() and theirs.confirm()


def test_a_password_change_ends_the_other_sessions_channels_only(identity, revocations):
    ann = identity.actor("ann@example.com")
    other = second_session(identity, ann)
    old, changer = revocations.watch(ann), revocations.watch(other)
    identity.passwords.change(other, PASSWORD, "another-horse-2")
    assert not old.live()
    assert changer.live()


def test_a_channel_opened_with_an_ended_session_is_dead_from_the_start(identity, revocations):
    ann = identity.actor("ann@example.com")
    identity.accounts.logout(ann)
    assert not revocations.watch(ann).live()


def test_without_an_announcement_the_periodic_recheck_ends_the_channel(identity, revocations,
                                                                      clock):
    ann = identity.actor("ann@example.com")
    watch = revocations.watch(ann)
    identity.session_repo.revoke(ann.session_id)  # as if the announcement were lost
    assert watch.live()  # nothing heard, recheck not due
    assert not watch.confirm()  # a client's frame checks the store
    other = identity.actor("bob@example.com")
    quiet = revocations.watch(other)
    identity.session_repo.revoke(other.session_id)
    clock.now += 5.0
    assert not quiet.live()


def test_one_query_checks_the_sessions_of_every_open_channel(identity, revocations, clock):
    people = [identity.actor(f"user{n}@example.com") for n in range(3)]
    watches = [revocations.watch(person) for person in people]
    identity.session_repo.revoke(people[0].session_id)
    calls = []
    live_among = identity.session_repo.live_among
    identity.session_repo.live_among = lambda ids: calls.append(set(ids)) or live_among(ids)
    clock.now += 5.0
    assert [watch.live() for watch in watches] == [False, True, True]
    assert calls == [{person.session_id for person in people}]


def test_without_an_announcement_the_rule_is_rechecked_every_minute(identity, revocations, clock):
    ann = identity.actor("ann@example.com")
    allowed = {"yes": True}

    def rule():
        if not allowed["yes"]:
            raise NotFound("Talk not found")

    watch = revocations.watch(ann, allowed=rule)
    allowed["yes"] = False
    clock.now += 30.0
    assert watch.live()
    clock.now += 30.0
    assert not watch.live()


def test_a_channel_without_a_rule_does_not_query_on_every_turn(identity, revocations, clock):
    ann = identity.actor("ann@example.com")
    watch = revocations.watch(ann)
    clock.now += 61.0
    assert watch.live()  # the periodic checks are due: made once
    identity.session_repo.revoke(ann.session_id)
    assert watch.live()  # not again until due


def test_the_channels_own_rule_is_rechecked_when_its_workspace_or_user_changes(identity,
                                                                               revocations):
    owner, ann = identity.actor("owner@example.com"), identity.actor("ann@example.com")
    team = identity.workspaces.create(owner, "Team")[0].id
    identity.workspaces.add_member(owner, team, "ann@example.com")
    watch = revocations.watch(ann, team, allowed=lambda: identity.access.require(ann.user_id, team))
    assert watch.live()
    identity.workspaces.remove_member(owner, team, ann.user_id)
    assert watch.live()  # not told yet: the announcement comes with the audit record
    identity.stale_caches.announce(team, ann.user_id)
    assert not watch.live()


def test_an_announcement_heard_on_the_channels_own_subscription_counts(identity, revocations):
    ann = identity.actor("ann@example.com")
    watch = revocations.watch(ann)
    watch.hear_event({"topic": TOPIC, "workspace_id": None, "user_id": None,
                      "session_ids": [ann.session_id]})
    assert not watch.live()


def test_a_database_failure_during_a_recheck_keeps_the_channel_and_asks_again(identity,
                                                                             revocations):
    ann = identity.actor("ann@example.com")
    failing = {"on": True}

    def allowed():
        if failing["on"]:
            raise ConnectionError("database away")

    watch = revocations.watch(ann, allowed=allowed)
    identity.stale_caches.announce(user_id=ann.user_id)
    assert watch.live()
    failing["on"] = False
    identity.session_repo.revoke(ann.session_id)
    assert not watch.live()  # asked again at once, since the last recheck failed


def test_closed_channels_are_forgotten(identity, revocations):
    ann = identity.actor("ann@example.com")
    with revocations.watch(ann):
        assert revocations.open_channels() == 1
    assert revocations.open_channels() == 0
