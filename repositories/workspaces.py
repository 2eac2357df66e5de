from __future__ import annotations

import logging
from dataclasses import asdict

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError, PyMongoError

from entities.clock import utcnow
from entities.errors import Conflict
from entities.pagination import Page, PageRequest
from entities.workspace import Membership, Workspace, WorkspaceRole, WorkspaceSettings
from repositories.mongo import MongoRepository, maybe_object_id, ref, text
from use_cases.workspaces.ports import MembershipRepository, WorkspaceRepository

log = logging.getLogger(__name__)

OWNER = WorkspaceRole.OWNER.value
# On each workspace document: the ids of its owners, the one document that every change of the
# owner role goes through (see MongoMembershipRepository).
OWNER_IDS = "owner_ids"
ROLE_CHANGE_ATTEMPTS = 5


def to_workspace(doc: dict) -> Workspace:
    return Workspace(
        id=str(doc["_id"]), name=doc["name"], owner_id=text(doc["owner_id"]),
        description=doc.get("description", ""),
        settings=WorkspaceSettings(**doc.get("settings", {})),
        is_personal=doc.get("is_personal", False), deleted_at=doc.get("deleted_at"),
        created_at=doc.get("created_at"), updated_at=doc.get("updated_at"),
    )


def to_membership(doc: dict) -> Membership:
    return Membership(text(doc["workspace_id"]), text(doc["user_id"]), WorkspaceRole(doc["role"]),
                      doc.get("joined_at"), doc.get("monthly_budget_usd"))


class MongoWorkspaceRepository(MongoRepository, WorkspaceRepository):
    collection_name = "workspaces"
    indexes = [
        ([("owner_id", ASCENDING), ("is_personal", ASCENDING)], {"name": "owner_personal"}),
    ]

    def add(self, workspace: Workspace) -> Workspace:
        doc = {
            "name": workspace.name, "owner_id": ref(workspace.owner_id),
            "description": workspace.description, "settings": asdict(workspace.settings),
            "is_personal": workspace.is_personal, "deleted_at": None,
            "created_at": workspace.created_at, "updated_at": workspace.updated_at,
        }
        doc["_id"] = self.collection.insert_one(doc).inserted_id
        return to_workspace(doc)

    def get(self, workspace_id: str, include_deleted: bool = False) -> Workspace | None:
        doc = self.find_by_id(workspace_id, include_deleted)
        return to_workspace(doc) if doc else None

    def get_personal(self, user_id: str) -> Workspace | None:
        doc = self.collection.find_one({"owner_id": ref(user_id), "is_personal": True,
                                        "deleted_at": None})
        return to_workspace(doc) if doc else None

    def update(self, workspace_id: str, **changes) -> Workspace | None:
        oid = maybe_object_id(workspace_id)
        if oid is None:
            return None
        if isinstance(changes.get("settings"), WorkspaceSettings):
            changes["settings"] = asdict(changes["settings"])
        doc = self.collection.find_one_and_update(
            {"_id": oid}, {"$set": {**changes, "updated_at": utcnow()}},
            return_document=ReturnDocument.AFTER)
        return to_workspace(doc) if doc else None

    def list_for_user(self, user_id: str, page: PageRequest) -> Page[tuple[Workspace, WorkspaceRole]]:
        """Memberships joined to their live workspaces, counted and paged by one aggregate."""
        pipeline: list[dict] = [
            {"$match": {"user_id": ref(user_id)}},
            {"$lookup": {"from": self.collection_name, "localField": "workspace_id",
                         "foreignField": "_id", "as": "workspace"}},
            {"$unwind": "$workspace"},
            {"$match": {"workspace.deleted_at": None}},
            {"$sort": {"workspace.is_personal": DESCENDING, "workspace.created_at": ASCENDING}},
            {"$facet": {
                "items": [{"$skip": page.skip}, {"$limit": page.size}],
                "total": [{"$count": "n"}],
            }},
        ]
        result = next(self.db["memberships"].aggregate(pipeline))
        total = result["total"][0]["n"] if result["total"] else 0
        items = [(to_workspace(row["workspace"]), WorkspaceRole(row["role"]))
                 for row in result["items"]]
        return Page(items, page.page, page.size, total)


class MongoMembershipRepository(MongoRepository, MembershipRepository):
    """Memberships, with the last-owner rule enforced by single-document conditional updates.

    A membership's role lives on the membership; the workspace document also lists its owners
    (`owner_ids`). Taking the owner role away first pulls the user from that list with an update
    that matches only while the list holds them *and* someone else, then changes the membership;
    granting it changes the membership first, then adds the user. So the list only ever names
    actual owners and never becomes empty: two owners demoting each other at the same moment both
    try the pull on the same document, and MongoDB applies one, the other matches nothing
    (Conflict). Every membership write is conditional on the role it read, so a concurrent change
    makes it read again. A workspace without the list (made before it existed) gets it from its
    memberships on first use, written only where it is still missing.
    """

    collection_name = "memberships"
    indexes = [
        ([("workspace_id", ASCENDING), ("user_id", ASCENDING)],
         {"unique": True, "name": "one_membership"}),
        ([("user_id", ASCENDING)], {"name": "user"}),
    ]

    def add(self, membership: Membership) -> Membership:
        try:
            self.collection.insert_one({
                "workspace_id": ref(membership.workspace_id), "user_id": ref(membership.user_id),
                "role": membership.role.value, "joined_at": membership.joined_at,
            })
        except DuplicateKeyError:
            raise Conflict("The user is already a member of this workspace") from None
        if membership.role == WorkspaceRole.OWNER:
            self._owner_granted(membership.workspace_id, membership.user_id)
        return membership

    def get(self, workspace_id: str, user_id: str) -> Membership | None:
        doc = self.collection.find_one({"workspace_id": ref(workspace_id), "user_id": ref(user_id)})
        return to_membership(doc) if doc else None

    def list(self, workspace_id: str) -> list[Membership]:
        return [to_membership(doc) for doc in
                self.collection.find({"workspace_id": ref(workspace_id)}).sort("joined_at", ASCENDING)]

    def set_role(self, workspace_id: str, user_id: str, role: WorkspaceRole) -> None:
        for _attempt in range(ROLE_CHANGE_ATTEMPTS):
            current = self.collection.find_one({"workspace_id": ref(workspace_id), "user_id": ref(user_id)})
            if current is None or current["role"] == role.value:
                return
            if current["role"] == OWNER:
                self._release_owner(workspace_id, user_id)
                self._then_or_restore(workspace_id, user_id, lambda: self.collection.update_one(
                    {"workspace_id": ref(workspace_id), "user_id": ref(user_id), "role": OWNER},
                    {"$set": {"role": role.value}}).matched_count)
                return
            changed = self.collection.update_one(
                {"workspace_id": ref(workspace_id), "user_id": ref(user_id), "role": current["role"]},
                {"$set": {"role": role.value}}).matched_count
            if changed:
                if role == WorkspaceRole.OWNER:
                    self._owner_granted(workspace_id, user_id)
                return
        raise Conflict("The member's role is being changed by someone else; retry")

    def set_budget(self, workspace_id: str, user_id: str, monthly_budget_usd: float | None) -> None:
        self.collection.update_one({"workspace_id": ref(workspace_id), "user_id": ref(user_id)},
                                   {"$set": {"monthly_budget_usd": monthly_budget_usd}})

    def remove(self, workspace_id: str, user_id: str) -> None:
        for _attempt in range(ROLE_CHANGE_ATTEMPTS):
            current = self.collection.find_one({"workspace_id": ref(workspace_id), "user_id": ref(user_id)})
            if current is None:
                return
            if current["role"] == OWNER:
                self._release_owner(workspace_id, user_id)
                self._then_or_restore(workspace_id, user_id, lambda: self.collection.delete_one(
                    {"workspace_id": ref(workspace_id), "user_id": ref(user_id), "role": OWNER}
                ).deleted_count)
                return
            if self.collection.delete_one({"workspace_id": ref(workspace_id), "user_id": ref(user_id),
                                           "role": current["role"]}).deleted_count:
                return
        raise Conflict("The member's role is being changed by someone else; retry")

    def count_role(self, workspace_id: str, role: WorkspaceRole) -> int:
        return self.collection.count_documents({"workspace_id": ref(workspace_id), "role": role.value})

    # --- the owner list on the workspace document ----------------------------------------------

    def _owner_list(self, workspace_id: str):
        """The workspace's _id, once its document has an owner list (made from the memberships
        when missing); None for an unknown workspace."""
        oid = maybe_object_id(workspace_id)
        workspaces = self.db["workspaces"]
        if oid is None:
            return None
        doc = workspaces.find_one({"_id": oid}, {OWNER_IDS: 1})
        if doc is None:
            return None
        if OWNER_IDS not in doc:
            owners = [row["user_id"] for row in self.collection.find(
                {"workspace_id": ref(workspace_id), "role": OWNER}, {"user_id": 1})]
            workspaces.update_one({"_id": oid, OWNER_IDS: {"$exists": False}},
                                  {"$set": {OWNER_IDS: owners}})
        return oid

    def _owner_granted(self, workspace_id: str, user_id: str) -> None:
        oid = self._owner_list(workspace_id)
        if oid is not None:
            self.db["workspaces"].update_one({"_id": oid}, {"$addToSet": {OWNER_IDS: ref(user_id)}})

    def _release_owner(self, workspace_id: str, user_id: str) -> None:
        """Takes `user_id` off the owner list if someone else stays on it; else Conflict."""
        oid = self._owner_list(workspace_id)
        released = oid is not None and self.db["workspaces"].update_one(
            {"_id": oid, OWNER_IDS: ref(user_id), f"{OWNER_IDS}.1": {"$exists": True}},
            {"$pull": {OWNER_IDS: ref(user_id)}}).modified_count == 1
        if not released:
            raise Conflict("The workspace must keep at least one owner")

    def _then_or_restore(self, workspace_id: str, user_id: str, change) -> None:
        """Runs the membership change that follows a release. If it fails, or finds the
        membership no longer an owner's, the user goes back on the owner list if (and only if)
        their membership still says owner: nobody else can change it meanwhile, since that too
        would need them on the list."""
        try:
            done = change()
        except PyMongoError:
            self._restore_owner(workspace_id, user_id)
            raise
        if not done:
            self._restore_owner(workspace_id, user_id)
            raise Conflict("The member's role was changed by someone else meanwhile; retry")

    def _restore_owner(self, workspace_id: str, user_id: str) -> None:
        try:
            if self.collection.find_one({"workspace_id": ref(workspace_id), "user_id": ref(user_id),
                                         "role": OWNER}):
                self._owner_granted(workspace_id, user_id)
        except PyMongoError:  # the list then lacks an owner: safe, a demotion may be refused
            log.warning("owner list not restored", extra={"fields": {
                "workspace_id": workspace_id, "user_id": user_id}})
