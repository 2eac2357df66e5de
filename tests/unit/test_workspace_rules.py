import pytest

from entities.errors import Conflict, Forbidden, NotFound
from entities.workspace import WorkspaceRole
from tests.fakes.identity import Identity

OWNER, ADMIN, MEMBER, VIEWER = (WorkspaceRole.OWNER, WorkspaceRole.ADMIN, WorkspaceRole.MEMBER,
                                WorkspaceRole.VIEWER)


@pytest.fixture
def identity():
    return Identity()


@pytest.fixture
def team(identity):
    """A shared workspace with one user per role."""
    owner = identity.actor("owner@example.com")
    workspace_id = identity.workspaces.create(owner, "Team")[0].id
    people = {"owner": owner}
    for role in (ADMIN, MEMBER, VIEWER):
        people[role.value] = identity.actor(f"{role.value}@example.com")
        identity.workspaces.add_member(owner, workspace_id, f"{role.value}@example.com", role)
    return workspace_id, people


def test_the_creator_owns_a_new_workspace(identity):
    ann = identity.actor("ann@example.com")
    workspace, role = identity.workspaces.create(ann, " Team ", "desc", {"default_model": "m"})
    assert (workspace.name, role, workspace.settings.default_model) == ("Team", OWNER, "m")


def test_settings_are_merged_not_replaced(identity):
    ann = identity.actor("ann@example.com")
    workspace_id = identity.workspaces.create(ann, "Team", settings={"default_model": "m"})[0].id
    workspace, _ = identity.workspaces.update(ann, workspace_id,
                                              settings={"monthly_budget_usd": 5.0})
    assert (workspace.settings.default_model, workspace.settings.monthly_budget_usd) == ("m", 5.0)


def test_a_personal_workspace_cannot_be_deleted(identity):
    ann = identity.actor("ann@example.com")
    with pytest.raises(Conflict):
        identity.workspaces.delete(ann, identity.personal_workspace(ann))


def test_a_deleted_workspace_vanishes_and_can_be_restored(identity, team):
    workspace_id, people = team
    identity.workspaces.delete(people["owner"], workspace_id)
    with pytest.raises(NotFound):
        identity.workspaces.get(people["member"], workspace_id)
    with pytest.raises(Forbidden):
        identity.workspaces.restore(people["admin"], workspace_id)
    identity.workspaces.restore(people["owner"], workspace_id)
    assert identity.workspaces.get(people["member"], workspace_id)[1] == MEMBER
    assert "workspace.deleted" in identity.audit.actions()


def test_adding_a_member_announces_it_to_the_workspace_and_the_user(identity, team):
    workspace_id, people = team
    bob = identity.actor("bob@example.com")
    identity.workspaces.add_member(people["admin"], workspace_id, "BOB@example.com", MEMBER)
    (to_workspace,) = [e for e in identity.events.on(f"workspace:{workspace_id}")
                       if e["user_id"] == bob.user_id]
    (to_user,) = identity.events.on(f"user:{bob.user_id}")
    assert to_workspace["type"] == to_user["type"] == "member.added"
    assert to_user["workspace_id"] == workspace_id and to_user["role"] == "member"


def test_adding_an_unknown_or_existing_member(identity, team):
    workspace_id, people = team
    with pytest.raises(NotFound):
        identity.workspaces.add_member(people["owner"], workspace_id, "ghost@example.com", MEMBER)
    with pytest.raises(Conflict):
        identity.workspaces.add_member(people["owner"], workspace_id, "viewer@example.com",
                                       MEMBER)


def test_only_an_owner_grants_the_owner_role(identity, team):
    workspace_id, people = team
    with pytest.raises(Forbidden):
        identity.workspaces.change_member_role(people["admin"], workspace_id,
                                               people["member"].user_id, OWNER)
    identity.workspaces.change_member_role(people["owner"], workspace_id,
                                           people["member"].user_id, OWNER)
    assert identity.memberships.count_role(workspace_id, OWNER) == 2


def test_an_admin_cannot_demote_or_remove_an_owner(identity, team):
    workspace_id, people = team
    owner_id = people["owner"].user_id
    with pytest.raises(Forbidden):
        identity.workspaces.change_member_role(people["admin"], workspace_id, owner_id, MEMBER)
    with pytest.raises(Forbidden):
        identity.workspaces.remove_member(people["admin"], workspace_id, owner_id)


def test_the_last_owner_cannot_step_down_or_leave(identity, team):
    workspace_id, people = team
    owner = people["owner"]
    with pytest.raises(Conflict):
        identity.workspaces.change_member_role(owner, workspace_id, owner.user_id, ADMIN)
    with pytest.raises(Conflict):
        identity.workspaces.remove_member(owner, workspace_id, owner.user_id)


def test_an_owner_can_leave_once_another_owner_exists(identity, team):
    workspace_id, people = team
    owner = people["owner"]
    identity.workspaces.change_member_role(owner, workspace_id, people["admin"].user_id, OWNER)
    identity.workspaces.remove_member(owner, workspace_id, owner.user_id)
    with pytest.raises(NotFound):
        identity.workspaces.get(owner, workspace_id)


def test_any_member_may_leave_but_not_remove_others(identity, team):
    workspace_id, people = team
    with pytest.raises(Forbidden):
        identity.workspaces.remove_member(people["viewer"], workspace_id,
                                          people["member"].user_id)
    identity.workspaces.remove_member(people["viewer"], workspace_id, people["viewer"].user_id)
    assert identity.memberships.get(workspace_id, people["viewer"].user_id) is None


def test_members_lists_emails_names_and_roles(identity, team):
    workspace_id, people = team
    members = identity.workspaces.members(people["viewer"], workspace_id)
    assert sorted((m.email, m.role.value) for m in members) == [
        ("admin@example.com", "admin"), ("member@example.com", "member"),
        ("owner@example.com", "owner"), ("viewer@example.com", "viewer")]


def test_member_changes_are_audited(identity, team):
    workspace_id, people = team
    identity.workspaces.change_member_role(people["owner"], workspace_id,
                                           people["viewer"].user_id, MEMBER)
    identity.workspaces.remove_member(people["owner"], workspace_id, people["viewer"].user_id)
    actions = identity.audit.actions()
    assert {"member.added", "member.role_changed", "member.removed"} <= set(actions)
