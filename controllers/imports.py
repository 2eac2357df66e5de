"""/api/v1/talks/import, /api/v1/imports, /api/v1/talks/export, /api/v1/exports: bringing
conversations in from other chat apps, and taking all of one's talks out."""
from __future__ import annotations

from flask import Response, request, url_for
from marshmallow import ValidationError

from controllers.blueprint import Blueprint
from controllers.deps import settings, use_cases
from controllers.multipart import read_upload
from controllers.rate_limits import limit_uploads
from controllers.schemas.imports import (
    AccountExportQuerySchema,
    ExportStartedSchema,
    ExportStatusSchema,
    ImportFieldsSchema,
    ImportFormSchema,
    ImportStartedSchema,
    ImportStatusQuerySchema,
    ImportStatusSchema,
)
from controllers.security import authenticated, current_actor
from entities.errors import ValidationFailed
from entities.file import attachment_disposition
from use_cases.imports.importer import summary

blp = Blueprint("imports", __name__, url_prefix="/api/v1",
                description="Importing conversations from other chat apps; exporting all talks")

DOWNLOAD_CHUNK_BYTES = 256 * 1024
MULTIPART_OVERHEAD_BYTES = 1024 * 1024  # the form's other parts and boundaries


@blp.post("/talks/import")
@authenticated
@limit_uploads
@blp.doc(requestBody={"required": True,
                      "content": {"multipart/form-data": {"schema": ImportFormSchema}}})
@blp.response(202, ImportStartedSchema)
@blp.alt_response(413, description="The export is over IMPORT_MAX_BYTES, or a zip would unpack "
                                   "past its limit")
def import_talks():
    """Import conversations from another chat app

    multipart/form-data: `file` (an export: `.json`, `.jsonl` or `.zip` — ChatGPT's
    `conversations.json` or its zip with `conversations-NNN.json` files, Claude's
    `conversations.json`, a LibreChat conversation, Open WebUI's chat export, or SynapScale's own
    `synapscale` documents and account zip), `workspace_id?` (default: the personal workspace),
    `format?` (`chatgpt`, `claude`, `librechat`, `openwebui`, `synapscale`; default: detected for
    each conversation). 202 `{import_id, status: "running"}`: the file is read in the background,
    one conversation at a time; follow it with `GET /imports/{import_id}` or the
    `import.progress` / `import.finished` events on `/api/v1/ws/user`. Conversations this user
    imported before are skipped.

    403 for a viewer of the workspace; 404 for a workspace the caller is not in; 413 over
    IMPORT_MAX_BYTES (512 MiB by default) or for a zip that would unpack past 2 GiB; 422 for an
    unknown format, a missing file, or a file that is not JSON or a readable zip (too many
    members, a zip bomb, no JSON member); 503 when the server already runs its imports."""
    limit = settings().import_max_bytes
    # an export may be larger than MAX_FILE_SIZE, which bounds every other request body
    request.max_content_length = limit + MULTIPART_OVERHEAD_BYTES
    with read_upload(request, limit) as form:
        try:
            fields = ImportFieldsSchema().load(form.fields)
        except ValidationError as error:
            raise ValidationFailed("Request validation failed", error.messages_dict) from None
        if form.file is None:
            raise ValidationFailed("Request validation failed", {"file": ["Missing file."]})
        job = use_cases().talk_imports.start(
            current_actor().user_id, fields.get("workspace_id"), fields.get("format"),
            form.file.filename, form.file.chunks())
    return {"import_id": job.id, "status": job.status.value}, 202


@blp.get("/imports/<import_id>")
@authenticated
@blp.arguments(ImportStatusQuerySchema, location="query")
@blp.response(200, ImportStatusSchema)
def import_status(query, import_id: str):
    """An import's progress and report

    200 `{id, status: running|succeeded|failed, format, filename, total, imported, skipped,
    failed, error, created_at, finished_at, items: [{source_id, talk_id?, title?, status:
    imported|skipped|failed, error?}], next_offset}` — one item per conversation read, in file
    order (query `items`: `all` (default), `failed` only, or `none` for the counters alone), at
    most `limit` (default and maximum 100, like every page) from position `offset`; `next_offset` starts the
    next page (null: no more). `failed`
    with `error` when the file held no conversation, none could be imported, the file broke off
    (the conversations before it stay imported), or the server process running it ended.

    404 for an import that is not the caller's."""
    job, items, next_offset = use_cases().talk_imports.status(
        current_actor().user_id, import_id, query["items"], query["offset"], query["limit"])
    return {**summary(job), "created_at": job.created_at, "finished_at": job.finished_at,
            "next_offset": next_offset,
            "items": [{"source_id": item.source_id, "status": item.status.value,
                       "talk_id": item.talk_id, "title": item.title, "error": item.error}
                      for item in items]}


@blp.route("/talks/export", methods=["GET", "POST"])
@limit_uploads
@authenticated
@blp.arguments(AccountExportQuerySchema, location="query")
@blp.response(202, ExportStartedSchema)
def export_talks(query):
    """Export all of the caller's talks ("download my data")

    Query `workspace_id?` (default: every workspace of the caller); counted in RATELIMIT_LLM's
    per-user upload budget, as imports are (429 past it). 202 `{export_id, status:
    "running"}`: a zip is built in the background, one `synapscale` JSON document per talk (the
    whole tree; the zip imports back as it is). `GET /exports/{export_id}` gives a signed link to
    it once ready. Starting a new export deletes the previous archive.

    404 for a workspace the caller is not in; 503 when the server already builds its exports."""
    job = use_cases().talk_exports.start(current_actor().user_id, query.get("workspace_id"))
    return {"export_id": job.id, "status": job.status.value}, 202


@blp.get("/exports/<export_id>")
@authenticated
@blp.response(200, ExportStatusSchema)
def export_status(export_id: str):
    """An account export's progress and link

    200 `{id, status: running|succeeded|failed, total, exported, size, error, url, expires_at,
    created_at, finished_at}`; once succeeded, `url` is a link valid FILE_LINK_TTL_S (15 minutes
    by default) that needs no Authorization (ask again for a fresh one).

    404 for an export that is not the caller's."""
    job, token, expires_at = use_cases().talk_exports.status(current_actor().user_id, export_id)
    url = (settings().link_base_url + url_for("imports.download_export", token=token)
           if token else None)
    return {"id": job.id, "status": job.status.value, "total": job.total,
            "exported": job.exported, "size": job.size, "error": job.error, "url": url,
            "expires_at": expires_at, "created_at": job.created_at,
            "finished_at": job.finished_at}


@blp.get("/exports/download/<token>")
@blp.response(200, content_type="application/zip",
              description="The zip of talks, as an attachment; no Authorization needed")
@blp.alt_response(401, description="The link has expired")
@blp.alt_response(404, description="The link was altered, or the archive was replaced")
def download_export(token: str):
    """Download an account export through its signed link

    The `url` of `GET /exports/{id}`. 200 with the zip, streamed from storage.

    401 for an expired link; 404 for an altered link or an archive since replaced."""
    download = use_cases().talk_exports.open_link(token)

    def body():
        with download.stream as stream:
            while chunk := stream.read(DOWNLOAD_CHUNK_BYTES):
                yield chunk

    response = Response(body(), mimetype="application/zip", direct_passthrough=True)
    response.headers.update({
        "Content-Length": str(download.size),
        "Content-Disposition": attachment_disposition(download.filename),
        "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store",
    })
    return response
