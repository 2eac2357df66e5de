"""/api/v1/files: uploads streamed into storage, signed downloads, versions and the trash."""
from __future__ import annotations

from flask import Response, jsonify, request, url_for
from marshmallow import Schema, ValidationError

from controllers.blueprint import Blueprint
from controllers.deps import settings, use_cases
from controllers.idempotency import accepts_key, header_key, run_once
from controllers.multipart import UploadForm, read_upload
from controllers.rate_limits import limit_uploads
from controllers.schemas.common import page_body, page_of
from controllers.schemas.files import (
    DownloadLinkSchema,
    DownloadQuerySchema,
    FilePatchSchema,
    FileQuerySchema,
    FileSchema,
    FileVersionSchema,
    UploadFieldsSchema,
    UploadFormSchema,
    VersionFieldsSchema,
    VersionFormSchema,
)
from controllers.security import authenticated, current_actor
from entities.errors import ValidationFailed
from entities.file import attachment_disposition
from entities.pagination import PageRequest
from use_cases.files.downloads import Download
from use_cases.files.files import FileFilter, UploadDetails

blp = Blueprint("files", __name__, url_prefix="/api/v1/files",
                description="Files: uploads, signed downloads, versions")

DOWNLOAD_CHUNK_BYTES = 256 * 1024
file_schema = FileSchema()


def multipart_body(schema: type[Schema]) -> dict:
    return {"requestBody": {"required": True,
                            "content": {"multipart/form-data": {"schema": schema}}}}


def _form_fields(form: UploadForm, schema: Schema) -> dict:
    """The text fields checked like any other input (unknown ones rejected), and the file."""
    try:
        fields = schema.load(form.fields)
    except ValidationError as error:
        raise ValidationFailed("Request validation failed", error.messages_dict) from None
    if form.file is None:
        raise ValidationFailed("Request validation failed", {"file": ["Missing file."]})
    return fields


def _created(file) -> Response:
    response = jsonify(file_schema.dump(file))
    response.status_code = 201
    return response


def _once(form: UploadForm, fields: dict, create) -> Response:
    """An upload with an Idempotency-Key creates once: a repeat with the same fields, file name
    and bytes (SHA-256) gets the first answer; another file under the same key is a 409."""
    file = form.file  # present: _form_fields checked it
    material = [fields, file.filename, file.sha256()] if file else [fields]
    return run_once(header_key(), material, lambda: _created(create()))


def serve(download: Download) -> Response:
    """The bytes, read from storage chunk by chunk while the client receives them."""

    def body():
        with download.stream as stream:
            while chunk := stream.read(DOWNLOAD_CHUNK_BYTES):
                yield chunk

    response = Response(body(), mimetype=download.content_type, direct_passthrough=True)
    response.headers.update({
        "Content-Length": str(download.size),
        "Content-Disposition": attachment_disposition(download.filename),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'; sandbox",
        "Cache-Control": "private, no-store",
        "ETag": f'"{download.sha256}"',
    })
    return response


@blp.post("/upload")
@authenticated
@limit_uploads
@blp.doc(**multipart_body(UploadFormSchema))
@blp.response(201, FileSchema)
@blp.alt_response(413, description="File over MAX_FILE_SIZE (payload_too_large) or the "
                                   "workspace's quota (quota_exceeded)")
@blp.alt_response(415, description="Extension not allowed, or content not matching it")
@accepts_key
def upload_file():
    """Upload a file

    multipart/form-data: `file`, and optionally `workspace_id` (default: the caller's personal
    workspace), `category`, `tags` (comma-separated), `description`, `is_public`. The upload is
    streamed to storage and its content checked against its extension. 201 `{id, filename,
    content_type, size, sha256, category, tags, description, is_public, version, workspace_id,
    owner_id, created_at, updated_at}` (size in bytes); a `file.uploaded` event goes to the
    workspace's webhooks.

    With an `Idempotency-Key` header, a repeat within 24 h (same fields, file name and bytes)
    stores nothing and gets the first answer; another file under the same key is 409
    `idempotency_conflict`.

    403 for a viewer; 404 for a workspace the caller is not in; 413 over MAX_FILE_SIZE (10 MiB by
    default) or the workspace's storage quota; 415 for an extension not allowed or content not
    matching it; 422 without a file or for invalid fields; 429 over the per-user upload limit."""
    with read_upload(request, settings().max_file_size) as form:
        fields = _form_fields(form, UploadFieldsSchema())
        return _once(form, fields, lambda: use_cases().files.upload(
            current_actor(), UploadDetails(**fields), form.file.filename, form.file.chunks()))


@blp.get("")
@authenticated
@blp.arguments(FileQuerySchema, location="query")
@blp.response(200, page_of(FileSchema))
def list_files(query):
    """List a workspace's files

    Query `workspace_id` (default: the caller's personal workspace), `category`, `tag`, `q` (part of
    the file name, case-insensitive), `deleted` (true: the trash), `page`, `size`. 200 page of
    files, newest first. Any member of the workspace.

    404 for a workspace the caller is not in."""
    page = PageRequest(page=query.pop("page"), size=query.pop("size"))
    return page_body(use_cases().files.list(current_actor(), FileFilter(**query), page))


@blp.get("/<file_id>")
@authenticated
@blp.response(200, FileSchema)
def get_file(file_id: str):
    """One file's metadata

    Any member of the file's workspace. 200 with the file (its current version's name, type, size in
    bytes and SHA-256).

    404 for an unknown or deleted file, or one in a workspace the caller is not in."""
    return use_cases().files.get(current_actor(), file_id)


@blp.patch("/<file_id>")
@authenticated
@blp.arguments(FilePatchSchema)
@blp.response(200, FileSchema)
def update_file(changes, file_id: str):
    """Change a file's metadata

    The file's owner or a workspace admin. Body any of `{filename, category, tags, description,
    is_public}`; a new name must keep the extension. 200 with the file.

    403 for other members; 404 for a file the caller cannot see; 422 for a changed extension or
    invalid fields."""
    return use_cases().files.update(current_actor(), file_id, **changes)


@blp.delete("/<file_id>")
@authenticated
@blp.response(204)
def delete_file(file_id: str):
    """Move a file to the trash

    The file's owner or a workspace admin. 204. Soft delete: the file leaves every read until `POST
    /files/{id}/restore`; `flask purge-files` removes it and its bytes for good
    FILE_PURGE_AFTER_DAYS (30 by default) after.

    403 for other members; 404 for a file the caller cannot see."""
    use_cases().files.delete(current_actor(), file_id)


@blp.post("/<file_id>/restore")
@authenticated
@blp.response(200, FileSchema)
def restore_file(file_id: str):
    """Restore a file from the trash

    The file's owner or a workspace admin. 200 with the file (also when it was not deleted).

    403 for other members; 404 for a file the caller cannot see or one already purged."""
    return use_cases().files.restore(current_actor(), file_id)


@blp.post("/<file_id>/versions")
@authenticated
@limit_uploads
@blp.doc(**multipart_body(VersionFormSchema))
@blp.response(201, FileSchema)
@accepts_key
def upload_version(file_id: str):
    """Upload a new version of a file

    The file's owner or a workspace admin. multipart/form-data with one part, `file`, checked like
    an upload. 201 with the file, its `version` one higher; earlier versions stay downloadable and
    count against the storage quota.

    With an `Idempotency-Key` header, a repeat within 24 h (same fields, file name and bytes)
    stores nothing and gets the first answer; another file under the same key is 409
    `idempotency_conflict`.

    403 for other members; 404 for a file the caller cannot see; 409 when the file changed or was
    deleted during the upload; 413 over MAX_FILE_SIZE or the quota; 415 for a type not allowed; 429
    over the per-user upload limit."""
    with read_upload(request, settings().max_file_size) as form:
        fields = _form_fields(form, VersionFieldsSchema())
        return _once(form, fields, lambda: use_cases().files.add_version(
            current_actor(), file_id, form.file.filename, form.file.chunks()))


@blp.get("/<file_id>/versions")
@authenticated
@blp.response(200, FileVersionSchema(many=True))
def list_versions(file_id: str):
    """Versions of a file

    Any member of the file's workspace. 200 `[{version, filename, content_type, size, sha256,
    uploaded_by, created_at}]`, newest first (size in bytes).

    404 for a file the caller cannot see."""
    return use_cases().files.versions(current_actor(), file_id)


@blp.get("/<file_id>/download")
@authenticated
@blp.arguments(DownloadQuerySchema, location="query")
@blp.response(200, DownloadLinkSchema)
def download_link(query, file_id: str):
    """A signed download link

    Any member of the file's workspace. Query `version` (default: the current one). 200 `{url,
    expires_at}`: a link valid FILE_LINK_TTL_S (15 minutes by default) that needs no Authorization:
    the service's own (`/api/v1/files/download/{token}`), or with FILE_DOWNLOAD_LINKS=presigned
    and the bytes in S3, an S3 presigned GET URL (S3 answers 403 once it expired or was altered).

    404 for a file the caller cannot see or an unknown version."""
    link = use_cases().file_downloads.link(current_actor(), file_id, query.get("version"))
    if link.url is not None:  # FILE_DOWNLOAD_LINKS=presigned: S3 serves the bytes
        return {"url": link.url, "expires_at": link.expires_at}
    # PUBLIC_BASE_URL (a local default in development), never the Host header the client sent
    path = url_for("files.download_signed", token=link.token)
    return {"url": settings().link_base_url + path, "expires_at": link.expires_at}


@blp.get("/download/<token>")
@blp.response(200, content_type="application/octet-stream",
              description="The file's bytes, as an attachment; no Authorization needed")
@blp.alt_response(401, description="The link has expired")
@blp.alt_response(404, description="The link was altered, or the file is gone")
def download_signed(token: str):
    """Download a file through a signed link

    The `url` of `GET /files/{id}/download`: no Authorization needed. 200 with the bytes,
    `Content-Disposition: attachment` with the file name, `ETag` (its SHA-256) and `Content-Length`,
    streamed from storage.

    401 for an expired link; 404 for an altered link or a file that is gone."""
    return serve(use_cases().file_downloads.open_link(token))


@blp.get("/<file_id>/public")
@blp.arguments(DownloadQuerySchema, location="query")
@blp.response(200, content_type="application/octet-stream",
              description="A public file's bytes, with no Authorization (404 unless is_public)")
def download_public(query, file_id: str):
    """Download a public file

    No Authorization needed. Only the current version is public: query `version`, when given,
    must be the current one. 200 with the bytes, as an attachment.

    404 unless the file exists and is marked `is_public`, and for any version but the current one
    (earlier versions stay private to the workspace's members)."""
    return serve(use_cases().file_downloads.open_public(file_id, query.get("version")))
