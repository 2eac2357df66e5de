"""Identity and tenancy: accounts, sessions, passwords, e-mail verification, user
administration, workspaces and their members, and each workspace's provider keys (a workspace
setting, managed by its admins on the workspace routes)."""
from __future__ import annotations

from dataclasses import dataclass

from use_cases.gateway.ports import ProviderKeyRepository
from use_cases.gateway.provider_keys import ProviderKeys, StoredProviderCredentials
from use_cases.identity.admin import UserAdministration
from use_cases.identity.auth import Accounts, Sessions
from use_cases.identity.email_verification import EmailVerification
from use_cases.identity.one_time_tokens import OneTimeTokens
from use_cases.identity.passwords import Passwords
from use_cases.identity.ports import (
    Mailer,
    OneTimeTokenRepository,
    PasswordHasher,
    SessionRepository,
    UserRepository,
)
from use_cases.identity.principals import Principals
from use_cases.identity.revocation import Revocations
from use_cases.shared.ports import AuditLog, Encryptor, EventBus, OutboundHttp
from use_cases.shared.stale_caches import StaleCaches
from use_cases.workspaces.access import WorkspaceAccess
from use_cases.workspaces.ports import MembershipRepository, WorkspaceRepository
from use_cases.workspaces.workspaces import Workspaces


@dataclass(frozen=True)
class IdentityUseCases:
    sessions: Sessions
    principals: Principals  # who a token speaks for, from the database
    revocations: Revocations  # ends open WebSockets and event streams with their session
    access: WorkspaceAccess  # the membership rule every other area checks
    email_verification: EmailVerification
    accounts: Accounts
    passwords: Passwords
    admin: UserAdministration
    workspaces: Workspaces
    provider_keys: ProviderKeys
    provider_credentials: StoredProviderCredentials  # decrypted keys, for the model gateway


def build_identity(*, users: UserRepository, workspace_repo: WorkspaceRepository,
                   memberships: MembershipRepository, session_repo: SessionRepository,
                   token_repo: OneTimeTokenRepository, provider_key_repo: ProviderKeyRepository,
                   hasher: PasswordHasher, mailer: Mailer, encryptor: Encryptor,
                   outbound: OutboundHttp, audit: AuditLog, events: EventBus,
                   stale_caches: StaleCaches, refresh_ttl_s: int) -> IdentityUseCases:
    sessions = Sessions(session_repo, refresh_ttl_s=refresh_ttl_s, caches=stale_caches)
    principals = Principals(users, sessions, stale_caches)
    access = WorkspaceAccess(workspace_repo, memberships)
    tokens = OneTimeTokens(token_repo)
    verification = EmailVerification(users, tokens, mailer, audit)
    return IdentityUseCases(
        sessions=sessions,
        principals=principals,
        revocations=Revocations(principals, stale_caches),
        access=access,
        email_verification=verification,
        accounts=Accounts(users, workspace_repo, memberships, hasher, sessions, audit,
                          verification, events),
        passwords=Passwords(users, hasher, sessions, tokens, mailer, audit),
        admin=UserAdministration(users, sessions, audit),
        workspaces=Workspaces(workspace_repo, memberships, access, users, audit, events),
        provider_keys=ProviderKeys(provider_key_repo, encryptor, access, audit, outbound),
        provider_credentials=StoredProviderCredentials(provider_key_repo, encryptor),
    )
