"""Workspaces and memberships: the same results on mongomock (as unit tests run them) and on the
wire server, the pipeline that lists a user's workspaces included."""
from __future__ import annotations

from datetime import timedelta

import pytest

from entities.clock import utcnow
from entities.errors import Conflict
from entities.pagination import PageRequest
from entities.workspace import Membership, Workspace, WorkspaceRole, WorkspaceSettings
from repositories.workspaces import MongoMembershipRepository, MongoWorkspaceRepository
from tests.contract.conftest import repository
from tests.fakes.workspaces import MongomockWorkspaceRepository

OWNER, ADMIN, MEMBER = WorkspaceRole.OWNER, WorkspaceRole.ADMIN, WorkspaceRole.MEMBER


@pytest.fixture
def workspaces(backend, db):
    return repository(backend, db, MongomockWorkspaceRepository, MongoWorkspaceRepository)


@pytest.fixture
def memberships(backend, db):
    return repository(backend, db, MongoMembershipRepository, MongoMembershipRepository)


def workspace(name: str, owner: str = "u1", personal: bool = False, age_s: int = 0) -> Workspace:
    created = utcnow() - timedelta(seconds=age_s)
    return Workspace(id="", name=name, owner_id=owner, is_personal=personal,
                     settings=WorkspaceSettings(monthly_budget_usd=5.0), created_at=created,
                     updated_at=created)


def member(memberships, ws: Workspace, user_id: str, role: WorkspaceRole) -> None:
    memberships.add(Membership(ws.id, user_id, role, utcnow()))


def test_a_workspace_is_stored_with_an_id_and_its_settings(workspaces):
    stored = workspaces.add(workspace("Team"))
    found = workspaces.get(stored.id)
    assert (found.name, found.settings.monthly_budget_usd, found.deleted_at) == ("Team", 5.0, None)
    assert workspaces.get("f" * 24) is None and workspaces.get("junk") is None


def test_a_deleted_workspace_is_found_only_when_asked_for(workspaces):
    stored = workspaces.add(workspace("Team"))
    workspaces.update(stored.id, deleted_at=utcnow())
    assert workspaces.get(stored.id) is None
    assert workspaces.get(stored.id, include_deleted=True).name == "Team"


def test_the_personal_workspace_is_the_live_one_marked_personal(workspaces):
    workspaces.add(workspace("Team"))
    old = workspaces.add(workspace("Old", personal=True))
    workspaces.update(old.id, deleted_at=utcnow())
    mine = workspaces.add(workspace("Mine", personal=True))
    assert workspaces.get_personal("u1").id == mine.id and workspaces.get_personal("u2") is None


def test_an_update_stores_settings_and_stamps_the_time(workspaces):
    stored = workspaces.add(workspace("Team", age_s=60))
    updated = workspaces.update(stored.id, name="Renamed",
                                settings=WorkspaceSettings(default_model="m", monthly_budget_usd=1.0))
    assert (updated.name, updated.settings.default_model) == ("Renamed", "m")
    assert updated.updated_at > stored.updated_at
    assert workspaces.update("f" * 24, name="x") is None


def test_a_users_workspaces_are_their_live_ones_personal_first_with_their_roles(workspaces,
                                                                                 memberships):
    team = workspaces.add(workspace("Team", age_s=30))
    mine = workspaces.add(workspace("Mine", personal=True, age_s=20))
    later = workspaces.add(workspace("Later", owner="u2", age_s=10))
    gone = workspaces.add(workspace("Gone", owner="u2"))
    for ws, role in [(team, OWNER), (mine, OWNER), (later, MEMBER), (gone, ADMIN)]:
        member(memberships, ws, "u1", role)
    member(memberships, later, "u2", OWNER)
    workspaces.update(gone.id, deleted_at=utcnow())

    listed = workspaces.list_for_user("u1", PageRequest())
    assert listed.total == 3
    assert [(w.name, role) for w, role in listed.items] == [("Mine", OWNER), ("Team", OWNER),
                                                            ("Later", MEMBER)]
    second = workspaces.list_for_user("u1", PageRequest(page=2, size=2))
    assert [(w.name, role) for w, role in second.items] == [("Later", MEMBER)]
    assert second.total == 3
    assert workspaces.list_for_user("nobody", PageRequest()).total == 0


def test_a_user_is_a_member_once(memberships):
    memberships.add(Membership("ws1", "u1", OWNER, utcnow()))
    with pytest.raises(Conflict):
        memberships.add(Membership("ws1", "u1", MEMBER, utcnow()))
    memberships.add(Membership("ws2", "u1", MEMBER, utcnow()))
    assert memberships.get("ws1", "u1").role is OWNER and memberships.get("ws1", "u2") is None


def test_members_are_listed_in_joining_order_and_changed_one_by_one(memberships):
    start = utcnow()
    # owners are left out: their rule needs the workspace document (e2e test_workspaces)
    for n, (user_id, role) in enumerate([("u1", ADMIN), ("u2", ADMIN), ("u3", MEMBER)]):
        memberships.add(Membership("ws1", user_id, role, start + timedelta(seconds=n)))
    memberships.set_role("ws1", "u3", ADMIN)
    memberships.set_budget("ws1", "u2", 2.5)
    memberships.remove("ws1", "u1")
    memberships.set_role("ws1", "nobody", OWNER)
    assert [(m.user_id, m.role, m.monthly_budget_usd) for m in memberships.list("ws1")] == [
        ("u2", ADMIN, 2.5), ("u3", ADMIN, None)]
    assert memberships.count_role("ws1", ADMIN) == 2 and memberships.count_role("ws1", OWNER) == 0
    memberships.set_budget("ws1", "u2", None)
    assert memberships.get("ws1", "u2").monthly_budget_usd is None
