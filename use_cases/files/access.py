"""Who may read or change a file: members of its workspace read it; its owner or a workspace
admin changes it; anyone else is told it does not exist."""
from __future__ import annotations

from entities.errors import Forbidden, NotFound
from entities.file import File
from entities.workspace import WorkspaceRole
from use_cases.files.ports import FileRepository
from use_cases.workspaces.access import WorkspaceAccess


class FileAccess:
    def __init__(self, files: FileRepository, access: WorkspaceAccess):
        self.files = files
        self.access = access

    def readable(self, user_id: str, file_id: str, include_deleted: bool = False) -> File:
        return self._with_role(user_id, file_id, include_deleted)[0]

    def changeable(self, user_id: str, file_id: str, include_deleted: bool = False) -> File:
        file, role = self._with_role(user_id, file_id, include_deleted)
        is_owner = file.owner_id == user_id and role.at_least(WorkspaceRole.MEMBER)
        if not (is_owner or role.at_least(WorkspaceRole.ADMIN)):
            raise Forbidden("Only the file's owner or a workspace admin can change it")
        return file

    def _with_role(self, user_id: str, file_id: str,
                   include_deleted: bool) -> tuple[File, WorkspaceRole]:
        file = self.files.get(file_id, include_deleted=include_deleted)
        if file is None:
            raise NotFound("File not found")
        try:
            membership = self.access.require(user_id, file.workspace_id)
        except NotFound:
            raise NotFound("File not found") from None
        return file, membership.role
