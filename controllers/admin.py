"""/api/v1/admin: user management and the audit log, for global admins."""
from __future__ import annotations

from flask_smorest import Blueprint

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
    """`q` matches e-mail or name."""
    page = PageRequest(query["page"], query["size"])
    return page_body(use_cases().admin.list_users(current_actor(), query.get("q"), page))


@blp.patch("/users/<user_id>")
@authenticated
@blp.arguments(AdminUserUpdateSchema)
@blp.response(200, UserSchema)
@blp.alt_response(409, description="Admins cannot demote or deactivate themselves")
def update_user(body, user_id):
    """Changing the role or deactivating ends the user's sessions: their tokens stop at once."""
    return use_cases().admin.update_user(current_actor(), user_id, **body)


@blp.get("/audit")
@authenticated
@blp.arguments(AuditQuerySchema, location="query")
@blp.response(200, page_of(AuditEntrySchema))
def audit_log(query):
    """Logins, failed logins, role changes, key changes, member changes and deletions."""
    page = PageRequest(query["page"], query["size"])
    return page_body(use_cases().admin.audit_log(
        current_actor(), query.get("actor"), query.get("action"), query.get("since"),
        query.get("until"), page))
