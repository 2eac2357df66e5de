"""/api/v1/admin: user management and the audit log, for global admins."""
from __future__ import annotations

from controllers.blueprint import Blueprint
from controllers.deps import use_cases
from controllers.schemas.admin import AdminUserUpdateSchema, AuditEntrySchema, AuditQuerySchema
from controllers.schemas.common import page_body, page_of
from controllers.schemas.identity import UserSchema, UserSearchQuerySchema
from controllers.security import authenticated, current_actor
from entities.pagination import PageRequest

blp = Blueprint("admin", __name__, url_prefix="/api/v1/admin",
                description="User management and audit log (global admins)")


@blp.get("/users")
@authenticated
@blp.arguments(UserSearchQuerySchema, location="query")
@blp.response(200, page_of(UserSchema))
def list_users(query):
    """List users (global admins)

    Query `q` (matches e-mail or name, case-insensitive), `page`, `size`. 200 page of users `{id,
    email, name, role, is_active, email_verified, created_at, updated_at}`, newest first.

    403 for anyone but a global admin."""
    page = PageRequest(query["page"], query["size"])
    return page_body(use_cases().admin.list_users(current_actor(), query.get("q"), page))


@blp.patch("/users/<user_id>")
@authenticated
@blp.arguments(AdminUserUpdateSchema)
@blp.response(200, UserSchema)
@blp.alt_response(409, description="Admins cannot demote or deactivate themselves")
def update_user(body, user_id):
    """Change a user's role or status (global admins)

    Body `{role?: admin|analyst|user, is_active?}`. Changing the role or deactivating ends the
    user's sessions: their tokens stop at once. 200 with the user.

    403 for anyone but a global admin; 404 for an unknown user; 409 when admins would demote or
    deactivate themselves."""
    return use_cases().admin.update_user(current_actor(), user_id, **body)


@blp.get("/audit")
@authenticated
@blp.arguments(AuditQuerySchema, location="query")
@blp.response(200, page_of(AuditEntrySchema))
def audit_log(query):
    """Search the audit log (global admins)

    Logins, failed logins, role changes, key changes, member changes and deletions. Query `actor` (a
    user id), `action`, `from` and `to` (ISO-8601), `page`, `size`. 200 page of `{id, actor_id,
    action, target_type, target_id, workspace_id, ip, at, details}`, newest first.

    403 for anyone but a global admin."""
    page = PageRequest(query["page"], query["size"])
    return page_body(use_cases().admin.audit_log(
        current_actor(), query.get("actor"), query.get("action"), query.get("since"),
        query.get("until"), page))
