import pytest

from entities.errors import Conflict, Forbidden, NotFound, ValidationFailed
from entities.pagination import PageRequest
from entities.user import GlobalRole
from entities.workspace import WorkspaceRole
from tests.fakes.identity import Identity


@pytest.fixture
def identity():
    return Identity()


def test_admin_powers_come_from_the_database_not_the_token(identity):
    boss = identity.actor("boss@example.com", GlobalRole.ADMIN)
    identity.admin.list_users(boss, None, PageRequest())
    identity.users.update(boss.user_id, role=GlobalRole.USER)  # token still says "admin"
    with pytest.raises(Forbidden):
        identity.admin.list_users(boss, None, PageRequest())


def test_non_admins_cannot_manage_users_or_read_the_audit_log(identity):
    ann = identity.actor("ann@example.com", GlobalRole.ANALYST)
    with pytest.raises(Forbidden):
        identity.admin.update_user(ann, ann.user_id, role=GlobalRole.ADMIN)
    with pytest.raises(Forbidden):
        identity.admin.audit_log(ann, None, None, None, None, PageRequest())


def test_deactivating_a_user_ends_their_sessions_and_is_audited(identity):
    boss = identity.actor("boss@example.com", GlobalRole.ADMIN)
    ann = identity.actor("ann@example.com")
    user = identity.admin.update_user(boss, ann.user_id, is_active=False)
    assert not user.is_active and not identity.sessions.is_active(ann.session_id)
    assert identity.audit.search(None, "user.deactivated", None, None, PageRequest()).total == 1


def test_a_role_change_ends_sessions_so_the_token_role_is_never_stale(identity):
    boss = identity.actor("boss@example.com", GlobalRole.ADMIN)
    ann = identity.actor("ann@example.com")
    identity.admin.update_user(boss, ann.user_id, role=GlobalRole.ANALYST)
    assert not identity.sessions.is_active(ann.session_id)
    (entry,) = identity.audit.search(None, "user.role_changed", None, None, PageRequest()).items
    assert entry["details"] == {"from": "user", "to": "analyst"}


def test_an_admin_cannot_demote_or_deactivate_themselves(identity):
    boss = identity.actor("boss@example.com", GlobalRole.ADMIN)
    with pytest.raises(Conflict):
        identity.admin.update_user(boss, boss.user_id, is_active=False)


def test_updating_an_unknown_user(identity):
    boss = identity.actor("boss@example.com", GlobalRole.ADMIN)
    with pytest.raises(NotFound):
        identity.admin.update_user(boss, "0" * 24, role=GlobalRole.USER)


def test_user_search_matches_email_or_name(identity):
    boss = identity.actor("boss@example.com", GlobalRole.ADMIN)
    identity.register("maria@example.com", name="Maria Silva")
    page = identity.admin.list_users(boss, "silva", PageRequest())
    assert [user.email for user in page.items] == ["maria@example.com"]


@pytest.fixture
def team(identity):
    owner = identity.actor("owner@example.com")
    workspace_id = identity.workspaces.create(owner, "Team")[0].id
    member = identity.actor("member@example.com")
    identity.workspaces.add_member(owner, workspace_id, "member@example.com",
                                   WorkspaceRole.MEMBER)
    return workspace_id, owner, member


def test_provider_keys_are_stored_encrypted_and_shown_as_a_hint(identity, team):
    workspace_id, owner, _ = team
    status = identity.provider_keys.put(owner, workspace_id, "openai", "sk-live-1234567890abcd")
    assert (status.configured, status.key_hint) == (True, "sk-...abcd")
    (stored,) = identity.key_repo.list(workspace_id)
    assert "sk-live-1234567890abcd" not in repr(stored)


def test_listing_shows_known_providers_even_when_unset(identity, team):
    workspace_id, owner, _ = team
    identity.provider_keys.put(owner, workspace_id, "mistral", "k" * 20)
    listed = {status.provider: status.configured
              for status in identity.provider_keys.list(owner, workspace_id)}
    assert listed == {"anthropic": False, "gemini": False, "mistral": True, "ollama": False,
                      "openai": False}


def test_the_gateway_gets_decrypted_credentials(identity, team):
    workspace_id, owner, _ = team
    identity.provider_keys.put(owner, workspace_id, "openai", "sk-live-1234567890abcd",
                               "https://proxy.example.com/v1")
    credential = identity.provider_credentials.for_workspace(workspace_id)["openai"]
    assert (credential.api_key, credential.api_base) == ("sk-live-1234567890abcd",
                                                         "https://proxy.example.com/v1")
    assert identity.provider_credentials.for_workspace(None) == {}


def test_an_undecryptable_key_is_skipped_not_fatal(identity, team):
    workspace_id, owner, _ = team
    identity.provider_keys.put(owner, workspace_id, "openai", "sk-live-1234567890abcd")
    key = identity.key_repo.list(workspace_id)[0]
    identity.key_repo.put(type(key)(**{**vars(key), "encrypted_key": "garbage"}))
    assert identity.provider_credentials.for_workspace(workspace_id) == {}


def test_members_cannot_touch_provider_keys(identity, team):
    workspace_id, _, member = team
    with pytest.raises(Forbidden):
        identity.provider_keys.list(member, workspace_id)
    with pytest.raises(Forbidden):
        identity.provider_keys.put(member, workspace_id, "openai", "sk-x")


def test_provider_key_changes_are_audited_without_the_key(identity, team):
    workspace_id, owner, _ = team
    identity.provider_keys.put(owner, workspace_id, "openai", "sk-live-1234567890abcd")
    identity.provider_keys.delete(owner, workspace_id, "openai")
    assert identity.audit.actions()[-2:] == ["provider_key.set", "provider_key.deleted"]
    assert "sk-live-1234567890abcd" not in repr(identity.audit.entries)
    with pytest.raises(NotFound):
        identity.provider_keys.delete(owner, workspace_id, "openai")


@pytest.mark.parametrize("provider", ["OpenAI", "../etc", "", "x" * 41])
def test_provider_names_are_checked(identity, team, provider):
    workspace_id, owner, _ = team
    with pytest.raises(ValidationFailed):
        identity.provider_keys.put(owner, workspace_id, provider, "sk-x")


def test_a_key_or_an_api_base_is_needed(identity, team):
    workspace_id, owner, _ = team
    with pytest.raises(ValidationFailed):
        identity.provider_keys.put(owner, workspace_id, "ollama", "  ")
    status = identity.provider_keys.put(owner, workspace_id, "ollama", None,
                                        "http://ollama:11434")
    assert (status.configured, status.key_hint) == (True, None)


@pytest.mark.parametrize("provider", ["openai", "anthropic", "mistral"])
def test_an_address_without_its_key_is_refused_for_providers_that_need_one(identity, team, provider):
    workspace_id, owner, _ = team
    with pytest.raises(ValidationFailed) as refused:
        identity.provider_keys.put(owner, workspace_id, provider, None, "https://proxy.example.com/v1")
    assert "api_key" in refused.value.details
    assert identity.provider_keys.list(owner, workspace_id) == [
        status for status in identity.provider_keys.list(owner, workspace_id) if not status.configured]
