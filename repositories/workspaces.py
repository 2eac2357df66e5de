from __future__ import annotations

from dataclasses import asdict

from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from entities.clock import utcnow
from entities.errors import Conflict
from entities.pagination import Page, PageRequest
from entities.workspace import Membership, Workspace, WorkspaceRole, WorkspaceSettings
from repositories.mongo import MongoRepository, maybe_object_id
from use_cases.workspaces.ports import MembershipRepository, WorkspaceRepository


def to_workspace(doc: dict) -> Workspace:
    return Workspace(
        id=str(doc["_id"]), name=doc["name"], owner_id=doc["owner_id"],
        description=doc.get("description", ""),
        settings=WorkspaceSettings(**doc.get("settings", {})),
        is_personal=doc.get("is_personal", False), deleted_at=doc.get("deleted_at"),
        created_at=doc.get("created_at"), updated_at=doc.get("updated_at"),
    )


def to_membership(doc: dict) -> Membership:
    return Membership(doc["workspace_id"], doc["user_id"], WorkspaceRole(doc["role"]),
                      doc.get("joined_at"), doc.get("monthly_budget_usd"))


class MongoWorkspaceRepository(MongoRepository, WorkspaceRepository):
    collection_name = "workspaces"
    indexes = [
        ([("owner_id", ASCENDING), ("is_personal", ASCENDING)], {"name": "owner_personal"}),
    ]

    def add(self, workspace: Workspace) -> Workspace:
        doc = {
            "name": workspace.name, "owner_id": workspace.owner_id,
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
        doc = self.collection.find_one({"owner_id": user_id, "is_personal": True,
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
            {"$match": {"user_id": user_id}},
            {"$addFields": {"ws_oid": {"$toObjectId": "$workspace_id"}}},
            {"$lookup": {"from": self.collection_name, "localField": "ws_oid",
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
    collection_name = "memberships"
    indexes = [
        ([("workspace_id", ASCENDING), ("user_id", ASCENDING)],
         {"unique": True, "name": "one_membership"}),
        ([("user_id", ASCENDING)], {"name": "user"}),
    ]

    def add(self, membership: Membership) -> Membership:
        try:
            self.collection.insert_one({
                "workspace_id": membership.workspace_id, "user_id": membership.user_id,
                "role": membership.role.value, "joined_at": membership.joined_at,
            })
        except DuplicateKeyError:
            raise Conflict("The user is already a member of this workspace") from None
        return membership

    def get(self, workspace_id: str, user_id: str) -> Membership | None:
        doc = self.collection.find_one({"workspace_id": workspace_id, "user_id": user_id})
        return to_membership(doc) if doc else None

    def list(self, workspace_id: str) -> list[Membership]:
        return [to_membership(doc) for doc in
                self.collection.find({"workspace_id": workspace_id}).sort("joined_at", ASCENDING)]

    def set_role(self, workspace_id: str, user_id: str, role: WorkspaceRole) -> None:
        self.collection.update_one({"workspace_id": workspace_id, "user_id": user_id},
                                   {"$set": {"role": role.value}})

    def set_budget(self, workspace_id: str, user_id: str, monthly_budget_usd: float | None) -> None:
        self.collection.update_one({"workspace_id": workspace_id, "user_id": user_id},
                                   {"$set": {"monthly_budget_usd": monthly_budget_usd}})

    def remove(self, workspace_id: str, user_id: str) -> None:
        self.collection.delete_one({"workspace_id": workspace_id, "user_id": user_id})

    def count_role(self, workspace_id: str, role: WorkspaceRole) -> int:
        return self.collection.count_documents({"workspace_id": workspace_id, "role": role.value})
